"""Sweep file -> Optuna space -> one trial's settings; the searcher and the scheduler."""

from motif_tune.config import Settings
from motif_tune.search.params import check_space_paths
from motif_tune.search.space import SearchSpace
from motif_tune.search.study import check_new_study, warm_start_trials


def check_sweep(settings: Settings) -> SearchSpace:
    """Check a sweep's space (and a new sweep's study) before anything starts; returns it."""
    check_space_paths(settings)
    space = SearchSpace(settings)
    if settings.command == "sweep":
        check_new_study(settings)
        warm_start_trials(settings)
    return space


__all__ = ["SearchSpace", "check_sweep"]
