"""Scoring a checkpoint: the composed config set up to evaluate (no training runners,
an evaluation group of its own), the checkpoint restored into it, episodes played."""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.compat.ray import build_algorithm_in
from motif_tune.config import Settings
from motif_tune.results import is_number
from motif_tune.rllib.builder import build_algorithm_config, evaluate_on_demand
from motif_tune.rllib.checkpoints import CheckpointSource, read_checkpoint_info, restore

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

EPISODE_METRICS = (
    "num_episodes",
    "episode_return_mean",
    "episode_return_min",
    "episode_return_max",
    "episode_len_mean",
)


def evaluation_config(
    settings: Settings,
    episodes: int,
    *,
    deterministic: bool = True,
    num_env_runners: int = 0,
    num_envs: int | None = None,
    seed: int | None = None,
) -> AlgorithmConfig:
    """The composed config set up to evaluate: no training runners, an evaluation group
    that plays ``episodes`` episodes per ``evaluate()`` (the same ones, with a ``seed``)."""
    config = build_algorithm_config(settings).env_runners(num_env_runners=0)
    return evaluate_on_demand(
        config,
        episodes,
        explore=not deterministic,
        num_env_runners=num_env_runners,
        num_envs=num_envs,
        seed=seed,
    )


def evaluate_checkpoint(
    config: AlgorithmConfig, source: CheckpointSource, run_dir: Path
) -> Mapping[str, Any]:
    """``config``'s Algorithm with the checkpoint restored: one ``evaluate()``'s results.
    The run folder goes again if nothing was written to it. Needs Ray running."""
    algo = build_algorithm_in(config, run_dir)
    try:
        restore(algo, source, read_checkpoint_info(source.path, source.source))
        return algo.evaluate()
    finally:
        algo.stop()
        with suppress(OSError):
            run_dir.rmdir()


def evaluation_metrics(
    results: Mapping[str, Any], task_metrics: tuple[str, ...] = ()
) -> dict[str, float]:
    """Episode count, return statistics and the env's own metrics from ``evaluate()``."""
    runners = results.get("env_runners", results.get("evaluation", {}).get("env_runners", {}))
    metrics = {
        name: float(runners[name])
        for name in (*EPISODE_METRICS, *task_metrics)
        if is_number(runners.get(name)) and math.isfinite(runners[name])
    }
    if "num_episodes" not in metrics and is_number(runners.get("num_episodes_lifetime")):
        metrics["num_episodes"] = float(runners["num_episodes_lifetime"])
    return metrics
