"""torchinfo summary of a design: one forward pass of a 1x3xHxW meta image through the design's shared meta-device
model (`explorer.models.cost.trace`), as text and as table rows.

The pages cache it by (spec, depth); here it is a plain function so that tests and the CLI can call it.
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass

import torch
import torchinfo

from explorer.models.cost import ShapesOnly, check_budget, trace
from explorer.models.spec import ArchSpec, layout

COLUMNS = ("output_size", "num_params", "mult_adds")


MAX_DEPTH = 10  # module levels torchinfo records; the pages show fewer

# torchinfo hooks every module of the model it summarises; the model is shared (cost.trace), so two summaries
# of one design at once (two browser sessions, two Streamlit threads) must not see each other's hooks.
_HOOKS_LOCK = threading.Lock()


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
                  f"Input: {'x'.join(map(str, self.input_shape))} (shapes only, on the meta device)", rule]
        return "\n".join(lines) + "\n"


def summarize(spec: ArchSpec) -> Summary:
    """Run torchinfo over every module level; pick a depth later with `at_depth` / `text`."""
    size = layout(spec).input_size
    shape = (1, 3, size, size)
    check_budget(spec)
    # The counts' own meta model: shapes are all a summary needs, so no second build, no storage, no real
    # arithmetic (resnet1202: 2.8 s on the CPU -> 1.7 s). torchinfo removes its hooks and restores eval mode;
    # given input_data and no device it does not move the model.
    model = trace(spec).model
    with _HOOKS_LOCK, torch.no_grad(), ShapesOnly():
        stats = torchinfo.summary(model, input_data=torch.empty(shape, device="meta"), depth=MAX_DEPTH,
                                  col_names=COLUMNS, verbose=0, row_settings=("var_names",))
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
