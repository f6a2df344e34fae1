"""The field table: every ArchSpec field with its meaning, paper name, label, bounds, choices and families.

`ArchFields` is the data of a design; each field carries its `Setting` in `dataclasses.field(metadata=...)`,
next to the default. `validate()` (explorer.models.rules) and the Build page's controls both read the table:
`setting(name)` for one field, `applies(name, family)` for the validate rule, `offered(name, spec)` for the page.
`ArchSpec` (explorer.models.spec) adds the constructors that validate untrusted data.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal, Self

from explorer.i18n import N_, _

Family = Literal[
    "plain", "resnet", "wrn", "resnext", "shake_shake", "pyramidnet", "densenet", "highway", "fractalnet", "vgg"
]
# A new family adds its name to `Family`, its label to FAMILY_LABELS (the Build page's choices, the messages' name),
# itself to the named groups below that it belongs to, and to `families=` of any other field that applies to it.
# Its facts live in its plan (explorer.models.plans), its builder in explorer.models.families.
FAMILY_LABELS: dict[str, str] = {
    "plain": N_("Plain (no shortcuts)"),
    "vgg": N_("VGG"),
    "highway": N_("Highway"),
    "resnet": N_("ResNet / pre-activation"),
    "wrn": N_("Wide ResNet"),
    "resnext": N_("ResNeXt"),
    "shake_shake": N_("Shake-Shake"),
    "pyramidnet": N_("PyramidNet"),
    "densenet": N_("DenseNet"),
    "fractalnet": N_("FractalNet"),
}
RESIDUAL_FAMILIES = ("resnet", "wrn", "resnext", "shake_shake", "pyramidnet")  # the residual-branch options apply
IMAGENET_FAMILIES = ("plain", "resnet", "wrn", "resnext", "densenet", "vgg")  # with an ImageNet design (presets)

Block = Literal["basic", "bottleneck"]
BottleneckStride = Literal["1x1", "3x3"]  # which conv of a downsampling bottleneck has the stride
Stem = Literal["cifar", "imagenet"]
ShortcutOption = Literal["A", "B", "C"]  # He et al. 2015, sec. 4.1: A zero-pad, B project on change, C project all
ShortcutVariant = Literal[
    "identity", "constant_scaling", "exclusive_gating", "shortcut_only_gating", "conv1x1", "dropout"
]  # Identity Mappings (1603.05027), Table 1 / Fig. 2
Activation = Literal[
    "original", "bn_after_add", "relu_before_add", "relu_only_preact", "full_preact"
]  # Identity Mappings, Table 2 / Fig. 4 (a)-(e)
ResNeXtForm = Literal["grouped", "split", "concat"]  # ResNeXt Fig. 3 (c), (a), (b)
ShakeForward = Literal["shake", "even"]
ShakeBackward = Literal["shake", "even", "keep"]
ShakeLevel = Literal["batch", "image"]
Widening = Literal["additive", "multiplicative"]

MAX_DEPTH = 2000  # deepest published CIFAR net is 1202 layers
GATED = ("exclusive_gating", "shortcut_only_gating")


@dataclass(frozen=True)
class Needs:
    """The field means something only while another field of the same family has one of `values`."""

    field: str
    values: tuple[str, ...]
    text: str  # the rule in words, for the error: "only used by shortcut_variant 'dropout'" (marked N_)


@dataclass(frozen=True)
class Setting:
    """One row of the field table. Bounds are inclusive unless `open_low` / `open_high`."""

    label: str  # the Build page's label (marked N_, translated where shown: _(setting.label))
    help: str | None = None  # the widget's tooltip (marked N_)
    unit: str = ""  # what the number counts ("layers", "channels", "probability")
    low: float | None = None
    high: float | None = None
    step: float | None = None  # the number widget's step (an open bound's widget stops one step inside)
    open_low: bool = False
    open_high: bool = False
    rule: str | None = None  # the range in the paper's words; default "must be between low and high"
    fix: float | None = None  # the value a range error suggests; default the nearest bound
    choices: dict[str, str] | None = None  # value -> label (marked N_), in the page's order (default: the values)
    families: tuple[str, ...] | None = None  # families where a non-default value means something; None: all
    outside: str | None = None  # the error's words outside `families`, after the family's label
    offered: tuple[str, ...] | None = None  # families whose Build page shows it; None: `families`
    stems: tuple[str, ...] = ("cifar", "imagenet")  # stems whose Build page shows it
    needs: Needs | None = None


def _s(default: Any, **setting: Any) -> Any:
    return dataclasses.field(default=default, metadata={"setting": Setting(**setting)})


def _probability(default: float, label: str, families: tuple[str, ...] | None, closed: bool = False) -> Any:
    rule = N_("is a probability in [0, 1]") if closed else N_("is a probability in [0, 1)")
    return _s(default, label=label, unit="probability", low=0.0, high=1.0, step=0.05, open_high=not closed,
              rule=rule, fix=0.0, families=families)


_LABELS_SHORTCUT = {"A": N_("A: zero-padded identity"), "B": N_("B: projection where the shape changes"),
                    "C": N_("C: projection everywhere")}
_LABELS_ACTIVATION = {"original": N_("(a) original: add, then ReLU"), "bn_after_add": N_("(b) BN after addition"),
                      "relu_before_add": N_("(c) ReLU before addition"),
                      "relu_only_preact": N_("(d) ReLU-only pre-activation"),
                      "full_preact": N_("(e) full pre-activation")}
_LABELS_VARIANT = {"identity": N_("identity"), "constant_scaling": N_("constant scaling"),
                   "exclusive_gating": N_("exclusive gating"), "shortcut_only_gating": N_("shortcut-only gating"),
                   "conv1x1": N_("1x1 conv shortcut"), "dropout": N_("dropout shortcut")}
_LABELS_FORM = {"grouped": N_("(c) grouped convolution"), "split": N_("(a) split-transform-merge"),
                "concat": N_("(b) early concatenation")}
_LABELS_STRIDE = {"1x1": N_("first 1x1 (authors' CIFAR code, original ResNet)"),
                  "3x3": N_("3x3 (torchvision, 'ResNet V1.5')")}
BOTTLENECK_FAMILIES = ("plain", "resnet", "wrn", "resnext", "shake_shake", "pyramidnet")  # 1x1-3x3-1x1 blocks
# Where each family's released code strides a CIFAR bottleneck. On ImageNet an unset stride is "3x3", torchvision's
# "ResNet V1.5" (which moved it from the 1x1 to the 3x3), so that the ImageNet presets equal torchvision:
#   "1x1", the first 1x1: He et al. 2015's ImageNet ResNet (KaimingHe/deep-residual-networks prototxts) and the
#     authors' CIFAR bottleneck (KaimingHe/resnet-1k-layers resnet-pre-act.lua: preact-ResNet-164 244.5M
#     multiply-adds, 247.6M with the stride on the 3x3). Plain nets follow ResNet.
#   "3x3": facebookresearch/ResNeXt models/resnext.lua (the grouped 3x3), szagoruyko/wide-residual-networks
#     pretrained/wide-resnet.lua (WRN-50-2; CIFAR WRNs have no bottleneck), dyhan0920/PyramidNet-PyTorch
#     PyramidNet.py and jhkim89/PyramidNet, xgastaldi/shake-shake models/shakeshake.lua (29 2x4x64d).
AUTHORS_BOTTLENECK_STRIDE = {"plain": "1x1", "resnet": "1x1", "wrn": "3x3", "resnext": "3x3", "shake_shake": "3x3",
                             "pyramidnet": "3x3"}
_BOTTLENECK = Needs("block", ("bottleneck",), N_("only used by bottleneck blocks"))
_SCALING = Needs("shortcut_variant", ("constant_scaling",),
                 N_("scales only apply to shortcut_variant 'constant_scaling'"))


@dataclass(frozen=True, kw_only=True)
class ArchFields:
    """A design from the residual-network papers. Defaults are ResNet-20 on CIFAR-10 (He et al. 2015)."""

    family: Family = _s("resnet", label=N_("Family"), choices=FAMILY_LABELS)  # which paper's network: the builder
    # "basic" (two 3x3) or "bottleneck" (1x1-3x3-1x1); DenseNet-B when "bottleneck". Where it is not a choice,
    # the family, the ImageNet depth or the preset fixes it (explorer.models.rules checks those).
    block: Block = _s("basic", label=N_("Block"),
                      offered=("plain", "resnet", "pyramidnet", "densenet", "shake_shake"),
                      stems=("cifar",))
    # weight layers as the papers count them (ResNet 6n+2, preact bottleneck 9n+2, WRN 6n+4)
    depth: int = _s(20, label=N_("Depth (weight layers)"), unit="layers", low=1, high=MAX_DEPTH,
                    rule=N_("must be between {low} and {high} layers"), fix=20)
    # "cifar": 3x3 conv on 32x32; "imagenet": 7x7/2 conv + 3x3/2 max-pool on 224x224
    stem: Stem = _s("cifar", label=N_("Stem (dataset)"), families=IMAGENET_FAMILIES, outside=N_("is a CIFAR design"),
                    choices={"cifar": N_("CIFAR: 3x3 conv, 32x32 input"),
                             "imagenet": N_("ImageNet: 7x7/2 conv + max-pool, 224x224")})
    # Which conv of a downsampling bottleneck has the stride (same parameters either way; "1x1" runs the 3x3 at
    # the lower resolution). None, the default, becomes the family's authors' choice, AUTHORS_BOTTLENECK_STRIDE.
    bottleneck_stride: BottleneckStride | None = _s(None, label=N_("Bottleneck stride on"), choices=_LABELS_STRIDE,
                                                    families=BOTTLENECK_FAMILIES,
                                                    needs=_BOTTLENECK)
    num_classes: int = _s(10, label=N_("Classes"), low=2, high=100_000, step=1)  # CIFAR-10: 10, ImageNet: 1000
    # stage-1 width before k; None: the paper's (16 CIFAR, 64 ImageNet, 32 Shake). The page offers it for
    # Shake-Shake (the branch width d); a link may set it for any family.
    base_width: int | None = _s(None, label=N_("Branch width d (stage 1)"), unit="channels", low=1, high=1024,
                                step=16,
                                offered=("shake_shake",))
    # WRN "k": multiplies every stage width (ImageNet bottleneck: the inner width only). PyramidNet sets its
    # widths by alpha alone.
    width_factor: int = _s(1, label=N_("Width factor k"), help=N_("WRN k: multiplies every stage width"),
                           low=1, high=64, step=1, families=("plain", "resnet", "wrn"))
    # ResNeXt "C": parallel paths (groups of the 3x3 conv); Shake-Shake's "2xCxd": each branch a ResNeXt bottleneck
    cardinality: int = _s(1, label=N_("Cardinality C"), help=N_("ResNeXt: parallel paths (groups of the 3x3 conv)"),
                          low=1, high=256, step=1, families=("resnext", "shake_shake"), needs=_BOTTLENECK)
    # ResNeXt "d": one path's width in stage 1, doubled each stage (Shake-Shake "2xCxd": d of each branch)
    bottleneck_width: int = _s(64, label=N_("Path width d"), unit="channels", low=1, high=1024, step=1,
                               families=("resnext", "shake_shake"), needs=_BOTTLENECK)
    # He et al. 2015: A zero-padded identity, B projection on change, C always
    shortcut: ShortcutOption = _s("A", label=N_("Shortcut option"), choices=_LABELS_SHORTCUT,
                                  families=("resnet", "wrn", "resnext"))
    # Identity Mappings Table 1: what the shortcut path does
    shortcut_variant: ShortcutVariant = _s("identity", label=N_("Shortcut variant (Identity Mappings, Table 1)"),
                                           choices=_LABELS_VARIANT, families=("resnet",))
    shortcut_scale: float = _s(1.0, label=N_("Shortcut scale"), low=0.0, high=10.0, step=0.1, families=("resnet",),
                               needs=_SCALING)  # Table 1 "constant scaling": lambda on the shortcut
    residual_scale: float = _s(1.0, label=N_("Residual scale"), low=0.0, high=10.0, step=0.1, families=("resnet",),
                               needs=_SCALING)  # Table 1 "constant scaling": lambda on F
    # gate bias init b_g: Table 1 gating (-6 works) and Highway carry bias (-1 .. -3)
    gate_bias: float = _s(0.0, label=N_("Gate bias init"), low=-20.0, high=20.0, step=1.0,
                          families=("resnet", "highway"),
                          needs=Needs("shortcut_variant", GATED, N_("only used by the gating shortcut variants")))
    # Table 1 "dropout shortcut": drop probability on the shortcut
    shortcut_dropout: float = _s(0.5, label=N_("Shortcut dropout"), unit="probability", low=0.0, high=1.0, step=0.05,
                                 open_high=True, rule=N_("is a probability in [0, 1)"), fix=0.0, families=("resnet",),
                                 needs=Needs("shortcut_variant", ("dropout",),
                                             N_("only used by shortcut_variant 'dropout'")))
    # Identity Mappings Table 2: where BN/ReLU sit around the addition
    activation: Activation = _s("original", label=N_("Activation placement"), choices=_LABELS_ACTIVATION,
                                families=("resnet", "wrn"))
    # WRN: dropout probability between the two convs of a block (0.3 in the paper)
    dropout: float = _probability(0.0, N_("Dropout"), ("wrn", "resnet", "densenet"))
    # ResDrop (1603.09382) "p_L": drop prob. of the last block, linear from 0
    stochastic_depth: float = _probability(0.0, N_("Stochastic depth p_L"), RESIDUAL_FAMILIES)
    # SE (1709.01507) "r": squeeze-and-excitation on each residual block; 0 = off
    se_reduction: int = _s(0, label=N_("SE reduction r (0 = off)"), low=0, high=1024, step=4,
                           families=RESIDUAL_FAMILIES)
    # zero-init the last BN of each branch (Goyal et al. 2017, 1706.02677)
    zero_init_residual: bool = _s(False, label=N_("Zero-init last BN of each branch"), families=RESIDUAL_FAMILIES)
    # ResNeXt Fig. 3: grouped conv, split-transform-merge, early concat
    resnext_form: ResNeXtForm = _s("grouped", label=N_("ResNeXt form (Fig. 3)"), choices=_LABELS_FORM,
                                   families=("resnext",))
    # Shake-Shake alpha: "shake" random per pass, "even" 0.5
    shake_forward: ShakeForward = _s("shake", label=N_("Forward (alpha)"), families=("shake_shake",))
    # Shake-Shake beta: "shake" new random, "even" 0.5, "keep" = alpha
    shake_backward: ShakeBackward = _s("shake", label=N_("Backward (beta)"), families=("shake_shake",))
    # Shake-Shake: one coefficient per "batch" or per "image"
    shake_level: ShakeLevel = _s("image", label=N_("Coefficient per"),
                                 choices={"image": N_("image"), "batch": N_("batch")},
                                 families=("shake_shake",))
    # PyramidNet: widths grow linearly (eq. 2, alpha in channels) or geometrically (eq. 3, alpha a ratio)
    pyramid_widening: Widening = _s("additive", label=N_("Widening"), families=("pyramidnet",),
                                    choices={"additive": N_("additive (eq. 2)"),
                                             "multiplicative": N_("multiplicative (eq. 3)")})
    # PyramidNet additive "alpha" (eq. 2): total width added across all blocks
    pyramid_alpha: int = _s(48, label=N_("Widening alpha (channels added)"), unit="channels", low=0, high=4096,
                            step=12,
                            families=("pyramidnet",),
                            needs=Needs("pyramid_widening", ("additive",), N_("only used by additive widening")))
    # PyramidNet multiplicative "alpha" (eq. 3): the last block's width over the first's; 4.75 in the authors'
    # jhkim89/PyramidNet mulpyramidnet.lua
    pyramid_ratio: float = _s(4.75, label=N_("Widening alpha (last / first width)"), low=1.0, high=256.0, step=0.25,
                              families=("pyramidnet",),
                              needs=Needs("pyramid_widening", ("multiplicative",),
                                          N_("only used by multiplicative widening")))
    growth_rate: int = _s(12, label=N_("Growth rate k"), unit="channels", low=1, high=512, step=1,
                          families=("densenet",))  # DenseNet "k": channels each layer adds
    # DenseNet "theta": transition keeps this fraction of channels (C: 0.5)
    compression: float = _s(1.0, label=N_("Compression theta"), low=0.0, high=1.0, step=0.05, open_low=True,
                            rule=N_("DenseNet theta must be in (0, 1]"), fix=0.5, families=("densenet",))
    # FractalNet "C": columns; the deepest has 2^(C-1) convs per block
    fractal_columns: int = _s(3, label=N_("Columns C"), low=1, high=6, step=1, families=("fractalnet",))
    # FractalNet "B": fractal blocks, each followed by 2x2 max-pool
    fractal_blocks: int = _s(5, label=N_("Fractal blocks B"), low=1, high=5, step=1, families=("fractalnet",))
    # FractalNet local drop-path: probability of dropping each join input
    drop_path_local: float = _probability(0.15, N_("Local drop-path"), ("fractalnet",))
    # FractalNet: fraction of batches trained on one global column
    drop_path_global: float = _probability(0.5, N_("Global drop-path share"), ("fractalnet",), closed=True)
    # FractalNet dropout after every 3x3 conv, a schedule by block: 0 in the first block rising linearly to this
    # in the last (sec. 4.1: "we fix drop rate per block at (0%, 10%, 20%, 30%, 40%)", so 0.4 for B=5; the
    # authors' gustavla/fractalnet generation/fractalnet.py DROPOUTS, placed conv-dropout-BN-ReLU in globals.crox)
    fractal_dropout: float = _probability(0.0, N_("Dropout in the last block (0 in the first)"), ("fractalnet",))

    def __post_init__(self) -> None:
        # An unset stride becomes the family's authors' choice, stored so the spec says which. Without bottleneck
        # blocks (or in DenseNet, whose bottleneck never strides) the setting means nothing and takes that same
        # value, so equal nets are equal specs (a link's ResNet-18 is the resnet18 preset whatever it says here).
        if self.bottleneck_stride is None or self.block != "bottleneck" or self.family not in BOTTLENECK_FAMILIES:
            object.__setattr__(self, "bottleneck_stride", unset_value("bottleneck_stride", self))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` (of the same class: an ArchSpec stays an ArchSpec)."""
        return dataclasses.replace(self, **changes)


