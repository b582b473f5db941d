"""How a Tune experiment ended, read back through Tune's public ``ExperimentAnalysis``:
each trial's status and how often it was restarted after a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from motif_tune.errors import SweepFailed, SweepInterrupted
from motif_tune.runtime import signals
from motif_tune.text import one_line, relative

DONE = ("TERMINATED", "ERROR")


@dataclass(frozen=True)
class TrialEnd:
    trial_id: str
    status: str  # Tune's: TERMINATED, ERROR, PENDING, RUNNING, PAUSED
    failures: int  # restarts after a failure (a lost node, a crashed actor)


def trial_ends(results: Any) -> list[TrialEnd]:
    """The trials of a finished (or interrupted) ``Tuner.fit()``, as Tune saved them."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(results.experiment_path, storage_filesystem=results.filesystem)
    return [
        TrialEnd(t.trial_id, str(t.status), int(getattr(t, "num_failures", 0) or 0))
        for t in analysis.trials
    ]


def raise_if_interrupted(ends: list[TrialEnd], planned: int, what: str, run_name: str) -> None:
    """A fit stopped by Ctrl-C or SIGTERM, or that ended before ``planned`` trials did, can
    be resumed: say how many finished and how to go on."""
    signum = signals.received()
    done = [t for t in ends if t.status in DONE]
    if signum is None and ends and len(done) >= planned:
        return
    by = f" by {signals.name(signum)}" if signum is not None else ""
    finished = sum(t.status == "TERMINATED" for t in ends)  # an interrupted one may be ERROR
    raise SweepInterrupted(
        f"Sweep '{run_name}' stopped{by} with {finished} of {planned} {what} finished, its "
        f"state saved; continue it with: motif-tune resume run_name={run_name}",
        signum,
    )


def raise_if_all_failed(results: Any, run_name: str, log_file: Any) -> None:
    """A sweep none of whose trials finished has nothing to rank: say why, in one line."""
    if len(results) == 0 or results.num_errors < len(results):
        return
    first = next(r.error for r in results if r.error is not None)
    lines = [line.strip() for line in str(first).splitlines() if line.strip()]
    cause = next((line for line in reversed(lines) if ": " in line), lines[-1] if lines else "")
    raise SweepFailed(
        f"All {len(results)} trials of sweep '{run_name}' failed, the first with "
        f"{one_line(cause, 240)}; the log file {relative(log_file)} has the details."
    )


def retried(ends: list[TrialEnd]) -> dict[str, int]:
    """Trials Tune restarted after a failure, and how often."""
    return {t.trial_id: t.failures for t in ends if t.failures}
