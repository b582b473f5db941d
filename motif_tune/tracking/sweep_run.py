"""MLflow: the parent run of one sweep.

Trials are nested child runs under it (:mod:`motif_tune.tracking.callback`),
found again by their trial id tag, so a resumed sweep continues its runs
instead of duplicating them. The parent holds the composed config, its choices
and searched space as params, and, once the sweep is over, its outcome
(:mod:`motif_tune.tracking.outcome`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Run, RunTag
from mlflow.tracking import MlflowClient

from motif_tune.config import Settings
from motif_tune.secrets import mask_secrets, masked_tag
from motif_tune.text import fmt
from motif_tune.tracking.client import experiment_id, mlflow_client
from motif_tune.tracking.policy_model import CHECKPOINT_ARTIFACT
from motif_tune.tracking.run_params import sweep_params
from motif_tune.tracking.runs import (
    TAG_CHECKPOINT_RANK,
    TAG_CHECKPOINT_SOURCE,
    TAG_ROLE,
    TAG_ROUND,
    TAG_SWEEP,
    TAG_TRIAL_ID,
    child_runs,
    end_run,
    git_commit,
    log_params,
    log_records,
    run_tags,
    start_run,
    sweep_runs,
)
from motif_tune.tracking.ui import show_in_runs_view

log = logging.getLogger(__name__)


class SweepRun:
    """The parent run of one sweep."""

    def __init__(self, settings: Settings, client: MlflowClient | None = None) -> None:
        self.settings = settings
        self.client = client or mlflow_client(settings)
        self.experiment_id = experiment_id(self.client, settings)
        self.run_id: str | None = None

    @property
    def tracking_uri(self) -> str:
        return self.settings.tracking.uri

    def start(self, overrides: Iterable[str] = ()) -> str:
        """Create the parent run (or continue the one with this run name)."""
        existing = self._find_parent()
        if existing is not None:
            self.run_id = existing
            self.client.update_run(existing, status="RUNNING")
            return existing
        settings = self.settings
        tags = run_tags(settings, "sweep") | {
            TAG_SWEEP: settings.run_name,
            "sweep": settings.sweep.name,
            "hydra_overrides": masked_tag(" ".join(overrides)),
        }
        commit = git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        show_in_runs_view(self.client, self.experiment_id, settings.sweep.space)
        self.run_id = start_run(
            self.client, self.experiment_id, settings.run_name, tags, sweep_params(settings)
        )
        self.log_config()
        return self.run_id

    def finish(self, status: str = "FINISHED") -> None:
        if self.run_id:
            end_run(self.client, self.run_id, status)

    def _find_parent(self) -> str | None:
        runs = sweep_runs(self.client, [self.experiment_id], self.settings.run_name)
        return runs[0].info.run_id if runs else None

    def log_new_params(self, params: Mapping[str, Any]) -> None:
        """Log params the run does not hold yet (MLflow params are write-once)."""
        existing = self.client.get_run(self.run_id).data.params
        log_params(self.client, self.run_id, {k: v for k, v in params.items() if k not in existing})

    def log_checkpoint(self, trial_id: str, path: str, rank: int, value: float) -> None:
        """Upload a checkpoint folder to its trial's run (``checkpoint/``) and tag its rank."""
        run_id = self.child_runs().get(trial_id)
        if run_id is None:
            return
        self.client.log_artifacts(run_id, path, artifact_path=CHECKPOINT_ARTIFACT)
        tags = [RunTag(TAG_CHECKPOINT_RANK, str(rank)), RunTag(TAG_CHECKPOINT_SOURCE, path)]
        log_records(self.client, run_id, tags=tags)
        log.info("Logged checkpoint #%d (%s) of trial %s to MLflow.", rank, fmt(value), trial_id)

    def log_files(self, folder: str, paths: Iterable[Path]) -> None:
        """Files into the parent run's artifacts under ``folder``."""
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def log_config(self) -> None:
        """The composed config as YAML, so a sweep can be re-run from what it recorded."""
        from omegaconf import OmegaConf

        config = OmegaConf.to_yaml(self.settings.recorded_config)
        self.client.log_text(self.run_id, mask_secrets(config), "config.yaml")

    def child_runs(self, role: str | None = None) -> dict[str, str]:
        """trial id -> child run id, for the trials (of ``role``) this sweep recorded."""
        return {trial_id: run.info.run_id for trial_id, run in self.trial_runs(role).items()}

    def trial_runs(self, role: str | None = None, round_: int | None = None) -> dict[str, Run]:
        """trial id -> child run (with its params and last metrics), for the trials (of
        ``role``, of a verification race's ``round_``) this sweep recorded."""
        runs = child_runs(self.client, self.experiment_id, self.run_id)
        return {
            r.data.tags[TAG_TRIAL_ID]: r
            for r in runs
            if TAG_TRIAL_ID in r.data.tags
            and role in (None, r.data.tags.get(TAG_ROLE))
            and round_ in (None, int(r.data.tags.get(TAG_ROUND, 1)))
        }
