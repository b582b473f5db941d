"""The sweep's trial scheduler: FIFO, ASHA with its rungs in the budget's unit, or a
population-based one (PBT, PB2) comparing members every perturbation interval."""

from __future__ import annotations

from typing import TYPE_CHECKING

from motif_tune.search.budget import Budget
from motif_tune.search.population import Population

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler


def make_scheduler(budget: Budget, population: Population | None = None) -> TrialScheduler:
    """FIFO, ASHA with its rungs in the budget's unit (``budget.milestones``), or the
    population's PBT/PB2."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if population is not None:
        return population.scheduler(budget)
    if not budget.early_stopping:
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr=budget.result_key,
        max_t=budget.amount,
        grace_period=budget.grace_period,
        reduction_factor=budget.reduction_factor,
    )
