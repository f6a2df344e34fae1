"""Every published number for the design on screen (explorer.models.published.figures_for), for Build and Compare.

Text from the asset file goes into Markdown through pages.plain(), table cells too (st.table renders Markdown).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import plain

from explorer import ArchSpec
from explorer.i18n import N_, _
from explorer.models.figures import KIND_LABELS, METRIC_LABELS
from explorer.models.published import figures_for, headline

DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet"}
# The headers of the figure tables and of Compare's published rows, as shown (the frames keep the English keys)
HEADERS = {"design": N_("design"), "dataset": N_("dataset"), "metric": N_("metric"), "figure": N_("figure"),
           "kind": N_("kind"), "paper's column": N_("paper's column"), "source": N_("source"), "note": N_("note"),
           "paper's error (%)": N_("paper's error (%)"), "error kind": N_("error kind"),
           "published figures": N_("published figures")}


def header(name: str) -> str:
    """A table header in the page's language (a name without a translation as it is)."""
    return _(HEADERS[name]) if name in HEADERS else name


def kind_text(kind: str) -> str:
    """A figure's kind ("median of 5") in the page's language; a kind the pages do not know stays as written."""
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def frame(spec: ArchSpec) -> pd.DataFrame:
    """One row per figure: dataset, metric, the figure as printed, its kind, the paper's column, source, note."""
    return pd.DataFrame([{"dataset": DATASETS[f.dataset], "metric": f.metric, "figure": f.text, "kind": f.kind,
                          "paper's column": f.column, "source": f.source, "note": f.note} for f in figures_for(spec)],
                        columns=["dataset", "metric", "figure", "kind", "paper's column", "source", "note"])


def printed_error(spec: ArchSpec, name: str = "") -> str | None:
    """The headline error as its paper prints it ("4.00", "30.242"), or None where the paper gives none."""
    paper = headline(spec, name)
    if paper is None or paper.error is None:
        return None
    return next(f.text for f in figures_for(spec) if f.value == paper.error and f.dataset == paper.dataset)


def headline_cells(spec: ArchSpec) -> dict[str, object]:
    """The Compare table's published cells for one design, as text: its first error on its own dataset with the
    paper's decimals, its kind, how many figures, the source; a dash where the paper gives none."""
    paper = headline(spec)
    found = len(figures_for(spec))
    if paper is None or paper.error is None:
        return {"paper's error (%)": "–", "error kind": "–", "published figures": found,
                "source": paper.source if paper else _("not published")}
    return {"paper's error (%)": printed_error(spec),
            "error kind": f"{kind_text(paper.error_kind)}, {DATASETS[paper.dataset]}",
            "published figures": found, "source": paper.source}


def show(spec: ArchSpec, name: str | None) -> None:
    """The headline figure in a line, then every figure of this exact design in a small table."""
    figures = figures_for(spec)
    if not figures:
        st.info(_("This design differs from every published one, so there is no paper figure to compare with "
                  "(every setting counts: shortcut option, stem, classes, dropout, ...).")
                if name is None else _("This is preset **{name}**; no paper table prints a figure for it.").format(
                    name=name))
        return
    who = f"**{name}**" if name else _("This design")
    paper = headline(spec, name or "")
    if paper is None:  # only figures printed as words ("fail": Identity Mappings Table 1)
        first = figures[0]
        st.warning(_("{who} in the paper: {column} **{figure}** ({kind})  \nSource: {source}").format(
            who=who, column=plain(first.column), figure=plain(first.text), kind=plain(kind_text(first.kind)),
            source=plain(first.source)) + (f". {plain(first.note)}" if first.note else ""))
    else:
        parts = []
        if paper.params_text:
            parts.append(_("{params} parameters").format(params=plain(paper.params_text)))
        if paper.error is not None:
            error = _("top-1 error") if paper.dataset == "imagenet" else _("error")
            decimals = len(printed_error(spec, name or "").partition(".")[2])  # as the paper prints it: 4.00, not 4
            parts.append(f"{DATASETS[paper.dataset]} {error} **{paper.error:.{decimals}f}%** "
                         f"({plain(kind_text(paper.error_kind))})")
        note = f". {plain(paper.note)}" if paper.note else ""
        st.success(_("{who} in the paper: {figures}  \nSource: {source}").format(
            who=who, figures=" · ".join(parts), source=plain(paper.source)) + note)
    st.caption(_("Every published figure of this exact design ({n}), in the order of the tables:").format(
        n=len(figures)))
    table(frame(spec))


def table(figures: pd.DataFrame) -> None:
    """A small static table of figures; every cell is the asset file's text, shown literally. Plain strings, no
    pandas Styler: under a class's load the Styler's HTML rendering took a quarter of the server's CPU."""
    shown = figures.assign(metric=figures["metric"].map(lambda m: _(METRIC_LABELS[m]) if m in METRIC_LABELS else m),
                           kind=figures["kind"].map(kind_text))
    st.table(shown.map(plain).rename(columns=header), hide_index=True)
