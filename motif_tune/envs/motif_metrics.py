"""RLlib callbacks that report the motif task's own metrics.

At the end of every episode, the mean of the step infos' ``match`` and
``margin`` is logged on the EnvRunner's ``metrics_logger``; RLlib merges them
across runners into ``result["env_runners"]["match_accuracy"]`` and
``result["env_runners"]["score_margin"]``, next to the episode return, where
Tune, Optuna and MLflow see them. Envs whose infos lack these keys log nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

# The metrics this callback reports, and the step-info keys they are the episode means of
# (conf/env/motif.yaml declares them).
MATCH_ACCURACY, SCORE_MARGIN = "match_accuracy", "score_margin"
INFO_KEYS = {MATCH_ACCURACY: "match", SCORE_MARGIN: "margin"}


def _step_infos(chunks: Iterable[Any]) -> list[dict[str, Any]]:
    """The step infos of an episode given as its chunks (in any order).

    A chunk's info 0 belongs to the reset or, in a continued chunk, to the
    predecessor's last step, so infos 1.. are the chunk's own steps. An earlier
    chunk may already have been through a learner connector that appends a
    phantom bootstrap step (a copy of the last info) in place, as happens with
    ``num_env_runners=0``; the successor's ``t_started`` bounds its real steps.
    """
    ordered = sorted(
        (c for c in chunks if hasattr(c, "get_infos")), key=lambda c: getattr(c, "t_started", 0)
    )
    infos: list[dict[str, Any]] = []
    for chunk, successor in zip(ordered, [*ordered[1:], None], strict=True):
        chunk_infos = chunk.get_infos()
        if not isinstance(chunk_infos, Sequence):
            continue  # e.g. multi-agent episodes: infos per agent
        steps = len(chunk)
        if successor is not None:
            steps = min(steps, successor.t_started - chunk.t_started)
        infos.extend(i for i in chunk_infos[1 : 1 + steps] if isinstance(i, dict))
    return infos


def episode_means(chunks: Iterable[Any]) -> dict[str, float]:
    """Metric name -> the episode's mean of the matching info key, for keys present."""
    infos = _step_infos(chunks)
    means: dict[str, float] = {}
    for metric, info_key in INFO_KEYS.items():
        values = [float(i[info_key]) for i in infos if info_key in i]
        if values:
            means[metric] = math.fsum(values) / len(values)
    return means


class MotifMetricsCallback(RLlibCallback):
    """Logs per-episode match accuracy and score margin (windowed mean over episodes)."""

    def on_episode_end(
        self,
        *,
        episode: Any,
        prev_episode_chunks: list[Any] | None = None,
        env_runner: Any = None,
        metrics_logger: Any = None,
        env: Any = None,
        env_index: int = 0,
        rl_module: Any = None,
        **kwargs: Any,
    ) -> None:
        if metrics_logger is None:
            return
        means = episode_means([episode, *(prev_episode_chunks or [])])
        window = _smoothing_window(env_runner)
        for metric, value in means.items():
            metrics_logger.log_value(metric, value, reduce="mean", window=window)


def _smoothing_window(env_runner: Any) -> int:
    """RLlib's own window for episode returns: the last N episodes across all runners."""
    config = getattr(env_runner, "config", None)
    episodes = getattr(config, "metrics_num_episodes_for_smoothing", 100) or 100
    runners = getattr(config, "num_env_runners", 0) or 1
    return max(1, math.ceil(episodes / runners))
