"""Lesson 9: He et al. 2015 on ImageNet (1512.03385, Tables 2 and 3), and the same comparisons on CIFAR-10.

Table 2: plain-34 has a *higher* top-1 error than plain-18 (degradation on ImageNet), while ResNet-34 beats
ResNet-18. Table 3: the shortcut options of ResNet-34, A (zero-padding, no parameters), B (projections where the
shape changes) and C (projections everywhere), are all close; C is slightly best, at many more parameters. The
app counts each ImageNet design's parameters and multiply-adds; the class runs the CIFAR analogue (plain-20 against
plain-56, ResNet-20 and ResNet-56 with options A, B and C) as short runs through the run store.
"""

from __future__ import annotations

import pandas as pd

from explorer.i18n import N_
from explorer.lessons.tables import counted
from explorer.models.presets import PRESETS
from explorer.models.published import table
from explorer.models.spec import ArchSpec

SOURCE = N_("He et al. 2015, Deep Residual Learning (1512.03385), Table 2 (plain against ResNet, 18 and 34 layers), "
          "Table 3 (ResNet-34 with shortcut options A, B, C) and Table 6 (CIFAR-10)")
RESNET34 = PRESETS["resnet34"]  # option B, torchvision's
# Each ImageNet row of the lesson: its design, and where assets/published.json keeps its top-1 error
# (Table 2's ResNets use option A; Table 3 repeats plain-34 and ResNet-34 A).
ROWS: dict[str, tuple[str, str]] = {
    "plain-18": ("imagenet_table2", "plain18"), "plain-34": ("imagenet_table3", "plain34"),
    "ResNet-18 A": ("imagenet_table2", "resnet18"), "ResNet-34 A": ("imagenet_table3", "resnet34_A"),
    "ResNet-34 B": ("imagenet_table3", "resnet34_B"), "ResNet-34 C": ("imagenet_table3", "resnet34_C"),
}
CIFAR_ROWS: dict[str, str] = {"ResNet-20 A": "resnet20", "ResNet-56 A": "resnet56"}  # Table 6 (option A) keys


def imagenet_designs() -> dict[str, ArchSpec]:
    """The ImageNet designs of Tables 2 and 3, by the paper's row names."""
    plain34 = RESNET34.replace(family="plain", shortcut="A")  # a plain net has no shortcut; A is the unused default
    return {"plain-18": plain34.replace(depth=18), "plain-34": plain34,
            "ResNet-18 A": PRESETS["resnet18"].replace(shortcut="A"), "ResNet-34 A": RESNET34.replace(shortcut="A"),
            "ResNet-34 B": RESNET34, "ResNet-34 C": RESNET34.replace(shortcut="C")}


def cifar_designs() -> dict[str, ArchSpec]:
    """The CIFAR-10 analogue: Table 2's plain/residual pair at CIFAR depths, and Table 3's options."""
    designs = {"plain-20": PRESETS["plain20"], "plain-56": PRESETS["plain56"]}
    for depth in (20, 56):
        for option in "ABC":
            designs[f"ResNet-{depth} {option}"] = PRESETS[f"resnet{depth}"].replace(shortcut=option)
    return designs


def counts(designs: dict[str, ArchSpec]) -> pd.DataFrame:
    """Parameters and multiply-adds per image (counted by the app) of each design."""
    rows = []
    for label, spec in designs.items():
        c = counted(spec)
        rows.append({"net": label, "params": c.params, "multiply-adds": c.macs})
    return pd.DataFrame(rows)


def _row(name: str, key: str) -> dict:
    found = [row for row in table(name) if row.get("key") == key]
    if not found:
        raise KeyError(f"published table {name!r} has no row {key!r}")
    return found[0]


def imagenet_table() -> pd.DataFrame:
    """Tables 2 and 3 beside the app's counts: net, top-1 and top-5 error (%, 10-crop), params, multiply-adds."""
    frame = counts(imagenet_designs())
    rows = [_row(*ROWS[net]) for net in frame["net"]]
    frame.insert(1, "top-1 error (%)", [row["top1_error"] for row in rows])
    frame.insert(2, "top-5 error (%)", [row.get("top5_error") for row in rows])
    frame["source"] = [row["source"] for row in rows]
    return frame


def cifar_published() -> dict[str, str]:
    """The CIFAR-10 figure Table 6 prints for each analogue design (option A ResNets), else why there is none."""
    out = {label: "Fig. 6 only" for label in cifar_designs() if label.startswith("plain")}
    out |= {label: "not in the paper" for label in cifar_designs() if label.startswith("ResNet")}
    for label, key in CIFAR_ROWS.items():
        row = _row("cifar_resnet", key)
        out[label] = f"{row['error']:.2f} ({row['error_kind']})"
    return out


def _compare(worse_if_higher: tuple[str, float], other: tuple[str, float]) -> str:
    (a, ea), (b, eb) = worse_if_higher, other
    if ea > eb:
        return f"{a} ({ea:.2f}%) is worse than {b} ({eb:.2f}%)"
    if ea < eb:
        return f"{a} ({ea:.2f}%) is better than {b} ({eb:.2f}%)"
    return f"{a} and {b} are level ({ea:.2f}%)"


def verdict(frame: pd.DataFrame) -> list[str]:
    """What Tables 2 and 3 show, said from the numbers in `frame` (imagenet_table)."""
    err = frame.set_index("net")["top-1 error (%)"]
    par = frame.set_index("net")["params"]
    options = err[["ResNet-34 A", "ResNet-34 B", "ResNet-34 C"]]
    best = options.idxmin()
    return [
        f"Without shortcuts, {_compare(('plain-34', err['plain-34']), ('plain-18', err['plain-18']))}: "
        + ("the deeper plain net is worse (degradation)." if err["plain-34"] > err["plain-18"] else "no degradation."),
        f"With shortcuts, {_compare(('ResNet-34 A', err['ResNet-34 A']), ('ResNet-18 A', err['ResNet-18 A']))}, "
        f"with exactly plain-34's {par['plain-34'] / 1e6:.2f}M parameters (option A adds none).",
        f"Options A, B and C lie within {options.max() - options.min():.2f} points; the best is {best[-1]}, at "
        f"{(par[best] - par['ResNet-34 A']) / 1e6:.2f}M parameters more than A.",
    ]
