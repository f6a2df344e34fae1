import pytest
import torch

from explorer import PRESETS, build_model, cost
from explorer.models.families.shake_shake import ShakeMix, ShakeShortcut

# Not printed in the paper; papers.md's layer-count estimate (UNCONFIRMED) is about 2.9M / 11.7M / 26.2M.
COUNTS = [("shake_shake26_2x32d", 2_923_162), ("shake_shake26_2x64d", 11_653_978),
          ("shake_shake26_2x96d", 26_192_922)]


@pytest.mark.parametrize("name, expected", COUNTS)
def test_param_counts(name, expected):
    assert cost(PRESETS[name]).params == expected


def _mix_grads(forward, backward, level, n=64):
    torch.manual_seed(0)
    mix = ShakeMix(forward, backward, level).train()
    a = torch.ones(n, 2, 3, 3, requires_grad=True)
    b = torch.zeros(n, 2, 3, 3, requires_grad=True)
    out = mix(a, b)  # = alpha per image, since a = 1 and b = 0
    out.sum().backward()
    return out.detach(), a.grad, b.grad


def test_backward_uses_beta_not_alpha():
    out, ga, gb = _mix_grads("even", "shake", "image")
    assert torch.allclose(out, torch.full_like(out, 0.5))  # forward alpha = 0.5
    assert not torch.allclose(ga, torch.full_like(ga, 0.5))  # yet the branches got a random beta
    assert torch.allclose(ga + gb, torch.ones_like(ga))  # beta and 1 - beta
    assert ga[:, 0, 0, 0].std() > 0.1  # one beta per image


def test_keep_reuses_alpha_on_the_way_back():
    out, ga, gb = _mix_grads("shake", "keep", "image")
    assert out[:, 0, 0, 0].std() > 0.1
    assert torch.allclose(ga, out) and torch.allclose(gb, 1 - out)


def test_shake_shake_draws_independent_alpha_and_beta():
    out, ga, _ = _mix_grads("shake", "shake", "image")
    assert not torch.allclose(ga, out)


def test_even_even_is_half_and_half():
    out, ga, gb = _mix_grads("even", "even", "image")
    assert torch.allclose(ga, torch.full_like(ga, 0.5)) and torch.allclose(gb, ga)


def test_batch_level_uses_one_coefficient_for_the_whole_batch():
    out, ga, _ = _mix_grads("shake", "shake", "batch")
    assert out.unique().numel() == 1 and ga.unique().numel() == 1


def test_eval_mixes_half_and_half():
    mix = ShakeMix("shake", "shake", "image").eval()
    a, b = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    assert torch.allclose(mix(a, b), 0.5 * (a + b))


def test_branch_gradients_follow_beta_in_a_real_network():
    model = build_model(PRESETS["shake_shake26_2x32d"].replace(shake_forward="even", shake_backward="shake"))
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for seed in (1, 2):
        model.zero_grad()
        torch.manual_seed(seed)
        model.train()(x).sum().backward()
        grads.append(model.stage3.block4.branch1.conv2.weight.grad.clone())
    # The forward pass is deterministic (alpha = 0.5), so only beta can make the gradients differ.
    assert not torch.allclose(grads[0], grads[1])


def test_downsampling_shortcut_concatenates_two_shifted_paths():
    model = build_model(PRESETS["shake_shake26_2x32d"])
    shortcut = model.stage2.block1.shortcut
    assert isinstance(shortcut, ShakeShortcut)
    assert shortcut.conv1.out_channels + shortcut.conv2.out_channels == 64
    x = torch.zeros(1, 32, 4, 4)
    x[:, :, 1::2, 1::2] = 1.0  # only odd pixels: the plain strided path sees zeros, the shifted path does not
    shortcut.eval()
    with torch.no_grad():
        y1 = shortcut.conv1(torch.nn.functional.avg_pool2d(torch.relu(x), 1, 2))
    assert y1.abs().sum() == 0
    y = shortcut(x)
    assert y.shape == (1, 64, 2, 2)
    assert isinstance(model.stage1.block2.shortcut, torch.nn.Identity)


def test_forward_backward_and_names():
    model = build_model(PRESETS["shake_shake26_2x32d"])
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    names = dict(model.named_modules())
    assert {"stem", "stage1.block1.branch1.conv1", "stage1.block1.mix", "head.fc"} <= set(names)


def test_se_stochastic_depth_and_zero_init_are_honoured():
    base = PRESETS["shake_shake26_2x32d"]
    spec = base.replace(se_reduction=4, stochastic_depth=0.5, zero_init_residual=True)
    assert cost(spec).params > cost(base).params
    model = build_model(spec)
    assert model.stage3.block4.stochastic_depth.p == pytest.approx(0.5)
    assert torch.all(model.stage2.block3.branch2.bn2.weight == 0)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert torch.isfinite(out).all()


