"""Which paper led to which: the family tree of the designs this app builds (drawn on the home page)."""

from __future__ import annotations

from explorer.draw.dot import Drawing


# (key, label, how the Build page opens it: query parameters). Years are arXiv first versions.
FAMILY_TREE_NODES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("plain", "Plain nets / VGG\nSimonyan & Zisserman 2014", {"family": "vgg"}),
    ("highway", "Highway networks\nSrivastava et al. 2015", {"family": "highway"}),
    ("resnet", "ResNet\nHe et al. 2015", {"family": "resnet"}),
    ("preact", "Pre-activation ResNet\nHe et al. 2016 (Identity Mappings)", {"preset": "preact_resnet110"}),
    ("fractalnet", "FractalNet\nLarsson et al. 2016", {"family": "fractalnet"}),
    ("densenet", "DenseNet\nHuang et al. 2016", {"family": "densenet"}),
    ("wrn", "Wide ResNet\nZagoruyko & Komodakis 2016", {"family": "wrn"}),
    ("resnext", "ResNeXt\nXie et al. 2016", {"family": "resnext"}),
    ("pyramidnet", "PyramidNet\nHan et al. 2016", {"family": "pyramidnet"}),
    ("shake_shake", "Shake-Shake\nGastaldi 2017", {"family": "shake_shake"}),
    ("se", "Squeeze-and-Excitation\nHu et al. 2017", {"preset": "se_resnet110"}),
)
FAMILY_TREE_EDGES: tuple[tuple[str, str, str], ...] = (
    ("plain", "highway", "gated shortcuts"),
    ("highway", "resnet", "ungated identity shortcut"),
    ("plain", "fractalnet", "depth without shortcuts"),
    ("resnet", "preact", "BN-ReLU before conv"),
    ("resnet", "densenet", "concatenate, not add"),
    ("preact", "wrn", "wider, shallower"),
    ("resnet", "resnext", "C parallel paths"),
    ("preact", "pyramidnet", "widen every block"),
    ("resnext", "shake_shake", "2 branches, random mix"),
    ("resnet", "se", "channel attention"),
)


def family_tree_dot() -> str:
    """Which paper led to which: the designs this app builds, oldest at the top."""
    g = Drawing("family_tree", "", rankdir="TB")
    g.graph.node_attr.update(fontsize="13", width="2.6")
    for key, label, _ in FAMILY_TREE_NODES:
        g.node("stage" if key != "plain" else "conv", label, name=key)
    for a, b, why in FAMILY_TREE_EDGES:
        g.edge(a, b, why)
    return g.source(legend=False)
