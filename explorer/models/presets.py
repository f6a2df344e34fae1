"""Named designs from the papers, as pure data. Names follow the papers; counts in comments are the papers'."""

from __future__ import annotations

from explorer.models.spec import FAMILY_DEFAULTS, ArchSpec

S = ArchSpec
_PREACT = dict(activation="full_preact")
_IMAGENET = dict(stem="imagenet", num_classes=1000, shortcut="B")

PRESETS: dict[str, ArchSpec] = {
    # He et al. 2015, Table 6; plain nets share the stacks and (with option A) the parameter counts.
    "plain20": FAMILY_DEFAULTS["plain"],
    "plain32": S(family="plain", depth=32),
    "plain44": S(family="plain", depth=44),
    "plain56": S(family="plain", depth=56),
    "plain110": S(family="plain", depth=110),
    "resnet20": FAMILY_DEFAULTS["resnet"],  # 0.27M, 8.75%
    "resnet32": S(depth=32),  # 0.46M, 7.51%
    "resnet44": S(depth=44),  # 0.66M, 7.17%
    "resnet56": S(depth=56),  # 0.85M, 6.97%
    "resnet110": S(depth=110),  # 1.7M, 6.43%
    "resnet1202": S(depth=1202),  # 19.4M, 7.93%
    # Stochastic depth (1603.09382): linear decay of the survival probability to p_L = 0.5, as the paper.
    "resnet110_stochastic": S(depth=110, stochastic_depth=0.5),  # 1.7M, 5.25%
    "resnet1202_stochastic": S(depth=1202, stochastic_depth=0.5),  # 4.91%
    # Identity Mappings (1603.05027): full pre-activation; bottleneck nets use projection (B) shortcuts.
    "preact_resnet110": S(depth=110, **_PREACT),  # 6.37%
    "preact_resnet164": S(depth=164, block="bottleneck", shortcut="B", **_PREACT),  # 1.7M, 5.46%
    "preact_resnet1001": S(depth=1001, block="bottleneck", shortcut="B", **_PREACT),  # 10.2M, 4.92%
    # Wide ResNet (1605.07146): pre-activation basic blocks, projection where the width changes.
    "wrn_16_4": FAMILY_DEFAULTS["wrn"],  # 2.7M, 5.02%
    "wrn_16_8": S(family="wrn", depth=16, width_factor=8, shortcut="B", **_PREACT),  # 11.0M, 4.27%
    "wrn_28_10": S(family="wrn", depth=28, width_factor=10, shortcut="B", **_PREACT),  # 36.5M, 4.00%
    "wrn_40_4": S(family="wrn", depth=40, width_factor=4, shortcut="B", **_PREACT),  # 8.9M, 4.53%
    "wrn_28_10_dropout": S(family="wrn", depth=28, width_factor=10, shortcut="B", dropout=0.3, **_PREACT),  # 3.89%
    # ResNeXt (1611.05431), Table 7: 29 layers, C x d.
    "resnext29_8x64d": FAMILY_DEFAULTS["resnext"],  # 34.4M
    "resnext29_16x64d": S(family="resnext", block="bottleneck", depth=29, cardinality=16, shortcut="B"),  # 68.1M
    # Shake-Shake (1705.07485): 26 layers, 2 branches of width d; the best Table 1 modes per width.
    "shake_shake26_2x32d": FAMILY_DEFAULTS["shake_shake"],  # 3.55%
    "shake_shake26_2x64d": S(family="shake_shake", depth=26, base_width=64),  # 2.98%
    "shake_shake26_2x96d": S(family="shake_shake", depth=26, base_width=96),  # 2.86%
    # CIFAR-100 (Table 4): two ResNeXt branches of 4 paths of width 64, "Shake-Even-Image" (xgastaldi/shake-shake)
    "shake_shake29_2x4x64d": S(family="shake_shake", block="bottleneck", depth=29, base_width=64, cardinality=4,
                               bottleneck_width=64, shake_backward="even", num_classes=100),  # 15.85%
    # PyramidNet (1610.02915), author repo.
    "pyramidnet110_a48": FAMILY_DEFAULTS["pyramidnet"],  # 1.7M, 4.62%
    "pyramidnet110_a84": S(family="pyramidnet", depth=110, pyramid_alpha=84),  # 3.8M, 4.27%
    "pyramidnet110_a270": S(family="pyramidnet", depth=110, pyramid_alpha=270),  # 28.3M, 3.73%
    "pyramidnet164_a48_bottleneck": S(family="pyramidnet", block="bottleneck", depth=164, pyramid_alpha=48),  # 1.7M
    "pyramidnet164_a84_bottleneck": S(family="pyramidnet", block="bottleneck", depth=164, pyramid_alpha=84),  # 3.8M
    "pyramidnet164_a270_bottleneck": S(family="pyramidnet", block="bottleneck", depth=164, pyramid_alpha=270),
    "pyramidnet200_a240_bottleneck": S(family="pyramidnet", block="bottleneck", depth=200, pyramid_alpha=240),
    "pyramidnet236_a220_bottleneck": S(family="pyramidnet", block="bottleneck", depth=236, pyramid_alpha=220),
    "pyramidnet272_a200_bottleneck": S(family="pyramidnet", block="bottleneck", depth=272, pyramid_alpha=200),
    # DenseNet (1608.06993): L, k; BC = bottleneck + compression 0.5.
    "densenet40_k12": FAMILY_DEFAULTS["densenet"],  # 1.0M, 5.24%
    "densenet_bc100_k12": S(family="densenet", block="bottleneck", depth=100, growth_rate=12, compression=0.5),
    "densenet_bc250_k24": S(family="densenet", block="bottleneck", depth=250, growth_rate=24, compression=0.5),
    "densenet_bc190_k40": S(family="densenet", block="bottleneck", depth=190, growth_rate=40, compression=0.5),
    # Others.
    "se_resnet110": S(depth=110, se_reduction=16),  # 5.21%
    "highway19": FAMILY_DEFAULTS["highway"],  # 2.3M, 7.54%
    "fractalnet20": FAMILY_DEFAULTS["fractalnet"],  # 38.6M, 5.22%
    # FractalNet, "drop-path + dropout" (C10+ 4.60%): dropout 0, 0.1, 0.2, 0.3, 0.4 by block (sec. 4.1)
    "fractalnet20_dropout": S(family="fractalnet", depth=20, fractal_dropout=0.4),
    "vgg16_cifar": FAMILY_DEFAULTS["vgg"],
    # ImageNet: must equal torchvision's parameter counts exactly.
    "resnet18": S(depth=18, **_IMAGENET),
    "resnet34": S(depth=34, **_IMAGENET),  # option B, as torchvision (projection only where the shape changes)
    "resnet34_a": S(depth=34, **(_IMAGENET | dict(shortcut="A"))),  # He et al. 2015, Tables 2-3: zero-padding
    "resnet34_c": S(depth=34, **(_IMAGENET | dict(shortcut="C"))),  # Table 3: a projection on every shortcut
    "resnet50": S(depth=50, block="bottleneck", **_IMAGENET),
    "resnet101": S(depth=101, block="bottleneck", **_IMAGENET),
    "resnet152": S(depth=152, block="bottleneck", **_IMAGENET),
    "resnext50_32x4d": S(family="resnext", block="bottleneck", depth=50, cardinality=32, bottleneck_width=4,
                         **_IMAGENET),
    "resnext101_32x8d": S(family="resnext", block="bottleneck", depth=101, cardinality=32, bottleneck_width=8,
                          **_IMAGENET),
    "wide_resnet50_2": S(family="wrn", block="bottleneck", depth=50, width_factor=2, **_IMAGENET),
    "densenet121": S(family="densenet", block="bottleneck", depth=121, growth_rate=32, compression=0.5,
                     stem="imagenet", num_classes=1000),
    "vgg16": S(family="vgg", depth=16, stem="imagenet", num_classes=1000),
    # He et al. 2015, Table 2: the plain baselines of ResNet-18/34 (same stacks, no shortcuts).
    "plain18": S(family="plain", depth=18, **(_IMAGENET | dict(shortcut="A"))),
    "plain34": S(family="plain", depth=34, **(_IMAGENET | dict(shortcut="A"))),
}

# Each family's ImageNet design: what the Build page loads when the stem switches to ImageNet.
IMAGENET_DEFAULTS: dict[str, ArchSpec] = {
    "plain": PRESETS["plain34"],
    "resnet": PRESETS["resnet50"],
    "wrn": PRESETS["wide_resnet50_2"],
    "resnext": PRESETS["resnext50_32x4d"],
    "densenet": PRESETS["densenet121"],
    "vgg": PRESETS["vgg16"],
}


def family_default(family: str, stem: str = "cifar") -> ArchSpec:
    """The family's canonical design on a stem (FAMILY_DEFAULTS for CIFAR, IMAGENET_DEFAULTS for ImageNet)."""
    return IMAGENET_DEFAULTS[family] if stem == "imagenet" else FAMILY_DEFAULTS[family]


def preset_name(spec: ArchSpec) -> str | None:
    """The preset a spec equals, if any."""
    return next((name for name, p in PRESETS.items() if p == spec), None)
