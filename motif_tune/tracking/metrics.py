"""Which result keys become MLflow metric curves, once per training iteration.

By default a curated dozen: the objective first, the episode returns, the env's
task metrics, cost (env steps, seconds), throughput and the learner's losses.
``tracking.metrics=all`` logs every finite number of the result (timers included).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from motif_tune.config import Settings
from motif_tune.results import OBJECTIVE, SEEDS_MEAN, SEEDS_SE, flatten, is_number
from motif_tune.search.cost import COST_KEYS
from motif_tune.search.schedule import VALUES_PREFIX

ENV_STEPS = "num_env_steps_sampled_lifetime"
ENV_STEPS_PER_S = "env_steps_per_s"
ITERATION_TIME = "time_this_iter_s"
_LEARNER = "learners/default_policy/"
# Numbers in a result that are not measurements (the trial's values, process ids).
_NOT_METRICS = ("config/", "pid", "timestamp", "done")
CURATED_KEYS = (
    OBJECTIVE,
    "env_runners/episode_return_mean",
    "env_runners/episode_return_min",
    "env_runners/episode_return_max",
    ENV_STEPS,
    ENV_STEPS_PER_S,
    ITERATION_TIME,
    "time_total_s",  # with the env steps: the x-axes of equal-cost comparisons
    f"{_LEARNER}total_loss",
    f"{_LEARNER}policy_loss",
    f"{_LEARNER}vf_loss",
    f"{_LEARNER}entropy",
    f"{_LEARNER}mean_kl_loss",
    "env_runners/env_faults",  # exceptions the env raised this iteration (each cost an episode)
    *COST_KEYS,  # what the trial cost so far (search.cost)
    SEEDS_MEAN,  # a seed group's mean score and its standard error
    SEEDS_SE,
)


class MetricSelection:
    """The metrics of one run, iteration by iteration.

    ``extra_keys`` are the env's own episode metrics (``env_runners/match_accuracy``)
    and the like. Env steps per second come from the change of the lifetime
    env-step counter, which every algorithm reports, over the iteration's time.
    """

    def __init__(self, extra_keys: Iterable[str] = (), everything: bool = False) -> None:
        self.keys = (*CURATED_KEYS, *extra_keys)
        self.everything = everything
        self._env_steps: float | None = 0.0  # None: unknown (a restored trial's first result)

    def restored(self) -> None:
        """The next result continues a run from a checkpoint: its step count is unknown."""
        self._env_steps = None

    def __call__(self, result: Mapping[str, Any]) -> dict[str, float]:
        flat = flatten(result)
        steps, seconds = flat.get(ENV_STEPS), flat.get(ITERATION_TIME)
        if is_number(steps):
            if self._env_steps is not None and is_number(seconds) and seconds > 0:
                flat[ENV_STEPS_PER_S] = (steps - self._env_steps) / seconds
            self._env_steps = float(steps)
        if self.everything:
            chosen = {k: v for k, v in flat.items() if not k.startswith(_NOT_METRICS)}
        else:
            chosen = {k: flat[k] for k in self.keys if k in flat}
        return {
            key: float(value)
            for key, value in chosen.items()
            if is_number(value) and math.isfinite(value)
        }


def metric_selection(settings: Settings) -> MetricSelection:
    """The metrics ``tracking.metrics`` asks for, with the env's task metrics."""
    keys = [metric.key for metric in settings.env.metrics]
    if settings.sweep.objective.by == "evaluation":  # the scoring evaluations, where they ran
        keys.append(f"evaluation/{settings.sweep.metric}")
    # A population member's values as it trains (read back from RLlib).
    keys += [f"{VALUES_PREFIX}{n}" for n, spec in settings.sweep.space.items() if spec.mutable]
    return MetricSelection(keys, everything=settings.tracking.metrics == "all")
