"""Lesson 4: wider, deeper, or more paths? Published error against cost, and designs of equal complexity.

ResNeXt (1611.05431) Table 1 / sec. 3.4 holds complexity fixed and trades cardinality C against the width d of
one path: 1x64d, 2x40d, 4x24d, 8x14d, 32x4d all cost about what ResNet-50 costs. Wide ResNets trade depth for
width k instead. Equal multiply-adds are not equal speed, so the lesson times each design on this machine.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import torch
from torch import nn

from explorer.lessons.seeding import generator, seeded
from explorer.lessons.tables import counted
from explorer.models.builder import build_model
from explorer.models.cost import cost
from explorer.models.presets import PRESETS
from explorer.models.published import all_published
from explorer.models.spec import FAMILY_LABELS, ArchSpec, SpecError

Measure = Literal["params", "macs"]
Base = Literal["cifar", "imagenet"]

CARDINALITIES = (1, 2, 4, 8, 32)  # ResNeXt Table 2's templates: 1x64d, 2x40d, 4x24d, 8x14d, 32x4d
WRN_DEPTHS = (10, 16, 22, 28, 34, 40)  # 6n + 4
WRN_WIDTHS = tuple(range(1, 13))


def resnext_spec(base: Base, cardinality: int, width: int) -> ArchSpec:
    """ResNeXt-29 on CIFAR (Table 7) or ResNeXt-50 on ImageNet (Table 1) with C paths of width d."""
    if base == "imagenet":
        return ArchSpec(family="resnext", block="bottleneck", depth=50, cardinality=cardinality,
                        bottleneck_width=width, stem="imagenet", num_classes=1000, shortcut="B")
    return ArchSpec(family="resnext", block="bottleneck", depth=29, cardinality=cardinality,
                    bottleneck_width=width, shortcut="B")


def wrn_spec(depth: int, k: int) -> ArchSpec:
    return PRESETS["wrn_16_4"].replace(depth=depth, width_factor=k)


def _measure(spec: ArchSpec, measure: Measure) -> int:
    c = cost(spec)
    return c.params if measure == "params" else c.macs


def _quadratic(f, x: tuple[int, int, int]) -> tuple[float, float, float]:
    """Coefficients (a, b, c) of a + b t + c t^2 through three points."""
    (x0, x1, x2), (y0, y1, y2) = x, (f(x[0]), f(x[1]), f(x[2]))
    c = ((y2 - y0) / (x2 - x0) - (y1 - y0) / (x1 - x0)) / (x2 - x1)
    b = (y1 - y0) / (x1 - x0) - c * (x0 + x1)
    return y0 - b * x0 - c * x0 * x0, b, c


def _solve(a: float, b: float, c: float, target: float) -> float:
    """The positive root of a + b t + c t^2 = target."""
    if c == 0:
        return (target - a) / b
    return (-b + math.sqrt(max(b * b - 4 * c * (a - target), 0.0))) / (2 * c)


def _preset_count(name: str, what: Literal["params", "macs"]) -> int:
    """A preset's count from the shipped table (explorer.lessons.tables.counted): counting every preset here took
    the budget lesson's first visitor 14 s (issue 12, defect 6)."""
    return getattr(counted(PRESETS[name]), what)


@functools.lru_cache(maxsize=8)  # four (measure, base) pairs: the next visitor and every new target reuse them
def _resnext_coefficients(measure: Measure, base: Base) -> tuple[float, float, float]:
    """cost = a + b w + c w d with w = C d: every layer of a ResNeXt block is (width w) x constant, except the
    grouped 3x3 conv, which is w x d. Three single-path (C = 1, w = d) designs therefore fix all templates."""
    return _quadratic(lambda d: _measure(resnext_spec(base, 1, d), measure), (1, 8, 32))


