"""How a transcribed table row becomes published figures of one design (`assets/published.json`).

A row that the library can build names its design: `"design": {"preset": ..., <ArchSpec fields>}`. The file's
`columns` section says, per table, which fields of a row are figures (metric, dataset, kind, printed text); a
column whose values belong to another design than the row's (Identity Mappings Table 2's ResNet-110 and
ResNet-164, Shake-Shake's 2x32d and 2x96d, a "+ dropout" column) adds its own `design` fields. A CIFAR-100
column's design is the same net with 100 classes, so a CIFAR-10 design never gets a CIFAR-100 number. Designs are
compared as whole ArchSpecs: a design that differs in any field (option B for A, another stem) has none of the
row's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NotRequired, get_args

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing_extensions' TypedDict on Python 3.11

from explorer.i18n import N_
from explorer.models.convert import SpecError
from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec, validate

Dataset = Literal["cifar10", "cifar100", "imagenet"]
Metric = Literal["test error", "top-1 error", "top-5 error", "parameters", "multiply-adds"]
# What kind of number a paper printed: a statistic over runs, an ImageNet testing protocol, or a count.
Kind = Literal["single run", "best run", "best of 5", "median of 3", "median of 5", "mean of 3", "mean of 5",
               "mean of 10", "10-crop", "single 224 crop", "multi-scale", "exact count", "as printed", "as reported"]
# How the pages name each metric and kind (marked N_, translated where shown; the file keeps the English values)
METRIC_LABELS: dict[str, str] = {"test error": N_("test error"), "top-1 error": N_("top-1 error"),
                                 "top-5 error": N_("top-5 error"), "parameters": N_("parameters"),
                                 "multiply-adds": N_("multiply-adds")}
KIND_LABELS: dict[str, str] = {
    "single run": N_("single run"), "best run": N_("best run"), "best of 5": N_("best of 5"),
    "median of 3": N_("median of 3"), "median of 5": N_("median of 5"), "mean of 3": N_("mean of 3"),
    "mean of 5": N_("mean of 5"), "mean of 10": N_("mean of 10"), "10-crop": N_("10-crop"),
    "single 224 crop": N_("single 224 crop"), "multi-scale": N_("multi-scale"), "exact count": N_("exact count"),
    "as printed": N_("as printed"), "as reported": N_("as reported")}
ERROR_METRICS = ("test error", "top-1 error")  # the headline error of a CIFAR or an ImageNet design
CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}


@with_config(ConfigDict(extra="forbid"))
class Column(TypedDict):
    """One figure column of a table: which row field holds the number, and what the number is."""

    field: str
    metric: Metric
    dataset: Dataset
    label: str  # the column as the paper heads it ("C10+", "CIFAR-100, pre-activation unit")
    kind: NotRequired[Kind]  # the same for every row; else `kind_field`
    kind_field: NotRequired[str]  # the row field that holds the kind (He 2015 Table 6: "single run", "best of 5")
    text: NotRequired[str]  # the row field with the printed text ("0.27M", "fail"); else `decimals`
    decimals: NotRequired[int]
    scale: NotRequired[float]  # value x scale = the figure in plain units (params_m x 1e6 = parameters)
    design: NotRequired[dict[str, object]]  # ArchSpec fields (or the preset) this column adds to the row's design
    note: NotRequired[str]


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One published number for one design."""

    table: str  # the file's table name ("wrn_table6")
    key: str  # the row's key in that table ("wrn_28_10")
    column: str  # the column's label
    dataset: Dataset
    metric: Metric
    value: float | None  # % for errors, a count for parameters and multiply-adds; None: printed as a word ("fail")
    text: str  # as printed
    kind: Kind
    source: str  # paper and table, or repository and file
    note: str


def dataset_of(spec: ArchSpec) -> Dataset | None:
    """The dataset a design is built for (its stem and class count), or None for another class count."""
    if spec.stem == "imagenet":
        return "imagenet" if spec.num_classes == 1000 else None
    return {10: "cifar10", 100: "cifar100"}.get(spec.num_classes)


def design_spec(design: dict[str, object], dataset: Dataset, where: str) -> ArchSpec:
    """The ArchSpec a row's (and column's) design names on a dataset, validated; SpecError names `where`."""
    fields = dict(design)
    preset = fields.pop("preset", None)
    if preset not in PRESETS:
        raise SpecError(where, f"'preset' must name a preset; got {preset!r}")
    spec = PRESETS[preset]
    if dataset != "imagenet":
        fields.setdefault("num_classes", CLASSES[dataset])
    try:
        spec = spec.replace(**fields)
    except TypeError as err:
        raise SpecError(where, f"not an ArchSpec field ({err})") from None
    try:
        validate(spec)
    except SpecError as err:
        raise SpecError(f"{where}.{err.field}", err.message) from None
    if dataset_of(spec) != dataset:
        raise SpecError(where, f"the column's dataset is {dataset}, but the design has the {spec.stem} stem and "
                                  f"{spec.num_classes} classes")
    return spec


def _merged(row: dict, column: Column, where: str) -> dict[str, object]:
    both = set(row["design"]) & set(column.get("design", {}))
    if both:
        raise SpecError(where, f"the row and its column both set {', '.join(sorted(both))}")
    return {**column.get("design", {}), **row["design"]}


def _text(row: dict, column: Column, value: object) -> str:
    printed = row.get(column["text"]) if "text" in column else None
    if printed is not None:
        return str(printed)
    decimals = column.get("decimals")
    return f"{value:.{decimals}f}" if decimals is not None else f"{value:g}"


def row_figures(name: str, row: dict, columns: list[Column]) -> list[tuple[ArchSpec, Figure]]:
    """Every figure of one table row, each with its design; SpecError names the table, the row and the column."""
    if "design" not in row:
        return []
    out = []
    for column in columns:
        where = f"tables.{name}[{row['key']}].{column['field']}"
        value = row.get(column["field"])
        printed = row.get(column["text"]) if "text" in column else None
        if value is None and printed is None:
            continue  # "-" in the paper: not run
        kind = column["kind"] if "kind" in column else row.get(column.get("kind_field", ""))
        if kind not in get_args(Kind):
            raise SpecError(where, f"kind must be one of {', '.join(get_args(Kind))}; got {kind!r}")
        spec = design_spec(_merged(row, column, where), column["dataset"], where)
        scaled = None if value is None else value * column.get("scale", 1)
        note = "; ".join(n for n in (column.get("note", ""), row.get("note", "")) if n)
        out.append((spec, Figure(table=name, key=row["key"], column=column["label"], dataset=column["dataset"],
                                 metric=column["metric"], value=scaled, text=_text(row, column, value), kind=kind,
                                 source=row["source"], note=note)))
    return out


def index(tables: dict[str, list[dict]], columns: dict[str, list[Column]]) -> dict[ArchSpec, list[Figure]]:
    """Every design's figures, in the order of the tables, their rows and their columns."""
    found: dict[ArchSpec, list[Figure]] = {}
    for name, rows in tables.items():
        for row in rows:
            for spec, figure in row_figures(name, row, columns.get(name, [])):
                found.setdefault(spec, []).append(figure)
    return found
