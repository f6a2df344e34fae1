"""Training data held on the training device: CIFAR-10 or CIFAR-100 (files: explorer.training.cifar) or an
offline synthetic set.

Everything lives as uint8 tensors on the device; a batch is one gather (4-px zero-pad random crop and
horizontal flip at once) and one normalize, with no per-image Python (the recipe of He et al. 2015, sec. 4.2).
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from explorer import i18n
from explorer.i18n import _
from explorer.training.cifar import CIFAR, ENV_VAR, DataError, check_cifar, data_dir, download_cifar, load_cifar
from explorer.training.cifar import cifar10_ready  # noqa: F401 - the lessons ask this module whether CIFAR-10 is here
from explorer.training.datasets import SPLITS, DatasetInfo, dataset_info

SYNTHETIC_SEED = 2015  # fixed: every run sees the same synthetic images, so runs compare; the recipe seed varies
PAD = 4  # pixels of zero padding before the random 32x32 crop
SYNTHETIC_CHUNK = 1000  # images drawn per generator seed; chunks keep the temporaries in cache (2x faster)


def synthetic_images(n: int, seed: int = SYNTHETIC_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """n procedurally drawn 32x32 images of 10 shape classes, deterministic from `seed`, on the CPU.

    Each image is one large light shape (the class) at a random position, size, rotation and hue, with a smaller
    light shape of another class beside it, on a random dark background with a faint grating and light pixel
    noise. Hue and position say nothing about the class, so a network must learn shape and compare sizes.
    """
    chunks = [_synthetic_chunk(min(SYNTHETIC_CHUNK, n - start), seed * 1_000_003 + start // SYNTHETIC_CHUNK)
              for start in range(0, n, SYNTHETIC_CHUNK)]
    if not chunks:
        return torch.empty(0, 3, 32, 32, dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    return torch.cat([c[0] for c in chunks]), torch.cat([c[1] for c in chunks])


def _shape_mask(kind: torch.Tensor, centre: torch.Tensor, size: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """n x 1 x 32 x 32 float masks: shape number `kind[i]` centred at `centre[i]` (pixels), radius `size[i]`."""
    n = len(kind)
    coords = torch.arange(32, dtype=torch.float32)
    yy, xx = coords.view(1, 32, 1), coords.view(1, 1, 32)
    dy, dx = yy - centre[:, 0, None, None], xx - centre[:, 1, None, None]
    c, s = torch.cos(angle)[:, :, None], torch.sin(angle)[:, :, None]
    u, v = (c * dx + s * dy) / size[:, :, None], (-s * dx + c * dy) / size[:, :, None]  # rotated, unit size
    r = (u ** 2 + v ** 2).sqrt()
    box = torch.maximum(u.abs(), v.abs())
    masks = torch.stack([  # in SYNTHETIC_CLASSES order
        r < 1,  # disk
        (r < 1) & (r > 0.6),  # ring
        box < 0.85,  # square
        (box < 0.95) & (box > 0.6),  # frame
        (v > -0.6) & (v < 0.9 - 1.7 * u.abs()),  # triangle
        ((u.abs() < 0.28) | (v.abs() < 0.28)) & (box < 1),  # plus
        (u.abs() < 1.1) & (v.abs() < 0.3),  # bar
        (box < 0.95) & ((torch.floor(2 * u + 2) + torch.floor(2 * v + 2)) % 2 == 0),  # checker
        ((u - 0.55) ** 2 + v ** 2 < 0.16) | ((u + 0.55) ** 2 + v ** 2 < 0.16),  # two dots
        (r < 1) & (torch.sin(u * 3 * math.pi) > 0),  # stripes inside a disk
    ], dim=1)  # n x 10 x 32 x 32
    return masks[torch.arange(n), kind].unsqueeze(1).float()


def _synthetic_chunk(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    # A smaller shape of another class distracts: the label is the larger shape, so a net must compare the
    # two (a wider receptive field than one shape's texture), which is where depth starts to pay.
    distractor = (labels + torch.randint(1, 10, (n,), generator=g)) % 10
    rand = lambda *shape: torch.rand(n, *shape, generator=g)  # noqa: E731 - one draw order, kept in one place
    size = 6 + 5 * rand(1)  # pixels: "radius" of the labelled shape, large enough to fill a 3x3 stack's view
    centre = 10 + 12 * rand(2)  # pixels
    mask = _shape_mask(labels, centre, size, math.pi * rand(1))
    mask_d = _shape_mask(distractor, 8 + 16 * rand(2), size * (0.4 + 0.2 * rand(1)), math.pi * rand(1))
    # Shapes are always lighter than the background (random hues both): with a random sign of contrast,
    # nets at the papers' lr 0.1 stayed at chance for epochs, because every edge filter must learn both signs.
    bg, fg, fg_d = 0.4 * rand(3), 0.6 + 0.4 * rand(3), 0.6 + 0.4 * rand(3)
    grating = torch.cat([rand(1) * 0.8 + 0.2, rand(1) * math.pi, rand(1) * 2 * math.pi], dim=1)
    noise = torch.rand(n, 3, 32, 32, generator=g)

    coords = torch.arange(32, dtype=torch.float32)
    yy, xx = coords.view(1, 32, 1), coords.view(1, 1, 32)
    phase = grating[:, 0, None, None] * (torch.cos(grating[:, 1, None, None]) * xx
                                         + torch.sin(grating[:, 1, None, None]) * yy) + grating[:, 2, None, None]
    image = bg[:, :, None, None] + 0.06 * torch.sin(phase).unsqueeze(1)
    image = torch.lerp(image, fg_d[:, :, None, None], mask_d)
    image = torch.lerp(image, fg[:, :, None, None], mask)  # the labelled shape on top
    image = image + 0.15 * (noise - 0.5)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), labels


@dataclass
class DeviceData:
    """One run's images and labels on the training device, with the normalisation constants."""

    train_x: torch.Tensor  # uint8 N x 3 x 32 x 32
    train_y: torch.Tensor  # int64 N
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    mean: torch.Tensor  # 1 x 3 x 1 x 1, in uint8 units
    std: torch.Tensor
    info: DatasetInfo


