"""What a family's plan declares (`Plan`), the layout types every plan returns, and the helpers plans share.

A plan is plain data and plain functions of a spec (no torch): the family's canonical design, its depth rule,
its layout and its rules across fields. `explorer.models.layout` and `explorer.models.rules` read them through
the one dict `explorer.models.plans.PLANS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from explorer.i18n import _
from explorer.models.convert import SpecError
from explorer.models.fields import FAMILY_LABELS, ArchFields, Block

IMAGENET_BASE_WIDTH = 64  # He et al. 2015, Table 1: every ImageNet design starts at 64 channels


@dataclass(frozen=True, kw_only=True)
class StagePlan:
    """One stage: blocks between two downsamplings (a dense block, a fractal block, a VGG conv group)."""

    name: str  # module name, e.g. "stage1"
    kind: str  # block kind shown in graphs: "basic", "bottleneck", "dense", "fractal", "highway", "conv"
    num_blocks: int  # blocks (DenseNet: layers; VGG: convs) in this stage
    in_channels: int
    block_widths: tuple[int, ...]  # output channels of each block (PyramidNet widens every block)
    inner_widths: tuple[int, ...]  # bottleneck / grouped-conv width of each block (== output for basic)
    stride: int  # stride of the stage's first block
    in_size: int  # spatial size entering the stage
    out_size: int  # spatial size leaving the stage

    @property
    def out_channels(self) -> int:
        return self.block_widths[-1]


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Derived quantities read by the builder and the renderers alike."""

    input_size: int  # 32 (CIFAR) or 224 (ImageNet)
    stem_channels: int
    stem_size: int  # spatial size after the stem
    stages: tuple[StagePlan, ...]
    head_in: int  # channels entering the classifier
    weight_layers: int  # conv + fc layers on the longest path, as the papers count depth


def no_rules(spec: ArchFields) -> None:
    """A family with no rules across fields beyond the field table's."""


def no_imagenet_block(spec: ArchFields) -> Block | None:
    """A family whose ImageNet depth does not fix the block (or that has no ImageNet design)."""
    return None


@dataclass(frozen=True, kw_only=True)
class Plan:
    """One family's facts. The builder (explorer.models.families) is the torch half beside it."""

    default: dict[str, Any]  # the canonical CIFAR design: ArchSpec fields besides `family` (also its preset)
    base_width: int  # the paper's stage-1 width on CIFAR when spec.base_width is None (ImageNet: 64)
    depth_rule: Callable[[ArchFields], tuple[str, list[int]]]  # the rule in the paper's words, first valid depths
    check_depth: Callable[[ArchFields], None]  # raise SpecError for a depth the rule refuses
    layout: Callable[[ArchFields], Layout]  # per-stage widths, counts and sizes of a valid spec
    check: Callable[[ArchFields], None] = no_rules  # the family's rules across fields, after the depth's
    imagenet_block: Callable[[ArchFields], Block | None] = no_imagenet_block  # the block an ImageNet depth fixes
    note: str = ""  # where the build is this project's reading rather than the paper's or its code: the Build page


# ---------------------------------------------------------------- sizes and widths


def input_size(spec: ArchFields) -> int:
    return 224 if spec.stem == "imagenet" else 32


def stem_size(spec: ArchFields) -> int:
    """Spatial size after the stem: the ImageNet stem's 7x7/2 conv and 3x3/2 max-pool divide by 4."""
    return input_size(spec) // 4 if spec.stem == "imagenet" else input_size(spec)


def stage1_width(spec: ArchFields, cifar_width: int) -> int:
    """spec.base_width, else the paper's: 64 on ImageNet, `cifar_width` (the family's plan) on CIFAR."""
    if spec.base_width is not None:
        return spec.base_width
    return IMAGENET_BASE_WIDTH if spec.stem == "imagenet" else cifar_width


def strided_stages(kind: str, counts: tuple[int, ...] | list[int], in_channels: int, size: int,
                   widths: Callable[[int], tuple[int, int]]) -> tuple[StagePlan, ...]:
    """Stages whose first block has stride 1 (stage 1) or 2 (later stages), every block of stage i with
    `widths(i)` = (inner width, output width)."""
    stages, in_ch, cur = [], in_channels, size
    for i, n in enumerate(counts):
        inner, out = widths(i)
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind=kind, num_blocks=n, in_channels=in_ch,
                                block_widths=(out,) * n, inner_widths=(inner,) * n, stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = out, cur // stride
    return tuple(stages)


