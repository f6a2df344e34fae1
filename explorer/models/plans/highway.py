"""Highway networks' facts (Srivastava et al. 2015, 1505.00387): a stem conv, then gated layers
y = H(x) T(x) + x (1 - T(x)) in three stages, then the classifier."""

from __future__ import annotations

from explorer.models.convert import SpecError
from explorer.models.fields import ArchFields
from explorer.models.plans.base import Layout, Plan, check_one_block_type, input_size, stage1_width, strided_stages

# Srivastava et al. 2015 do not print their CIFAR widths. These give highway19 (6+6+5 highway layers) 2,295,722
# parameters, the published "2.3M"; plain doubling (32, 64, 128) would give 2.04M.
HIGHWAY_WIDTHS = (32, 80, 128)
_RULE = "a Highway net has a stem, at least 3 highway layers and a classifier (5 or more)"


def depth_rule(spec: ArchFields) -> tuple[str, list[int]]:
    return _RULE, list(range(5, 41))


def check_depth(spec: ArchFields) -> None:
    if spec.depth < 5:
        raise SpecError("depth", f"{_RULE}; got {spec.depth}, try 19")


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
               check=check_one_block_type)
