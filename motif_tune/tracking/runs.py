"""Runs of this project in MLflow: the one way they are created and ended, their tags,
their params and metrics in as few calls as MLflow's limits allow, and finding a
sweep's runs again by tag."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from motif_tune.config import Settings
from motif_tune.secrets import mask_secrets

TAG_SWEEP = "motif_tune.sweep"
TAG_ROLE = "motif_tune.role"
TAG_TRIAL_ID = "motif_tune.trial_id"
# A verification race's round (its own Tune experiment); runs without it: the first.
TAG_ROUND = "motif_tune.round"
TAG_TRIAL_STATUS = "motif_tune.trial_status"
TAG_CHECKPOINT_RANK = "motif_tune.checkpoint_rank"
TAG_CHECKPOINT_SOURCE = "motif_tune.checkpoint_source"
TAG_CHECKPOINT = "motif_tune.checkpoint"
# A population member's exploits (JSON: step, source trial, old and new values), and
# how far its run's steps run ahead of its iterations after them.
TAG_LINEAGE = "motif_tune.lineage"
TAG_STEP_OFFSET = "motif_tune.step_offset"
# Names one creation of a run, so that a retried create finds the run an earlier
# attempt made (the store took the request; its answer was lost in an outage).
TAG_CREATION = "motif_tune.creation"
# MLflow's limits for one log_batch call.
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 1000, 100, 100, 1000
_PAGE = 1000


def start_run(
    client: MlflowClient,
    experiment_id: str,
    name: str,
    tags: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> str:
    """A new run with its tags (and params); returns its id."""
    run = client.create_run(experiment_id, run_name=name, tags=dict(tags))
    if params:
        log_params(client, run.info.run_id, params)
    return run.info.run_id


def start_run_once(
    client: MlflowClient, experiment_id: str, name: str, tags: Mapping[str, str]
) -> Callable[[], str]:
    """A create that is safe to retry: each call after the first returns the run an
    earlier call created, when the store holds one, instead of making a second."""
    creation = uuid.uuid4().hex
    tags = {**tags, TAG_CREATION: creation}
    calls = 0

    def create() -> str:
        nonlocal calls
        calls += 1
        if calls > 1:
            found = client.search_runs(
                [experiment_id], filter_string=f"tags.`{TAG_CREATION}` = '{creation}'"
            )
            if found:
                return found[0].info.run_id
        return start_run(client, experiment_id, name, tags)

    return create


def end_run(client: MlflowClient, run_id: str, status: str = "FINISHED") -> None:
    """End a run as FINISHED, FAILED or KILLED."""
    client.set_terminated(run_id, status=status)


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
    log_records(client, run_id, params=[Param(k, v) for k, v in param_values(params).items()])


def log_metrics(client: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int) -> None:
    now = int(time.time() * 1000)
    log_records(client, run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])


def log_records(
    client: MlflowClient,
    run_id: str,
    metrics: Sequence[Metric] = (),
    params: Sequence[Param] = (),
    tags: Sequence[RunTag] = (),
) -> None:
    """Metrics, params and tags of one run in as few ``log_batch`` calls as MLflow allows."""
    for m, p, t in batches(list(metrics), list(params), list(tags)):
        client.log_batch(run_id, metrics=m, params=p, tags=t)


def batches(
    metrics: list[Metric], params: list[Param], tags: list[RunTag]
) -> Iterator[tuple[list[Metric], list[Param], list[RunTag]]]:
    """The records in as few ``log_batch`` calls as MLflow's limits allow."""
    while metrics or params or tags:
        p, params = params[:MAX_PARAMS], params[MAX_PARAMS:]
        t, tags = tags[:MAX_TAGS], tags[MAX_TAGS:]
        room = min(MAX_METRICS, MAX_ENTITIES - len(p) - len(t))
        m, metrics = metrics[:room], metrics[room:]
        yield m, p, t


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