def load_data(recipe: Any, device: str | torch.device = "cpu", root: str | os.PathLike | None = None,
              md5: dict[str, str] | None = None) -> DeviceData:
    """The recipe's split of its dataset, moved to `device` as uint8."""
    info = dataset_info(recipe)
    if info.synthetic:
        # Train and evaluation images come from disjoint seeds, so they never overlap.
        train_x, train_y = synthetic_images(info.train_size, SYNTHETIC_SEED)
        eval_x, eval_y = synthetic_images(info.eval_size, SYNTHETIC_SEED + 1 + (recipe.split == "45k/5k"))
        sample = train_x[:5000].float()
        mean, std = sample.mean(dim=(0, 2, 3)) / 255, sample.std(dim=(0, 2, 3)) / 255
    else:
        train_x, train_y, test_x, test_y = load_cifar(info.name, root, md5)
        if recipe.split == "45k/5k":  # He et al. 2015 sec. 4.2: the last 5k training images validate
            cut = SPLITS["45k/5k"][0]
            train_x, train_y, eval_x, eval_y = train_x[:cut], train_y[:cut], train_x[cut:], train_y[cut:]
        else:
            eval_x, eval_y = test_x, test_y
        train_x, train_y = train_x[:info.train_size], train_y[:info.train_size]
        eval_x, eval_y = eval_x[:info.eval_size], eval_y[:info.eval_size]
        mean, std = torch.tensor(CIFAR[info.name].mean), torch.tensor(CIFAR[info.name].std)
    to = lambda t: t.to(device, non_blocking=True)  # noqa: E731
    return DeviceData(to(train_x), to(train_y), to(eval_x), to(eval_y),
                      to((mean * 255).view(1, 3, 1, 1)), to((std * 255).view(1, 3, 1, 1)), info)


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images to float32, zero mean and unit variance per channel."""
    return (x.float() - mean) / std


def augment(x: torch.Tensor, generator: torch.Generator | None = None, flip: bool = True) -> torch.Tensor:
    """Random 32x32 crop of the 4-px zero-padded image and a random horizontal flip, batched, still uint8.

    One gather does both: each image's row and column indices into the padded batch, columns reversed for
    the flipped half. Zero padding happens before normalising, as torchvision's RandomCrop pads the raw image.
    """
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    offsets = torch.randint(0, 2 * PAD + 1, (2, n), device=x.device, generator=generator)
    flips = torch.rand(n, device=x.device, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool,
                                                                                            device=x.device)
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows = offsets[0, :, None] + ar_h  # n x h
    cols = offsets[1, :, None] + torch.where(flips[:, None], w - 1 - ar_w, ar_w)  # n x w
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def main(argv: list[str] | None = None) -> int:
    """`python -m explorer.training.data [--download] [--dataset cifar100] [--data-dir DIR]`: check or download."""
    i18n.set_language(i18n.from_environ())
    parser = argparse.ArgumentParser(prog="python -m explorer.training.data",
                                     description=_("Check or download CIFAR-10 or CIFAR-100 for ResNet Explorer."))
    parser.add_argument("--dataset", choices=list(CIFAR), default="cifar10")
    parser.add_argument("--data-dir", default=None,
                        help=_("data folder (default ${variable} or ./data)").format(variable=ENV_VAR))
    parser.add_argument("--download", action="store_true",
                        help=_("download the dataset (about 170 MB) if missing"))
    args = parser.parse_args(argv)
    try:
        if args.download:
            download_cifar(args.dataset, args.data_dir)
        else:
            check_cifar(args.dataset, args.data_dir)
    except DataError as err:
        print(_("error: {message}").format(message=err))
        return 2
    files = CIFAR[args.dataset]
    folder = data_dir(args.data_dir) / files.folder
    print(_("{dataset} is ready in {folder}").format(dataset=files.label, folder=folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
