"""The sweep's trial scheduler: FIFO, or ASHA with its rungs in the budget's unit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from motif_tune.search.budget import Budget

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler


def make_scheduler(budget: Budget) -> TrialScheduler:
    """FIFO, or ASHA with its rungs in the budget's unit (``budget.milestones``)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if not budget.early_stopping:
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr=budget.result_key,
        max_t=budget.amount,
        grace_period=budget.grace_period,
        reduction_factor=budget.reduction_factor,
    )
