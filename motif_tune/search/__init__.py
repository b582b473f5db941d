"""Sweep file -> Optuna space -> one trial's settings; the searcher and the scheduler."""

from motif_tune.config import Settings
from motif_tune.search.params import check_space_paths
from motif_tune.search.schedulers import check_scheduler
from motif_tune.search.space import SearchSpace


def check_sweep(settings: Settings) -> SearchSpace:
    """Check a sweep's space and scheduler before anything starts; returns its space."""
    check_space_paths(settings)
    space = SearchSpace(settings)
    check_scheduler(settings)
    return space


__all__ = ["SearchSpace", "check_sweep"]