# ---------------------------------------------------------------- depth rules

# Depths the papers used, per CIFAR depth rule (step, offset): the examples a depth message quotes.
PAPER_DEPTHS: dict[tuple[int, int], tuple[int, ...]] = {
    (6, 2): (20, 32, 44, 56, 110),  # He et al. 2015, Table 6
    (9, 2): (29, 110, 164, 272, 1001),  # ResNeXt-29, preact bottleneck 164/1001, PyramidNet-272
    (6, 4): (16, 22, 28, 40, 100),  # WRN-d-k; DenseNet-BC 100
    (3, 4): (40, 100),  # DenseNet L=40, 100
}


@dataclass(frozen=True)
class CifarDepth:
    """A CIFAR depth rule: depth = step * n + offset, n blocks per stage in each of the three stages."""

    step: int
    offset: int
    name: str  # the family's name in the rule: "ResNet", "bottleneck ResNet", "Wide ResNet"

    def blocks(self, depth: int) -> int:
        return (depth - self.offset) // self.step

    def valid(self) -> list[int]:
        return [self.step * n + self.offset for n in range(1, 400)]

    def text(self) -> str:
        # TRANSLATORS: {name} is a design's name ("ResNet", "bottleneck ResNet", "Wide ResNet"): keep it English
        return _("a CIFAR {name} has {step}n+{offset} layers").format(name=self.name, step=self.step,
                                                                       offset=self.offset)


def basic_or_bottleneck(spec: ArchFields, name: str) -> CifarDepth:
    """He et al.'s rules: 6n+2 with basic blocks (2 convs), 9n+2 with bottlenecks (3 convs)."""
    return CifarDepth(9, 2, f"bottleneck {name}") if spec.block == "bottleneck" else CifarDepth(6, 2, name)


def nearest(valid: list[int], value: int) -> str:
    below = [v for v in valid if v < value]
    above = [v for v in valid if v > value]
    picks = ([max(below)] if below else []) + ([min(above)] if above else [])
    return _(" or ").join(map(str, picks))


def check_cifar_depth(spec: ArchFields, rule: CifarDepth) -> None:
    if spec.depth < rule.step + rule.offset or (spec.depth - rule.offset) % rule.step:
        examples = ", ".join(map(str, PAPER_DEPTHS.get((rule.step, rule.offset), ())))
        raise SpecError("depth", _("{rule} ({examples}, ...); got {value}, try {fix}").format(
            rule=rule.text(), examples=examples, value=spec.depth, fix=nearest(rule.valid(), spec.depth)))


def check_listed_depth(spec: ArchFields, rule: tuple[str, list[int]]) -> None:
    """A depth rule that is a list of depths (VGG's, ImageNet's)."""
    text, valid = rule
    if spec.depth not in valid:
        raise SpecError("depth", _("{rule}; got {value}, try {fix}").format(rule=text, value=spec.depth,
                                                                             fix=nearest(valid, spec.depth)))


@dataclass(frozen=True)
class SteppedDepth:
    """The usual depth rule: step * n + offset on CIFAR (`cifar(spec)`), one of `imagenet`'s depths on ImageNet."""

    cifar: Callable[[ArchFields], CifarDepth]
    imagenet: tuple[str, tuple[int, ...]] | None = None  # the rule's words (N_) and its depths; None: CIFAR only

    def rule(self, spec: ArchFields) -> tuple[str, list[int]]:
        if spec.stem == "imagenet" and self.imagenet is not None:
            return _(self.imagenet[0]), list(self.imagenet[1])
        cifar = self.cifar(spec)
        return cifar.text(), cifar.valid()

    def check(self, spec: ArchFields) -> None:
        if spec.stem == "imagenet" and self.imagenet is not None:
            check_listed_depth(spec, self.rule(spec))
        else:
            check_cifar_depth(spec, self.cifar(spec))

    def blocks_per_stage(self, spec: ArchFields) -> tuple[int, int, int]:
        """CIFAR: n blocks in each of the three stages."""
        n = self.cifar(spec).blocks(spec.depth)
        return n, n, n


def check_one_block_type(spec: ArchFields) -> None:
    """The rule of a family with one kind of block (Shake-Shake, Highway, VGG, FractalNet): `block` stays 'basic'."""
    if spec.block != "basic":
        raise SpecError("block", _("{family} has one block type; got {value!r}, use 'basic'").format(
            family=_(FAMILY_LABELS[spec.family]), value=spec.block))
