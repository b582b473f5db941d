"""A seed group: one search trial that trains ``sweep.seeds_per_trial`` seeds of its
configuration, one after another in its own process, and reports their mean.

Every report holds the group's score under ``objective`` (the mean of its seeds'
scores, or the mean less one standard error), the mean and standard error under
``seeds/``, the env runners' figures averaged over the seeds, and env steps and
training seconds summed over them: the group's budget is the per-seed budget
times its seeds, so ASHA's rungs compare groups at equal cost. Each seed is
scored on the sweep's own schedule (its rungs and the end of its budget).

A checkpoint of the group is its first seed's RLlib checkpoint (what
``evaluate`` and the registry read), with the other seeds' in ``seed_group/``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motif_tune.compat.ray import build_algorithm_in
from motif_tune.config import Settings
from motif_tune.pipeline.restoring import (
    SetUpAgainOnReset,
    ended_on_restore,
    existing_checkpoint,
    spent_its_budget,
)
from motif_tune.results import OBJECTIVE, SEEDS_MEAN, SEEDS_SE, is_number
from motif_tune.rllib.builder import algorithm_class
from motif_tune.search.budget import Budget
from motif_tune.search.params import SEED, searched_values
from motif_tune.search.reporting import ENV_STEPS, TRIAL_COUNTERS, Reporter
from motif_tune.search.trial import Scorer, trial_config, trial_placement

GROUP_FOLDER = "seed_group"
SEEDS_COUNT = "seeds/count"
# Keys of a seed's result that count for that seed alone: the group's are Tune's own
# (and a seed's own scoring evaluation: the group's score is under seeds/).
_PER_SEED = (*TRIAL_COUNTERS, "evaluation")


@dataclass
class Member:
    """One seed of the group: its Algorithm and its scorer."""

    seed: int
    algo: Any
    scorer: Scorer
    reporter: Reporter

    def train(self) -> dict:
        result = self.reporter.checked(self.algo.train())
        result[OBJECTIVE] = self.scorer.score(result, self.algo.evaluate)
        return result


def group_score(scores: list[float], rule: str) -> tuple[float, float, float]:
    """(the group's score, the mean, its standard error) of its seeds' scores; NaN
    while any seed has none yet."""
    if not scores or not all(is_number(s) and math.isfinite(s) for s in scores):
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(scores)
    se = statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0
    return (mean - se if rule == "mean_minus_se" else mean), mean, se


def group_result(results: list[dict], rule: str) -> dict:
    """One report of the group from one result per seed."""
    first = results[0]
    report = {k: v for k, v in first.items() if k not in _PER_SEED}
    runners = [r.get("env_runners") or {} for r in results]
    report["env_runners"] = {
        key: statistics.fmean(r[key] for r in runners)
        for key in runners[0]
        if all(is_number(r.get(key)) for r in runners)
    }
    report[ENV_STEPS] = sum(float(r.get(ENV_STEPS) or 0) for r in results)
    report["time_this_iter_s"] = sum(float(r.get("time_this_iter_s") or 0) for r in results)
    score, mean, se = group_score([r[OBJECTIVE] for r in results], rule)
    report[OBJECTIVE], report[SEEDS_MEAN], report[SEEDS_SE] = score, mean, se
    report[SEEDS_COUNT] = len(results)
    for i, result in enumerate(results):
        report[f"seeds/{i}/objective"] = result[OBJECTIVE]
    return report


def make_seed_group(base: Settings, budget: Budget, seeds: int) -> type:
    """The Tune trainable of a seed group of ``seeds`` seeds, ``budget`` per seed."""
    from ray.tune import Trainable

    rule = base.sweep.seed_group_score
    group_budget = budget.for_group(seeds)

    class SeedGroup(SetUpAgainOnReset, Trainable):
        @classmethod
        def default_resource_request(cls, config: Any):
            return trial_placement(base, algo_cls, config, seeds)

        def setup(self, config: dict) -> None:
            self._spent = False  # restored from the checkpoint that ended its budget
            self._searched = searched_values(config)
            self._report = Reporter(base)
            self._members = []
            for i in range(seeds):
                trial = trial_config(base, {**self._searched, SEED: base.seed + i})
                scorer = Scorer(base.sweep.metric, base.sweep.objective, budget)
                reporter = Reporter(base)
                algo = build_algorithm_in(trial, Path(self.logdir) / f"seed_{i}")
                self._members.append(Member(base.seed + i, algo, scorer, reporter))

        def step(self) -> dict:
            return group_result([member.train() for member in self._members], rule)

        def train(self) -> dict:
            if self._spent:  # restored at the end of its budget
                return ended_on_restore()
            result = super().train()
            result.update(
                self._report.cost(result, self.trial_resources, type(self), self._searched)
            )
            return result

        def restore(self, checkpoint_path: Any) -> None:
            """As a single-seed trial restores: the newest checkpoint on disk, and no
            training past the group's budget."""
            saved = existing_checkpoint(checkpoint_path)
            self._spent = spent_its_budget(saved, group_budget)
            super().restore(saved)

        def save_checkpoint(self, checkpoint_dir: str) -> None:
            first, *others = self._members
            first.algo.save_to_path(checkpoint_dir)
            for i, member in enumerate(others, start=1):
                member.algo.save_to_path(str(Path(checkpoint_dir) / GROUP_FOLDER / f"seed_{i}"))

        def load_checkpoint(self, checkpoint_dir: str) -> None:
            first, *others = self._members
            first.algo.restore_from_path(checkpoint_dir)
            for i, member in enumerate(others, start=1):
                member.algo.restore_from_path(
                    str(Path(checkpoint_dir) / GROUP_FOLDER / f"seed_{i}")
                )
            for member in self._members:  # score again at the first result after a restore
                member.scorer = Scorer(base.sweep.metric, base.sweep.objective, budget)

        def cleanup(self) -> None:
            for member in self._members:
                member.algo.stop()

        def get_auto_filled_metrics(self, *args: Any, **kwargs: Any) -> dict:
            filled = super().get_auto_filled_metrics(*args, **kwargs)
            filled["config"] = dict(self._searched)
            return filled

    algo_cls = algorithm_class(base.algo.name)
    SeedGroup.__name__ = SeedGroup.__qualname__ = f"{algo_cls.__name__}SeedGroup"
    return SeedGroup
