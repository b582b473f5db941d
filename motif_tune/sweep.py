"""The sweep: ``tune.Tuner`` with Optuna over the search space, recorded in MLflow."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motif_tune.errors import ConfigError
from motif_tune.ray_runtime import local_cpus, ray_address, start_ray
from motif_tune.resources import check_sweep_fits, local_cluster
from motif_tune.search import SearchSpace
from motif_tune.settings import Settings
from motif_tune.tracking import MLflowTrialCallback, SweepRun, log_metrics, log_params
from motif_tune.trainable import make_trainable

log = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    """What a finished sweep found."""

    run_name: str
    metric: str
    mode: str
    num_trials: int
    num_errored: int
    best_trial_id: str | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_checkpoint: str | None = None
    experiment_path: str = ""
    mlflow_run_id: str | None = None
    tracking_uri: str = ""

    def render(self) -> str:
        lines = [
            f"Sweep '{self.run_name}': {self.num_trials} trials, {self.num_errored} errored.",
        ]
        if self.best_trial_id is None:
            lines.append(f"No trial reported {self.metric}.")
        else:
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.best_params.items()))
            lines += [
                f"Best trial {self.best_trial_id}: {self.metric} = {_fmt(self.best_value)} "
                f"({self.mode})",
                f"  settings:   {params or '(no searched parameters)'}",
                f"  checkpoint: {self.best_checkpoint or '(none saved)'}",
            ]
        lines += [
            f"Tune results: {self.experiment_path}",
            f"MLflow run:   {self.mlflow_run_id} at {self.tracking_uri}",
            "Compare trials in the MLflow UI: make ui   (then open http://127.0.0.1:5000)",
        ]
        return "\n".join(lines)


def run_sweep(settings: Settings, overrides: list[str] | tuple[str, ...] = ()) -> SweepSummary:
    """Run one sweep end to end; bad input raises ``ConfigError`` before anything starts."""
    space = SearchSpace(settings)
    sweep = settings.sweep
    if ray_address(settings) is None:
        check_sweep_fits(settings, local_cluster(settings, local_cpus(settings)))
    sweep_run = SweepRun(settings)
    cluster, largest_node = start_ray(settings)
    need, concurrency = check_sweep_fits(settings, cluster, largest_node)
    if settings.scaling.logical_gpus:
        log.warning(
            "scaling=%s: %g logical GPUs are declared to Ray as the resource '%s'; env runners "
            "and learners are scheduled and packed as on GPUs, but all compute runs on the CPU "
            "(this proves scheduling and packing, not CUDA).",
            settings.scaling.name,
            cluster.get(settings.scaling.gpu_resource, 0),
            settings.scaling.gpu_resource,
        )
    log.info(
        "Sweep '%s': %d trials of %s %s on %s; the smallest trial needs %s; %d at a time.",
        settings.run_name,
        sweep.num_samples,
        settings.algo.name,
        settings.env.name,
        settings.scaling.name,
        need.describe(),
        concurrency,
    )
    sweep_run.start(overrides)
    status = "FAILED"
    try:
        results = _tuner(settings, space, concurrency, sweep_run).fit()
        summary = _summarise(settings, results, sweep_run)
        status = "FINISHED"
        return summary
    finally:
        sweep_run.finish(status)


def _tuner(settings: Settings, space: SearchSpace, concurrency: int, sweep_run: SweepRun):
    from ray import tune

    sweep = settings.sweep
    Path(settings.storage_path).mkdir(parents=True, exist_ok=True)
    tune_config = tune.TuneConfig(
        metric=sweep.metric,
        mode=sweep.mode,
        search_alg=_searcher(settings, space),
        scheduler=_scheduler(settings),
        num_samples=sweep.num_samples,
        max_concurrent_trials=concurrency,
        trial_name_creator=_trial_name,
        trial_dirname_creator=_trial_name,
    )
    run_config = tune.RunConfig(
        name=settings.run_name,
        storage_path=settings.storage_path,
        stop=dict(settings.stop),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=sweep.checkpoint.num_to_keep,
            checkpoint_score_attribute=sweep.metric,
            checkpoint_score_order=sweep.mode,
            checkpoint_frequency=sweep.checkpoint.frequency,
            checkpoint_at_end=True,
        ),
        failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
        callbacks=[MLflowTrialCallback(sweep_run)],
        verbose=settings.logging.tune_verbose,
    )
    return tune.Tuner(
        make_trainable(settings), param_space={}, tune_config=tune_config, run_config=run_config
    )


def _searcher(settings: Settings, space: SearchSpace):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sweep = settings.sweep
    if sweep.searcher == "random":
        sampler = optuna.samplers.RandomSampler(seed=sweep.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=sweep.seed)
    return OptunaSearch(space=space, metric=sweep.metric, mode=sweep.mode, sampler=sampler)


def _scheduler(settings: Settings):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    spec = settings.sweep.scheduler
    if spec.type == "fifo":
        return FIFOScheduler()
    max_t = int(settings.stop.get("training_iteration", 100))
    if spec.grace_period >= max_t:
        raise ConfigError(
            f"sweep.scheduler.grace_period ({spec.grace_period}) must be below "
            f"stop.training_iteration ({max_t}) for ASHA to stop anything early."
        )
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=max_t,
        grace_period=spec.grace_period,
        reduction_factor=spec.reduction_factor,
    )


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def _summarise(settings: Settings, results: Any, sweep_run: SweepRun) -> SweepSummary:
    sweep = settings.sweep
    summary = SweepSummary(
        run_name=settings.run_name,
        metric=sweep.metric,
        mode=sweep.mode,
        num_trials=len(results),
        num_errored=results.num_errors,
        experiment_path=str(results.experiment_path),
        mlflow_run_id=sweep_run.run_id,
        tracking_uri=settings.tracking.uri,
    )
    try:
        best = results.get_best_result(metric=sweep.metric, mode=sweep.mode, scope="all")
    except RuntimeError:
        return summary
    value = _best_value(best, sweep.metric, sweep.mode)
    if value is None:
        return summary
    checkpoint = None
    if best.best_checkpoints:
        ranked = [(c, m.get(sweep.metric)) for c, m in best.best_checkpoints]
        ranked = [(c, v) for c, v in ranked if isinstance(v, int | float) and math.isfinite(v)]
        if ranked:
            pick = max if sweep.mode == "max" else min
            checkpoint = pick(ranked, key=lambda pair: pair[1])[0].path
    if checkpoint is None and best.checkpoint is not None:
        checkpoint = best.checkpoint.path
    summary.best_trial_id = best.metrics.get("trial_id")
    summary.best_value = value
    summary.best_params = dict(best.config or {})
    summary.best_checkpoint = checkpoint
    if sweep_run.run_id:
        log_params(
            sweep_run.client,
            sweep_run.run_id,
            {f"best.{k}": v for k, v in summary.best_params.items()}
            | {"best.trial_id": summary.best_trial_id},
        )
        log_metrics(sweep_run.client, sweep_run.run_id, {f"best/{sweep.metric}": value}, 0)
    return summary


def _best_value(result: Any, metric: str, mode: str) -> float | None:
    """The trial's best value of ``metric`` over all its iterations."""
    frame = result.metrics_dataframe
    if frame is not None and metric in frame:
        series = frame[metric].dropna()
        if len(series):
            return float(series.max() if mode == "max" else series.min())
    value = (result.metrics or {}).get(metric)
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
