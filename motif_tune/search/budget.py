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


def trial_budget(settings: Settings, largest_iteration: int | None = None) -> Budget:
    """The sweep's budget per trial and, for ASHA, its rungs in the same unit.

    ``largest_iteration`` (env steps of the largest batch the space holds) keeps a
    budget in env steps from putting a rung before any trial's first report: Tune's
    ASHA scores a trial only at the highest rung its report has passed, so a trial
    whose batch spans several rungs would be scored fewer times, and later, than one
    with a small batch, which meets the first rung nearly untrained.
    """
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
        grace = requested_grace(settings)
        if unit == "env_steps" and largest_iteration is not None:
            grace = max(grace, float(largest_iteration))
        if grace < amount:
            # The rungs exactly as Ray's ASHA computes them from max_t and grace_period.
            rf = scheduler.reduction_factor
            rungs = int(np.log(amount / grace) / np.log(rf) + 1)
            milestones = tuple(grace * rf**k for k in range(rungs))
    return Budget(unit, amount, milestones, scheduler.reduction_factor)


def requested_grace(settings: Settings) -> float:
    """ASHA's first rung as the sweep file asks for it: ``grace_fraction`` of the budget
    (a whole number of env steps or iterations)."""
    sweep = settings.sweep
    grace = sweep.scheduler.grace_fraction * float(sweep.budget.amount)
    if sweep.budget.unit != "time_s":
        grace = float(max(math.ceil(grace), 1))
    return grace


def budget_notices(
    settings: Settings, budget: Budget, largest_iteration: int | None = None
) -> list[str]:
    """Sentences a user should read before a sweep starts (nothing is refused here)."""
    sweep = settings.sweep
    notices = []
    asked = requested_grace(settings)
    moved = budget.unit == "env_steps" and (largest_iteration or 0) > asked
    if sweep.scheduler.type == "asha" and not budget.early_stopping:
        if moved:
            notices.append(
                f"sweep.budget ({budget.describe()}) leaves no room for ASHA's rungs: the "
                f"largest train batch in this sweep ({largest_iteration:,} env steps) reports "
                "its first result only at the end of a trial, and a rung must come after "
                "every trial's first result; early stopping is off for this sweep (a budget "
                "of several batches, or a smaller batch range, turns it on)."
            )
        else:
            notices.append(
                f"sweep.budget ({budget.describe()}) leaves no room for ASHA's grace period "
                f"({sweep.scheduler.grace_fraction:g} of it): early stopping is off for this "
                "sweep."
            )
    elif sweep.scheduler.type == "asha" and moved:
        notices.append(
            f"ASHA's first rung is at {budget.describe(budget.grace_period)}, not "
            f"{budget.describe(asked)} ({sweep.scheduler.grace_fraction:g} of the budget): the "
            "largest train batch in this sweep reports its first result only then, and every "
            "trial must meet every rung, or small batches are judged more often, and nearly "
            "untrained, than large ones."
        )
    searched = [name for name in DATA_PER_ITERATION if name in sweep.space]
    if budget.unit == "iterations" and searched:
        notices.append(
            f"sweep.budget counts iterations while the sweep searches {', '.join(searched)}: "
            "one iteration holds more data for some trials than for others, so they are not "
            "compared at equal cost; a budget in env_steps or time_s compares them fairly."
        )
    return notices
