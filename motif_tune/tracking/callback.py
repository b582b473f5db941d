"""The Tune callback that records each trial as a nested MLflow run of its sweep.

One ``log_batch`` per training iteration with a chosen set of metrics, params once
per trial. The writes leave the driver's result path: a background writer
(:mod:`motif_tune.tracking.writer`) makes them, batching what queued up per run,
and each step goes to a journal on disk first
(:mod:`motif_tune.tracking.journal`), so a driver killed outright loses nothing a
resumed sweep cannot write again. The only module of :mod:`motif_tune.tracking`
that imports ``ray.tune``.
"""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from ray.tune import Callback

from motif_tune.config import Settings
from motif_tune.runtime import signals
from motif_tune.search.budget import Budget
from motif_tune.search.params import searched_values, short_values, trial_settings
from motif_tune.search.schedule import ExploitLog
from motif_tune.search.study import link_run
from motif_tune.stores import is_server
from motif_tune.tracking.journal import Journal, Step
from motif_tune.tracking.metrics import ITERATION_TIME, MetricSelection, metric_selection
from motif_tune.tracking.outage import GaveUp
from motif_tune.tracking.run_params import trial_params
from motif_tune.tracking.runs import (
    TAG_LINEAGE,
    TAG_ROUND,
    TAG_STEP_OFFSET,
    TAG_SWEEP,
    TAG_TRIAL_ID,
    TAG_TRIAL_STATUS,
    child_runs,
    param_values,
    run_tags,
)
from motif_tune.tracking.sweep_run import SweepRun
from motif_tune.tracking.writer import RunRef, RunWriter

log = logging.getLogger(__name__)

JOURNAL_FILE = "mlflow-journal-{role}.jsonl"  # in the sweep's Tune experiment folder
# Writer threads for a tracking server, which answers calls in parallel (a SQLite
# store writes one at a time: one thread).
SERVER_WRITERS = 4


def journal_path(settings: Settings, role: str, round_: int = 1) -> Path | None:
    """Where a sweep's journal is kept: beside its Tune experiment, when that is local
    (one per Tune experiment: the search, each verification round)."""
    if not settings.storage_is_local:
        return None
    stream = role if round_ == 1 else f"{role}-{round_}"
    return settings.experiment_dir / JOURNAL_FILE.format(role=stream)


