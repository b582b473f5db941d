"""The ``train`` command: train one config outside a sweep.

``motif-tune train`` builds the composed config's RLlib Algorithm, trains it
until the stop rule, checkpoints under ``storage_path/<run_name>/`` and records
one MLflow run. ``checkpoint=…`` (a folder, ``runs:/<id>/checkpoint`` or
``models:/<name>/<version>``) continues from a checkpoint: RLlib restores the
iteration counter and the lifetime metrics with the algorithm state, and the
``motif_tune.json`` file written beside each checkpoint carries Tune's
``time_total_s`` on (:mod:`motif_tune.rllib.checkpoints`). ``train.from_sweep=NAME``
reuses a sweep's best settings (:mod:`motif_tune.commands.best_settings`).

Every check that needs no Ray (the stop rule, the checkpoint exists and is an
RLlib checkpoint of the composed algorithm and env, the sweep exists, no later
checkpoint of the run would be overwritten) runs before Ray starts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.commands.best_settings import settings_from_sweep
from motif_tune.compat.ray import build_algorithm_in
from motif_tune.config import Settings
from motif_tune.config.schema import TaskMetric
from motif_tune.errors import ConfigError
from motif_tune.results import flatten, is_number
from motif_tune.rllib.builder import build_algorithm_config
from motif_tune.rllib.checkpoints import (
    CheckpointInfo,
    CheckpointSource,
    check_checkpoint,
    checkpoint_number,
    checkpoints_in,
    prune_checkpoints,
    restore,
    save_checkpoint,
)
from motif_tune.rllib.checks import check_settings
from motif_tune.runtime.ray_session import ray_session
from motif_tune.runtime.resources import check_fits_locally
from motif_tune.search.budget import trial_budget
from motif_tune.text import fmt, relative
from motif_tune.tracking.artifacts import resolve_checkpoint
from motif_tune.tracking.command_run import CommandRun
from motif_tune.tracking.metrics import metric_selection
from motif_tune.tracking.run_params import trial_params
from motif_tune.tracking.runs import TAG_CHECKPOINT

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

log = logging.getLogger(__name__)

TAG_FROM_SWEEP = "motif_tune.from_sweep"
RETURN_MEAN = "env_runners/episode_return_mean"


@dataclass
class TrainSummary:
    """What a finished ``train`` run did and where its results are."""

    run_name: str
    algo: str
    env: str
    first_iteration: int
    last_iteration: int
    time_total_s: float
    metrics: dict[str, float]
    checkpoint: str
    checkpoint_uri: str
    run_dir: str
    mlflow_run_id: str
    tracking_uri: str
    restored_from: str | None = None
    from_sweep: str | None = None
    sweep_values: dict[str, Any] = field(default_factory=dict)
    task_metrics: tuple[TaskMetric, ...] = ()  # the env's declared metrics

    def render(self) -> str:
        results = f"episode return mean {fmt(self.metrics.get(RETURN_MEAN))}"
        for metric in self.task_metrics:
            value = self.metrics.get(metric.key)
            if value is not None:
                results += f", {metric.name.replace('_', ' ')} {fmt(value)}"
        lines = [
            f"Trained {self.algo} on {self.env}: iterations {self.first_iteration}-"
            f"{self.last_iteration} ({self.time_total_s:.1f} s in all), {results}.",
        ]
        if self.restored_from:
            lines.append(f"  restored from: {self.restored_from}")
        if self.from_sweep:
            values = ", ".join(f"{k}={fmt(v)}" for k, v in sorted(self.sweep_values.items()))
            lines.append(f"  from sweep:    {self.from_sweep} ({values})")
        lines += [
            f"  checkpoint:    {relative(self.checkpoint)}",
            f"  MLflow run:    {self.mlflow_run_id} at {self.tracking_uri}",
            f"Evaluate it: motif-tune evaluate checkpoint={self.checkpoint_uri}",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class TrainPlan:
    """A checked ``train`` command: its settings (a sweep's best values applied), the
    checkpoint it continues, where it writes and its MLflow run, not started yet."""

    settings: Settings
    config: AlgorithmConfig
    run_dir: Path
    mlflow: CommandRun
    source: CheckpointSource | None = None
    info: CheckpointInfo | None = None
    sweep_values: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> int:
        """The iteration the checkpoint ended at (0: from scratch)."""
        return self.info.training_iteration if self.info else 0


def prepare_train(settings: Settings, overrides: Sequence[str] = ()) -> TrainPlan:
    """Every check before Ray starts: a sweep's best settings, the checkpoint (it exists
    and fits the composed config), room for the run's checkpoints, the local resources."""
    sweep_values: dict[str, Any] = {}
    if settings.train.from_sweep:
        settings, sweep_values = settings_from_sweep(settings, overrides)
    check_settings(settings)
    source = resolve_checkpoint(settings) if settings.checkpoint else None
    info = check_checkpoint(settings, source.path) if source else None
    run_dir = Path(settings.storage_path) / settings.run_name
    _check_room_for_training(settings, run_dir, info.training_iteration if info else 0)
    config = build_algorithm_config(settings)
    check_fits_locally(settings, config, "scaling.env_runners")
    return TrainPlan(settings, config, run_dir, CommandRun(settings), source, info, sweep_values)


