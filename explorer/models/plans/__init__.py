"""One torch-free module per family's facts, beside its torch build module in explorer.models.families.

Each plan module reads top to bottom: the family's tables from its paper, its depth rule, its layout, its rules
across fields and, last, its `Plan` (explorer.models.plans.base) with the canonical design. `PLANS` is the one
dict from `ArchSpec.family` to its plan; explorer.models.layout, .rules and .spec dispatch through it.
The ResNet-shaped families share plans.resnet, as families.resnet builds all four.
"""

from __future__ import annotations

from explorer.models.plans import densenet, fractalnet, highway, pyramidnet, resnet, shake_shake, vgg
from explorer.models.plans.base import Plan

PLANS: dict[str, Plan] = {
    "plain": resnet.PLAIN,
    "resnet": resnet.RESNET,
    "wrn": resnet.WRN,
    "resnext": resnet.RESNEXT,
    "shake_shake": shake_shake.SHAKE_SHAKE,
    "pyramidnet": pyramidnet.PYRAMIDNET,
    "densenet": densenet.DENSENET,
    "highway": highway.HIGHWAY,
    "fractalnet": fractalnet.FRACTALNET,
    "vgg": vgg.VGG,
}
