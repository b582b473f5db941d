"""The searcher and the scheduler of a sweep, made from its settings.

Both judge trials by the one score every trial reports, ``objective``; ASHA's
rungs count the budget's own unit (env steps, seconds or iterations).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from motif_tune.config import Settings
from motif_tune.results import OBJECTIVE
from motif_tune.search.budget import trial_budget

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.search import Searcher

    from motif_tune.search.space import SearchSpace


def make_searcher(
    settings: Settings,
    space: SearchSpace,
    first: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> Searcher:
    """Optuna over the define-by-run space: TPE (seeded), or random sampling, its study
    kept in ``settings.study_storage`` under the sweep's name.

    ``first`` (the composed config's own values) is the first trial proposed; the
    finished trials of ``sweep.warm_start``'s studies come before it.
    """
    import optuna

    from motif_tune.search.study import open_storage, study_attrs, warm_start_trials
    from motif_tune.search.study_search import StudySearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per study and trial
    # The baseline may lie outside the searched ranges: it is proposed on purpose.
    warnings.filterwarnings("ignore", "Fixed parameter .* out of range", UserWarning)
    sweep = settings.sweep
    seed = sampler_seed(settings)
    if sweep.searcher == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        # Optuna's default of 10 random trials first would leave a 10-trial sweep
        # entirely random; constant_liar keeps concurrent trials from piling up.
        sampler = optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=sweep.startup_trials,
            n_ei_candidates=sweep.n_ei_candidates,
            constant_liar=True,
        )
    budget = trial_budget(settings)
    return StudySearch(
        space=space,
        metric=OBJECTIVE,
        mode=sweep.mode,
        sampler=sampler,
        points_to_evaluate=[dict(first)] if first else None,
        study_name=settings.run_name,
        storage=open_storage(settings.study_storage),
        step_key=budget.result_key if budget.unit == "env_steps" else "training_iteration",
        study_attrs=study_attrs(settings, parent_run_id),
        warm_trials=warm_start_trials(settings),
    )


def sampler_seed(settings: Settings) -> int:
    """``sweep.seed``; for a warm start, that seed mixed with the names of the studies it
    starts from. The same seed would draw the random proposals the earlier sweep already
    tried (with the random searcher, or before TPE has enough trials); the mix is
    reproducible: the same command proposes the same points again."""
    sweep = settings.sweep
    if not sweep.warm_start:
        return sweep.seed
    mixed = hashlib.sha256(json.dumps([sweep.seed, *sweep.warm_start]).encode()).digest()
    return int.from_bytes(mixed[:4], "big")


def make_scheduler(settings: Settings) -> TrialScheduler:
    """FIFO, or ASHA with its rungs in the budget's unit."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    budget = trial_budget(settings)
    if not budget.early_stopping:
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr=budget.result_key,
        max_t=budget.amount,
        grace_period=budget.grace_period,
        reduction_factor=budget.reduction_factor,
    )