FIELD_TYPES: dict[str, Any] = typing.get_type_hints(ArchFields)  # field name -> its type, in field order
SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in dataclasses.fields(ArchFields)}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(ArchFields)}


def unset_value(name: str, spec: ArchFields) -> Any:
    """A field's value when the design does not set it: the dataclass default, or what an unset
    bottleneck_stride becomes for the design's family and stem."""
    if name == "bottleneck_stride":
        if spec.family not in BOTTLENECK_FAMILIES:
            return "1x1"  # one value where it never applies
        return "3x3" if spec.stem == "imagenet" else AUTHORS_BOTTLENECK_STRIDE[spec.family]
    return DEFAULTS[name]


def setting(name: str) -> Setting:
    """The field table's row for one ArchSpec field."""
    return SETTINGS[name]


def short_label(name: str) -> str:
    """The field's label without its parenthesis ("Depth (weight layers)" -> "Depth"), for messages; in the
    current language (the Build page shows the translated label, so its messages name that)."""
    return _(SETTINGS[name].label).split(" (")[0]


def described(err: Exception) -> str:
    """A SpecError as the Build page says it: the field's label, not its code name, before the message
    ("Cardinality C 256 gives about ...", "Depth: a CIFAR ResNet needs 6n+2 layers ...")."""
    field, message = getattr(err, "field", None), getattr(err, "message", None)
    if field not in SETTINGS or message is None:
        return str(err)
    label = short_label(field)
    return message if message.startswith(label) else f"{label}: {message}"


def applies(name: str, family: str) -> bool:
    """Whether a field means something for a family (validate refuses a non-default value elsewhere)."""
    families = SETTINGS[name].families
    return families is None or family in families


def offered(name: str, spec: ArchFields) -> bool:
    """Whether the Build page shows the field for this (partial) design: its family, stem and `needs`."""
    s = SETTINGS[name]
    families = s.offered if s.offered is not None else s.families
    if families is not None and spec.family not in families:
        return False
    if spec.stem not in s.stems:
        return False
    return needs_met(name, spec)


def needs_met(name: str, spec: ArchFields) -> bool:
    """False when the field's `needs` names a field of this family that has another value."""
    needs = SETTINGS[name].needs
    if needs is None or not applies(needs.field, spec.family):
        return True
    return getattr(spec, needs.field) in needs.values


def widget_bounds(name: str) -> tuple[float, float, float]:
    """The number widget's min, max and step: an open bound stops one step inside the range."""
    s = SETTINGS[name]
    assert s.low is not None and s.high is not None and s.step is not None, name
    low = s.low + s.step if s.open_low else s.low
    high = s.high - s.step if s.open_high else s.high
    return low, high, s.step
