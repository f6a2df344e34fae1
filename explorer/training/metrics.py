"""A run's metrics in the run store: step and epoch events stored as JSON rows, read back as typed events.

`MetricsStore` is the metrics half of `explorer.training.runs.RunStore`, which provides `connect`,
`transaction` and `save_run_json`; it is a separate class only so that each module reads in one sitting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from explorer.training import events as ev
from explorer.training.events import EpochEvent, StepEvent


class MetricsStore:
    """Metrics methods of the run store. RunStore, the one subclass, provides `connect()` and `transaction()`
    (context managers yielding a sqlite3 connection) and `save_run_json(run_id)`."""

    def append_metrics(self, run_id: str, events: Iterable[ev.Event]) -> int:
        """Store step and epoch events in one transaction; end events are ignored (the run's row holds the end).
        Returns how many were kept."""
        rows = [(run_id, e.kind, e.step, e.epoch, json.dumps(ev.to_dict(e)))
                for e in events if isinstance(e, (StepEvent, EpochEvent))]
        if rows:
            with self.transaction() as db:
                db.executemany("INSERT INTO metrics (run_id, kind, step, epoch, data) VALUES (?, ?, ?, ?, ?)", rows)
            if any(r[1] == "epoch" for r in rows):
                self.save_run_json(run_id)
        return len(rows)

    def metrics_since(self, run_id: str, after: int = 0, kind: str | None = None,
                      ) -> tuple[list[StepEvent | EpochEvent], int]:
        """(events stored after sequence number `after`, in order; the last one's sequence number), for following
        a run: pass the number back as `after` to get only newer events."""
        sql = "SELECT seq, data FROM metrics WHERE run_id=? AND seq>?"
        args: tuple = (run_id, after)
        if kind is not None:
            sql += " AND kind=?"
            args += (kind,)
        with self.connect() as db:
            rows = db.execute(sql + " ORDER BY seq", args).fetchall()
        return [ev.from_dict(json.loads(r["data"])) for r in rows], (rows[-1]["seq"] if rows else after)

    def metrics(self, run_id: str, kind: str | None = None) -> list[StepEvent | EpochEvent]:
        """The run's stored events (only "step" or "epoch" ones with `kind`), in order."""
        return self.metrics_since(run_id, kind=kind)[0]

    def last_metric(self, run_id: str, kind: str | None = None) -> StepEvent | EpochEvent | None:
        """The newest stored event (of `kind`), for progress bars that need no history."""
        sql = "SELECT data FROM metrics WHERE run_id=?" + (" AND kind=?" if kind else "")
        with self.connect() as db:
            row = db.execute(sql + " ORDER BY seq DESC LIMIT 1", (run_id, kind) if kind else (run_id,)).fetchone()
        return None if row is None else ev.from_dict(json.loads(row["data"]))

    def metrics_csv(self, run_id: str) -> str:
        """Every stored event as CSV with a fixed header (errors as fractions 0..1, as the engine yields them)."""
        return ev.frame(self.metrics(run_id)).to_csv(index=False, lineterminator="\n")
