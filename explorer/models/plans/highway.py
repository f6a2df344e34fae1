"""Highway networks' facts (Srivastava et al. 2015, 1505.00387): a stem conv, then gated layers
y = H(x) T(x) + x (1 - T(x)) in three stages, then the classifier."""

from __future__ import annotations

from explorer.i18n import N_, _
from explorer.models.convert import SpecError
from explorer.models.fields import ArchFields
from explorer.models.plans.base import Layout, Plan, check_one_block_type, input_size, stage1_width, strided_stages

# Why the widths are ours: "Training Very Deep Networks" (Srivastava et al. 2015, 1507.06228; the full paper of
# 1505.00387), Table 3, prints its CIFAR-10 highway nets' depth, parameter count and error (19 layers 2.3M 7.54%,
# 32 layers 1.25M 8.80%) and says they follow the Fitnet designs (Romero et al. 2014): 3x3 convolutional highway
# layers with max-pooling between groups. It gives no per-layer widths, and no code of its CIFAR nets is released.
# So the widths are this project's choice: three stages of 32, 80 and 128 channels, which give highway19 (a stem
# conv, 6+6+5 highway layers, the classifier) 2,295,722 parameters, the printed 2.3M; plain doubling (32, 64, 128)
# would give 2.04M. BN in H is also ours (explorer.models.families.highway).
HIGHWAY_WIDTHS = (32, 80, 128)
NOTE = ("Highway: the paper (Srivastava et al. 2015, Table 3) prints the depth, parameter count and error of its "
        "CIFAR-10 nets (19 layers, 2.3M) and says they follow Fitnet, but gives no per-layer widths. The widths "
        "here (32, 80, 128 channels by stage) are this project's choice, set to give the printed 2.3M; the BN in "
        "each layer's H is ours too.")
_RULE = N_("a Highway net has a stem, at least 3 highway layers and a classifier (5 or more)")


def depth_rule(spec: ArchFields) -> tuple[str, list[int]]:
    return _(_RULE), list(range(5, 41))


def check_depth(spec: ArchFields) -> None:
    if spec.depth < 5:
        raise SpecError("depth", _("{rule}; got {value}, try {fix}").format(rule=_(_RULE), value=spec.depth, fix=19))


def layout(spec: ArchFields) -> Layout:
    """Stem conv, then depth - 2 highway layers split over three stages (HIGHWAY_WIDTHS scaled by base_width)."""
    base = stage1_width(spec, HIGHWAY_WIDTHS[0])
    layers = spec.depth - 2
    counts = [layers // 3 + (1 if i < layers % 3 else 0) for i in range(3)]

    def widths(i: int) -> tuple[int, int]:
        w = HIGHWAY_WIDTHS[i] * base // HIGHWAY_WIDTHS[0]
        return w, w

    stages = strided_stages("highway", counts, base, input_size(spec), widths)
    return Layout(input_size=input_size(spec), stem_channels=base, stem_size=input_size(spec), stages=stages,
                  head_in=stages[-1].out_channels, weight_layers=spec.depth)


HIGHWAY = Plan(default=dict(depth=19, gate_bias=-2.0),  # highway19
               base_width=HIGHWAY_WIDTHS[0], depth_rule=depth_rule, check_depth=check_depth, layout=layout,
               check=check_one_block_type, note=NOTE)
