"""The look shared by every drawing (overview, block detail, family tree): nodes coloured by operation type and a
compact legend of the types a drawing uses, written as DOT through the `graphviz` package (its quoting, its
`pipe` to the `dot` binary)."""

from __future__ import annotations

import html

import graphviz

from explorer.i18n import N_, _

# Fill colour per operation type; the legend lists the ones a graph uses.
COLOURS: dict[str, str] = {
    "tensor": "#ffffff",
    "conv": "#a5d8ff",
    "norm": "#ffec99",
    "activation": "#b2f2bb",
    "pool": "#d0bfff",
    "merge": "#ffc078",
    "shortcut": "#dee2e6",
    "gate": "#fcc2d7",
    "regularizer": "#ffa8a8",
    "stage": "#99e9f2",
    "head": "#96f2d7",
}
# The drawings' titles (marked N_; explorer.draw.overview.localized translates a drawn title)
OVERVIEW_TITLE = N_("{family}, {layers} weight layers")
BLOCK_TITLE = N_("{where} in detail ({family})")
# The legend's words (marked N_): drawings are made, cached and shipped precomputed in English, and
# `localized_legend` puts them in the page's language when one is shown.
LEGEND_TITLE = N_("Legend")
LEGEND_TEXT: dict[str, str] = {
    "tensor": N_("input / output"), "conv": N_("convolution / fc"), "norm": N_("batch norm"),
    "activation": N_("ReLU / sigmoid"), "pool": N_("pooling"), "merge": N_("add / concat / mix"),
    "shortcut": N_("shortcut path"), "gate": N_("gate / SE"), "regularizer": N_("dropout / drop-path"),
    "stage": N_("stage of blocks"), "head": N_("classifier head"),
}


def text(label: str) -> graphviz.quoting.NoHtml:
    """A plain-text label: backslashes escaped by the package, newlines as DOT's centred line breaks, never read
    as an HTML label."""
    return graphviz.nohtml("\\n".join(graphviz.escape(line) for line in label.split("\n")))


class Drawing:
    """A `graphviz.Digraph` with the app's defaults; remembers the operation types it used (for the legend)."""

    def __init__(self, name: str, title: str, rankdir: str = "TB"):
        self.graph = graphviz.Digraph(
            name,
            graph_attr=dict(rankdir=rankdir, label=text(title), labelloc="t", fontsize="16", fontname="Helvetica",
                            nodesep="0.25", ranksep="0.3"),
            node_attr=dict(shape="box", style="rounded,filled", fontname="Helvetica", fontsize="12",
                           margin="0.12,0.05"),
            edge_attr=dict(fontname="Helvetica", fontsize="10", color="#495057"))
        self.kinds: list[str] = []
        self._legend = False  # added once, by the first `source`
        self._count = 0

    def node(self, kind: str, label: str, name: str | None = None, shape: str | None = None) -> str:
        """Add a node coloured for `kind`; `name` is its DOT id (a module path where the node is one module)."""
        self._count += 1
        name = name or f"n{self._count}"
        if kind not in self.kinds:
            self.kinds.append(kind)
        extra = {"shape": shape} if shape else {}
        self.graph.node(name, text(label), fillcolor=COLOURS[kind], **extra)
        return name

    def edge(self, a: str, b: str, label: str = "", style: str = "") -> None:
        attrs = {"label": text(label)} if label else {}
        if style:
            attrs["style"] = style
        self.graph.edge(a, b, **attrs)

    def chain(self, start: str, ops: list[tuple[str, str, str | None]], first_label: str = "") -> str:
        """Append (kind, label, name) ops one after another from `start`; return the last node."""
        last = start
        for i, (kind, label, name) in enumerate(ops):
            node = self.node(kind, label, name)
            self.edge(last, node, first_label if i == 0 else "")
            last = node
        return last

    def source(self, legend: bool = True) -> str:
        """The DOT text, with one compact legend node listing the operation types used. The legend is an HTML
        table built only from the constants above, never from a label."""
        if legend and self.kinds and not self._legend:
            cells = "".join(f'<tr><td bgcolor="{COLOURS[k]}">{LEGEND_TEXT[k]}</td></tr>' for k in self.kinds)
            self._legend = True
            self.graph.node("legend", f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
                                      f"<tr><td><b>{LEGEND_TITLE}</b></td></tr>{cells}</table>>",
                            shape="plaintext", fillcolor="#ffffff", fontsize="10")
            # At the bottom, so that it does not push the first nodes down or widen the top of the drawing.
            self.graph.body.append("\t{ rank=sink; legend }\n")
        return self.graph.source



def localized_legend(dot: str) -> str:
    """The DOT text with its legend in the current language. The legend's cells are the constants above, so they
    are found exactly; node labels (layer names and shapes) are left as they are."""
    cells = {f"<b>{LEGEND_TITLE}</b>": f"<b>{html.escape(_(LEGEND_TITLE))}</b>"}
    cells |= {f'bgcolor="{COLOURS[k]}">{t}</td>': f'bgcolor="{COLOURS[k]}">{html.escape(_(t))}</td>'
              for k, t in LEGEND_TEXT.items()}
    for english, shown in cells.items():
        dot = dot.replace(english, shown)
    return dot