def resnext_templates(target: float, measure: Measure = "params", base: Base = "cifar") -> pd.DataFrame:
    """For each cardinality C, the path width d whose cost is nearest `target`: the paper's templates."""
    if not target > 0:
        raise SpecError("target", f"the budget must be a positive count; got {target}")
    a, b, c = _resnext_coefficients("params", base)
    a_m, b_m, c_m = _resnext_coefficients("macs", base)
    ka, kb, kc = (a, b, c) if measure == "params" else (a_m, b_m, c_m)
    # The paper's "similar complexity" (sec. 3.3, Table 2) holds parameters and FLOPs together: of the two widths
    # beside the solution, keep the one whose larger miss on either count (against the single-path 1x64d net
    # scaled to the target) is smaller. Nearest in one count alone, ResNet-50's 4.1 GFLOPs gave 8x13d (-3.7% in
    # multiply-adds, -7% in parameters) where the paper has 8x14d (+4.1%, -0.1%).
    base_params, base_macs = a + b * 64 + c * 64 * 64, a_m + b_m * 64 + c_m * 64 * 64
    scale = target / (base_params if measure == "params" else base_macs)

    def miss(card: int, d: int) -> float:
        w = card * d
        return max(abs((a + b * w + c * w * d) / (base_params * scale) - 1),
                   abs((a_m + b_m * w + c_m * w * d) / (base_macs * scale) - 1))

    rows = []
    for card in CARDINALITIES:
        # Solve a + b C d + c C d^2 = target for d.
        exact = _solve(ka, kb * card, kc * card, target)
        width = min({max(1, math.floor(exact)), max(1, math.ceil(exact))}, key=lambda d: (miss(card, d), d))
        w = card * width
        params, macs = a + b * w + c * w * width, a_m + b_m * w + c_m * w * width
        rows.append({"design": f"{card}x{width}d", "cardinality C": card, "width d": width,
                     "params": round(params), "multiply-adds": round(macs),
                     "vs target": (params if measure == "params" else macs) / target - 1})
    return pd.DataFrame(rows)


@functools.lru_cache(maxsize=1)
def _wrn_fits() -> dict[tuple, object]:
    """(depth, count, "k") -> the quadratic in k for k >= 2, and (depth, count, 1) -> the count at k = 1, for the
    two shallowest depths: ten counted designs, once per process."""
    fits: dict[tuple, object] = {}
    for d in WRN_DEPTHS[:2]:
        for what in ("params", "macs"):
            fits[d, what] = _quadratic(lambda k: getattr(cost(wrn_spec(d, k)), what), (2, 3, 4))
            fits[d, what, 1] = getattr(cost(wrn_spec(d, 1)), what)
    return fits


def wrn_pairs(target: float, measure: Measure = "params", tolerance: float = 0.25, limit: int = 6) -> pd.DataFrame:
    """WRN depth/k pairs whose cost is within `tolerance` of `target`, nearest first (cost is quadratic in k)."""
    if not target > 0:
        raise SpecError("target", f"the budget must be a positive count; got {target}")
    # Exact, from eight counted designs: for k >= 2 every count is quadratic in k (convs are k x k, BN and the
    # classifier linear); k = 1 differs (stage 1 needs no projection) and is counted. For fixed k, the count is
    # linear in the blocks per stage n = (depth - 4) / 6, since blocks 2..n of a stage are identical.
    shallow, deeper = WRN_DEPTHS[0], WRN_DEPTHS[1]
    fits = _wrn_fits()

    def count(depth: int, k: int, what: str) -> float:
        at = {d: (fits[d, what, 1] if k == 1 else
                  fits[d, what][0] + fits[d, what][1] * k + fits[d, what][2] * k * k) for d in (shallow, deeper)}
        return at[shallow] + (depth - shallow) / (deeper - shallow) * (at[deeper] - at[shallow])

    rows = []
    for depth in WRN_DEPTHS:
        for k in WRN_WIDTHS:
            params, macs = count(depth, k, "params"), count(depth, k, "macs")
            got = params if measure == "params" else macs
            rows.append({"design": f"WRN-{depth}-{k}", "depth": depth, "k": k, "params": round(params),
                         "multiply-adds": round(macs), "vs target": got / target - 1,
                         "gap": abs(math.log(got / target))})
    frame = pd.DataFrame(rows).sort_values("gap")
    frame = frame[frame["gap"] <= math.log1p(tolerance)].head(limit)
    return frame.drop(columns="gap").reset_index(drop=True)


