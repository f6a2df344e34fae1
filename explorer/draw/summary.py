"""torchinfo summary of a design: one forward pass of a 1x3xHxW input on the CPU, as text and as table rows.

The pages cache it by (spec, depth); here it is a plain function so that tests and the CLI can call it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import torch
import torchinfo

from explorer.models.cost import check_budget, meta_model
from explorer.models.spec import ArchSpec, layout

COLUMNS = ("output_size", "num_params", "mult_adds")


MAX_DEPTH = 10  # module levels torchinfo records; the pages show fewer


@dataclass(frozen=True)
class Summary:
    rows: tuple[dict, ...]  # every layer down to MAX_DEPTH: layer, depth, type, output_shape, params, mult_adds
    total_params: int
    total_mult_adds: int  # torchinfo's count for the whole forward pass of one image (includes BN)
    input_shape: tuple[int, int, int, int]
    model_name: str

    def at_depth(self, depth: int) -> list[dict]:
        """Rows down to `depth` module levels (1 = stem, stages, head)."""
        return [r for r in self.rows if r["depth"] <= depth]

    def text(self, depth: int) -> str:
        """A torchinfo-style table: indented layer names, output shape, parameters, multiply-adds, totals."""
        rule = "=" * 104
        lines = [rule, f"{'Layer (type)':<56}{'Output shape':<18}{'Params':>14}{'Mult-adds':>16}", rule,
                 f"{self.model_name:<56}{'1x' + 'x'.join(map(str, self.input_shape[1:])) + ' in':<18}"]
        for r in self.at_depth(depth):
            name = "  " * (r["depth"] - 1) + f"{r['layer'].rsplit('.', 1)[-1]} ({r['type']})"
            lines.append(f"{name:<56}{r['output_shape']:<18}{r['params']:>14,}{r['mult_adds']:>16,}")
        lines += [rule, f"Total params: {self.total_params:,}", f"Total mult-adds: {self.total_mult_adds:,}",
                  f"Input: {'x'.join(map(str, self.input_shape))} on the CPU", rule]
        return "\n".join(lines) + "\n"


def summarize(spec: ArchSpec) -> Summary:
    """Run torchinfo on the CPU over every module level; pick a depth later with `at_depth` / `text`."""
    size = layout(spec).input_size
    shape = (1, 3, size, size)
    check_budget(spec)
    # Built on the meta device without init work, then given uninitialised CPU storage: the summary needs shapes,
    # not weights (resnet1202: 1.9 s -> ~1 s).
    model = meta_model(spec).to_empty(device="cpu").eval()
    with torch.no_grad():
        stats = torchinfo.summary(model, input_size=shape, depth=MAX_DEPTH, col_names=COLUMNS, device="cpu",
                                  verbose=0, row_settings=("var_names",))
    # torchinfo gives a container a `macs` that re-counts its children's weights against its own output size;
    # roll every leaf layer's multiply-adds up into its ancestors instead, so a row's figure is its subtree's.
    infos = [(info, _path(info)) for info in stats.summary_list if info.depth > 0]
    subtree_macs: dict[str, int] = {}
    for info, path in infos:
        if info.is_leaf_layer and info.macs:
            parts = path.split(".")
            for i in range(1, len(parts) + 1):
                key = ".".join(parts[:i])
                subtree_macs[key] = subtree_macs.get(key, 0) + int(info.macs)
    rows = [{
        "layer": path,
        "depth": info.depth,
        "type": info.class_name,
        "output_shape": "x".join(str(d) for d in info.output_size) if info.output_size else "",
        "params": int(info.num_params) if info.num_params else 0,  # includes the children's
        "mult_adds": subtree_macs.get(path, 0),
    } for info, path in infos]
    return Summary(rows=tuple(rows), total_params=int(stats.total_params),
                   total_mult_adds=int(stats.total_mult_adds), input_shape=shape, model_name=type(model).__name__)


def _path(info: torchinfo.layer_info.LayerInfo) -> str:
    """Dotted module path (`stage1.block3.residual.conv2`), the name used everywhere else in the app."""
    parts, node = [], info
    while node is not None and node.depth > 0:
        parts.append(node.var_name)
        node = node.parent_info
    return ".".join(reversed(parts))


def rows_to_csv(rows: list[dict]) -> str:
    """Summary rows as CSV text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["layer", "depth", "type", "output_shape", "params", "mult_adds"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
