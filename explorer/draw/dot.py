"""A small DOT writer shared by every drawing (overview, block detail, family tree): nodes coloured by operation
type and a compact legend of the types a drawing uses."""

from __future__ import annotations

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
LEGEND_TEXT: dict[str, str] = {
    "tensor": "input / output", "conv": "convolution / fc", "norm": "batch norm", "activation": "ReLU / sigmoid",
    "pool": "pooling", "merge": "add / concat / mix", "shortcut": "shortcut path", "gate": "gate / SE",
    "regularizer": "dropout / drop-path", "stage": "stage of blocks", "head": "classifier head",
}


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class DotWriter:
    """A tiny DOT writer that remembers which operation types it used (for the legend)."""

    def __init__(self, name: str, title: str, rankdir: str = "TB"):
        self.lines = [f'digraph "{_esc(name)}" {{',
                      f'  graph [rankdir={rankdir}, label="{_esc(title)}", labelloc=t, fontsize=16, '
                      'fontname="Helvetica", nodesep=0.25, ranksep=0.3];',
                      '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, '
                      'margin="0.12,0.05"];',
                      '  edge [fontname="Helvetica", fontsize=10, color="#495057"];']
        self.kinds: list[str] = []
        self._count = 0

    def node(self, kind: str, label: str, name: str | None = None, shape: str | None = None) -> str:
        self._count += 1
        name = name or f"n{self._count}"
        if kind not in self.kinds:
            self.kinds.append(kind)
        extra = f", shape={shape}" if shape else ""
        self.lines.append(f'  "{name}" [label="{_esc(label)}", fillcolor="{COLOURS[kind]}"{extra}];')
        return name

    def edge(self, a: str, b: str, label: str = "", style: str = "") -> None:
        attrs = [f'label="{_esc(label)}"'] if label else []
        if style:
            attrs.append(f"style={style}")
        self.lines.append(f'  "{a}" -> "{b}"' + (f" [{', '.join(attrs)}]" if attrs else "") + ";")

    def chain(self, start: str, ops: list[tuple[str, str]], first_label: str = "") -> str:
        """Append ops one after another from `start`; return the last node."""
        last = start
        for i, (kind, label) in enumerate(ops):
            node = self.node(kind, label)
            self.edge(last, node, first_label if i == 0 else "")
            last = node
        return last

    def render(self) -> str:
        """The graph plus one compact legend node (an HTML table) listing the operation types it uses."""
        cells = "".join(f'<tr><td bgcolor="{COLOURS[k]}">{LEGEND_TEXT[k]}</td></tr>' for k in self.kinds)
        legend = (f'  "legend" [shape=plaintext, fillcolor="#ffffff", fontsize=10, label=<<table border="0" '
                  f'cellborder="1" cellspacing="0" cellpadding="3"><tr><td><b>Legend</b></td></tr>{cells}</table>>];')
        # At the bottom, so that it does not push the first nodes down or widen the top of the drawing.
        return "\n".join(self.lines + [legend, '  { rank=sink; "legend" }', "}"]) + "\n"


def shape_text(channels: int, size: int) -> str:
    return f"{channels}×{size}×{size}"
