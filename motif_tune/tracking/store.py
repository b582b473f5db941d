"""The MLflow store: a client, the experiment, batched writes, the project's run tags,
and finding a sweep's runs again by tag.

Nothing here imports Ray, so notebooks and the plots read runs through it cheaply.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.entities import Metric, Param, Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.results import OBJECTIVE, mask_secrets, one_line

log = logging.getLogger(__name__)

TAG_SWEEP = "motif_tune.sweep"
TAG_ROLE = "motif_tune.role"
TAG_TRIAL_ID = "motif_tune.trial_id"
TAG_TRIAL_STATUS = "motif_tune.trial_status"
TAG_CHECKPOINT_RANK = "motif_tune.checkpoint_rank"
TAG_CHECKPOINT_SOURCE = "motif_tune.checkpoint_source"
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
_MAX_BATCH = 900
_PAGE = 1000


def check_tracking_server(uri: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when no server answers."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
            return
    except OSError as err:
        raise ConfigError(
            f"tracking.uri '{uri}': no MLflow tracking server answers there "
            f"({err.strerror or err}); start it (mlflow server --host …) or fix tracking.uri."
        ) from None


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
    if uri.startswith("sqlite:///"):
        return _open_sqlite_store(uri, Path(uri.removeprefix("sqlite:///")))
    return MlflowClient(tracking_uri=uri)


def _open_sqlite_store(uri: str, path: Path, attempts: int = 8) -> MlflowClient:
    """Create (and migrate) a SQLite store once, even when several processes open it at once.

    MLflow creates and migrates an empty SQLite store when a client is made for it;
    two processes doing that together collide (``table _alembic_tmp_… already
    exists``, ``duplicate column name``). Processes of this project make their
    client under a lock beside the store; any other opener (the UI, a notebook) is
    outlasted by retrying until its migration is done.
    """
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
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


def store_exists(settings: Settings) -> bool:
    """False for a local SQLite store that was never written (no runs anywhere)."""
    uri = settings.tracking.uri
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()


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


UI_ADDRESS = "http://127.0.0.1:5000"
# The UI opens in its "Model training" mode (runs, models) with this, not in GenAI mode.
UI_MODE = "workflowType=machine_learning"
# A saved view of the runs table (an experiment tag the UI reads): trials by objective,
# with what they spent and their searched values as columns.
RUNS_VIEW_ID = "motif-tune-trials"
_RUNS_VIEW_TAG = f"mlflow.sharedViewState.{RUNS_VIEW_ID}"
_VIEW_METRICS = (OBJECTIVE, "num_env_steps_sampled_lifetime", "time_total_s")
_VIEW_TAGS = ("algo", "sweep", TAG_TRIAL_STATUS)


def ui_command(uri: str, experiment: str | None = None) -> str:
    """The command that serves the MLflow UI on ``uri``'s store, on 127.0.0.1, and the
    page to open: the experiment's trials, best first."""
    page = runs_table_link(uri, experiment)
    if uri.startswith(("http://", "https://")):
        return f"open {page}"
    if uri == f"sqlite:///{Path.cwd() / 'runs' / 'mlflow.db'}":
        return f"make ui, then open {page}"
    return f"mlflow ui --backend-store-uri '{uri}' --host 127.0.0.1 --port 5000, then open {page}"


def runs_table_link(uri: str, experiment: str | None) -> str:
    """The experiment's runs table in the saved view: trials by objective."""
    base = _ui_base(uri)
    if experiment is None:
        return f"{base}/?{UI_MODE}"
    return f"{base}/#/experiments/{experiment}/runs?viewStateShareKey={RUNS_VIEW_ID}&{UI_MODE}"


def ui_link(uri: str, experiment: str | None, run_id: str | None) -> str:
    """Where the run is in the UI: its page on a server, or its id on a local store."""
    base = _ui_base(uri)
    if experiment is None or run_id is None:
        return f"{run_id} at {uri}"
    return f"{base}/#/experiments/{experiment}/runs/{run_id}?{UI_MODE}"


