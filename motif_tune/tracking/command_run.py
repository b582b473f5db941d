"""The MLflow run of a ``train`` or ``evaluate`` command: one run, its settings as params,
its curves (or scores), the checkpoint it wrote, and its end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motif_tune.config import Settings
from motif_tune.secrets import masked_tag
from motif_tune.tracking.client import experiment_id, mlflow_client
from motif_tune.tracking.policy_model import CHECKPOINT_ARTIFACT
from motif_tune.tracking.runs import end_run, log_metrics, run_tags, start_run


class CommandRun:
    """One command's run in the experiment of ``settings``: the store is opened (and a
    tracking server checked) when it is made, before Ray starts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = mlflow_client(settings)
        self.experiment_id = experiment_id(self.client, settings)
        self.run_id = ""

    @property
    def tracking_uri(self) -> str:
        return self.settings.tracking.uri

    def start(
        self, role: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None
    ) -> str:
        """Create the run (role ``train`` or ``evaluate``) with its params; secrets in its
        extra tags are masked."""
        all_tags = run_tags(self.settings, role) | {
            k: masked_tag(v) for k, v in (tags or {}).items()
        }
        self.run_id = start_run(
            self.client, self.experiment_id, self.settings.run_name, all_tags, params
        )
        return self.run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        log_metrics(self.client, self.run_id, metrics, step)

    def log_checkpoint(self, folder: str) -> str:
        """Upload a checkpoint folder (``checkpoint/``); returns the URI that names it."""
        self.client.log_artifacts(self.run_id, folder, artifact_path=CHECKPOINT_ARTIFACT)
        return f"runs:/{self.run_id}/{CHECKPOINT_ARTIFACT}"

    def end(self, status: str = "FINISHED") -> None:
        end_run(self.client, self.run_id, status)
