"""The model registry: a sweep's champion as a new version of a registered model.

The version is a pyfunc model (``policy``, logged into the champion trial's run)
that wraps the RLlib checkpoint and answers observations with greedy actions
(:mod:`motif_tune.tracking.policy_model`). An env whose observations or actions
are not rows of numbers gets its raw ``checkpoint/`` upload registered instead.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from motif_tune.compat.mlflow import tracking_uri_set
from motif_tune.errors import UnsupportedPolicyError
from motif_tune.rllib.algorithm import RLLIB_METADATA
from motif_tune.tracking.policy_model import CHECKPOINT_ARTIFACT, log_policy_model
from motif_tune.tracking.runs import TAG_CHECKPOINT_SOURCE, TAG_SWEEP
from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)
CHAMPION_ALIAS = "champion"


def register_champion(
    sweep_run: SweepRun, trial_id: str, model_name: str, tags: Mapping[str, str]
) -> str:
    """Register a trial's checkpoint as a new version of ``model_name``, aliased
    ``champion``; returns the version."""
    client, settings = sweep_run.client, sweep_run.settings
    run_id = sweep_run.child_runs()[trial_id]
    ensure_registered_model(client, model_name)
    source, model_id = _policy_model(sweep_run, trial_id, run_id)
    # A SQLite registry resolves a ``models:/m-...`` source with the global tracking URI.
    with tracking_uri_set(sweep_run.tracking_uri):
        version = client.create_model_version(
            model_name,
            source=source,
            run_id=run_id,
            tags={
                TAG_SWEEP: settings.run_name,
                "algo": settings.algo.name,
                "env": settings.env.id,
                **tags,
            },
            description=f"Champion of sweep {settings.run_name}.",
            model_id=model_id,
        )
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version.version)
    client.set_tag(sweep_run.run_id, "registered_model", f"{model_name}/{version.version}")
    return str(version.version)


def ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    """The registered model, created unless it exists; sweeps ending at once may both
    find it missing, and the one that creates it second is not an error."""
    try:
        client.get_registered_model(model_name)
        return
    except MlflowException:
        pass
    try:
        client.create_registered_model(
            model_name, description="Best RLlib checkpoints of motif-tune sweeps."
        )
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _policy_model(sweep_run: SweepRun, trial_id: str, run_id: str) -> tuple[str, str | None]:
    """(model source, logged model id) of the pyfunc model of a trial's checkpoint."""
    import mlflow.artifacts

    run = sweep_run.client.get_run(run_id)
    env = sweep_run.settings.env
    with tempfile.TemporaryDirectory() as folder:
        local = run.data.tags.get(TAG_CHECKPOINT_SOURCE)
        if not local or not (Path(local) / RLLIB_METADATA).is_file():  # not on this machine
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=CHECKPOINT_ARTIFACT,
                dst_path=folder,
                tracking_uri=sweep_run.tracking_uri,
            )
        try:
            info = log_policy_model(
                sweep_run.tracking_uri,
                run_id,
                local,
                env.id,
                env.env_config,
                normalize_actions=env.normalize_actions,
                clip_actions=env.clip_actions,
            )
        except UnsupportedPolicyError as err:
            log.warning("Registering trial %s's raw checkpoint, no pyfunc model: %s", trial_id, err)
            return f"{run.info.artifact_uri}/{CHECKPOINT_ARTIFACT}", None
    return info.model_uri, info.model_id
