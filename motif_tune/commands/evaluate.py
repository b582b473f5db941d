"""The ``evaluate`` command: score a checkpoint over a number of episodes.

``motif-tune evaluate checkpoint=…`` (a folder, ``runs:/<id>/checkpoint`` or
``models:/<name>/<version>``) restores the checkpoint into the composed config
set up to evaluate (no training env runners; an evaluation runner group of
``evaluate.num_env_runners``), plays ``evaluate.episodes`` episodes with greedy
or sampled actions (``evaluate.deterministic``) and records the scores in one
MLflow run. The checkpoint is located and checked before Ray starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from motif_tune.config import Settings
from motif_tune.results import flatten
from motif_tune.rllib.checkpoints import (
    CheckpointInfo,
    CheckpointSource,
    check_checkpoint,
)
from motif_tune.rllib.checks import check_settings
from motif_tune.rllib.evaluation import evaluate_checkpoint, evaluation_config, evaluation_metrics
from motif_tune.runtime.ray_session import ray_session
from motif_tune.runtime.resources import check_fits_locally
from motif_tune.text import fmt
from motif_tune.tracking.artifacts import resolve_checkpoint
from motif_tune.tracking.command_run import CommandRun
from motif_tune.tracking.runs import TAG_CHECKPOINT

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig


@dataclass
class EvalSummary:
    """The scores of one checkpoint over ``episodes`` episodes."""

    checkpoint: str
    checkpoint_path: str
    algo: str
    env: str
    deterministic: bool
    metrics: dict[str, float]
    mlflow_run_id: str
    tracking_uri: str
    task_metrics: tuple[str, ...] = ()  # the env's declared metrics, as shown

    def render(self) -> str:
        m = self.metrics
        rows = [
            ("episodes", fmt(m.get("num_episodes"))),
            ("return mean", fmt(m.get("episode_return_mean"))),
            ("return min", fmt(m.get("episode_return_min"))),
            ("return max", fmt(m.get("episode_return_max"))),
        ]
        rows += [(name.replace("_", " "), fmt(m[name])) for name in self.task_metrics if name in m]
        actions = "greedy" if self.deterministic else "sampled"
        lines = [f"Evaluated {self.checkpoint} ({self.algo} on {self.env}, {actions} actions):"]
        lines += [f"  {name:<15}{value:>10}" for name, value in rows]
        lines.append(f"MLflow run: {self.mlflow_run_id} at {self.tracking_uri}")
        return "\n".join(lines)


@dataclass(frozen=True)
class EvaluatePlan:
    """A checked ``evaluate`` command: the checkpoint, the config it plays in, its run."""

    settings: Settings
    source: CheckpointSource
    info: CheckpointInfo
    config: AlgorithmConfig
    mlflow: CommandRun


def prepare_evaluate(settings: Settings, overrides: Sequence[str] = ()) -> EvaluatePlan:
    """Every check before Ray starts: the checkpoint exists (MLflow URIs downloaded) and
    fits the composed config, and the local Ray can hold the evaluation runners."""
    check_settings(settings)
    source = resolve_checkpoint(settings)
    info = check_checkpoint(settings, source.path)
    ev = settings.evaluate
    config = evaluation_config(
        settings,
        ev.episodes,
        deterministic=ev.deterministic,
        num_env_runners=ev.num_env_runners,
    )
    check_fits_locally(settings, config, "evaluate.num_env_runners")
    return EvaluatePlan(settings, source, info, config, CommandRun(settings))


def run_evaluate(plan: EvaluatePlan, overrides: Sequence[str] = ()) -> EvalSummary:
    """Score the checkpoint over ``evaluate.episodes`` episodes; record it in MLflow."""
    settings, source = plan.settings, plan.source
    run_dir = Path(settings.storage_path) / settings.run_name
    with ray_session(settings):
        results = evaluate_checkpoint(plan.config, source, run_dir)
    task_metrics = tuple(metric.name for metric in settings.env.metrics)
    metrics = evaluation_metrics(results, task_metrics)
    params = {"checkpoint": source.source, "checkpoint_path": str(source.path)}
    params |= {f"evaluate.{k}": v for k, v in settings.evaluate.model_dump().items()}
    params |= flatten(settings.composed.get("env", {}), ".", "env.")
    params["algo.name"] = settings.algo.name
    plan.mlflow.start("evaluate", params, {TAG_CHECKPOINT: source.source})
    plan.mlflow.log_metrics(metrics, step=0)
    plan.mlflow.end("FINISHED")
    return EvalSummary(
        checkpoint=source.source,
        checkpoint_path=str(source.path),
        algo=settings.algo.name,
        env=settings.env.name,
        deterministic=settings.evaluate.deterministic,
        metrics=metrics,
        mlflow_run_id=plan.mlflow.run_id,
        tracking_uri=plan.mlflow.tracking_uri,
        task_metrics=task_metrics,
    )
