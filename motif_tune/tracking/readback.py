"""A sweep read back from MLflow: its parent run, one row per trial, learning curves.

Returns plain DataFrames, ready to sort and plot (the notebook uses these).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from mlflow.entities import Metric, Run
from mlflow.tracking import MlflowClient

from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.results import OBJECTIVE
from motif_tune.tracking.client import (
    DEFAULT_EXPERIMENT,
    experiment_id,
    mlflow_client,
    store_exists,
)
from motif_tune.tracking.runs import (
    TAG_ROLE,
    TAG_SWEEP,
    TAG_TRIAL_ID,
    TAG_TRIAL_STATUS,
    child_runs,
    sweep_runs,
)

DEFAULT_METRIC, DEFAULT_MODE = "env_runners/episode_return_mean", "max"
# The columns of ``sweep_frame`` that are not searched parameters.
FRAME_COLUMNS = ("run_id", "trial_id", "status", "final_value", "best_value")
CURVE_COLUMNS = ("run_id", "step", "value")


def find_sweep_run(
    client: MlflowClient, sweep: str | None = None, experiment_name: str = DEFAULT_EXPERIMENT
) -> Run:
    """The parent run of sweep ``sweep`` (its run name), else the latest sweep."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"No MLflow experiment '{experiment_name}' at {client.tracking_uri}.")
    runs = sweep_runs(client, [experiment.experiment_id], sweep or None)
    if not runs:
        which = f"named '{sweep}'" if sweep else "at all"
        raise LookupError(f"No sweep {which} in experiment '{experiment_name}'.")
    return runs[0]


def objective(parent: Run) -> tuple[str, str]:
    """(metric, mode) the sweep ranked trials by, from its parent run's params: the
    ``objective`` every trial logs (sweeps that record how it is scored), else the
    raw metric."""
    params = parent.data.params
    metric = OBJECTIVE if "sweep.objective.by" in params else params.get("sweep.metric")
    if metric is None:
        best = [k.removeprefix("best/") for k in parent.data.metrics if k.startswith("best/")]
        metric = best[0] if best else DEFAULT_METRIC
    mode = params.get("sweep.mode", DEFAULT_MODE)
    return metric, mode if mode in ("min", "max") else DEFAULT_MODE


def sweep_frame(
    client: MlflowClient,
    parent_run_id: str,
    metric: str | None = None,
    mode: str | None = None,
    role: str = "trial",
) -> pd.DataFrame:
    """One row per trial of a sweep: ids, status, searched params and the objective.

    ``role`` picks the search's trials (``trial``) or the verification's (``verify``).

    Columns: ``run_id``, ``trial_id``, ``status``, one per searched parameter
    (numeric where every value is a number), ``final_value`` (last reported)
    and ``best_value`` (best over all iterations, by ``mode``) of ``metric``.
    ``metric``/``mode`` default to the sweep's own; ``frame.attrs`` records them
    with the parameter names under ``params``.
    """
    parent = client.get_run(parent_run_id)
    sweep_metric, sweep_mode = objective(parent)
    metric, mode = metric or sweep_metric, mode or sweep_mode
    runs = [
        run
        for run in child_runs(client, parent.info.experiment_id, parent_run_id)
        if run.data.tags.get(TAG_ROLE, "trial") == role
    ]
    names = searched_names(parent, runs, role)
    rows = [_trial_row(client, run, metric, mode, names) for run in runs]
    frame = pd.DataFrame(rows, columns=[*FRAME_COLUMNS[:3], *names, *FRAME_COLUMNS[3:]])
    for name in names:
        frame[name] = _as_numbers(frame[name])
    for column in FRAME_COLUMNS[3:]:
        frame[column] = frame[column].astype(float)
    frame.attrs.update(metric=metric, mode=mode, params=names)
    return frame


def searched_names(parent: Run, runs: list[Run], role: str = "trial") -> list[str]:
    """The sweep's searched names (its ``sweep.space.<name>`` params; ``seed`` too for
    verification), or every trial param for sweeps that did not record their space."""
    recorded = {name for run in runs for name in run.data.params}
    space = [
        key.removeprefix("sweep.space.")
        for key in parent.data.params
        if key.startswith("sweep.space.") and not key.endswith(".path")
    ]
    names = [name for name in space if name in recorded]
    if not names:
        return sorted(recorded)
    return [*names, "seed"] if role == "verify" and "seed" in recorded else names


