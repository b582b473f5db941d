"""The sweep's two Tune experiments: the search and the verification of its finalists.

Each is a ``tune.Tuner`` of the sweep's trainable that stops trials at the
budget, keeps checkpoints by ``objective``, records every trial in MLflow and
shows progress on the terminal; a sweep that was interrupted restores it.
Tune's result files are kept (``result.json``, ``progress.csv``); its
TensorBoard logger and, unless ``logging.console=verbose``, its trial tables
are left out.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.config import Settings
from motif_tune.pipeline.console import SweepConsole
from motif_tune.pipeline.plan import SweepPlan
from motif_tune.pipeline.trainable import make_trainable
from motif_tune.results import OBJECTIVE
from motif_tune.search.budget import Budget
from motif_tune.search.population import MemberRetries, PopulationRecorder
from motif_tune.search.schedulers import make_scheduler
from motif_tune.search.searcher import make_searcher, population_points

if TYPE_CHECKING:
    from ray import tune

    from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)


def search_tuner(plan: SweepPlan, sweep_run: SweepRun) -> tune.Tuner:
    """The search: Optuna proposes, ASHA (or FIFO) stops, every trial is recorded."""
    from ray import tune

    settings = plan.settings
    trainable = make_trainable(settings, plan.budget, settings.sweep.seeds_per_trial)
    budget = plan.search_budget
    if plan.resuming:
        _quiet_tune(settings)
        return tune.Tuner.restore(
            str(settings.experiment_dir),
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
        )
    if plan.search.baseline is None:
        log.info("The composed config's values are not in the search space: no baseline trial.")
    callbacks = sweep_callbacks(plan, sweep_run, "trial", settings.sweep.num_samples, budget)
    population = plan.search.population
    if population is not None:
        points = population_points(settings, plan.search, sweep_run.run_id)
        # Every member exists from the start (Tune runs as many as the cluster fits, PBT
        # pauses them at comparisons in turn): a member not yet created could be neither
        # copied nor compared. A member paused to copy another goes on in a process
        # that Tune kept (its own, or one of the same size), set up anew.
        recorder = PopulationRecorder(
            points, settings.study_storage, settings.run_name, len(points)
        )
        callbacks.append(MemberRetries(recorder))
        tune_config = tune.TuneConfig(
            search_alg=recorder,
            scheduler=make_scheduler(budget, population),
            num_samples=len(points),
            reuse_actors=settings.sweep.reuse_processes,
        )
        return make_tuner(
            plan, settings.run_name, trainable, tune_config, callbacks, budget, _keys_of(points)
        )
    searcher = make_searcher(settings, plan.search, sweep_run.run_id)
    tune_config = tune.TuneConfig(
        search_alg=searcher,
        scheduler=make_scheduler(budget),
        num_samples=settings.sweep.num_samples,
        max_concurrent_trials=plan.concurrency,
        reuse_actors=settings.sweep.reuse_processes,
    )
    return make_tuner(plan, settings.run_name, trainable, tune_config, callbacks, budget)


def verification_tuner(
    plan: SweepPlan, sweep_run: SweepRun, points: list[dict[str, Any]], round_: int = 1
) -> tune.Tuner:
    """Each finalist from scratch on each fresh seed, as trials of their own experiment
    (one per round of a verification race)."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    trainable = make_trainable(plan.settings, plan.budget)
    path = plan.verify_experiment(round_)
    if tune.Tuner.can_restore(path):
        log.info("Continuing the verification in %s.", path)
        _quiet_tune(plan.settings)
        return tune.Tuner.restore(
            path,
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
            param_space=_keys_of(points),
        )
    log.info("Verifying the finalists on fresh seeds: %d trials.", len(points))
    tune_config = tune.TuneConfig(
        search_alg=BasicVariantGenerator(
            points_to_evaluate=points, max_concurrent=plan.concurrency
        ),
        num_samples=len(points),
        reuse_actors=plan.settings.sweep.reuse_processes,
    )
    callbacks = sweep_callbacks(plan, sweep_run, "verify", len(points), plan.budget, round_)
    name = Path(path).name
    return make_tuner(plan, name, trainable, tune_config, callbacks, plan.budget, _keys_of(points))


def _keys_of(points: list[dict[str, Any]]) -> dict[str, Any]:
    """A param space with the keys the points fill in, trial by trial (Tune needs them)."""
    from ray import tune

    return {key: tune.choice(sorted({p[key] for p in points})) for key in points[0]}


def make_tuner(
    plan: SweepPlan,
    name: str,
    trainable: type,
    tune_config: Any,
    callbacks: list[Any],
    budget: Budget,
    param_space: dict[str, Any] | None = None,
) -> tune.Tuner:
    """A Tuner of ``trainable`` (the sweep's, or a stand-in that benchmarks the control
    plane) as the sweep runs it: stop at ``budget``, checkpoints by objective."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    settings = plan.settings
    sweep = settings.sweep
    if settings.storage_is_local:
        Path(settings.storage_path).mkdir(parents=True, exist_ok=True)
    _quiet_tune(settings)
    tune_config.metric, tune_config.mode = OBJECTIVE, sweep.mode
    tune_config.trial_name_creator = tune_config.trial_dirname_creator = _trial_name
    # A population member copies another's latest checkpoint: none may be deleted under it.
    keep = None if budget.perturbation_interval is not None else sweep.checkpoint.num_to_keep
    run_config = tune.RunConfig(
        name=name,
        storage_path=settings.storage_path,
        stop={**settings.stop, **budget.stop_rule()},
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=keep,
            checkpoint_score_attribute=OBJECTIVE,
            checkpoint_score_order=sweep.mode,
            checkpoint_frequency=sweep.checkpoint.frequency,
            checkpoint_at_end=True,
        ),
        failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
        callbacks=[*callbacks, JsonLoggerCallback(), CSVLoggerCallback()],
        verbose=settings.logging.tune_verbose if settings.logging.console == "verbose" else 0,
    )
    return tune.Tuner(
        trainable, param_space=param_space or {}, tune_config=tune_config, run_config=run_config
    )


def _quiet_tune(settings: Settings) -> None:
    """Tune's own output off the terminal (its result-file loggers come with each Tuner;
    its reporter's boxes and hints are left out unless ``logging.console=verbose``)."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if settings.logging.console == "normal":  # the console shows progress, not Ray's reporter
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def sweep_callbacks(
    plan: SweepPlan,
    sweep_run: SweepRun,
    role: str,
    planned: int,
    budget: Budget,
    round_: int = 1,
) -> list[Any]:
    """The Tune callbacks of the sweep's experiments (``role`` trial: the search; verify:
    the verification's ``round_``), each trial at ``budget``: every trial recorded in
    MLflow, progress on the terminal (a live table, not beside Ray's own in verbose mode)."""
    from motif_tune.tracking.callback import MLflowTrialCallback

    live = None if plan.settings.logging.console == "normal" else False
    title = "search" if role == "trial" else "verification"
    return [
        MLflowTrialCallback(sweep_run, budget, role=role, round_=round_),
        SweepConsole(title, planned, budget, plan.mode, live=live),
    ]


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
