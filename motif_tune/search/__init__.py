"""Sweep file -> Optuna space -> one trial's settings; the searcher and the scheduler."""

from motif_tune.config import Settings
from motif_tune.search.params import check_space_paths
from motif_tune.search.space import SearchSpace


def check_sweep(settings: Settings) -> SearchSpace:
    """Check a sweep's space before anything starts; returns it."""
    check_space_paths(settings)
    return SearchSpace(settings)


__all__ = ["SearchSpace", "check_sweep"]
