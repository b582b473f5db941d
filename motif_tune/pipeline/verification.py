"""The finalists trained again from scratch on fresh seeds, and once more on further
seeds where the first cannot tell them from the leader; the champion is chosen from
their verified means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from motif_tune.pipeline.outcomes import raise_if_interrupted, trial_ends
from motif_tune.pipeline.plan import SweepPlan
from motif_tune.pipeline.tuners import verification_tuner
from motif_tune.runtime import signals
from motif_tune.search.race import still_racing
from motif_tune.search.ranking import (
    Finalist,
    TrialScore,
    choose_finalists,
    record_verification,
    verification_points,
)
from motif_tune.text import listing, plural

if TYPE_CHECKING:
    from motif_tune.tracking.sweep_run import SweepRun


def verify(plan: SweepPlan, sweep_run: SweepRun, ranking: list[TrialScore]) -> list[Finalist]:
    """The top ``verify.top_k`` configurations and the baseline, each scored on fresh
    seeds: ``verify.seeds`` each, then ``verify.extra_seeds`` more for those the first
    cannot tell from the leader (none when verification is off)."""
    search = plan.search
    settings = plan.settings.sweep.verify
    baseline = search.baseline if search.population is not None else None
    finalists = choose_finalists(ranking, settings.top_k, baseline)
    if not finalists:
        return []
    seeds = list(search.verify_seeds)
    first, more = seeds[: settings.seeds], seeds[settings.seeds :]
    _verify_round(plan, sweep_run, finalists, first, 1)
    racing = still_racing(finalists, plan.mode) if more else []
    if racing:
        leader, rivals = racing[0], listing([f"#{f.rank}" for f in racing[1:]])
        print(
            f"verification round 2: {plural(len(first), 'seed')} cannot tell {rivals} "
            f"from the leader #{leader.rank} (Welch's t-test, 95%): "
            f"{plural(len(more), 'more seed')} for each.",
            flush=True,
        )
        _verify_round(plan, sweep_run, racing, more, 2)
    return finalists


def _verify_round(
    plan: SweepPlan, sweep_run: SweepRun, finalists: list[Finalist], seeds: list[int], round_: int
) -> None:
    """One Tune experiment: each finalist on each seed; their scores added to theirs."""
    points = verification_points(finalists, seeds)
    with signals.tune_fit():
        results = verification_tuner(plan, sweep_run, points, round_).fit()
    raise_if_interrupted(trial_ends(results), len(points), "verification trials", plan.run_name)
    record_verification(finalists, results, plan.budget, plan.mode)
