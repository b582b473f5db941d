"""The MLflow store: a client for it (a local SQLite file created safely, a server that
answers), and the project's experiment in it.

Nothing here imports Ray, so notebooks and scripts open the store through it cheaply.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.stores import check_tracking_server, created_once, sqlite_path
from motif_tune.text import one_line

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "motif_tune"
# The UI opens an experiment of this kind on its runs table (not on a GenAI overview).
EXPERIMENT_TAGS = {
    "mlflow.experimentKind": "custom_model_development",
    "mlflow.note.content": (
        "motif-tune sweeps: one parent run per sweep (role `sweep`), its search trials "
        "(role `trial`) and verification trials (role `verify`) nested under it. Sort by "
        "the `objective` metric; the registered model's `champion` alias is the sweep's "
        "verified winner."
    ),
}


def mlflow_client(settings: Settings) -> MlflowClient:
    """A client for ``tracking.uri``, failing fast when no server answers."""
    check_tracking_server(settings.tracking.uri)
    return open_store(settings.tracking.uri)


def open_store(uri: str) -> MlflowClient:
    """A client for ``uri``; a local SQLite store is created safely (see below).

    Open a store that a sweep may be creating this way (a notebook, a script, a
    test), not with a bare ``MlflowClient``.
    """
    # A server store prints two "View run … at: URL" lines per finished run (the URL
    # with any password in it); the sweep's summary gives the links instead.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    path = sqlite_path(uri)
    if path is None:
        return MlflowClient(tracking_uri=uri)
    return created_once(path, lambda: _outlast_other_creators(uri))


def _outlast_other_creators(uri: str, attempts: int = 8) -> MlflowClient:
    """A client for a SQLite store, retried while another opener creates it.

    MLflow creates and migrates an empty SQLite store when a client is made for it;
    two processes doing that together collide (``table _alembic_tmp_… already
    exists``, ``duplicate column name``). Processes of this project make their
    client under a lock beside the store; any other opener (the UI, a notebook) is
    outlasted by retrying until its migration is done.
    """
    for attempt in range(1, attempts):
        try:
            return _opened(uri)
        except Exception as err:  # sqlalchemy's OperationalError, wrapped by MLflow
            if not _is_creation_race(err):
                raise
            log.info("Another process is creating the MLflow store; retrying.")
            time.sleep(0.5 * attempt)
    return _opened(uri)


def _opened(uri: str) -> MlflowClient:
    client = MlflowClient(tracking_uri=uri)  # creates and migrates a new store
    client.search_experiments(max_results=1)
    return client


def _is_creation_race(err: BaseException) -> bool:
    text = str(err)
    return any(
        sign in text
        for sign in (
            "already exists",
            "duplicate column",
            "database is locked",
            "no such table",
            "no such column",
            "migration",
        )
    )


def store_exists(uri: str) -> bool:
    """False for a local SQLite store that was never written (no runs anywhere)."""
    path = sqlite_path(uri)
    return path is None or path.exists()


def experiment_id(client: MlflowClient, settings: Settings) -> str:
    """Get or create the experiment; a new local one keeps artifacts under paths.root."""
    name = settings.tracking.experiment_name
    try:
        existing = client.get_experiment_by_name(name)
    except Exception as err:  # an unreachable server, a bad URI
        raise ConfigError(
            f"tracking.uri '{settings.tracking.uri}' cannot be reached ({one_line(err, 160)}); "
            "start the tracking server or point tracking.uri at a reachable one."
        ) from None
    if existing is not None:
        for key, value in EXPERIMENT_TAGS.items():
            if key not in existing.tags:
                client.set_experiment_tag(existing.experiment_id, key, value)
        return existing.experiment_id
    location = settings.tracking.artifact_location
    if location and settings.tracking.uri.startswith(("sqlite:", "file:", "/")):
        os.makedirs(location, exist_ok=True)
        location = Path(location).resolve().as_uri()
    else:
        location = None
    try:
        return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
    except Exception:  # another process created it a moment ago (a unique-name race)
        created = client.get_experiment_by_name(name)
        if created is None:
            raise
        return created.experiment_id
