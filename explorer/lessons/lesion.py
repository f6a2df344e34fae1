"""Lesson 7: residual networks behave like ensembles of shallow paths (Veit, Wilber & Belongie 2016, 1605.06431).

Delete one block at a time at test time and measure the error. Deleting residual block i leaves its shortcut:
y = h(x) (Veit et al. sec. 4.1), one of 2^n paths removed; the rest still reach the output. A plain net has one
path, so deleting any layer cuts it: its error jumps towards chance (plain blocks keep only the zero-padded
identity where shapes change, so the deletion is shape-correct).

The work is bounded: a study re-tests the net once per block, so its cost is (blocks + 1) x images x multiply-adds.
`plan` sizes it from a measured rate on this device (explorer.training.speed.eval_macs_per_second): at most
EVAL_IMAGES images, fewer for deeper nets, and a design that would take over MAX_STUDY_SECONDS even on
MIN_EVAL_IMAGES images is refused before its checkpoint is read (ResNet-1202: 600 blocks, hours on a CPU).
A result is kept beside the checkpoint (`lesion-<images>.json`), so each checkpoint is studied once.
"""

from __future__ import annotations

import fcntl
import json
import math
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from explorer.i18n import N_
from explorer.lessons.seeding import seeded
from explorer.models.blocks import PlainBlock, ResidualBlock
from explorer.models.builder import build_model
from explorer.models.cost import cost
from explorer.models.layout import blocks_per_stage
from explorer.models.shortcuts import ZeroPadShortcut
from explorer.models.spec import ArchSpec, SpecError
from explorer.training import storefile
from explorer.training.data import load_data, normalize
from explorer.training.datasets import dataset_info
from explorer.training.engine import CheckpointError, load_checkpoint, use_bf16
from explorer.training.recipe import Recipe
from explorer.training.runs import Run, RunStore
from explorer.training.speed import eval_macs_per_second

SOURCE = N_("Veit, Wilber & Belongie 2016, Residual Networks Behave Like Ensembles of Relatively Shallow Networks "
            "(1605.06431), Fig. 3 (a): deleting single layers of a ResNet-110 on CIFAR-10 leaves the error close to "
            "the baseline, except at the downsampling blocks; a 15-layer VGG collapses to chance.")  # _() where shown


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


