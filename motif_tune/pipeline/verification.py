"""The finalists trained again from scratch on fresh seeds; the best mean is the champion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from motif_tune.pipeline.outcomes import raise_if_interrupted, trial_ends
from motif_tune.pipeline.plan import SweepPlan
from motif_tune.pipeline.tuners import verification_tuner
from motif_tune.runtime import signals
from motif_tune.search.ranking import (
    Finalist,
    TrialScore,
    choose_finalists,
    record_verification,
    verification_points,
)

if TYPE_CHECKING:
    from motif_tune.tracking.sweep_run import SweepRun


def verify(plan: SweepPlan, sweep_run: SweepRun, ranking: list[TrialScore]) -> list[Finalist]:
    """The top ``verify.top_k`` configurations and the baseline, each scored on every fresh
    seed (none when verification is off)."""
    search = plan.search
    baseline = search.baseline if search.population is not None else None
    finalists = choose_finalists(ranking, plan.settings.sweep.verify.top_k, baseline)
    if not finalists:
        return []
    points = verification_points(finalists, list(plan.search.verify_seeds))
    with signals.tune_fit():
        results = verification_tuner(plan, sweep_run, points).fit()
    raise_if_interrupted(trial_ends(results), len(points), "verification trials", plan.run_name)
    record_verification(finalists, results, plan.budget, plan.mode)
    return finalists
