"""What a training run reports: typed events, the run's status, and one table of a run's events.

The engine yields StepEvent (every `log_every` steps), EpochEvent (after each epoch's evaluation) and one final
EndEvent. Errors are fractions in [0, 1], never %. The store keeps step and epoch events as JSON (`to_dict`);
`frame` is the one place events become a table, for the Train page, the lessons, the CSV export and the CLI.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from explorer.i18n import _


class RunStatus(enum.StrEnum):
    """A run's state. str-valued: the store's rows and old runs keep the plain words, and it compares equal to them."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"  # trained every epoch: the only status whose weights count as trained
    DIVERGED = "diverged"  # the loss became NaN, exploded or stayed high (DivergenceWatch); not a trained net
    FAILED = "failed"
    CANCELLED = "cancelled"


ENDED = frozenset({RunStatus.FINISHED, RunStatus.DIVERGED, RunStatus.FAILED, RunStatus.CANCELLED})
ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


@dataclass(frozen=True, kw_only=True)
class StepEvent:
    """Training metrics over the steps since the previous step event."""

    kind: ClassVar[str] = "step"
    step: int  # SGD steps done, 1-based
    epoch: float  # step / steps per epoch
    train_loss: float  # mean cross-entropy over the window's images
    train_error: float  # fraction misclassified in the window (augmented images, training mode)
    lr: float
    images_per_sec: float  # over all ranks
    elapsed: float  # seconds since the run started (data loading included)


@dataclass(frozen=True, kw_only=True)
class EpochEvent:
    """One epoch: its training metrics and the evaluation (validation for 45k/5k, else test) afterwards."""

    kind: ClassVar[str] = "epoch"
    epoch: int  # 1-based
    step: int
    train_loss: float
    train_error: float
    test_loss: float
    test_error: float
    lr: float
    images_per_sec: float  # training only, evaluation excluded
    elapsed: float


@dataclass(frozen=True, kw_only=True)
class EndEvent:
    """The run is over; `message` says how it went or what went wrong and what to do."""

    kind: ClassVar[str] = "end"
    status: RunStatus
    message: str = ""


Event = StepEvent | EpochEvent | EndEvent
KINDS: dict[str, type] = {"step": StepEvent, "epoch": EpochEvent, "end": EndEvent}
COLUMNS = ("kind", "epoch", "step", "train_loss", "train_error", "test_loss", "test_error", "lr",
           "images_per_sec", "elapsed")


def to_dict(event: Event) -> dict[str, Any]:
    """The event as JSON-ready data, with its "kind"."""
    data = {"kind": event.kind, **dataclasses.asdict(event)}
    if isinstance(event, EndEvent):
        data["status"] = event.status.value
    return data


def from_dict(data: dict[str, Any]) -> Event:
    """An event from stored JSON; keys this version does not know are ignored."""
    cls = KINDS[data["kind"]]
    values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
    if cls is EndEvent:
        values["status"] = RunStatus(values["status"])
    return cls(**values)


def frame(events: Iterable[Event]) -> pd.DataFrame:
    """Step and epoch events as one row each, in order, with COLUMNS (test_* is empty on step rows)."""
    rows = [to_dict(e) for e in events if not isinstance(e, EndEvent)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def describe(event: Event) -> str | None:
    """One log line for an epoch or end event (None for step events, which are too many to print)."""
    if isinstance(event, EpochEvent):
        return _("epoch {epoch}: train loss {train_loss:.4f} error {train_error:.2%}, test loss {test_loss:.4f} "
                 "error {test_error:.2%}, {speed:,.0f} images/s, {seconds:.1f} s").format(
                     epoch=event.epoch, train_loss=event.train_loss, train_error=event.train_error,
                     test_loss=event.test_loss, test_error=event.test_error, speed=event.images_per_sec,
                     seconds=event.elapsed)
    if isinstance(event, EndEvent):
        return f"end: {event.status.value} {event.message}".rstrip()
    return None


class DivergenceWatch:
    """Tells the engine when a run has diverged, from the losses it logs; `step` and `epoch` return the end event.

    Three rules, each a loss no learning net shows:
    - a logged loss that is NaN or infinite;
    - EXPLODED_WINDOWS logged windows in a row above max(20, 10x the first window's loss). At initialisation the
      loss is about ln(classes) (2.3 for CIFAR-10); a healthy net's spikes (ResNet-110 without warm-up) stay under
      10 and fall back within a window or two, while lr=10 reaches 1e12 within an epoch;
    - a whole epoch's mean training loss above 3 ln(classes): uniform guessing costs ln(classes), so three times
      that for an epoch is a net that is confidently wrong, a slow divergence that never turns NaN.
    A diverged run stays a result of its recipe (the same seed diverges again): identical requests attach to it
    and the advice to lower the learning rate changes the request.
    """

    EXPLODED_WINDOWS = 5

    def __init__(self, recipe: Any, classes: int):
        self.recipe, self.epoch_limit = recipe, 3 * math.log(max(classes, 2))
        self.first: float | None = None
        self.high = 0

    def _end(self, what: str) -> EndEvent:
        lr = self.recipe.lr
        advice = f"; try a lower learning rate than {lr} (e.g. {lr / 10:g})"
        return EndEvent(status=RunStatus.DIVERGED,
                        message=what + advice + ("" if self.recipe.warmup else " or turn on warm-up"))

    def step(self, loss: float, step: int) -> EndEvent | None:
        if not math.isfinite(loss):
            return self._end(f"the training loss became {loss} at step {step}")
        if self.first is None:
            self.first = loss
        ceiling = max(20.0, 10 * self.first)
        self.high = self.high + 1 if loss > ceiling else 0
        if self.high >= self.EXPLODED_WINDOWS:
            return self._end(f"the training loss exploded: {loss:.3g} at step {step}, above {ceiling:.3g} for "
                             f"{self.high} logged windows in a row")
        return None

    def epoch(self, mean_loss: float) -> EndEvent | None:
        if not math.isfinite(mean_loss) or mean_loss > self.epoch_limit:
            return self._end(f"the training loss stayed high: {mean_loss:.3g} on average over a whole epoch, "
                             f"above 3 ln(classes) = {self.epoch_limit:.3g} (chance is a third of that)")
        return None
