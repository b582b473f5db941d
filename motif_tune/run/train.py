"""The ``train`` command: train one config outside a sweep.

``motif-tune train`` builds the composed config's RLlib Algorithm, trains it
until the stop rule, checkpoints under ``storage_path/<run_name>/`` and records
one MLflow run. ``checkpoint=…`` (a folder, ``runs:/<id>/checkpoint`` or
``models:/<name>/<version>``) continues from a checkpoint: RLlib restores the
iteration counter and the lifetime metrics with the algorithm state, and the
``motif_tune.json`` file written beside each checkpoint carries Tune's
``time_total_s`` on (:mod:`motif_tune.run.checkpoints`). ``train.from_sweep=NAME``
reuses a sweep's best settings (:mod:`motif_tune.run.best_settings`).

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

from motif_tune.config import Settings
from motif_tune.envs.registry import all_task_metrics
from motif_tune.errors import ConfigError
from motif_tune.results import flatten, fmt, is_number, mask_secrets, relative
from motif_tune.rllib.algorithm import build_algorithm
from motif_tune.rllib.builder import build_algorithm_config
from motif_tune.run.best_settings import settings_from_sweep
from motif_tune.run.checkpoints import (
    TAG_CHECKPOINT,
    CheckpointInfo,
    CheckpointSource,
    check_checkpoint,
    checkpoint_number,
    checkpoints_in,
    prune_checkpoints,
    resolve_checkpoint,
    restore,
    save_checkpoint,
)
from motif_tune.run.ray_session import ray_session
from motif_tune.run.resources import check_fits_locally
from motif_tune.search.budget import trial_budget
from motif_tune.tracking.metrics import metric_selection
from motif_tune.tracking.params import trial_params
from motif_tune.tracking.policy_model import CHECKPOINT_ARTIFACT
from motif_tune.tracking.store import (
    experiment_id,
    log_metrics,
    log_params,
    mlflow_client,
    run_tags,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from ray.rllib.algorithms.algorithm import Algorithm

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
    run_dir: str
    mlflow_run_id: str
    tracking_uri: str
    restored_from: str | None = None
    from_sweep: str | None = None
    sweep_values: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        results = f"episode return mean {fmt(self.metrics.get(RETURN_MEAN))}"
        for metric in all_task_metrics():
            value = self.metrics.get(f"env_runners/{metric.key}")
            if value is not None:
                results += f", {metric.key.replace('_', ' ')} {fmt(value)}"
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
            "Evaluate it: motif-tune evaluate "
            f"checkpoint=runs:/{self.mlflow_run_id}/{CHECKPOINT_ARTIFACT}",
        ]
        return "\n".join(lines)


def run_train(settings: Settings, overrides: Sequence[str] = ()) -> TrainSummary:
    """Train the composed config (optionally from a checkpoint or a sweep's best settings)."""
    sweep_values: dict[str, Any] = {}
    if settings.train.from_sweep:
        settings, sweep_values = settings_from_sweep(settings, None, overrides)
    source = resolve_checkpoint(settings) if settings.checkpoint else None
    info = check_checkpoint(settings, source.path) if source else None
    run_dir = Path(settings.storage_path) / settings.run_name
    start = info.training_iteration if info else 0
    _check_room_for_training(settings, run_dir, start)
    config = build_algorithm_config(settings)
    check_fits_locally(settings, config, "scaling.env_runners")
    client = mlflow_client(settings)
    exp_id = experiment_id(client, settings)

    with ray_session(settings):
        algo = build_algorithm(config, run_dir)
        try:
            if source and info:
                restore(algo, source, info)
            run_id = _start_train_run(client, exp_id, settings, source, info, overrides)
            status = "FAILED"
            try:
                metrics, final = _train_loop(algo, settings, run_dir, client, run_id)
                client.log_artifacts(run_id, str(final), artifact_path=CHECKPOINT_ARTIFACT)
                status = "FINISHED"
            except KeyboardInterrupt:
                status = "KILLED"
                raise
            finally:
                client.set_terminated(run_id, status=status)
        finally:
            algo.stop()
    return TrainSummary(
        run_name=settings.run_name,
        algo=settings.algo.name,
        env=settings.env.id,
        first_iteration=start + 1,
        last_iteration=algo.iteration,
        time_total_s=float(algo._time_total),
        metrics=metrics,
        checkpoint=str(final),
        run_dir=str(run_dir),
        mlflow_run_id=run_id,
        tracking_uri=settings.tracking.uri,
        restored_from=source.source if source else None,
        from_sweep=settings.train.from_sweep,
        sweep_values=sweep_values,
    )


def _train_loop(
    algo: Algorithm, settings: Settings, run_dir: Path, client: MlflowClient, run_id: str
) -> tuple[dict[str, float], Path]:
    """Train until the stop rule; returns the last metrics and the final checkpoint."""
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
        metrics = selection(result)
        log_metrics(client, run_id, metrics, step=iteration)
        print(progress_line(iteration, metrics, result["time_total_s"]), flush=True)
        if not warned:
            warned = True
            _warn_unknown_stop_keys(stop, result)
        done = stop_reached(stop, result)
        if done or (frequency and iteration % frequency == 0):
            saved.append(save_checkpoint(algo, run_dir, settings, run_id))
            prune_checkpoints(saved, keep)
        if done:
            return metrics, saved[-1]


def progress_line(iteration: int, metrics: Mapping[str, float], seconds: float) -> str:
    """One line per training iteration: return, the env's task metrics, throughput, time."""
    parts = [f"iter {iteration:4d}", f"return {fmt(metrics.get(RETURN_MEAN)):>7}"]
    for metric in all_task_metrics():
        value = metrics.get(f"env_runners/{metric.key}")
        if value is not None:
            parts.append(f"{metric.label} {value:5.3f}")
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


def _start_train_run(
    client: MlflowClient,
    exp_id: str,
    settings: Settings,
    source: CheckpointSource | None,
    info: CheckpointInfo | None,
    overrides: Sequence[str],
) -> str:
    tags = run_tags(settings, "train")
    if overrides:
        tags["hydra_overrides"] = mask_secrets(" ".join(overrides))[:5000]
    if source:
        tags[TAG_CHECKPOINT] = mask_secrets(source.source)
        if info and info.mlflow_run_id:
            tags["motif_tune.continues_run"] = info.mlflow_run_id
    if settings.train.from_sweep:
        tags[TAG_FROM_SWEEP] = settings.train.from_sweep
    run = client.create_run(exp_id, run_name=settings.run_name, tags=tags)
    log_params(client, run.info.run_id, trial_params(settings) | {"env.id": settings.env.id})
    return run.info.run_id
