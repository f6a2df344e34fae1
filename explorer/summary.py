"""torchinfo summary of a design: one forward pass of a 1x3xHxW input on the CPU, as text and as table rows.

The pages cache it by (spec, depth); here it is a plain function so that tests and the CLI can call it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
import torchinfo

from explorer.builder import build_unchecked
from explorer.cost import check_budget
from explorer.spec import ArchSpec, layout

COLUMNS = ("output_size", "num_params", "mult_adds")


@dataclass(frozen=True)
class Summary:
    text: str  # torchinfo's printed table
    rows: tuple[dict, ...]  # one dict per shown layer: layer, depth, type, output_shape, params, mult_adds
    total_params: int
    total_mult_adds: int  # torchinfo's count for the whole forward pass of one image
    input_shape: tuple[int, int, int, int]


def summarize(spec: ArchSpec, depth: int = 3) -> Summary:
    """Run torchinfo on the CPU; `depth` is how many module levels deep the rows go (1 = stem, stages, head)."""
    if not 1 <= depth <= 10:
        raise ValueError(f"depth: torchinfo depth must be between 1 and 10; got {depth}, try 3")
    size = layout(spec).input_size
    shape = (1, 3, size, size)
    check_budget(spec)
    # Built on the meta device and given uninitialised CPU storage: the summary needs shapes, not weights, and
    # skipping He init makes resnet1202's summary about twice as fast.
    model = build_unchecked(spec, device="meta").to_empty(device="cpu").eval()
    with torch.no_grad():
        stats = torchinfo.summary(model, input_size=shape, depth=depth, col_names=COLUMNS, device="cpu",
                                  verbose=0, row_settings=("var_names",))
    # Roll every leaf layer's multiply-adds up into its ancestors so a
    # row's figure is the whole subtree's, like its parameter count.
    subtree_macs: dict[int, int] = {}
    for info in stats.summary_list:
        if not info.is_leaf_layer:
            continue  # a container's own `macs` re-counts its children's weights against its output size
        node = info
        while node is not None:
            subtree_macs[id(node)] = subtree_macs.get(id(node), 0) + int(info.macs or 0)
            node = node.parent_info
    rows = []
    for info in stats.summary_list:
        if info.depth > depth or info.depth == 0:
            continue
        out = info.output_size
        rows.append({
            "layer": _path(info),
            "depth": info.depth,
            "type": info.class_name,
            "output_shape": "x".join(str(d) for d in out) if out else "",
            # Parents' counts include their children's, as torchinfo prints them.
            "params": int(info.num_params) if info.num_params else 0,
            "mult_adds": subtree_macs[id(info)],
        })
    return Summary(text=str(stats), rows=tuple(rows), total_params=int(stats.total_params),
                   total_mult_adds=int(stats.total_mult_adds), input_shape=shape)


def _path(info: torchinfo.layer_info.LayerInfo) -> str:
    """Dotted module path (`stage1.block3.residual.conv2`), the name used everywhere else in the app."""
    parts, node = [], info
    while node is not None and node.depth > 0:
        parts.append(node.var_name)
        node = node.parent_info
    return ".".join(reversed(parts))


def rows_to_csv(summary: Summary) -> str:
    """The rows as CSV text (no pandas needed)."""
    import csv

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["layer", "depth", "type", "output_shape", "params", "mult_adds"])
    writer.writeheader()
    writer.writerows(summary.rows)
    return buffer.getvalue()