def _ui_base(uri: str) -> str:
    """A tracking server's own address, or where ``mlflow ui`` serves a local store."""
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else UI_ADDRESS


def show_in_runs_view(client: MlflowClient, experiment: str, params: Iterable[str]) -> None:
    """Add ``params`` (a sweep's searched names) to the experiment's saved runs view,
    creating the view when the experiment has none."""
    tags = client.get_experiment(experiment).tags
    try:
        view = json.loads(tags[_RUNS_VIEW_TAG])
        state = json.loads(view["state"])
    except (KeyError, ValueError, TypeError):
        now = int(time.time() * 1000)
        view = {"name": "Trials by objective", "createdAt": now, "updatedAt": now}
        state = _runs_view_state()
    columns = state.setdefault("selectedColumns", [])
    wanted = [f"params.`{name}`" for name in params]
    if _RUNS_VIEW_TAG in tags and all(column in columns for column in wanted):
        return
    first_tag = next((i for i, c in enumerate(columns) if c.startswith("tags.")), len(columns))
    columns[first_tag:first_tag] = [c for c in wanted if c not in columns]
    view["state"] = json.dumps(state)
    client.set_experiment_tag(experiment, _RUNS_VIEW_TAG, json.dumps(view))


def _runs_view_state() -> dict[str, Any]:
    """The runs table's state as the UI saves a view (its search facets and UI state)."""
    return {
        "searchFilter": "",
        "orderByKey": f"metrics.`{OBJECTIVE}`",
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": [
            *(f"metrics.`{key}`" for key in _VIEW_METRICS),
            *(f"tags.`{key}`" for key in _VIEW_TAGS),
        ],
        "columnOrder": [],
        "columnWidths": {},
        "runsHiddenMode": "SHOW_ALL",
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": False,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
        "globalLineChartConfig": {
            "xAxisKey": "step",
            "lineSmoothness": 0,
            "selectedXAxisMetricKey": "",
        },
    }


def run_tags(settings: Settings, role: str) -> dict[str, str]:
    """The tags of a run of this project: its name, its role and the composed groups."""
    return {
        MLFLOW_RUN_NAME: settings.run_name,
        TAG_ROLE: role,
        "env": settings.env.name,
        "algo": settings.algo.name,
        "scaling": settings.scaling.name,
    }


def param_values(params: Mapping[str, Any]) -> dict[str, str]:
    """Params as MLflow stores them: strings, secrets masked, long values cut."""
    return {k: _param_value(v) for k, v in params.items()}


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    items = [Param(k, v) for k, v in param_values(params).items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start : start + 100])


def log_metrics(client: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int) -> None:
    now = int(time.time() * 1000)
    items = [Metric(k, v, now, step) for k, v in metrics.items()]
    for start in range(0, len(items), _MAX_BATCH):
        client.log_batch(run_id, metrics=items[start : start + _MAX_BATCH])


def sweep_runs(
    client: MlflowClient, experiment_ids: Iterable[str], sweep: str | None = None, limit: int = 1
) -> list[Run]:
    """Parent runs of sweeps, newest first: the one named ``sweep``, or any."""
    query = f"tags.`{TAG_ROLE}` = 'sweep'"
    if sweep is not None:
        query += f" and tags.`{TAG_SWEEP}` = '{sweep}'"
    return client.search_runs(
        list(experiment_ids),
        filter_string=query,
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )


def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list[Run]:
    """Every run nested under ``parent_run_id``, in trial id order."""
    query = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'"
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=query, max_results=_PAGE, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    return sorted(runs, key=lambda r: r.data.tags.get(TAG_TRIAL_ID, r.info.run_name or ""))


def git_commit() -> str | None:
    """The checkout's commit, when the code runs from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _param_value(value: Any) -> str:
    text = mask_secrets(str(value))
    return text if len(text) <= 6000 else text[:5997] + "..."
