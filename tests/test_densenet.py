import pytest
import torch
import torchvision

from explorer import PRESETS, build_model, cost
from explorer.models.cost import meta_model

# Huang et al. 2017, Table 2 (C10), at the rounding the paper prints.
PAPER = [
    ("densenet40_k12", {}, "1.0M"),
    ("densenet40_k12", {"depth": 100}, "7.0M"),
    ("densenet40_k12", {"depth": 100, "growth_rate": 24}, "27.2M"),
    ("densenet_bc100_k12", {}, "0.8M"),
    ("densenet_bc250_k24", {}, "15.3M"),
    ("densenet_bc190_k40", {}, "25.6M"),
]


@pytest.mark.parametrize("name, changes, printed", PAPER)
def test_params_match_the_paper(name, changes, printed):
    params = cost(PRESETS[name].replace(**changes)).params
    assert f"{params / 1e6:.1f}M" == printed


@pytest.mark.parametrize("depth, expected", [(121, 7_978_856), (169, 14_149_480), (201, 20_013_928)])
def test_imagenet_densenets_equal_torchvision(depth, expected):
    spec = PRESETS["densenet121"].replace(depth=depth)
    with torch.device("meta"):
        reference = getattr(torchvision.models, f"densenet{depth}")(weights=None)
    assert sum(p.numel() for p in reference.parameters()) == expected == cost(spec).params
    # same tensors in the same order (names differ: features.denseblock1.denselayer1.norm1 is our
    # stage1.block1.residual.bn1), so torchvision's weights would load position by position
    ours = [tuple(t.shape) for t in meta_model(spec).state_dict().values()]
    assert ours == [tuple(t.shape) for t in reference.state_dict().values()]


def test_dense_layer_concatenates_and_transition_compresses():
    model = build_model(PRESETS["densenet_bc100_k12"]).eval()
    x = torch.randn(2, 24, 32, 32)
    assert model.stage1.block1(x).shape == (2, 36, 32, 32)  # 2k + k
    assert model.transition1.conv.out_channels == model.transition1.conv.in_channels // 2  # theta = 0.5
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_dropout_field_adds_dropout_after_each_conv():
    model = build_model(PRESETS["densenet40_k12"].replace(dropout=0.2))
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 36 + 2 and all(d.p == 0.2 for d in drops)