def published_chart(dataset: str = "cifar10") -> pd.DataFrame:
    """Every preset with a published error: error, parameters (printed, else counted) and the preset's family."""
    rows = []
    for name, pub in all_published().items():
        if pub.dataset != dataset or pub.error is None or name not in PRESETS:
            continue
        params = pub.params_m * 1e6 if pub.params_m else None
        if params is None:
            try:
                params = _preset_count(name, "params")
            except (KeyError, SpecError):  # a family whose builder has not landed
                continue
        family = PRESETS[name].family
        rows.append({"preset": name, "family": family, "design family": FAMILY_LABELS[family],
                     "params (M)": params / 1e6, "error (%)": pub.error, "error kind": pub.error_kind, "source": pub.source})
    return pd.DataFrame(rows)


def with_macs(chart: pd.DataFrame) -> pd.DataFrame:
    """Add multiply-adds (counted by the app; published where the app cannot build the family yet)."""
    macs = []
    for name in chart["preset"]:
        try:
            macs.append(_preset_count(name, "macs") / 1e9)
        except (KeyError, SpecError):
            pub = all_published()[name]
            macs.append(pub.macs / 1e9 if pub.macs else float("nan"))
    return chart.assign(**{"multiply-adds (G)": macs})


def images_per_second(spec: ArchSpec, batch_size: int = 4, steps: int = 2, device: str = "cpu",
                      seed: int = 0) -> float:
    """Training throughput: timed forward + backward of random images after one warm-up step."""
    with seeded(seed, device):  # module init draws from the global RNG
        model = build_model(spec, device=device).train()
    size = 224 if spec.stem == "imagenet" else 32
    gen = generator(seed, device)
    images = torch.randn(batch_size, 3, size, size, device=device, generator=gen)
    labels = torch.randint(0, spec.num_classes, (batch_size,), device=device, generator=gen)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(model(images), labels).backward()
    start = time.perf_counter()
    for _ in range(steps):
        loss_fn(model(images), labels).backward()
    return batch_size * steps / (time.perf_counter() - start)


class SpeedBench:
    """Training-speed measurements in one background thread shared by every session of the server: the page is
    never locked while a CPU times designs for tens of seconds (46 s was measured, issue 12 defect 6), 30 students
    pressing the button do not time 30 designs at once (each would measure the others' load), a design timed once
    is not timed again, and a measurement can be cancelled between two designs."""

    def __init__(self, measure: Callable[[tuple], float]) -> None:
        self._measure = measure
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget-speed")
        self._lock = threading.Lock()
        self.speeds: dict[tuple, float | str] = {}  # design arguments -> images/s, or why it was not timed

    def start(self, designs: list[tuple[str, tuple]]) -> Measurement:
        """Time each (label, arguments) not timed yet, in order, in the background."""
        job = Measurement(labels=[label for label, args in designs if args not in self.speeds],
                          todo=[args for _, args in designs if args not in self.speeds])
        job.future = self._pool.submit(self._run, job)
        return job

    def _run(self, job: Measurement) -> None:
        for label, args in zip(job.labels, job.todo):
            if job.cancel.is_set():
                return
            job.current = label
            if args not in self.speeds:
                try:
                    value: float | str = self._measure(args)
                except SpecError as err:
                    value = f"not built: {err}"
                with self._lock:
                    self.speeds[args] = value
            job.done += 1


@dataclass
class Measurement:
    """One press of the button: what it times, how far it got, and its Cancel."""

    labels: list[str]
    todo: list[tuple]
    done: int = 0
    current: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None

    @property
    def running(self) -> bool:
        return self.future is not None and not self.future.done()
