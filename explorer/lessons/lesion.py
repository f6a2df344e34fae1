"""Lesson 7: residual networks behave like ensembles of shallow paths (Veit, Wilber & Belongie 2016, 1605.06431).

Delete one block at a time at test time and measure the error. Deleting residual block i leaves its shortcut:
y = h(x) (Veit et al. sec. 4.1), one of 2^n paths removed; the rest still reach the output. A plain net has one
path, so deleting any layer cuts it: its error jumps towards chance (plain blocks keep only the zero-padded
identity where shapes change, so the deletion is shape-correct).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from explorer.lessons.seeding import seeded
from explorer.models.blocks import PlainBlock, ResidualBlock
from explorer.models.builder import build_model
from explorer.models.shortcuts import ZeroPadShortcut
from explorer.models.spec import ArchSpec, SpecError
from explorer.training.data import load_data, normalize
from explorer.training.engine import CheckpointError, load_checkpoint, use_bf16
from explorer.training.recipe import Recipe
from explorer.training.runs import Run, RunStore

SOURCE = "Veit, Wilber & Belongie 2016, Residual Networks Behave Like Ensembles of Relatively Shallow Networks " \
         "(1605.06431), Fig. 3 (a): deleting single layers of a ResNet-110 on CIFAR-10 leaves the error close to " \
         "the baseline, except at the downsampling blocks; a 15-layer VGG collapses to chance."


@dataclass(frozen=True)
class TrainedRun:
    model: nn.Module
    spec: ArchSpec
    recipe: Recipe


@dataclass(frozen=True)
class Skipped:
    """A run a lesson could not use, and why (for the page to list as plain text)."""

    run_id: str
    reason: str


def load_run(store: RunStore, run_id: str, device: str = "cpu") -> TrainedRun:
    """The model of a run from its last checkpoint (weights only, no code is unpickled). Raises CheckpointError
    for a missing, truncated or malicious file, or weights that do not fit the design stored with them."""
    path = store.checkpoint_path(run_id)
    if not path.exists():
        raise CheckpointError(f"run {run_id} has no checkpoint yet; wait for its first epoch to finish")
    state = load_checkpoint(str(path), device)
    try:
        spec = ArchSpec.from_dict(state["spec"])
        recipe = Recipe.from_dict(state["recipe"])
        with seeded(0, device):  # the initial weights are overwritten: only keep the caller's RNG where it was
            model = build_model(spec, device)
        model.load_state_dict(state["model"])
    except (SpecError, KeyError, TypeError, ValueError, RuntimeError) as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{path}: its weights do not fit its design ({first_line})") from None
    return TrainedRun(model.eval(), spec, recipe)


def study_run(store: RunStore, run_id: str) -> pd.DataFrame:
    """The lesion study of one stored run on its own evaluation images. Raises CheckpointError (see load_run)."""
    trained = load_run(store, run_id)
    images, labels = eval_batch(trained.recipe)
    return lesion_study(trained.model, images, labels)


def studies(run_ids: list[str], study: Callable[[str], pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], list[Skipped]]:
    """Each run's lesion study (`study`: study_run, or the page's cached wrapper of it), and the runs whose
    checkpoint could not be used, with the reason, instead of one broken run failing the lesson for the class."""
    frames, skipped = {}, []
    for run_id in run_ids:
        try:
            frames[run_id] = study(run_id)
        except CheckpointError as err:
            skipped.append(Skipped(run_id, str(err)))
    return frames, skipped


def default_runs(runs: list[Run]) -> list[str]:
    """The comparison the lesson is about, from `runs` (newest first): the deepest residual run, which has the most
    paths (Veit et al. lesion a ResNet-110), and the shallowest plain run, the plain net that trains best. Ties go
    to the newest run. `runs` are trained runs (Run.trained: finished, not diverged), as the lesson lists them."""
    picked = []
    for family, better in (("resnet", lambda a, b: a > b), ("plain", lambda a, b: a < b)):
        best = None
        for run in runs:
            depth = run.spec.get("depth", 0)  # stored specs are plain dicts: an old run may lack a field
            if run.spec.get("family") == family and (best is None or better(depth, best.spec.get("depth", 0))):
                best = run
        if best is not None:
            picked.append(best.id)
    return picked


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The deletable blocks in forward order: residual (incl. shake-shake style `.residual`) and plain."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (ResidualBlock, PlainBlock))]


def _delete(block: nn.Module) -> torch.utils.hooks.RemovableHandle:
    """A hook that makes the block compute only its shortcut (residual) or the identity (plain)."""
    if isinstance(block, ResidualBlock):
        return block.residual.register_forward_hook(lambda m, i, out: torch.zeros_like(out))
    conv1 = block.residual.conv1
    last = [m for m in block.residual if isinstance(m, nn.Conv2d)][-1]
    skip = ZeroPadShortcut(conv1.in_channels, last.out_channels, conv1.stride[0])
    return block.register_forward_hook(lambda m, inputs, out: skip(inputs[0]))


EVAL_IMAGES = 500  # per re-test: a ResNet-56 lesion study (28 passes) takes about 15 s on a 2-core CPU


@torch.no_grad()
def error(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    """Test error in % (images already normalised), in bf16 where the engine trains in it: 2.2x faster on an AMX
    CPU, and within 0.4 points (2 of 500 images) of float32 for every deleted block of the lesson's runs."""
    wrong = 0
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=use_bf16(images.device)):
        for i in range(0, len(labels), batch):
            wrong += int((model(images[i:i + batch]).argmax(1) != labels[i:i + batch]).sum())
    return 100 * wrong / max(len(labels), 1)


def eval_batch(recipe: Recipe, limit: int = EVAL_IMAGES, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The run's own evaluation images (normalised as in training), at most `limit` of them."""
    data = load_data(recipe, device)
    return normalize(data.eval_x[:limit], data.mean, data.std), data.eval_y[:limit]


def lesion_study(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> pd.DataFrame:
    """Error (%) with each block deleted in turn; row 0 is the intact net (block 0, "none")."""
    model.eval()
    rows = [{"deleted block": 0, "name": "none", "downsampling": False, "error (%)": error(model, images, labels)}]
    for index, (name, block) in enumerate(blocks(model), start=1):
        conv1 = block.residual.conv1
        handle = _delete(block)
        try:
            rows.append({"deleted block": index, "name": name, "downsampling": conv1.stride[0] > 1,
                         "error (%)": error(model, images, labels)})
        finally:
            handle.remove()
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> dict[str, float]:
    """Intact error, and the mean and worst error with one block deleted (all %)."""
    deleted = frame[frame["deleted block"] > 0]["error (%)"]
    return {"intact": float(frame["error (%)"].iloc[0]), "mean with one block deleted": float(deleted.mean()),
            "worst": float(deleted.max())}
