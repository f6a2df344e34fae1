"""Lesson 6: Shake-Shake in motion (Gastaldi 2017, 1705.07485).

    forward:  y = x + alpha F1(x) + (1 - alpha) F2(x)
    backward: dL/dF1 = beta dL/dy,  dL/dF2 = (1 - beta) dL/dy
`step_coefficients` draws one training step's alpha and beta exactly as the model does (explorer.models.families.shake_shake's
ShakeMix) and pushes a gradient through ShakeFunction, so the page can show what each image gets.
"""

from __future__ import annotations

import pandas as pd
import torch

from explorer.i18n import N_
from explorer.lessons.seeding import seeded
from explorer.models.families.shake_shake import ShakeFunction, ShakeMix
from explorer.models.presets import PRESETS
from explorer.models.published import table
from explorer.models.spec import ArchSpec

MODES = {"shake": N_("Shake (random)"), "even": N_("Even (0.5)"), "keep": N_("Keep (beta = alpha)")}  # _() where shown


def step_coefficients(batch_size: int = 8, forward_mode: str = "shake", backward_mode: str = "shake",
                      level: str = "image", step: int = 0, seed: int = 0) -> pd.DataFrame:
    """One training step: per image, alpha (forward weight of branch 1), beta (share of the gradient branch 1
    receives), and what ShakeFunction actually returns, measured (mixed output and branch gradients)."""
    mix = ShakeMix(forward_mode, backward_mode, level).train()
    branch1 = torch.ones(batch_size, 1, 1, 1, requires_grad=True)  # F1 = 1, F2 = 0: the output is alpha itself
    branch2 = torch.zeros(batch_size, 1, 1, 1, requires_grad=True)
    with seeded(seed * 100_003 + step):  # ShakeMix draws from the global RNG, as it does in training
        alpha, beta = mix.coefficients(branch1)
    out = ShakeFunction.apply(branch1, branch2, alpha, beta)
    out.sum().backward()
    return pd.DataFrame({
        "image": range(1, batch_size + 1),
        "alpha": alpha.expand(batch_size, 1, 1, 1).flatten().tolist(),
        "beta": beta.expand(batch_size, 1, 1, 1).flatten().tolist(),
        "forward weight of F1 (measured)": out.detach().flatten().tolist(),
        "gradient to F1 (measured)": branch1.grad.flatten().tolist(),
        "gradient to F2 (measured)": branch2.grad.flatten().tolist(),
    })


def steps(n_steps: int, batch_size: int, forward_mode: str, backward_mode: str, level: str,
          seed: int = 0) -> pd.DataFrame:
    """Several steps in long format (step, image, coefficient, value) for an animation-like strip chart."""
    frames = []
    for s in range(n_steps):
        f = step_coefficients(batch_size, forward_mode, backward_mode, level, s, seed)
        frames.append(f.melt(id_vars=["image"], value_vars=["alpha", "beta"], var_name="coefficient")
                      .assign(step=s + 1))
    return pd.concat(frames, ignore_index=True)


def paper_table() -> pd.DataFrame:
    """Table 1 of the paper (CIFAR-10 error %, Shake-Shake 26 2x32d/2x64d/2x96d), with its source."""
    rows = table("shake_shake_table1")
    return pd.DataFrame([{"forward": r["forward"], "backward": r["backward"], "level": r["level"],
                          "2x32d": r["w2x32d"], "2x64d": r["w2x64d"], "2x96d": r["w2x96d"],
                          "settings": r["design"], "source": r["source"]} for r in rows])


def design(forward_mode: str, backward_mode: str, level: str, width: int = 32) -> ArchSpec:
    """Shake-Shake 26 2x{width}d with the chosen modes (level means nothing when both are even)."""
    return PRESETS["shake_shake26_2x32d"].replace(base_width=width, shake_forward=forward_mode,
                                                  shake_backward=backward_mode, shake_level=level)
