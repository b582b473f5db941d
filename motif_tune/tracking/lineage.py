"""A population-based sweep's lineage in its parent run: every member's exploits (from
its run's lineage tag) and schedule, as ``lineage/lineage.json`` and a plot of the
members' values over the budget (``lineage/lineage.png``), the champion's bold."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from motif_tune.search.budget import Budget
from motif_tune.search.ranking import Selection, TrialScore
from motif_tune.search.schedule import Schedule
from motif_tune.tracking.runs import TAG_LINEAGE
from motif_tune.tracking.sweep_run import SweepRun

LINEAGE_FOLDER = "lineage"


def population_lineage(sweep_run: SweepRun, ranking: list[TrialScore]) -> dict[str, Any]:
    """trial id -> its exploits (step, source trial, old and new values) and schedule."""
    runs = sweep_run.trial_runs("trial")
    lineage: dict[str, Any] = {}
    for score in ranking:
        run = runs.get(score.trial_id)
        exploits = json.loads(run.data.tags.get(TAG_LINEAGE, "[]")) if run else []
        schedule = Schedule.from_json(score.schedule) if score.schedule else None
        lineage[score.trial_id] = {
            "exploits": exploits,
            "schedule": [
                {"step": c.step, "values": c.values, "source": c.source}
                for c in (schedule.changes if schedule else ())
            ],
            "objective": score.objective,
        }
    return lineage


def record_lineage(sweep_run: SweepRun, selection: Selection, budget: Budget) -> None:
    """The lineage and its plot into the parent run (``lineage/``)."""
    from motif_tune.tracking.plots import lineage_plot

    lineage = population_lineage(sweep_run, selection.ranking)
    champion = selection.best.trial_id if selection.best else None
    mutable = {n: s.log for n, s in sweep_run.settings.sweep.space.items() if s.mutable}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "lineage.json"
        data.write_text(json.dumps(lineage, indent=1, sort_keys=True))
        plot = Path(folder) / "lineage.png"
        lineage_plot(lineage, mutable, champion, budget.unit_name, budget.amount, plot)
        sweep_run.log_files(LINEAGE_FOLDER, [data, plot])