def run_train(plan: TrainPlan, overrides: Sequence[str] = ()) -> TrainSummary:
    """Train the composed config (optionally from a checkpoint or a sweep's best settings)."""
    settings, mlflow = plan.settings, plan.mlflow
    with ray_session(settings):
        algo = build_algorithm_in(plan.config, plan.run_dir)
        try:
            if plan.source and plan.info:
                restore(algo, plan.source, plan.info)
            mlflow.start("train", _train_params(settings), _train_tags(plan, overrides))
            status = "FAILED"
            try:
                metrics, final, seconds = _train_loop(algo, settings, plan.run_dir, mlflow)
                uri = mlflow.log_checkpoint(str(final))
                status = "FINISHED"
            except KeyboardInterrupt:
                status = "KILLED"
                raise
            finally:
                mlflow.end(status)
        finally:
            algo.stop()
    return TrainSummary(
        run_name=settings.run_name,
        algo=settings.algo.name,
        env=settings.env.name,
        first_iteration=plan.start + 1,
        last_iteration=algo.iteration,
        time_total_s=seconds,
        metrics=metrics,
        checkpoint=str(final),
        checkpoint_uri=uri,
        run_dir=str(plan.run_dir),
        mlflow_run_id=mlflow.run_id,
        tracking_uri=mlflow.tracking_uri,
        restored_from=plan.source.source if plan.source else None,
        from_sweep=settings.train.from_sweep,
        sweep_values=plan.sweep_values,
        task_metrics=tuple(settings.env.metrics),
    )


def _train_loop(
    algo: Algorithm, settings: Settings, run_dir: Path, mlflow: CommandRun
) -> tuple[dict[str, float], Path, float]:
    """Train until the stop rule; returns the last metrics, the final checkpoint and the
    total training time."""
    stop = dict(settings.stop) or trial_budget(settings).stop_rule()  # else a trial's budget
    frequency = settings.train.checkpoint_frequency
    keep = settings.train.num_checkpoints_to_keep
    saved: list[Path] = []
    warned = False
    selection = metric_selection(settings)
    if algo.iteration:
        selection.restored()
    while True:
        result = algo.train()
        iteration = int(result["training_iteration"])
        metrics, seconds = selection(result), float(result["time_total_s"])
        mlflow.log_metrics(metrics, step=iteration)
        print(progress_line(iteration, metrics, seconds, settings.env.metrics), flush=True)
        if not warned:
            warned = True
            _warn_unknown_stop_keys(stop, result)
        done = stop_reached(stop, result)
        if done or (frequency and iteration % frequency == 0):
            saved.append(save_checkpoint(algo, run_dir, settings, mlflow.run_id, seconds))
            prune_checkpoints(saved, keep)
        if done:
            return metrics, saved[-1], seconds


def progress_line(
    iteration: int,
    metrics: Mapping[str, float],
    seconds: float,
    task_metrics: Sequence[TaskMetric] = (),
) -> str:
    """One line per training iteration: return, the env's task metrics, throughput, time."""
    parts = [f"iter {iteration:4d}", f"return {fmt(metrics.get(RETURN_MEAN)):>7}"]
    for metric in task_metrics:
        value = metrics.get(metric.key)
        if value is not None:
            parts.append(f"{metric.short} {value:5.3f}")
    steps = metrics.get("env_steps_per_s")
    parts.append(f"{'-' if steps is None else f'{steps:.0f}':>6} env steps/s")
    parts.append(f"{seconds:7.1f} s")
    return " | ".join(parts)


def stop_reached(stop: Mapping[str, float], result: Mapping[str, Any]) -> bool:
    """Tune's rule: stop once any key of ``stop`` has reached its value."""
    flat = flatten(result)
    return any(is_number(flat.get(key)) and flat[key] >= limit for key, limit in stop.items())


def _warn_unknown_stop_keys(stop: Mapping[str, float], result: Mapping[str, Any]) -> None:
    import difflib

    flat = flatten(result)
    for key in stop:
        if key not in flat:
            close = difflib.get_close_matches(key, list(flat), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            log.warning("stop.%s is not a key of the training results%s", key, hint)


def _check_room_for_training(settings: Settings, run_dir: Path, start: int) -> None:
    """Refuse a stop rule already met, or checkpoints that would be overwritten."""
    limit = settings.stop.get("training_iteration")
    if limit is not None and start >= limit:
        raise ConfigError(
            f"stop.training_iteration ({limit:g}) must exceed the checkpoint's iteration "
            f"({start}) to train further, e.g. stop.training_iteration={start + 10}."
        )
    later = [p.name for p in checkpoints_in(run_dir) if checkpoint_number(p) > start]
    if later:
        raise ConfigError(
            f"run_name '{settings.run_name}' already has checkpoints after iteration {start} "
            f"({', '.join(sorted(later))} in {run_dir}); choose another run_name."
        )


def _train_tags(plan: TrainPlan, overrides: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    if overrides:
        tags["hydra_overrides"] = " ".join(overrides)
    if plan.source:
        tags[TAG_CHECKPOINT] = plan.source.source
        if plan.info and plan.info.mlflow_run_id:
            tags["motif_tune.continues_run"] = plan.info.mlflow_run_id
    if plan.settings.train.from_sweep:
        tags[TAG_FROM_SWEEP] = plan.settings.train.from_sweep
    return tags


def _train_params(settings: Settings) -> dict[str, Any]:
    return trial_params(settings) | {"env.id": settings.env.id}