def study_run(store: RunStore, run_id: str, limit: int = 0) -> pd.DataFrame:
    """The lesion study of one stored run on at most `limit` (0: EVAL_IMAGES) of its own evaluation images, read
    from `lesion-<limit>.json` beside the checkpoint when one was made from this checkpoint; otherwise computed
    (once: a second caller waits for the first) and kept there. Raises CheckpointError (see load_run)."""
    limit = limit or EVAL_IMAGES
    checkpoint = store.checkpoint_path(run_id)
    cache = store.run_dir(run_id) / f"lesion-{limit}.json"
    try:
        lock = open(store.run_dir(run_id) / ".lesion.lock", "a")
    except OSError:  # a read-only runs folder: study without keeping the result
        lock = None
    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = _stamp(checkpoint)
        try:
            kept = json.loads(cache.read_text())
            if kept.get("checkpoint") == stamp:
                return pd.DataFrame(kept["rows"], columns=kept["columns"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or from another checkpoint or version: study again
        trained = load_run(store, run_id)
        images, labels = eval_batch(trained.recipe, limit)
        frame = lesion_study(trained.model, images, labels)
        storefile.write_json_atomic(cache, {"checkpoint": stamp, "columns": list(frame.columns),
                                           "rows": frame.to_dict("records")})
        return frame
    finally:
        if lock is not None:
            lock.close()


def _stamp(checkpoint) -> list[float] | None:
    try:
        info = checkpoint.stat()
    except OSError:
        return None
    return [info.st_mtime, info.st_size]


@dataclass(frozen=True)
class Plan:
    """How a run's lesion study would go on this device, or why it is refused."""

    run_id: str
    blocks: int  # deletable blocks: the study re-tests the net blocks + 1 times
    images: int  # evaluation images to re-test on (0 when refused)
    seconds: float  # estimated work at `images` (at MIN_EVAL_IMAGES when refused)
    refused: str | None  # why it cannot be studied here, for the page; None when it can


MIN_EVAL_IMAGES = 100  # fewer, and one image moves the error by over 1 point: refuse instead
MAX_STUDY_SECONDS = 90.0  # the most one study may work on this device (in the background, once per checkpoint)


def plan(run: Run, macs_per_second: float, budget: float = MAX_STUDY_SECONDS) -> Plan:
    """Size `run`'s study to `budget` seconds at `macs_per_second` (forward multiply-adds per second here), from
    its stored design alone: nothing is built or loaded, so a refusal takes a moment."""
    try:
        spec = ArchSpec.from_dict(run.spec)
        n_blocks, macs = sum(blocks_per_stage(spec)), cost(spec).macs
        available = min(EVAL_IMAGES, dataset_info(Recipe.from_dict(run.recipe)).eval_size)
    except (SpecError, KeyError, TypeError, ValueError) as err:
        return Plan(run.id, 0, 0, 0.0, f"its stored design or recipe cannot be read ({err})")
    per_image = (n_blocks + 1) * macs / max(macs_per_second, 1.0)
    images = min(available, math.floor(budget / per_image))
    if images >= min(MIN_EVAL_IMAGES, available):
        return Plan(run.id, n_blocks, images, images * per_image, None)
    seconds = MIN_EVAL_IMAGES * per_image
    took = f"{seconds / 3600:,.1f} h" if seconds > 7200 else f"{seconds / 60:,.0f} min"
    # Deleting fewer blocks cuts the work twice (fewer passes, each cheaper): the depth that fits, at this width.
    fits = math.floor(math.sqrt(budget * max(macs_per_second, 1.0) / (MIN_EVAL_IMAGES * macs / max(n_blocks, 1))))
    return Plan(run.id, n_blocks, 0, seconds,
                f"{run.label} has {n_blocks} blocks, so its lesion study re-tests the net {n_blocks + 1} times: about "
                f"{took} of work on this machine even on {MIN_EVAL_IMAGES} images, over the "
                f"{budget:.0f} s one study may take here. Lesion a net of at most about {max(fits - 1, 0)} blocks "
                "(ResNet-56 has 27, ResNet-110 54)")


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


WAIT_SECONDS = 5.0  # a visitor waits this long for a study at most; a longer one goes on in the background


def plans(runs: list[Run], device: str = "cpu") -> dict[str, Plan]:
    """Each run's `plan` at this device's measured rate (measured once per process, about a second)."""
    rate = eval_macs_per_second(device)
    return {run.id: plan(run, rate) for run in runs}


class StudyJobs:
    """Lesion studies computed one at a time in a background thread, shared by every session of the server: a
    visitor never waits for a long study (the page shows it as running and looks again), 30 visitors asking for
    the same checkpoint share one study, and a finished one is read from its file (study_run)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lesion-study")
        self._jobs: dict[tuple, Future] = {}
        self._lock = threading.Lock()

    def get(self, store: RunStore, run_id: str, images: int) -> Future:
        """The study of this run's current checkpoint on `images` images: running, queued or done."""
        key = (str(store.root), run_id, images, tuple(_stamp(store.checkpoint_path(run_id)) or ()))
        with self._lock:
            if key not in self._jobs:
                if len(self._jobs) > 64:  # forget finished studies (their files keep them)
                    self._jobs = {k: j for k, j in self._jobs.items() if not j.done()}
                self._jobs[key] = self._pool.submit(study_run, store, run_id, images)
            return self._jobs[key]

    @staticmethod
    def wait(jobs: Iterable[Future], timeout: float = WAIT_SECONDS) -> None:
        """Wait until the studies are done or `timeout` seconds have passed."""
        wait(list(jobs), timeout=timeout)


UNDERTRAINED_ERROR = 40.0  # % test error: a net that still gets 2 in 5 wrong has little to lose to a deletion
MIN_EPOCHS = 4  # the shortest run the lessons' "Run length" offers


def undertrained(run: Run, epochs: int, test_error: float | None) -> str | None:
    """Why `run` (with `epochs` finished and its last test error in %) is too little trained for the lesson to say
    what deleting a block does to a trained net, or None. A 2-epoch run at 55% error was lesioned as if trained,
    and the lesson's expected outcome then contradicted its chart (issue 12, defect 7)."""
    if test_error is not None and test_error > UNDERTRAINED_ERROR:
        return (f"{run.label} ends at {test_error:.0f}% test error after {epochs} epoch{'s' * (epochs != 1)}, over "
                f"{UNDERTRAINED_ERROR:.0f}%: it is under-trained, so its lesion says little about a trained net")
    if epochs < MIN_EPOCHS:
        return (f"{run.label} trained for {epochs} epoch{'s' * (epochs != 1)}, under the {MIN_EPOCHS} of the "
                "shortest lesson run: it is under-trained, so its lesion says little about a trained net")
    return None


def default_runs(runs: list[Run], weak: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The comparison the lesson is about, from `runs` (newest first): the deepest residual run, which has the most
    paths (Veit et al. lesion a ResNet-110), and the shallowest plain run, the plain net that trains best. Ties go
    to the newest run. A run in `weak` (under-trained) is picked only when its family has no other. `runs` are
    trained runs (Run.trained: finished, not diverged), as the lesson lists them, that `plan` does not refuse."""
    picked = []
    for family, better in (("resnet", lambda a, b: a > b), ("plain", lambda a, b: a < b)):
        best = None
        for run in runs:
            depth = run.spec.get("depth", 0)  # stored specs are plain dicts: an old run may lack a field
            if run.spec.get("family") != family:
                continue
            if best is None or (best.id in weak and run.id not in weak) or (
                    (run.id in weak) == (best.id in weak) and better(depth, best.spec.get("depth", 0))):
                best = run
        if best is not None:
            picked.append(best.id)
    return picked


def verdict(results: dict[str, dict[str, float]], families: dict[str, str], chance: float = 90.0) -> list[str]:
    """What the chart on screen shows, one line per run (label -> `summary`, label -> family), then how the
    residual and the plain run compare: the lesson's text follows the numbers, not a fixed expectation."""
    lines, rises = [], {}
    for label, s in results.items():
        intact, mean, worst = s["intact"], s["mean with one block deleted"], s["worst"]
        rises[label] = mean - intact
        start = f"{label}: deleting one block moves the error from {intact:.1f}% to {mean:.1f}% on average " \
                f"(worst {worst:.1f}%)"
        if intact > UNDERTRAINED_ERROR:
            lines.append(f"{start}. Intact, it already errs on {intact:.0f}% of the images: under-trained, so "
                         "this says little about a trained net.")
        elif mean >= chance - 15:
            lines.append(f"{start}: near chance ({chance:.0f}%). Whichever block goes, the signal is cut.")
        elif mean - intact <= 15:
            lines.append(f"{start}: the paths that avoid the deleted block still carry the signal.")
        else:
            lines.append(f"{start}: many paths broke; a net with more blocks shares the work among more paths.")
    residual = [label for label in results if families.get(label) == "resnet"
                and results[label]["intact"] <= UNDERTRAINED_ERROR]
    plain = [label for label in results if families.get(label) == "plain"
             and results[label]["intact"] <= UNDERTRAINED_ERROR]
    if residual and plain:
        r, p = residual[0], plain[0]
        if rises[r] < rises[p]:
            lines.append(f"As Veit et al. found: {r} loses {rises[r]:.0f} points on average, {p} {rises[p]:.0f}.")
        else:
            lines.append(f"Not what Veit et al. found: {r} loses {rises[r]:.0f} points on average, as much as "
                         f"{p} ({rises[p]:.0f}); a longer run of both usually separates them.")
    return lines


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
