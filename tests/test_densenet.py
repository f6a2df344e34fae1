import pytest
import torch
import torchvision

from explorer import PRESETS, build_model, cost

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


def test_densenet121_equals_torchvision():
    with torch.device("meta"):
        reference = torchvision.models.densenet121(weights=None)
    expected = sum(p.numel() for p in reference.parameters())
    assert expected == 7_978_856
    assert cost(PRESETS["densenet121"]).params == expected


@pytest.mark.parametrize("depth, expected", [(169, 14_149_480), (201, 20_013_928)])
def test_deeper_imagenet_densenets_equal_torchvision(depth, expected):
    assert cost(PRESETS["densenet121"].replace(depth=depth)).params == expected


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
