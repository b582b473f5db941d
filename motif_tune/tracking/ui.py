"""The MLflow UI: where a run or a sweep's trials are on it, the command that serves a
local store, and the saved view of the runs table (trials by objective)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from motif_tune.results import OBJECTIVE
from motif_tune.stores import is_server
from motif_tune.tracking.runs import TAG_TRIAL_STATUS

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
    if is_server(uri):
        return f"open {page}"
    home = Path(os.environ.get("MOTIF_TUNE_HOME") or "runs").resolve()
    if uri == f"sqlite:///{home / 'mlflow.db'}":  # the store `motif-tune ui` opens here
        return f"motif-tune ui, then open {page}"
    return f"motif-tune ui tracking.uri='{uri}', then open {page}"


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
    return uri.rstrip("/") if is_server(uri) else UI_ADDRESS


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
