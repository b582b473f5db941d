"""MLflow: the parent run of one sweep.

Trials are nested child runs under it (:mod:`motif_tune.tracking.callback`),
found again by their trial id tag, so a resumed sweep continues its runs
instead of duplicating them. The parent holds the composed config, the best
trial's values, the top checkpoints' registry version and the sweep's plots.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.entities import Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from motif_tune.config import Settings
from motif_tune.errors import UnsupportedPolicyError
from motif_tune.results import fmt, mask_secrets
from motif_tune.rllib.algorithm import RLLIB_METADATA
from motif_tune.tracking.params import sweep_params
from motif_tune.tracking.policy_model import (
    CHECKPOINT_ARTIFACT,
    log_policy_model,
    tracking_uri_set,
)
from motif_tune.tracking.store import (
    TAG_CHECKPOINT_RANK,
    TAG_CHECKPOINT_SOURCE,
    TAG_ROLE,
    TAG_SWEEP,
    TAG_TRIAL_ID,
    child_runs,
    experiment_id,
    git_commit,
    log_params,
    mlflow_client,
    run_tags,
    show_in_runs_view,
    sweep_runs,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class SweepRun:
    """The parent run of one sweep."""

    def __init__(self, settings: Settings, client: MlflowClient | None = None) -> None:
        self.settings = settings
        self.client = client or mlflow_client(settings)
        self.experiment_id = experiment_id(self.client, settings)
        self.run_id: str | None = None

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
            "hydra_overrides": mask_secrets(" ".join(overrides))[:5000],
        }
        commit = git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        show_in_runs_view(self.client, self.experiment_id, settings.sweep.space)
        run = self.client.create_run(self.experiment_id, run_name=settings.run_name, tags=tags)
        self.run_id = run.info.run_id
        log_params(self.client, self.run_id, sweep_params(settings))
        self.log_config()
        return self.run_id

    def finish(self, status: str = "FINISHED") -> None:
        if self.run_id:
            self.client.set_terminated(self.run_id, status=status)

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
        self.client.log_batch(
            run_id,
            tags=[RunTag(TAG_CHECKPOINT_RANK, str(rank)), RunTag(TAG_CHECKPOINT_SOURCE, path)],
        )
        log.info("Logged checkpoint #%d (%s) of trial %s to MLflow.", rank, fmt(value), trial_id)

    def register_champion(self, trial_id: str, model_name: str, tags: Mapping[str, str]) -> str:
        """Register a trial's checkpoint as a new model version, aliased ``champion``.

        The version is a pyfunc model (``policy``, logged into the trial's run)
        that wraps the checkpoint and answers observations with greedy actions
        (:mod:`motif_tune.tracking.policy_model`). An env whose observations or
        actions are not rows of numbers gets its raw ``checkpoint/`` upload
        registered instead.
        """
        run_id = self.child_runs()[trial_id]
        self._ensure_registered_model(model_name)
        source, model_id = self._policy_model(trial_id, run_id)
        # A SQLite registry resolves a ``models:/m-...`` source with the global tracking URI.
        with tracking_uri_set(self.settings.tracking.uri):
            version = self.client.create_model_version(
                model_name,
                source=source,
                run_id=run_id,
                tags={
                    TAG_SWEEP: self.settings.run_name,
                    "algo": self.settings.algo.name,
                    "env": self.settings.env.id,
                    **tags,
                },
                description=f"Champion of sweep {self.settings.run_name}.",
                model_id=model_id,
            )
        self.client.set_registered_model_alias(model_name, "champion", version.version)
        self.client.set_tag(self.run_id, "registered_model", f"{model_name}/{version.version}")
        return str(version.version)

    def _ensure_registered_model(self, model_name: str) -> None:
        """The registered model, created unless it exists; sweeps ending at once may
        both find it missing, and the one that creates it second is not an error."""
        try:
            self.client.get_registered_model(model_name)
            return
        except MlflowException:
            pass
        try:
            self.client.create_registered_model(
                model_name, description="Best RLlib checkpoints of motif-tune sweeps."
            )
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def _policy_model(self, trial_id: str, run_id: str) -> tuple[str, str | None]:
        """(model source, logged model id) of the pyfunc model of a trial's checkpoint."""
        import mlflow.artifacts

        run = self.client.get_run(run_id)
        env = self.settings.env
        with tempfile.TemporaryDirectory() as folder:
            local = run.data.tags.get(TAG_CHECKPOINT_SOURCE)
            if not local or not (Path(local) / RLLIB_METADATA).is_file():  # not on this machine
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id,
                    artifact_path=CHECKPOINT_ARTIFACT,
                    dst_path=folder,
                    tracking_uri=self.settings.tracking.uri,
                )
            try:
                info = log_policy_model(
                    self.settings.tracking.uri,
                    run_id,
                    local,
                    env.id,
                    env.env_config,
                    normalize_actions=env.normalize_actions,
                    clip_actions=env.clip_actions,
                )
            except UnsupportedPolicyError as err:
                log.warning(
                    "Registering trial %s's raw checkpoint, no pyfunc model: %s", trial_id, err
                )
                return f"{run.info.artifact_uri}/{CHECKPOINT_ARTIFACT}", None
        return info.model_uri, info.model_id

    def log_verification(self, rows: list[dict[str, Any]], metric: str) -> None:
        """The finalists' per-seed scores as a table and a plot (``verification/``)."""
        import pandas as pd

        from motif_tune.tracking.plots import finalists_plot

        with tempfile.TemporaryDirectory() as folder:
            table = Path(folder) / "finalists.csv"
            pd.DataFrame(rows).to_csv(table, index=False)
            plot = finalists_plot(rows, Path(folder) / "finalists.png", metric)
            for path in (table, plot):
                self.client.log_artifact(self.run_id, str(path), artifact_path="verification")

    def log_plots(self, trials: pd.DataFrame) -> None:
        """The trials as ``plots/trials.csv`` and the study of the values they ran with
        as plots (``plots/study.html`` and PNGs)."""
        from motif_tune.tracking.plots import applied_study, study_plots

        sweep = self.settings.sweep
        with tempfile.TemporaryDirectory() as folder:
            study = applied_study(trials, sweep.space, sweep.mode)
            paths = study_plots(study, Path(folder), sweep.metric)
            table = Path(folder) / "trials.csv"
            trials.to_csv(table, index=False)
            for path in [table, *paths]:
                self.client.log_artifact(self.run_id, str(path), artifact_path="plots")

    def log_config(self) -> None:
        """The composed config as YAML, so a sweep can be re-run from what it recorded."""
        from omegaconf import OmegaConf

        config = OmegaConf.to_yaml(self.settings.recorded_config)
        self.client.log_text(self.run_id, mask_secrets(config), "config.yaml")

    def child_runs(self, role: str | None = None) -> dict[str, str]:
        """trial id -> child run id, for the trials (of ``role``) this sweep recorded."""
        return {trial_id: run.info.run_id for trial_id, run in self.trial_runs(role).items()}

    def trial_runs(self, role: str | None = None) -> dict[str, Run]:
        """trial id -> child run (with its params and last metrics), for the trials (of
        ``role``) this sweep recorded."""
        runs = child_runs(self.client, self.experiment_id, self.run_id)
        return {
            r.data.tags[TAG_TRIAL_ID]: r
            for r in runs
            if TAG_TRIAL_ID in r.data.tags and role in (None, r.data.tags.get(TAG_ROLE))
        }
