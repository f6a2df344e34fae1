"""How to train: the SGD recipe as data, its validation, the papers' recipes and the learning-rate schedule.

Plain Python (no torch), so that the app, the run store and the lessons can build and check recipes without
loading the engine. The papers' recipes live in one place, assets/published.json (`recipes`), with their sources.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from explorer.models import published
from explorer.i18n import N_, _
from explorer.models.convert import SpecError, from_untrusted
from explorer.models.spec import ArchSpec
from explorer.training.datasets import SPLITS, Dataset, Split

Schedule = Literal["step", "cosine", "constant"]
FALLBACK_RECIPE = "resnet"  # families whose paper gives no CIFAR recipe (Highway) train with He et al.'s
MAX_TRAIN_SIZE = max(train for train, _ in SPLITS.values())


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How to train: the papers' SGD recipe. Defaults are He et al. 2015's CIFAR-10 recipe, scaled to 5 epochs."""

    dataset: Dataset = "synthetic"  # "cifar10", "cifar100" or the offline "synthetic" shapes (labelled synthetic)
    split: Split = "50k/10k"  # He et al. sec. 4.2 tunes on "45k/5k" train/validation; "50k/10k" = train/test
    epochs: int = 5  # passes over the training split (the papers: 164 for ResNet, 200 WRN, 300 DenseNet)
    batch_size: int = 128  # images per SGD step, over all GPUs together (papers: 128; DenseNet 64)
    lr: float = 0.1  # initial learning rate (papers: 0.1; Shake-Shake 0.2)
    momentum: float = 0.9  # SGD momentum (all papers: 0.9)
    weight_decay: float = 1e-4  # L2 on all weights (ResNet 1e-4, WRN/ResNeXt 5e-4)
    nesterov: bool = False  # Nesterov momentum (WRN, DenseNet, PyramidNet use it)
    schedule: Schedule = "step"  # "step": lr x gamma at each milestone; "cosine": Shake-Shake's, to 0; "constant"
    milestones: tuple[float, ...] = (0.5, 0.75)  # step schedule: fractions of the run (ResNet: 32k, 48k of 64k iters)
    gamma: float = 0.1  # step schedule: lr multiplier at each milestone (ResNet 0.1, WRN 0.2)
    warmup: bool = False  # ResNet-110: lr/10 until train error < 80% (at most ~400 iters), then lr (sec. 4.2)
    warmup_steps: int = 0  # linear warm-up: lr ramps up to lr over the first N steps (Goyal et al. 2017); 0 = off
    seed: int = 0  # initial weights, shuffling and augmentation; the synthetic images themselves are fixed
    train_size: int = 0  # images of the split to train on; 0 = all of it (small values for demos and tests)
    compile: bool = False  # torch.compile the model (minutes of compiling, then faster steps on a GPU)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["milestones"] = list(self.milestones)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        """Build and validate a recipe from untrusted data (JSON); missing fields take the defaults."""
        recipe = from_untrusted(cls, data, "recipe", noun=N_("recipe field"))
        validate_recipe(recipe)
        return recipe

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)


def _check(ok: bool, name: str, rule: str, value: Any, fix: Any, **fields: Any) -> None:
    """`rule` is marked (N_) and translated here, its `{fields}` filled after."""
    if not ok:
        raise SpecError(name, _("{rule}; got {value!r}, try {fix}").format(rule=_(rule).format(**fields), value=value,
                                                                          fix=fix))


