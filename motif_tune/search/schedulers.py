"""The searcher and the scheduler of a sweep, made from its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from motif_tune.config import Settings
from motif_tune.errors import ConfigError

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.search import Searcher

    from motif_tune.search.space import SearchSpace


def make_searcher(settings: Settings, space: SearchSpace) -> Searcher:
    """Optuna over the define-by-run space: TPE (seeded), or random sampling."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sweep = settings.sweep
    if sweep.searcher == "random":
        sampler = optuna.samplers.RandomSampler(seed=sweep.seed)
    else:
        # Optuna's default of 10 random trials first would leave a 10-trial sweep
        # entirely random; constant_liar keeps concurrent trials from piling up.
        sampler = optuna.samplers.TPESampler(
            seed=sweep.seed, n_startup_trials=sweep.startup_trials, constant_liar=True
        )
    return OptunaSearch(space=space, metric=sweep.metric, mode=sweep.mode, sampler=sampler)


def make_scheduler(settings: Settings) -> TrialScheduler:
    """FIFO, or ASHA with rungs counted in training iterations."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    spec = settings.sweep.scheduler
    if spec.type == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=int(settings.stop.get("training_iteration", 100)),
        grace_period=spec.grace_period,
        reduction_factor=spec.reduction_factor,
    )


def check_scheduler(settings: Settings) -> None:
    """ASHA needs room between its grace period and the trials' end."""
    scheduler, max_t = settings.sweep.scheduler, settings.stop.get("training_iteration")
    if scheduler.type == "asha" and max_t is not None and scheduler.grace_period >= max_t:
        raise ConfigError(
            f"sweep.scheduler.grace_period ({scheduler.grace_period}) must be below "
            f"stop.training_iteration ({max_t:g}) for ASHA to stop anything early."
        )
