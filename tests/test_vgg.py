import pytest
import torch
import torchvision

from explorer import PRESETS, build_model, cost


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
def test_imagenet_vgg_matches_torchvision_exactly(depth):
    spec = PRESETS["vgg16"].replace(depth=depth)
    with torch.device("meta"):
        reference = getattr(torchvision.models, f"vgg{depth}")(weights=None)
    assert cost(spec).params == sum(p.numel() for p in reference.parameters())


def test_vgg16_count_is_torchvisions():
    assert cost(PRESETS["vgg16"]).params == 138_357_544


def test_vgg16_cifar_runs_forward_and_backward():
    model = build_model(PRESETS["vgg16_cifar"])
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10)
    assert cost(PRESETS["vgg16_cifar"]).params == 14_724_042  # 13 convs + BN + Linear(512, 10)
    assert model.stage1.block1.conv.weight.grad is not None
    names = dict(model.named_modules())
    assert "stage5.pool" in names and "head.fc" in names
