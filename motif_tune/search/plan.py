"""What a sweep's search needs, decided once from its checked settings: the space, the
budget and its rungs, the baseline, the study's question and the trials a warm start
brings, the fresh seeds of verification, and what the user should read first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motif_tune.config import Settings
from motif_tune.search.budget import Budget, budget_notices, trial_budget
from motif_tune.search.params import baseline_values, check_space_paths
from motif_tune.search.population import Population, check_mutations
from motif_tune.search.space import SearchSpace
from motif_tune.search.study import WarmStart, check_new_study, study_attrs, warm_start

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class SearchPlan:
    budget: Budget  # per seed: a verification trial's
    search_budget: Budget  # per search trial: ``budget`` times its seeds (a seed group)
    space: SearchSpace
    baseline: dict[str, Any] | None  # the first trial: the composed config's own values
    verify_seeds: tuple[int, ...]  # seeds no search trial used (those train with ``seed``..),
    # as many as a race may use: the first ``verify.seeds`` are every finalist's
    study_attrs: dict[str, Any]  # the question the study answers, and what lists it
    population: Population | None = None  # population-based training (pbt/pb2)
    warm_trials: tuple[FrozenTrial, ...] = ()
    warm_lines: tuple[str, ...] = ()  # what each earlier sweep lent (the terminal says so)
    notices: tuple[str, ...] = ()


def plan_search(settings: Settings, new_study: bool = True) -> SearchPlan:
    """The search's plan; a space that cannot fill a batch, a study name taken or a warm
    start that asks another question is refused here, in one sentence."""
    check_space_paths(settings)
    check_mutations(settings)
    space = SearchSpace(settings)
    warm = WarmStart()
    if new_study:
        check_new_study(settings)
        warm = warm_start(settings)
    largest = space.largest_iteration()
    budget = trial_budget(settings, largest)
    baseline = baseline_values(settings)
    group = settings.sweep.seeds_per_trial  # search trials train seed, seed + 1, ...
    seeds = tuple(settings.seed + group + i for i in range(settings.sweep.verify.seed_cap))
    return SearchPlan(
        budget=budget,
        search_budget=budget.for_group(group),
        space=space,
        baseline=space.resolve(baseline) if baseline else None,
        verify_seeds=seeds,
        study_attrs=study_attrs(settings),
        population=Population.of(settings),
        warm_trials=warm.trials,
        warm_lines=warm.lines,
        notices=(*budget_notices(settings, budget, largest), *warm.notices),
    )
