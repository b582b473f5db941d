"""A sweep, start to end: search, verify, select, record.

Each step is a function taking what it needs; the plan (:mod:`.plan`) holds the
facts they share, computed once before anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from motif_tune.pipeline.outcomes import (
    TrialEnd,
    raise_if_all_failed,
    raise_if_interrupted,
    retried,
    trial_ends,
)
from motif_tune.pipeline.plan import SweepPlan, keep_settings
from motif_tune.pipeline.promotion import contest_afresh
from motif_tune.pipeline.session import sweep_session
from motif_tune.pipeline.summary import SweepSummary
from motif_tune.pipeline.tuners import search_tuner
from motif_tune.pipeline.verification import verify
from motif_tune.runtime import signals
from motif_tune.search.champion import select
from motif_tune.search.ranking import Selection, trial_scores
from motif_tune.search.study import settle_unfinished, study_names

if TYPE_CHECKING:  # MLflow is imported beside Ray's start, not before it
    from motif_tune.tracking.outcome import Recorded
    from motif_tune.tracking.sweep_run import SweepRun


def run_sweep(plan: SweepPlan, overrides: Sequence[str] = ()) -> SweepSummary:
    """Run one planned sweep end to end (or continue an interrupted one)."""
    from motif_tune.tracking.outcome import record_outcome

    with sweep_session(plan, overrides) as session:
        plan, sweep_run = session.plan, session.sweep_run
        results, ends = search(plan, sweep_run)
        ranking = trial_scores(
            results, plan.search_budget, plan.mode, baseline=plan.search.baseline
        )
        finalists = verify(plan, sweep_run, ranking)
        selection = select(plan.mode, ranking, finalists, plan.settings.sweep.selection)
        fresh = contest_afresh(plan, sweep_run, selection)  # needs Ray: before it goes
        session.release_ray()
        recorded = record_outcome(sweep_run, selection, results, plan.search_budget, fresh)
        return summarise(plan, results, selection, sweep_run, recorded, retried(ends))


def search(plan: SweepPlan, sweep_run: SweepRun) -> tuple[Any, list[TrialEnd]]:
    """The search's trials and how each ended, every one finished (an interrupted
    search raises)."""
    keep_settings(plan)
    with signals.tune_fit():
        results = search_tuner(plan, sweep_run).fit()
    ends = trial_ends(results)
    raise_if_interrupted(ends, plan.settings.sweep.num_samples, "trials", plan.run_name)
    close_study(plan)
    raise_if_all_failed(results, plan.run_name, plan.settings.log_file)
    return results, ends


def summarise(
    plan: SweepPlan,
    results: Any,
    selection: Selection,
    sweep_run: SweepRun,
    recorded: Recorded,
    retried_trials: dict[str, int],
) -> SweepSummary:
    """What the terminal shows of a finished sweep."""
    settings = plan.settings
    registered = recorded.registration
    return SweepSummary(
        run_name=settings.run_name,
        objective=settings.sweep.objective_description,
        budget=_budget(plan),
        num_trials=len(results),
        num_errored=results.num_errors,
        selection=selection,
        experiment_path=str(results.experiment_path),
        mlflow_run_id=sweep_run.run_id,
        mlflow_experiment_id=sweep_run.experiment_id,
        tracking_uri=settings.tracking.uri,
        registered_model=registered.render() if registered else None,
        model_uri=f"models:/{registered.model}/{registered.version}" if registered else None,
        unwritten=_unwritten(recorded, settings),
        retried=retried_trials,
        budget_unit=plan.budget.unit_name,
    )


def _budget(plan: SweepPlan) -> str:
    """A search trial's budget in words (a seed group's: its seeds' together)."""
    seeds = plan.settings.sweep.seeds_per_trial
    if seeds == 1:
        return plan.budget.describe()
    return f"{plan.search_budget.describe()} ({seeds} seeds of {plan.budget.describe()})"


def _unwritten(recorded: Recorded, settings: Any) -> str | None:
    """What MLflow lacks of this sweep, and the command that writes it (None: nothing)."""
    if recorded.written and not recorded.held:
        return None
    what = [f"{recorded.held:,} trial records"] if recorded.held else []
    what += [] if recorded.written else ["the outcome (champion, registry, plots)"]
    return (
        f"MLflow at {settings.tracking.uri} did not take {' and '.join(what)}; they are kept: "
        f"write them with: motif-tune resume run_name={settings.run_name}"
    )


def close_study(plan: SweepPlan) -> None:
    """The search is over: trials a killed driver left running in the study (asked for,
    never continued) are marked failed."""
    storage = plan.settings.study_storage
    if plan.run_name in study_names(storage):  # else: a sweep begun before studies
        settle_unfinished(storage, plan.run_name)
