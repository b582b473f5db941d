"""One trial: its RLlib config from the searched values, and its score from its results.

A trial's config is the composed settings with its values (and seed) applied,
built into an ``AlgorithmConfig``, with a scoring evaluation group when trials
are scored by evaluation. The score is either a greedy evaluation on fixed
seeds, played at the first iteration, at each of ASHA's rungs and at the end of
the budget (the same episodes for every trial), or the mean of the last few
training reports. Between evaluations the last score stands.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

from motif_tune.config import Settings
from motif_tune.config.schema import ObjectiveSettings
from motif_tune.results import is_number, nested_get
from motif_tune.rllib.algorithm import trial_request
from motif_tune.rllib.builder import build_algorithm_config, evaluate_on_demand
from motif_tune.search.budget import Budget
from motif_tune.search.params import searched_values, trial_settings

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig


def trial_config(base: Settings, values: dict[str, Any]) -> AlgorithmConfig:
    """One trial's ``AlgorithmConfig``: its values applied, its scoring evaluation added."""
    settings = trial_settings(base, values)
    config = build_algorithm_config(settings)
    objective = base.sweep.objective
    if objective.by == "evaluation":
        evaluate_on_demand(
            config, objective.episodes, num_envs=objective.num_envs, seed=objective.seed
        )
    return config


def trial_placement(base: Settings, algo_cls: type, config: Any, seeds: int = 1) -> Any:
    """The placement group a trial with Tune's ``config`` asks for (``seeds`` copies of its
    actors); a config that does not build asks with the composed one (the trial itself
    reports the error, not Tune's controller)."""
    try:
        algo_config = trial_config(base, searched_values(config))
    except Exception:
        algo_config = build_algorithm_config(base)
    return trial_request(algo_cls, algo_config, seeds)


class Scorer:
    """Turns a trial's results into its objective, evaluating when the budget says so."""

    def __init__(self, metric: str, objective: ObjectiveSettings, budget: Budget) -> None:
        self.metric = metric
        self.objective = objective
        self.budget = budget
        self.value = math.nan
        self.progress: float | None = None  # budget spent at the last result
        self.window: deque[float] = deque(maxlen=self.objective.window)

    def evaluation_due(self, progress: float) -> bool:
        """First result after (re)start, a rung crossed, or the budget reached."""
        before, self.progress = self.progress, progress
        if before is None or progress >= self.budget.amount:
            return True
        return any(before < rung <= progress for rung in self.budget.milestones)

    def score(self, result: dict, evaluate: Any, progress: float | None = None) -> float:
        """The objective after ``result``; ``progress`` is the budget spent, where the
        result does not hold it (a trial whose Tune counters are not the Algorithm's)."""
        if self.objective.by == "smoothed":
            value = nested_get(result, self.metric)
            if is_number(value) and math.isfinite(value):
                self.window.append(float(value))
            if self.window:
                self.value = sum(self.window) / len(self.window)
            return self.value
        if progress is None:
            progress = float(nested_get(result, self.budget.result_key) or 0)
        if self.evaluation_due(progress):
            result["evaluation"] = evaluate()
            value = nested_get(result["evaluation"], self.metric)
            if is_number(value) and math.isfinite(value):
                self.value = float(value)
        return self.value
