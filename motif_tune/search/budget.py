"""A trial's budget in the unit the user pays for, and the points where trials are scored.

A sweep states its budget per trial in env steps, seconds of training or
iterations (``sweep.budget``). The stop rule and ASHA's ``time_attr``,
``grace_period`` and ``max_t`` all come from it in the same unit, so trials
with different batch sizes meet the scheduler on equal terms.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from motif_tune.config import Settings
from motif_tune.search.params import (
    NUM_ENVS_PER_ENV_RUNNER,
    ROLLOUT_FRAGMENT_LENGTH,
    TRAIN_BATCH_SIZE,
)

log = logging.getLogger(__name__)

# The result key that measures each unit (Tune flattens results with "/").
RESULT_KEYS = {
    "env_steps": "num_env_steps_sampled_lifetime",
    "time_s": "time_total_s",
    "iterations": "training_iteration",
}
# Searched names that change how much data one iteration holds.
DATA_PER_ITERATION = (ROLLOUT_FRAGMENT_LENGTH, TRAIN_BATCH_SIZE, NUM_ENVS_PER_ENV_RUNNER)


@dataclass(frozen=True)
class Budget:
    """How far a trial may go, in one unit, and the rungs where it is scored."""

    unit: str
    amount: float
    milestones: tuple[float, ...]  # scoring points: ASHA's rungs, or PBT's comparisons
    reduction_factor: float
    # PBT/PB2: the population is compared every this much (None: not population-based).
    perturbation_interval: float | None = None

    @property
    def result_key(self) -> str:
        return RESULT_KEYS[self.unit]

    @property
    def early_stopping(self) -> bool:
        """ASHA stops trials short of the budget (PBT never does)."""
        return bool(self.milestones) and self.perturbation_interval is None

    @property
    def grace_period(self) -> float:
        return self.milestones[0]

    @property
    def unit_name(self) -> str:
        """The unit in words: 'env steps', 's of training', 'iterations'."""
        names = {"env_steps": "env steps", "time_s": "s of training", "iterations": "iterations"}
        return names[self.unit]

    def describe(self, amount: float | None = None) -> str:
        """``amount`` (by default the budget's own) in its unit: '8 s of training'."""
        return f"{self.amount if amount is None else amount:,.0f} {self.unit_name}"

    def stop_rule(self) -> dict[str, float]:
        return {self.result_key: self.amount}

    def for_group(self, seeds: int) -> Budget:
        """The budget of a trial that trains ``seeds`` seeds one after another: env steps
        and seconds add up over its seeds (an iteration trains each seed once)."""
        if seeds == 1 or self.unit == "iterations":
            return self
        return Budget(
            self.unit,
            self.amount * seeds,
            tuple(m * seeds for m in self.milestones),
            self.reduction_factor,
            self.perturbation_interval,
        )


def trial_budget(settings: Settings) -> Budget:
    """The sweep's budget per trial and, for ASHA, its rungs in the same unit."""
    sweep = settings.sweep
    unit, amount = sweep.budget.unit, float(sweep.budget.amount)
    scheduler = sweep.scheduler
    milestones: tuple[float, ...] = ()
    if scheduler.population_based:
        # Each member is scored at every comparison, so the weak copy the strong by a
        # score of that moment.
        interval = scheduler.perturbation_interval or amount / 5
        if unit != "time_s":
            interval = float(max(math.ceil(interval), 1))
        points = tuple(interval * k for k in range(1, math.ceil(amount / interval)))
        return Budget(unit, amount, points, scheduler.reduction_factor, interval)
    if scheduler.type == "asha":
        grace = scheduler.grace_fraction * amount
        if unit != "time_s":
            grace = float(max(math.ceil(grace), 1))
        if grace < amount:
            # The rungs exactly as Ray's ASHA computes them from max_t and grace_period.
            rf = scheduler.reduction_factor
            rungs = int(np.log(amount / grace) / np.log(rf) + 1)
            milestones = tuple(grace * rf**k for k in range(rungs))
    return Budget(unit, amount, milestones, scheduler.reduction_factor)


def budget_notices(settings: Settings, budget: Budget) -> list[str]:
    """Sentences a user should read before a sweep starts (nothing is refused here)."""
    sweep = settings.sweep
    notices = []
    if sweep.scheduler.type == "asha" and not budget.early_stopping:
        notices.append(
            f"sweep.budget ({budget.describe()}) leaves no room for ASHA's grace period "
            f"({sweep.scheduler.grace_fraction:g} of it): early stopping is off for this sweep."
        )
    searched = [name for name in DATA_PER_ITERATION if name in sweep.space]
    if budget.unit == "iterations" and searched:
        notices.append(
            f"sweep.budget counts iterations while the sweep searches {', '.join(searched)}: "
            "one iteration holds more data for some trials than for others, so they are not "
            "compared at equal cost; a budget in env_steps or time_s compares them fairly."
        )
    return notices
