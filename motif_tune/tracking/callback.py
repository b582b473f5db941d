"""The Tune callback that records each trial as a nested MLflow run of its sweep.

Writes go through ``MlflowClient`` in batches: one ``log_batch`` per training
iteration with a chosen set of metrics, params once per trial. The only module
of :mod:`motif_tune.tracking` that imports ``ray.tune``.
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow.entities import RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from ray.tune import Callback

from motif_tune.search.budget import trial_budget
from motif_tune.search.params import short_values, trial_settings
from motif_tune.search.study import link_run
from motif_tune.tracking.metrics import ITERATION_TIME, MetricSelection, metric_selection
from motif_tune.tracking.params import trial_params
from motif_tune.tracking.store import (
    TAG_SWEEP,
    TAG_TRIAL_ID,
    TAG_TRIAL_STATUS,
    child_runs,
    log_metrics,
    log_params,
    run_tags,
)
from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)


class MLflowTrialCallback(Callback):
    """A Tune callback recording each trial as a child run of the sweep's parent run."""

    def __init__(self, sweep_run: SweepRun, role: str = "trial") -> None:
        self.sweep_run = sweep_run
        self.client = sweep_run.client
        self.role = role  # "trial" for the search, "verify" for retraining on fresh seeds
        self.budget = trial_budget(sweep_run.settings)
        self._runs: dict[str, str] = {}
        self._last_step: dict[str, int] = {}
        self._metrics: dict[str, MetricSelection] = {}

    def setup(self, **info: Any) -> None:
        """On resume: find the trials' runs again and the last iteration each recorded."""
        self._runs = self.sweep_run.child_runs(self.role)
        for trial_id, run_id in self._runs.items():
            history = self.client.get_metric_history(run_id, ITERATION_TIME)
            self._last_step[trial_id] = max((int(m.step) for m in history), default=0)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._metrics.pop(trial.trial_id, None)  # a (re)start: the step count begins anew
        run_id = self._runs.get(trial.trial_id)
        if run_id is not None:  # restored: from a checkpoint, or from scratch
            self._selection(trial.trial_id).restored()
            self.client.update_run(run_id, status="RUNNING")
            return
        settings = self.sweep_run.settings
        values = {k: v for k, v in dict(trial.config).items() if not k.startswith("__")}
        prefix = "t" if self.role == "trial" else "v"
        name = f"{prefix}{len(self._runs) + 1:02d} {short_values(values)}".strip()
        tags = {k: v for k, v in run_tags(settings, self.role).items() if k != MLFLOW_RUN_NAME}
        run = self.client.create_run(
            self.sweep_run.experiment_id,
            run_name=name,
            tags={
                **tags,
                "sweep": settings.sweep.name,
                MLFLOW_PARENT_RUN_ID: self.sweep_run.run_id,
                TAG_SWEEP: settings.run_name,
                TAG_TRIAL_ID: trial.trial_id,
            },
        )
        self._runs[trial.trial_id] = run.info.run_id
        params = trial_params(trial_settings(settings, values), values)
        log_params(self.client, run.info.run_id, params)
        if self.role == "trial":  # the study's trial names its run
            link_run(settings.study_storage, settings.run_name, trial.trial_id, run.info.run_id)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        run_id = self._runs.get(trial.trial_id)
        if run_id is None:
            return
        step = int(result.get("training_iteration", 0))
        if step <= self._last_step.get(trial.trial_id, 0):
            return  # a restored trial repeating iterations its run already holds
        self._last_step[trial.trial_id] = step
        log_metrics(self.client, run_id, self._selection(trial.trial_id)(result), step)

    def _selection(self, trial_id: str) -> MetricSelection:
        if trial_id not in self._metrics:
            self._metrics[trial_id] = metric_selection(self.sweep_run.settings)
        return self._metrics[trial_id]

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        spent = (trial.last_result or {}).get(self.budget.result_key, 0)
        stopped_early = spent < self.budget.amount
        self._end(trial, "FINISHED", "stopped_early" if stopped_early else "finished")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Settle runs a killed driver left RUNNING.

        A trial Tune itself lost (started just before the kill, never saved in its
        experiment state) was run afresh by the resumed sweep: its old run is
        deleted. A trial that ended just before the kill, whose end the run never
        heard of, is ended now as Tune recorded it.
        """
        by_id = {trial.trial_id: trial for trial in trials}
        running = {
            run.info.run_id
            for run in child_runs(self.client, self.sweep_run.experiment_id, self.sweep_run.run_id)
            if run.info.status == "RUNNING"
        }
        for trial_id, run_id in list(self._runs.items()):
            if run_id not in running:
                continue
            trial = by_id.get(trial_id)
            if trial is None:
                self.client.delete_run(run_id)
                del self._runs[trial_id]
                log.info("Removed the run of trial %s, which the resumed sweep replaced.", trial_id)
            elif trial.status == "TERMINATED":
                self.on_trial_complete(0, trials, trial)
            elif trial.status == "ERROR":
                self.on_trial_error(0, trials, trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, "FAILED", "failed")

    def _end(self, trial: Any, status: str, outcome: str) -> None:
        run_id = self._runs.get(trial.trial_id)
        if run_id is None:
            return
        self.client.log_batch(run_id, tags=[RunTag(TAG_TRIAL_STATUS, outcome)])
        self.client.set_terminated(
            run_id, status=RunStatus.to_string(RunStatus.from_string(status))
        )
