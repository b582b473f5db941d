"""The sweep's searcher: Optuna over a stored study, as a Tune ``Searcher``.

Built on Optuna's public ask-and-tell interface and Tune's public ``Searcher``:

- the study lives in the sweep's study storage under its name, with the
  question it answers as attributes, earlier sweeps' trials added first (a warm
  start) and the composed config's own values enqueued as the first proposal;
- each Optuna trial records its Tune trial id and the values it ran with;
- intermediate values are reported at ``step_key`` (the budget's own unit), so
  the study's rungs compare trials at equal cost, and a step a restored trial
  repeats is reported once;
- a trial ASHA stopped before its budget is PRUNED, with its intermediate values
  (TPE reads it at its last report, as it reads Optuna's own pruned trials); a
  trial that spent its budget is COMPLETE with its score; both keep what they cost
  (``cost/*`` user attributes);
- a diverged trial (NaN) is FAIL, never left running;
- an errored trial is left running in the study: a resumed sweep may run it again
  and tell its true end; ``close_study`` marks those still running FAIL once the
  search is over.

Tune saves the searcher with its experiment; a resumed sweep loads the same study
from its storage and goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ray.tune.search import Searcher

from motif_tune.config import Settings
from motif_tune.results import OBJECTIVE
from motif_tune.search.cost import costs_of
from motif_tune.search.plan import SearchPlan
from motif_tune.search.study import (
    ATTR_APPLIED,
    ATTR_PARENT_RUN,
    ATTR_TUNE_TRIAL,
    open_storage,
    storage_trial_id,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


class StudySearcher(Searcher):
    """Tune's searcher over an Optuna study kept in a storage."""

    def __init__(
        self,
        *,
        space: Callable[[Any], dict[str, Any]],
        mode: str,
        sampler: optuna.samplers.BaseSampler,
        study_name: str,
        storage_url: str,
        step_key: str,
        study_attrs: Mapping[str, Any],
        budget: tuple[str, float] = ("training_iteration", 0.0),
        warm_trials: Sequence[FrozenTrial] = (),
        first: Mapping[str, Any] | None = None,
        metric: str = OBJECTIVE,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.sampler = sampler
        self.study_name = study_name
        self.storage_url = storage_url
        self.step_key = step_key
        self.budget = budget  # (result key, amount): a trial that stops short was pruned
        self.numbers: dict[str, int] = {}  # Tune trial id -> Optuna trial number
        self.storage_ids: dict[str, int] = {}  # Tune trial id -> the storage's trial id
        self.reported: dict[str, set[int]] = {}  # steps reported per Tune trial
        self.completed: set[str] = set()
        self.study = self._open_study(dict(study_attrs), list(warm_trials), first)

    def _open_study(
        self, attrs: dict[str, Any], warm: list[FrozenTrial], first: Mapping[str, Any] | None
    ) -> optuna.Study:
        import optuna

        study = optuna.create_study(
            study_name=self.study_name,
            storage=open_storage(self.storage_url),
            sampler=self.sampler,
            direction="maximize" if self.mode == "max" else "minimize",
            load_if_exists=True,
        )
        if not study.trials:  # a new study (a resumed one keeps what it holds)
            for key, value in attrs.items():
                study.set_user_attr(key, value)
            study.add_trials(warm)  # before the baseline, which stays the first proposal
            if first:
                study.enqueue_trial(dict(first))
        return study

    # ----------------------------------------------------------------- Tune's side

    def suggest(self, trial_id: str) -> dict | None:
        trial = self.study.ask()
        with warnings.catch_warnings():  # the baseline may lie outside the searched ranges
            warnings.filterwarnings("ignore", "Fixed parameter .* out of range", UserWarning)
            values = self.space(trial)
        self.numbers[trial_id] = trial.number
        storage = open_storage(self.storage_url)
        self.storage_ids[trial_id] = storage_trial_id(storage, self.study_name, trial.number)
        trial.set_user_attr(ATTR_TUNE_TRIAL, trial_id)
        trial.set_user_attr(ATTR_APPLIED, values)
        return values

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.completed or trial_id not in self.numbers:
            return
        value, step = result.get(self.metric), result.get(self.step_key)
        if value is None or step is None or not math.isfinite(value):
            return
        steps = self.reported.setdefault(trial_id, set())
        if int(step) in steps:  # a trial restored from a checkpoint repeats steps
            return
        from optuna.exceptions import UpdateFinishedTrialError

        try:
            storage = open_storage(self.storage_url)
            storage.set_trial_intermediate_value(self.storage_ids[trial_id], int(step), value)
        except UpdateFinishedTrialError:  # told before the driver was killed and resumed
            self.completed.add(trial_id)
            return
        steps.add(int(step))

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        from optuna.trial import TrialState

        if trial_id in self.completed or trial_id not in self.numbers:
            return
        if error:  # an interrupted driver's trials end here too: a resume reruns them
            return
        value = (result or {}).get(self.metric)
        if result and value is not None and math.isfinite(value):
            self.on_trial_result(trial_id, result)  # the last result comes here only
            self._keep_cost(trial_id, result)
            key, amount = self.budget
            if float(result.get(key) or 0) < amount:
                self._tell(trial_id, None, TrialState.PRUNED)
            else:
                self._tell(trial_id, value, TrialState.COMPLETE)
        else:  # a diverged trial (Optuna refuses NaN) or no score at all
            self._tell(trial_id, None, TrialState.FAIL)
        self.completed.add(trial_id)

    def _keep_cost(self, trial_id: str, result: Mapping[str, Any]) -> None:
        storage = open_storage(self.storage_url)
        for key, value in costs_of(result).items():
            if math.isfinite(value):
                storage.set_trial_user_attr(self.storage_ids[trial_id], key, value)

    def _tell(self, trial_id: str, value: float | None, state: Any) -> None:
        self.study.tell(self.numbers[trial_id], value, state=state, skip_if_finished=True)

    # ----------------------------------------------------------------- saved with Tune's state

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__getstate__(), file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__setstate__(pickle.load(file))

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "study"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import optuna

        self.__dict__.update(state)
        self.study = optuna.load_study(
            study_name=self.study_name,
            storage=open_storage(self.storage_url),
            sampler=self.sampler,
        )


def make_searcher(
    settings: Settings, plan: SearchPlan, parent_run_id: str | None = None
) -> StudySearcher:
    """TPE (seeded) or random sampling over the plan's space, its study kept in
    ``settings.study_storage`` under the sweep's name.

    The composed config's own values (the plan's baseline) are the first trial
    proposed; the finished trials of ``sweep.warm_start``'s studies come before it.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per study and trial
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
    budget = plan.search_budget
    return StudySearcher(
        space=plan.space,
        mode=sweep.mode,
        sampler=sampler,
        study_name=settings.run_name,
        storage_url=settings.study_storage,
        step_key=budget.result_key if budget.unit == "env_steps" else "training_iteration",
        study_attrs=_study_attrs(plan, parent_run_id),
        # Only ASHA stops a trial short of its budget: without it none is pruned.
        budget=(budget.result_key, budget.amount if budget.early_stopping else 0.0),
        warm_trials=plan.warm_trials,
        first=plan.baseline,
    )


def population_points(
    settings: Settings, plan: SearchPlan, parent_run_id: str | None = None
) -> list[dict[str, Any]]:
    """A population's first values (``sweep.num_samples`` members, the first the
    baseline), drawn at random as trials of the sweep's stored study."""
    from motif_tune.search.population import first_values

    return first_values(
        plan.space,
        settings.sweep.num_samples,
        settings.study_storage,
        settings.run_name,
        _study_attrs(plan, parent_run_id),
        settings.sweep.mode,
        sampler_seed(settings),
        plan.baseline,
    )


def _study_attrs(plan: SearchPlan, parent_run_id: str | None) -> dict[str, Any]:
    """The question the study answers, and the sweep's MLflow run when it has one."""
    return dict(plan.study_attrs) | ({ATTR_PARENT_RUN: parent_run_id} if parent_run_id else {})


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
