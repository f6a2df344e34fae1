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