class MLflowTrialCallback(Callback):
    """A Tune callback recording each trial as a child run of the sweep's parent run.

    ``background=False`` writes every record at once in Tune's own thread (no
    writer thread, no journal). ``round_``: a verification race's round, whose trials
    are a Tune experiment of their own (its runs are told apart from other rounds').
    """

    round: int = 1  # (a class default for callbacks pickled by sweeps begun before rounds)

    def __init__(
        self,
        sweep_run: SweepRun,
        budget: Budget,
        role: str = "trial",
        background: bool = True,
        round_: int = 1,
    ) -> None:
        self.sweep_run = sweep_run
        self.client = sweep_run.client
        self.role = role  # "trial" for the search, "verify" for retraining on fresh seeds
        self.round = round_
        self.budget = budget
        threads = SERVER_WRITERS if is_server(sweep_run.tracking_uri) else 1
        label = sweep_run.settings.run_name
        self.writer = RunWriter(self.client, background=background, threads=threads, label=label)
        path = journal_path(sweep_run.settings, role, round_) if background else None
        self.journal = Journal(path) if path else None
        self._runs: dict[str, RunRef] = {}
        self._last_step: dict[str, int] = {}
        self._metrics: dict[str, MetricSelection] = {}
        self._unwritten: dict[str, list[Step]] = {}  # journal steps of trials with no run yet
        self._without_params: set[str] = set()  # trials whose run a killed driver left bare
        # Population-based training: a member that copies another's checkpoint goes on
        # from that one's iteration; its run's steps go on from its own last one.
        self._offset: dict[str, int] = {}
        self._exploits = ExploitLog()

    def setup(self, **info: Any) -> None:
        """On resume: find the trials' runs again, the last iteration each recorded, and
        write the journal's steps that MLflow lacks (a killed driver's queue)."""
        runs = self.sweep_run.trial_runs(self.role, self.round)
        self._runs = {trial_id: RunRef(run.info.run_id) for trial_id, run in runs.items()}
        for trial_id, run in runs.items():
            history = self.client.get_metric_history(run.info.run_id, ITERATION_TIME)
            self._last_step[trial_id] = max((int(m.step) for m in history), default=0)
            self._offset[trial_id] = int(run.data.tags.get(TAG_STEP_OFFSET, 0))
            if TAG_LINEAGE in run.data.tags:
                self._exploits.events[trial_id] = json.loads(run.data.tags[TAG_LINEAGE])
            if not run.data.params:
                self._without_params.add(trial_id)
        self._exploits.carry_over()
        if self.journal is None:
            return
        for trial_id, steps in self.journal.read().items():
            if trial_id in self._runs:
                self._write_steps(trial_id, steps)
            else:
                self._unwritten[trial_id] = steps

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._metrics.pop(trial.trial_id, None)  # a (re)start: the step count begins anew
        ref = self._runs.get(trial.trial_id)
        if ref is not None:  # restored: from a checkpoint, or from scratch
            self._selection(trial.trial_id).restored()
            self._write_missing_params(trial)
            self.writer.call(ref, "update_run", status="RUNNING")
            return
        self._create_run(trial)

    def _create_run(self, trial: Any) -> RunRef:
        settings = self.sweep_run.settings
        values = searched_values(trial.config)
        prefix = "t" if self.role == "trial" else "v" if self.round == 1 else f"v{self.round}."
        name = f"{prefix}{len(self._runs) + 1:02d} {short_values(values)}".strip()
        tags = {k: v for k, v in run_tags(settings, self.role).items() if k != MLFLOW_RUN_NAME}
        tags |= {
            "sweep": settings.sweep.name,
            MLFLOW_PARENT_RUN_ID: self.sweep_run.run_id,
            TAG_SWEEP: settings.run_name,
            TAG_TRIAL_ID: trial.trial_id,
        }
        if self.round > 1:
            tags[TAG_ROUND] = str(self.round)
        link = None
        if self.role == "trial":  # the study's trial names its run
            link = partial(link_run, settings.study_storage, settings.run_name, trial.trial_id)
        ref = self.writer.create_run(
            self.sweep_run.experiment_id, name, tags, self._params(trial), on_created=link
        )
        self._runs[trial.trial_id] = ref
        if trial.trial_id in self._unwritten:
            self._write_steps(trial.trial_id, self._unwritten.pop(trial.trial_id))
        return ref

    def _params(self, trial: Any) -> dict[str, str]:
        values = searched_values(trial.config)
        return param_values(trial_params(trial_settings(self.sweep_run.settings, values), values))

    def _write_missing_params(self, trial: Any) -> None:
        """The params of a run created by a driver killed before it wrote them."""
        if trial.trial_id in self._without_params:
            self._without_params.discard(trial.trial_id)
            ref = self._runs[trial.trial_id]
            self.writer.log(ref, params=[Param(k, v) for k, v in self._params(trial).items()])

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        ref = self._runs.get(trial.trial_id)
        if ref is None:
            return
        if self._exploits.observe(trial.trial_id, result):
            self._exploited(trial.trial_id, ref, result)
        step = int(result.get("training_iteration", 0)) + self._offset.get(trial.trial_id, 0)
        if step <= self._last_step.get(trial.trial_id, 0):
            return  # a restored trial repeating iterations its run already holds
        self._last_step[trial.trial_id] = step
        metrics = self._selection(trial.trial_id)(result)
        now = int(time.time() * 1000)
        if self.journal is not None:
            self.journal.append(trial.trial_id, step, now, metrics)
        self.writer.log(ref, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def _exploited(self, trial_id: str, ref: RunRef, result: dict) -> None:
        """A member copied another's checkpoint: its run's lineage tag gets the exploit,
        and its run's steps go on from its last one. The offset is negative when the
        copied member had trained more iterations than this one."""
        last = self._last_step.get(trial_id, 0)
        self._offset[trial_id] = last - int(result.get("training_iteration", 0)) + 1
        events = json.dumps(self._exploits.events[trial_id])
        offset = str(self._offset[trial_id])
        self.writer.log(ref, tags=[RunTag(TAG_LINEAGE, events), RunTag(TAG_STEP_OFFSET, offset)])

    def _write_steps(self, trial_id: str, steps: list[Step]) -> None:
        """Journal steps past the run's last recorded one (already in the journal)."""
        ref, last = self._runs[trial_id], self._last_step.get(trial_id, 0)
        metrics = []
        for step, timestamp, values in sorted(steps, key=lambda s: s[0]):
            if step > last:
                metrics += [Metric(k, v, timestamp, step) for k, v in values.items()]
                last = step
        if metrics:
            self.writer.log(ref, metrics=metrics)
            log.info("Trial %s: wrote journal steps up to %d to MLflow.", trial_id, last)
        self._last_step[trial_id] = last

    def _selection(self, trial_id: str) -> MetricSelection:
        if trial_id not in self._metrics:
            self._metrics[trial_id] = metric_selection(self.sweep_run.settings)
        return self._metrics[trial_id]

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        spent = (trial.last_result or {}).get(self.budget.result_key, 0)
        stopped_early = spent < self.budget.amount
        self._end(trial, "FINISHED", "stopped_early" if stopped_early else "finished")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Write everything queued, then settle runs a killed driver left behind.

        A trial Tune itself lost (started, or even ended, after Tune last saved its
        experiment state) is no part of the resumed sweep, which ran another in
        its place: its run is deleted (MLflow keeps a deleted run until it is
        purged). A trial that ended just before the kill, whose end the run never
        heard of, is ended now as Tune recorded it; one whose run was never
        created gets it now, with its steps from the journal. An interrupted sweep's
        unfinished trials end KILLED (their runs go on when it resumes). A store that
        does not answer is waited for ``tracking.outage_wait_s``; what is left then
        stays in the journal for a resume.
        """
        self.writer.give_up_after(self.sweep_run.settings.tracking.outage_wait_s)
        self.writer.flush()
        try:
            running = self.writer.outage.until_written(self._running_runs)
        except GaveUp:
            self._close()
            return
        if signals.received() is not None:  # stopped: its trials go on when it resumes
            for ref in self._runs.values():
                if ref.run_id in running:
                    self.writer.call(ref, "set_terminated", status="KILLED")
            self._close()
            return
        by_id = {trial.trial_id: trial for trial in trials}
        for trial_id, ref in list(self._runs.items()):
            trial = by_id.get(trial_id)
            if trial is None:
                self.writer.call(ref, "delete_run")
                del self._runs[trial_id]
                log.info("Removed the run of trial %s, which the resumed sweep replaced.", trial_id)
                continue
            self._write_missing_params(trial)
            if ref.run_id not in running:
                continue
            if trial.status == "TERMINATED":
                self.on_trial_complete(0, trials, trial)
            elif trial.status == "ERROR":
                self.on_trial_error(0, trials, trial)
        for trial in trials:
            if trial.trial_id not in self._runs and trial.status in ("TERMINATED", "ERROR"):
                self._create_run(trial)
                if trial.status == "TERMINATED":
                    self.on_trial_complete(0, trials, trial)
                else:
                    self.on_trial_error(0, trials, trial)
        self._close()

    def _running_runs(self) -> set[str]:
        """The ids of this sweep's runs MLflow holds as RUNNING."""
        runs = child_runs(self.client, self.sweep_run.experiment_id, self.sweep_run.run_id)
        return {run.info.run_id for run in runs if run.info.status == "RUNNING"}

    def _close(self) -> None:
        """Everything queued written (or given up on), the journal removed when nothing
        is held, else kept for a resume."""
        self.writer.close()
        if self.journal is not None:
            if self.writer.failed:
                log.warning(
                    "MLflow: %d records could not be written; %s keeps them for a resume.",
                    self.writer.failed,
                    self.journal.path,
                )
                self.journal.close()
            else:
                self.journal.remove()

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A failed trial Tune retries restores its newest checkpoint (maybe a copied one)."""
        self._exploits.restarted(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, "FAILED", "failed")

    def _end(self, trial: Any, status: str, outcome: str) -> None:
        ref = self._runs.get(trial.trial_id)
        if ref is None:
            return
        self.writer.log(ref, tags=[RunTag(TAG_TRIAL_STATUS, outcome)])
        self.writer.call(
            ref, "set_terminated", status=RunStatus.to_string(RunStatus.from_string(status))
        )
