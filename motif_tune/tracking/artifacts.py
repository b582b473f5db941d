"""Checkpoints named by MLflow URIs, downloaded to a local folder.

``checkpoint=`` takes a folder, ``runs:/<id>/checkpoint`` or
``models:/<name>/<version>`` (or ``@alias``); MLflow URIs are downloaded under
``paths.root/downloads``, after checking with this store's client that the run
or model version exists, so MLflow never falls back to a default registry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.rllib.checkpoints import CheckpointSource, checkpoint_folder
from motif_tune.text import one_line
from motif_tune.tracking.client import mlflow_client, store_exists


def resolve_checkpoint(settings: Settings) -> CheckpointSource:
    """``settings.checkpoint`` as a local checkpoint folder (MLflow URIs are downloaded)."""
    source = settings.checkpoint
    if not source:
        raise ConfigError(
            "checkpoint must be set, e.g. checkpoint=runs/ray_results/<run>/checkpoint_000010, "
            "checkpoint=runs:/<run_id>/checkpoint or checkpoint=models:/<name>/<version>."
        )
    if source.startswith(("runs:/", "models:/")):
        local = _download(settings, source)
    else:
        local = Path(source).expanduser().resolve()
        if not local.exists():
            raise ConfigError(
                f"checkpoint '{source}' does not exist ({local}); give a checkpoint folder, "
                "a runs:/<run_id>/checkpoint or a models:/<name>/<version> URI."
            )
    return CheckpointSource(source, checkpoint_folder(local, source))


def download_model_version(settings: Settings, model: str, version: str) -> CheckpointSource:
    """The checkpoint inside a registered model version, downloaded."""
    uri = f"models:/{model}/{version}"
    return CheckpointSource(uri, checkpoint_folder(_download(settings, uri), uri))


def _download(settings: Settings, uri: str) -> Path:
    """Download a ``runs:/`` or ``models:/`` checkpoint under ``paths.root/downloads``."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    key, artifact_uri = _mlflow_source(settings, uri)
    target = settings.paths.root / "downloads" / key
    shutil.rmtree(target, ignore_errors=True)  # a fresh copy, never a half-finished one
    try:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bar in logs
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri, dst_path=str(target), tracking_uri=settings.tracking.uri
        )
    except (MlflowException, OSError) as err:
        shutil.rmtree(target, ignore_errors=True)
        raise ConfigError(f"checkpoint '{uri}' cannot be downloaded: {one_line(err)}.") from None
    return Path(local)


def _mlflow_source(settings: Settings, uri: str) -> tuple[str, str]:
    """Check that the run or model version exists: a folder name for it and what to download.

    A model version is resolved to its artifact location here, with this
    store's client, so MLflow never falls back to a default registry.
    """
    from mlflow.exceptions import MlflowException

    where = f"in the MLflow store at {settings.tracking.uri}"
    if not store_exists(settings.tracking.uri):
        raise ConfigError(f"checkpoint '{uri}' names nothing: no MLflow store exists yet {where}.")
    client = mlflow_client(settings)
    if uri.startswith("runs:/"):
        run_id, _, artifact = uri.removeprefix("runs:/").partition("/")
        try:
            client.get_run(run_id)
        except MlflowException:
            raise ConfigError(
                f"checkpoint '{uri}' names no MLflow run '{run_id}' {where}; copy the run id "
                "from the MLflow UI or a train summary."
            ) from None
        return f"run-{run_id}-{artifact.strip('/').replace('/', '-') or 'artifacts'}", uri
    name, version = _model_name_and_version(uri)
    try:
        if version.startswith("@"):
            found = client.get_model_version_by_alias(name, version[1:])
        elif version.isdigit():
            found = client.get_model_version(name, version)
        else:
            found = max(client.search_model_versions(f"name = '{name}'"), key=_version_number)
        location = client.get_model_version_download_uri(name, found.version)
    except (MlflowException, ValueError):
        raise ConfigError(
            f"checkpoint '{uri}' names no registered model version {where}; use "
            "models:/<name>/<version> with a name and version from the MLflow UI's Models page."
        ) from None
    return f"model-{name}-{found.version}", location


def _model_name_and_version(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("models:/").strip("/")
    if "@" in rest.split("/", 1)[0]:
        name, alias = rest.split("/", 1)[0].split("@", 1)
        return name, f"@{alias}"
    name, _, version = rest.partition("/")
    return name, version.split("/", 1)[0] or "latest"


def _version_number(version: Any) -> int:
    return int(version.version)
