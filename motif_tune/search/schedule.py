"""A population member's hyperparameters over time: the result of population-based
training is a schedule, not a setting.

A schedule starts with the values a member began with; each exploit adds the
step (in the budget's unit) at which the member copied another's checkpoint, the
values it trains with from then on and the trial it copied. A member that copies
another inherits that one's schedule up to the copied step, so the schedule of
the winner says how to train a policy like it from scratch: verification replays
it, changing the values at each step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from motif_tune.text import fmt

# The Tune config key of a verification trial that replays a schedule (a JSON string),
# and the result key of a member's schedule so far.
SCHEDULE = "schedule"
# Result keys of a population member (Tune flattens them with "/").
VALUES_PREFIX = "values/"  # the values the member trains with, read back from RLlib
EXPLOIT_SOURCE = "exploit/source"  # only in the first report after an exploit
EXPLOIT_STEP = "exploit/step"


@dataclass(frozen=True)
class Change:
    """From ``step`` on, train with ``values`` (copied from trial ``source``'s checkpoint)."""

    step: float
    values: dict[str, Any]
    source: str | None = None  # None: the values a member started with


@dataclass(frozen=True)
class Schedule:
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @classmethod
    def starting(cls, values: Mapping[str, Any]) -> Schedule:
        return cls((Change(0.0, dict(values)),))

    @property
    def initial(self) -> dict[str, Any]:
        return dict(self.changes[0].values) if self.changes else {}

    @property
    def final(self) -> dict[str, Any]:
        return dict(self.changes[-1].values) if self.changes else {}

    def values_at(self, progress: float) -> dict[str, Any]:
        """The values a replay trains with once it has spent ``progress``."""
        current = self.initial
        for change in self.changes[1:]:
            if progress >= change.step:
                current = dict(change.values)
        return current

    def next_step(self, progress: float) -> float | None:
        """The step of the first change still ahead at ``progress`` (None: none)."""
        return next((c.step for c in self.changes[1:] if c.step > progress), None)

    def copied(self, step: float, values: Mapping[str, Any], source: str) -> Schedule:
        """The schedule of a member that copied this one's checkpoint at ``step`` and
        trains with ``values`` from there."""
        kept = tuple(c for c in self.changes if c.step <= step)
        return Schedule((*kept, Change(float(step), dict(values), source)))

    def to_json(self) -> str:
        return json.dumps([[c.step, c.values, c.source] for c in self.changes], sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        return cls(tuple(Change(float(s), dict(v), src) for s, v, src in json.loads(text)))

    def describe(self, unit: str = "env steps") -> str:
        """``lr=0.0003; at 8,000 env steps lr=0.00036 (from trial_x); …``"""
        parts = [_values(self.initial)]
        previous = self.initial
        for change in self.changes[1:]:
            changed = {k: v for k, v in change.values.items() if previous.get(k) != v}
            parts.append(f"at {change.step:,.0f} {unit} {_values(changed) or '(no change)'}")
            previous = change.values
        return "; ".join(parts)


def _values(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={fmt(v)}" for k, v in sorted(values.items()))


def trained_values_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The values a member reported training with (``values/<name>``)."""
    nested = result.get(VALUES_PREFIX.rstrip("/"))
    if isinstance(nested, Mapping):
        return dict(nested)
    return {
        k.removeprefix(VALUES_PREFIX): v for k, v in result.items() if k.startswith(VALUES_PREFIX)
    }


class ExploitLog:
    """Each member's exploits as its reports tell them (the step, the trial it copied,
    its values before and after).

    A member may copy the same checkpoint twice (its source has not reported since), and
    each copy is an exploit. A member restored by a resumed sweep or a retried trial
    restores its newest checkpoint, which may be the one it copied, and its first report
    then tells of that exploit again: after :meth:`carry_over` (a resumed log) or
    :meth:`restarted` (one member), a member's first report that repeats its last
    recorded exploit is that replay, not a new exploit.
    """

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.values: dict[str, dict[str, Any]] = {}  # the last values each member reported
        self._replayable: dict[str, dict[str, Any]] = {}  # restarted member -> last exploit

    def carry_over(self) -> None:
        """Every member's next report may replay its last exploit (a resumed sweep)."""
        self._replayable = {t: events[-1] for t, events in self.events.items() if events}

    def restarted(self, trial_id: str) -> None:
        """``trial_id``'s next report may replay its last exploit (a retried trial)."""
        if self.events.get(trial_id):
            self._replayable[trial_id] = self.events[trial_id][-1]

    def observe(self, trial_id: str, result: Mapping[str, Any]) -> bool:
        """Take one report of ``trial_id``; True when it tells of a new exploit."""
        values = trained_values_of(result)
        source, new = result.get(EXPLOIT_SOURCE), False
        replayable = self._replayable.pop(trial_id, None)
        if source is not None:
            event = {
                "step": float(result.get(EXPLOIT_STEP) or 0.0),
                "source": source,
                "old": self.values.get(trial_id, {}),
                "new": values,
            }
            if not _same_exploit(replayable, event):
                self.events.setdefault(trial_id, []).append(event)
                new = True
        if values:
            self.values[trial_id] = values
        return new

    def __getstate__(self) -> dict[str, Any]:
        return {"events": self.events, "values": self.values}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled with a resumed sweep's search state: its members restart."""
        self.events, self.values = state["events"], state["values"]
        self.carry_over()


def _same_exploit(recorded: Mapping[str, Any] | None, told: Mapping[str, Any]) -> bool:
    """Whether a report tells of the ``recorded`` exploit: same source, step and values."""
    keys = ("source", "step", "new")
    return recorded is not None and all(recorded.get(k) == told[k] for k in keys)