def champion(parent: Run) -> dict[str, Any]:
    """The champion's settings (``best.*``) and scores, as the sweep recorded them."""
    params, metrics = parent.data.params, parent.data.metrics
    found: dict[str, Any] = {
        k.removeprefix("best."): v for k, v in params.items() if k.startswith("best.")
    }
    found |= {k: v for k, v in metrics.items() if k.startswith(("champion/", "best/"))}
    return found


def finalists(client: MlflowClient, parent: Run) -> pd.DataFrame:
    """The verified finalists (settings, search score, per-seed scores, mean, spread);
    empty when the sweep verified nothing."""
    try:
        path = client.download_artifacts(parent.info.run_id, "verification/finalists.csv")
    except Exception:  # no verification artifact
        return pd.DataFrame()
    return pd.read_csv(path)


def searched_params(frame: pd.DataFrame) -> list[str]:
    """The searched parameter columns of a ``sweep_frame``."""
    return [c for c in frame.columns if c not in FRAME_COLUMNS]


def rank_trials(frame: pd.DataFrame, mode: str | None = None) -> pd.DataFrame:
    """Trials best first by ``best_value``; trials without a value last."""
    mode = mode or frame.attrs.get("mode", DEFAULT_MODE)
    ranked = frame.sort_values("best_value", ascending=mode == "min", na_position="last")
    return ranked.reset_index(drop=True)


def learning_curves(client: MlflowClient, run_ids: Iterable[str], metric: str) -> pd.DataFrame:
    """Long format ``run_id, step, value`` of one metric over the given runs.

    A run without the metric adds no rows; a step logged twice (a resumed
    trial) keeps its latest value.
    """
    rows = []
    for run_id in dict.fromkeys(run_ids):
        history = sorted(client.get_metric_history(run_id, metric), key=_step_order)
        latest = {int(point.step): float(point.value) for point in history}
        rows.extend((run_id, step, value) for step, value in latest.items())
    frame = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    return frame.astype({"run_id": "object", "step": "int64", "value": "float64"})


def _step_order(point: Metric) -> tuple[int, int]:
    return int(point.step), int(point.timestamp)


def _trial_row(
    client: MlflowClient, run: Run, metric: str, mode: str, names: list[str]
) -> dict[str, Any]:
    history = client.get_metric_history(run.info.run_id, metric)
    values = [p.value for p in history if math.isfinite(p.value)]
    final = max(history, key=_step_order).value if history else math.nan
    best = (max(values) if mode == "max" else min(values)) if values else math.nan
    tags = run.data.tags
    return {
        "run_id": run.info.run_id,
        "trial_id": tags.get(TAG_TRIAL_ID, run.info.run_name),
        "status": tags.get(TAG_TRIAL_STATUS, run.info.status.lower()),
        **{name: value for name, value in run.data.params.items() if name in names},
        "final_value": final,
        "best_value": best,
    }


def _as_numbers(column: pd.Series) -> pd.Series:
    """The column as numbers when every present value is one, else unchanged."""
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        return column


def recorded_sweep_params(settings: Settings, name: str) -> dict[str, str]:
    """The params sweep ``name`` recorded on its parent run (its ``best.*`` values and the
    config paths of its searched names); one sentence when there is no such sweep."""
    if "'" in name or not store_exists(settings.tracking.uri):
        raise ConfigError(_no_sweep_message(settings, name, []))
    client = mlflow_client(settings)
    exp_id = experiment_id(client, settings)
    runs = sweep_runs(client, [exp_id], name)
    if not runs:
        raise ConfigError(_no_sweep_message(settings, name, _recent_sweeps(client, exp_id)))
    return dict(runs[0].data.params)


def _recent_sweeps(client: MlflowClient, exp_id: str, count: int = 5) -> list[str]:
    runs = sweep_runs(client, [exp_id], limit=count)
    return [r.data.tags.get(TAG_SWEEP, r.info.run_name) for r in runs]


def _no_sweep_message(settings: Settings, name: str, recent: list[str]) -> str:
    known = f"recent sweeps: {', '.join(recent)}" if recent else "no sweep is recorded there yet"
    return (
        f"train.from_sweep '{name}' names no sweep in MLflow experiment "
        f"'{settings.tracking.experiment_name}' at {settings.tracking.uri}; {known}."
    )