def test_second_shortcut_path_sees_x_shifted_right_and_down():
    shortcut = ShakeShortcut(1, 2, stride=2).eval()
    with torch.no_grad():
        shortcut.conv1.weight.fill_(1.0)
        shortcut.conv2.weight.fill_(1.0)
        x = torch.arange(1.0, 17.0).view(1, 1, 4, 4)
        y = shortcut(x)
    # BN in eval at init is ~identity (running mean 0, var 1)
    assert torch.allclose(y[0, 0], torch.tensor([[1.0, 3.0], [9.0, 11.0]]), atol=1e-3)
    assert torch.allclose(y[0, 1], torch.tensor([[0.0, 0.0], [0.0, 6.0]]), atol=1e-3)


def test_same_torch_seed_gives_the_same_training_step():
    model = build_model(PRESETS["shake_shake26_2x32d"].replace(stochastic_depth=0.5)).train()
    x = torch.randn(2, 3, 32, 32)

    def step(seed):
        torch.manual_seed(seed)
        model.zero_grad()
        out = model(x)
        out.sum().backward()
        return [out.detach()] + [p.grad.clone() for p in model.parameters()]

    first, second, other = step(0), step(0), step(1)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], other[0])  # alpha, beta and ResDrop are random draws


# ---------------------------------------------------------------- ResNeXt-style branches ("29 2x4x64d", CIFAR-100)

def test_2x4x64d_is_two_grouped_bottlenecks_as_the_authors_build_it():
    # xgastaldi/shake-shake models/shakeshake.lua, resnext_bottleneck_C: each branch 1x1 (C*d) - grouped 3x3 with
    # the stride - 1x1 (4n), BN after each; option B shortcut; ReLU after the sum; stem conv-BN-ReLU to 64.
    spec = PRESETS["shake_shake29_2x4x64d"]
    model = build_model(spec)
    assert [type(m).__name__ for m in model.stem] == ["Conv2d", "BatchNorm2d", "ReLU"] and model.stem.conv.out_channels == 64
    assert [type(m).__name__ for m in model.head] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert model.head.fc.out_features == 100
    block = model.stage2.block1
    for branch in (block.branch1, block.branch2):
        convs = [m for m in branch if isinstance(m, torch.nn.Conv2d)]
        assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.groups) for c in convs] == [
            (256, 512, 1, 1, 1), (512, 512, 3, 2, 4), (512, 512, 1, 1, 1)]
        assert [type(m).__name__ for m in branch][-1] == "BatchNorm2d"
    assert type(block.shortcut).__name__ == "ProjectionShortcut" and block.shortcut.norm and block.shortcut.stride == 2
    assert isinstance(model.stage2.block2.shortcut, torch.nn.Identity)
    assert isinstance(block.post, torch.nn.ReLU)
    assert (block.mix.forward_mode, block.mix.backward_mode, block.mix.level) == ("shake", "even", "image")


def test_2x4x64d_count_and_where_it_differs_from_resnext29_8x64d():
    # Two branches of 4 paths of 64 hold the conv weights of ResNeXt-29's 8 paths of 64 exactly; the second
    # branch's last BN (2 x width per block) and the 100-class fc are the only extra parameters.
    spec = PRESETS["shake_shake29_2x4x64d"]
    assert cost(spec).params == 34_529_700
    resnext = cost(PRESETS["resnext29_8x64d"].replace(num_classes=100)).params
    assert cost(spec).params - resnext == 2 * 3 * (256 + 512 + 1024)
    assert cost(spec.replace(num_classes=10)).params == 34_437_450  # 34.4M, the figure printed for ResNeXt-29


def test_a_basic_shake_net_refuses_cardinality_and_its_block_choice_is_offered():
    from explorer.models.fields import offered
    from explorer.models.spec import SpecError, validate
    basic = PRESETS["shake_shake26_2x32d"]
    assert offered("block", basic) and not offered("cardinality", basic)
    assert offered("cardinality", PRESETS["shake_shake29_2x4x64d"])
    with pytest.raises(SpecError, match="cardinality: only used by bottleneck blocks"):
        validate(basic.replace(cardinality=4))


def test_2x4x64d_trains_and_shakes_in_both_branches():
    spec = PRESETS["shake_shake29_2x4x64d"].replace(base_width=8, bottleneck_width=4)  # small, same wiring
    torch.manual_seed(0)
    model = build_model(spec).train()
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    grads = [model.stage1.block1.branch1.conv1.weight.grad, model.stage1.block1.branch2.conv1.weight.grad]
    assert out.shape == (2, 100) and all(g is not None and g.abs().sum() > 0 for g in grads)
