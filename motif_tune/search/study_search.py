"""Tune's Optuna searcher over a stored study: warm trials, trial attributes, equal-cost steps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState
from ray.tune.search.optuna import OptunaSearch

from motif_tune.search.study import ATTR_APPLIED, ATTR_TUNE_TRIAL


class StudySearch(OptunaSearch):
    """``OptunaSearch`` whose study lives in a storage, seeded with earlier sweeps' trials.

    Intermediate values are reported at ``step_key`` (the budget's own unit), so a
    study's rungs compare trials at equal cost, not at equal iteration counts.
    """

    def __init__(
        self,
        *,
        step_key: str,
        study_attrs: Mapping[str, Any],
        warm_trials: Sequence[FrozenTrial] = (),
        **kwargs: Any,
    ) -> None:
        self._step_key = step_key
        self._study_attrs = dict(study_attrs)
        self._warm_trials = list(warm_trials)
        super().__init__(**kwargs)  # sets the study up when the space is given

    def _setup_study(self, mode: Any) -> None:
        # The baseline is enqueued after the warm trials, so it is still the first proposal.
        points, self._points_to_evaluate = self._points_to_evaluate, None
        super()._setup_study(mode)
        self._points_to_evaluate = points
        study = self._ot_study
        if not study.trials:  # a new study (a resumed one keeps what it holds)
            for key, value in self._study_attrs.items():
                study.set_user_attr(key, value)
            study.add_trials(self._warm_trials)
            for point in points or []:
                study.enqueue_trial(point)
        self._warm_trials = []  # nothing to keep in the searcher's saved state

    def suggest(self, trial_id: str) -> dict | None:
        values = super().suggest(trial_id)
        if values is not None:
            trial = self._ot_trials[trial_id]
            trial.set_user_attr(ATTR_TUNE_TRIAL, trial_id)
            trial.set_user_attr(ATTR_APPLIED, values)
        return values

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        value, step = result.get(self.metric), result.get(self._step_key)
        if value is None or step is None or not math.isfinite(value):
            return
        trial = self._ot_trials[trial_id]
        # A trial restored from a checkpoint repeats steps it reported before.
        if int(step) in trial._cached_frozen_trial.intermediate_values:
            return
        try:
            trial.report(value, int(step))
        except UpdateFinishedTrialError:  # told before the driver was killed and resumed
            self._completed_trials.add(trial_id)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        value = (result or {}).get(self.metric)
        if trial_id in self._ot_trials and value is not None and not math.isfinite(value):
            # A diverged trial: Optuna refuses NaN, which would leave it running forever.
            self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.FAIL)
            self._completed_trials.add(trial_id)
            return
        if result:  # the last result comes here, not to on_trial_result
            self.on_trial_result(trial_id, result)
        super().on_trial_complete(trial_id, result, error)
