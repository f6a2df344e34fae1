"""Seeded work that leaves the global random state alone.

The lessons run inside one Streamlit server that every student's session shares, so a lesson that called
`torch.manual_seed` would reseed everyone's RNG. Random draws take a `torch.Generator`; module init
(`nn.init`, `he_init`) and the models' own draws (Shake-Shake's alpha and beta) can only use the global RNG,
so they run inside `seeded`, which forks torch's RNG, seeds the fork and restores the state on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run the block with torch's global RNG seeded to `seed`, then put the caller's RNG state back.

    Only the CPU generator and, for a CUDA `device`, that device's generator are forked and seeded:
    `torch.manual_seed` would also reseed every other GPU's generator, outside the fork."""
    device = torch.device(device)
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A private generator for `torch.randn(..., generator=g)`: the global RNG is never drawn from."""
    return torch.Generator(device=device).manual_seed(seed)
