"""What a person watching a sweep sees: a live table on a terminal, plain lines elsewhere.

A Tune callback follows the trials. On a terminal it keeps one header line (how
far along the sweep is, the budget used, elapsed time and an estimate of what
is left) and a table of the leading trials up to date in place; when a trial
finishes, is stopped early or fails, one line says so above the table. Without
a terminal (a pipe, a file, CI) there are no escape codes and no redraws: one
plain line per event and a status line at most every ``status_every_s``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from ray.tune import Callback

from motif_tune.results import OBJECTIVE, is_number
from motif_tune.search.budget import Budget
from motif_tune.search.params import searched_values, short_name, short_values
from motif_tune.text import fmt, one_line

_LEADERS = 8  # trials shown in the live table


@dataclass
class _Row:
    trial_id: str
    values: dict[str, Any]
    objective: float = math.nan
    spent: float = 0.0
    status: str = "running"


class SweepConsole(Callback):
    """Follows the trials of one Tune experiment (the search, or the verification)."""

    def __init__(
        self,
        title: str,
        planned: int,
        budget: Budget,
        mode: str,
        stream: IO[str] | None = None,
        live: bool | None = None,
        status_every_s: float = 30.0,
    ) -> None:
        self.title, self.planned, self.budget, self.mode = title, planned, budget, mode
        self._stream = stream  # None: whatever sys.stdout is when a line is printed
        self.live = self.stream.isatty() if live is None else live
        self.status_every_s = status_every_s
        self.rows: dict[str, _Row] = {}
        self._start = time.monotonic()
        self._last_status = self._start
        self._display: Any = None

    @property
    def stream(self) -> IO[str]:
        """Where lines go. Not kept when Tune saves its callbacks with the experiment: the
        terminal of a notebook or a test runner cannot be pickled."""
        return self._stream or sys.stdout

    # ----------------------------------------------------------------- Tune's hooks

    def setup(self, **info: Any) -> None:
        self._start = self._last_status = time.monotonic()
        if self.live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, force_terminal=True)
            self._display = Live(
                self._renderable(), console=console, refresh_per_second=2, transient=False
            )
            self._display.start()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        values = searched_values(trial.config)
        row = self.rows.setdefault(trial.trial_id, _Row(trial.trial_id, values))
        row.status = "running"
        self._refresh()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        row = self.rows.get(trial.trial_id)
        if row is None:
            return
        if is_number(result.get(OBJECTIVE)):
            row.objective = float(result[OBJECTIVE])
        if is_number(result.get(self.budget.result_key)):
            row.spent = float(result[self.budget.result_key])
        self._refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self.rows.get(trial.trial_id)
        if row is None:
            return
        self.on_trial_result(iteration, trials, trial, trial.last_result or {})
        row.values = searched_values(trial.config)  # a population member's last values
        row.status = "finished" if row.spent >= self.budget.amount else "stopped early"
        self._event(
            f"{self.title}: trial {row.trial_id} {row.status}: objective {fmt(row.objective)} "
            f"after {self.budget.describe(row.spent)}; {short_values(row.values)}"
        )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self.rows.get(trial.trial_id)
        if row is None:
            return
        row.status = "failed"
        reason = one_line(getattr(trial, "error_msg", None) or "see the log file", 160)
        self._event(f"{self.title}: trial {row.trial_id} failed: {reason}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self.rows.get(trial.trial_id)
        if row is None:
            return
        row.status = "restarting"
        self._event(
            f"{self.title}: trial {row.trial_id} failed (failure {trial.num_failures}); "
            "restarting it from its latest checkpoint"
        )

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if not self.live and now - self._last_status >= self.status_every_s:
            self._last_status = now
            self._print(self.header())
        self._refresh()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._display is not None:
            self._display.update(self._renderable())
            self._display.stop()
            self._display = None

    # ----------------------------------------------------------------- what is shown

    def header(self) -> str:
        done = sum(r.status != "running" for r in self.rows.values())
        running = sum(r.status == "running" for r in self.rows.values())
        total = self.planned * self.budget.amount
        spent = sum(min(r.spent, self.budget.amount) for r in self.rows.values())
        elapsed = time.monotonic() - self._start
        share = spent / total if total else 0.0
        # ASHA stops trials early, so the share of the budget spent is a pessimistic clock.
        eta = f", about {_duration(elapsed / share - elapsed)} left" if 0.02 < share < 1 else ""
        return (
            f"{self.title}: {done}/{self.planned} trials done, {running} running; "
            f"{share:.0%} of the budget ({self.budget.describe(total)}) used; "
            f"{_duration(elapsed)} elapsed{eta}"
        )

    def leaders(self) -> list[_Row]:
        """The trials best first (the ones with a score), then the rest."""
        sign = -1 if self.mode == "max" else 1
        scored = [r for r in self.rows.values() if not math.isnan(r.objective)]
        unscored = [r for r in self.rows.values() if math.isnan(r.objective)]
        return sorted(scored, key=lambda r: sign * r.objective) + unscored

    def _renderable(self) -> Any:
        from rich.table import Table

        table = Table(title=self.header(), title_justify="left", box=None, pad_edge=False)
        names = list(dict.fromkeys(k for r in self.rows.values() for k in r.values))
        table.add_column("trial")
        for name in names:
            table.add_column(short_name(name), justify="right")
        table.add_column("objective", justify="right")
        table.add_column(self.budget.unit.replace("_", " "), justify="right")
        table.add_column("status")
        for row in self.leaders()[:_LEADERS]:
            cells = [fmt(row.values.get(name)) for name in names]
            table.add_row(row.trial_id, *cells, fmt(row.objective), f"{row.spent:,.0f}", row.status)
        return table

    def _refresh(self) -> None:
        if self._display is not None:
            self._display.update(self._renderable())

    def _event(self, line: str) -> None:
        if self._display is not None:
            self._display.console.print(line, highlight=False, markup=False)
        else:
            self._print(line)

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