def validate_recipe(r: Recipe) -> None:
    """Raise SpecError naming the field, rule, value and a fix for the first bad setting."""
    _check(r.dataset in get_args(Dataset), "dataset", N_("choose cifar10, cifar100 or synthetic"), r.dataset,
           "synthetic")
    _check(r.split in get_args(Split), "split", N_("choose 45k/5k or 50k/10k"), r.split, "50k/10k")
    _check(r.schedule in get_args(Schedule), "schedule", N_("choose step, cosine or constant"), r.schedule, "step")
    _check(1 <= r.epochs <= 2000, "epochs", N_("must be between 1 and 2000"), r.epochs, 5)
    _check(1 <= r.batch_size <= 4096, "batch_size", N_("must be between 1 and 4096 images"), r.batch_size, 128)
    _check(0 < r.lr <= 10, "lr", N_("the learning rate must be in (0, 10]"), r.lr, 0.1)
    _check(0 <= r.momentum < 1, "momentum", N_("must be in [0, 1)"), r.momentum, 0.9)
    _check(0 <= r.weight_decay <= 0.1, "weight_decay", N_("must be in [0, 0.1]"), r.weight_decay, 1e-4)
    _check(not r.nesterov or r.momentum > 0, "nesterov", N_("Nesterov momentum needs momentum > 0"), r.nesterov,
           False)
    _check(all(0 < m < 1 for m in r.milestones) and list(r.milestones) == sorted(r.milestones), "milestones",
           N_("must be increasing fractions of the run in (0, 1)"), list(r.milestones), [0.5, 0.75])
    _check(0 < r.gamma <= 1, "gamma", N_("the step multiplier must be in (0, 1]"), r.gamma, 0.1)
    _check(0 <= r.seed < 2**31, "seed", N_("must be in [0, 2^31)"), r.seed, 0)
    _check(0 <= r.warmup_steps <= 100_000, "warmup_steps", N_("must be between 0 and 100000 steps"), r.warmup_steps,
           0)
    _check(0 <= r.train_size <= MAX_TRAIN_SIZE, "train_size", N_("must be 0 (all) or up to {most} images"),
           r.train_size, 0, most=MAX_TRAIN_SIZE)


def _milestones(paper: dict[str, Any]) -> tuple[float, ...]:
    """The paper's lr drops as fractions of its run, from whichever form it printed them in."""
    if paper.get("milestones_fraction"):
        return tuple(paper["milestones_fraction"])
    if paper.get("milestones_iterations"):
        return tuple(m / paper["total_iterations"] for m in paper["milestones_iterations"])
    if paper.get("milestones_epochs"):
        return tuple(m / paper["epochs"] for m in paper["milestones_epochs"])
    return Recipe.milestones  # cosine: no drops (the field keeps its default)


def paper_recipe(spec: ArchSpec, epochs: int = 5) -> Recipe:
    """The family's paper recipe (assets/published.json), its schedule scaled from the paper's length to `epochs`."""
    paper = published.recipe(spec.family) or published.recipe(FALLBACK_RECIPE)
    return Recipe(dataset="synthetic", epochs=epochs, batch_size=paper["batch_size"], lr=paper["lr"],
                  momentum=paper["momentum"], weight_decay=paper["weight_decay"], nesterov=paper["nesterov"],
                  schedule=paper["schedule"], milestones=_milestones(paper), gamma=paper.get("lr_factor", 0.1),
                  # He et al. sec. 4.2: ResNet-110 warms up; so do the 1001-layer pre-activation nets (sec. 4)
                  warmup=spec.depth >= paper.get("warmup_from_depth", math.inf))


def lr_at(recipe: Recipe, step: int, total_steps: int, warming: bool = False) -> float:
    """The learning rate for 0-based `step` of `total_steps`."""
    if warming:
        return recipe.lr / 10
    # Goyal et al. 2017 (1706.02677) sec. 2.2: a gradual ramp avoids the first-steps loss spike of deep nets.
    ramp = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
    if recipe.schedule == "cosine":  # Loshchilov & Hutter 2016 without restarts, as Shake-Shake uses
        return ramp * 0.5 * recipe.lr * (1 + math.cos(math.pi * step / total_steps))
    if recipe.schedule == "step":
        drops = sum(step >= round(m * total_steps) for m in recipe.milestones)
        return ramp * recipe.lr * recipe.gamma ** drops
    return ramp * recipe.lr
