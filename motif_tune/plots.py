"""Plots and tables of a sweep: from its Optuna study, or from its runs in MLflow.

``study_plots`` and ``trials_table`` work on an ``optuna.Study``. ``find_sweep_run``,
``sweep_frame`` and ``learning_curves`` read a sweep back through ``MlflowClient``
(one parent run per sweep, one child run per trial; see ``motif_tune.tracking``)
and return plain DataFrames, ready to sort and plot.

Figures are drawn off screen and closed once saved; the caller's pyplot backend
and style are left as they were, so this module is safe to import in a notebook.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import optuna
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Metric, Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

log = logging.getLogger(__name__)

# Tags written by motif_tune.tracking (kept literal here: this module needs no Ray).
TAG_ROLE = "motif_tune.role"
TAG_SWEEP = "motif_tune.sweep"
TAG_TRIAL_ID = "motif_tune.trial_id"
TAG_TRIAL_STATUS = "motif_tune.trial_status"
DEFAULT_EXPERIMENT = "motif_tune"
DEFAULT_METRIC, DEFAULT_MODE = "env_runners/episode_return_mean", "max"
# The columns of ``sweep_frame`` that are not searched parameters.
FRAME_COLUMNS = ("run_id", "trial_id", "status", "final_value", "best_value")
CURVE_COLUMNS = ("run_id", "step", "value")
_PAGE = 1000

PlotFn = Callable[[optuna.Study, str], Any]


# --------------------------------------------------------------------- Optuna study


def study_plots(study: optuna.Study, out_dir: Path, metric_name: str) -> list[Path]:
    """Write the study's history, importances and parallel coordinates as PNGs.

    A plot with nothing to show (no completed trial, fewer than two completed
    trials or a single parameter for importances) is skipped, never an error.
    Returns the files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, PlotFn] = {
        "optimization_history": _history_plot,
        "param_importances": _importances_plot,
        "parallel_coordinate": _parallel_plot,
    }
    written = []
    for name, plot in plots.items():
        reason = _skip_reason(study, name)
        if reason:
            log.info("Skipping the %s plot: %s.", name, reason)
            continue
        path = out_dir / f"{name}.png"
        if _draw(plot, study, metric_name, path):
            written.append(path)
    return written


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, duration and each parameter by name.

    Completed trials come first, best first; the others follow by number.
    """
    frame = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params"))
    if frame.empty:
        return pd.DataFrame(columns=["number", "state", "value", "duration"])
    frame = frame.rename(columns=lambda c: c.removeprefix("params_"))
    if "value" not in frame:  # a multi-objective study
        return frame
    descending = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ordered = frame.sort_values(
        ["value", "number"], ascending=[not descending, True], na_position="last"
    )
    return ordered.reset_index(drop=True)


def _completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _skip_reason(study: optuna.Study, plot: str) -> str | None:
    completed = _completed(study)
    if not completed:
        return "no completed trial"
    names = {name for trial in completed for name in trial.params}
    if plot == "param_importances":
        if len(completed) < 2:
            return "fewer than two completed trials"
        if len(names) < 2:
            return "fewer than two searched parameters"
    if plot == "parallel_coordinate" and not names:
        return "no searched parameter"
    return None


def _draw(plot: PlotFn, study: optuna.Study, metric_name: str, path: Path) -> bool:
    """Draw one plot into ``path``; a failure is logged and skipped."""
    with _offscreen():
        try:
            figure = _figure_of(plot(study, metric_name))
        except (ImportError, ValueError, RuntimeError, ZeroDivisionError) as err:
            log.warning("Could not draw %s: %s", path.name, err)
            return False
        try:
            figure.savefig(path, dpi=100, bbox_inches="tight")
        finally:
            _close(figure)
    return True


@contextmanager
def _offscreen() -> Iterator[None]:
    """No window, no inline output, and optuna's style sheet undone afterwards."""
    import matplotlib.pyplot as plt

    interactive = plt.isinteractive()
    plt.ioff()
    try:
        with matplotlib.rc_context(), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # One trial gives each parallel-coordinate axis an empty range.
            warnings.filterwarnings("ignore", "Attempting to set identical", UserWarning)
            yield
    finally:
        if interactive:
            plt.ion()


def _figure_of(drawn: Any) -> Figure:
    if isinstance(drawn, Figure):
        return drawn
    if hasattr(drawn, "figure"):
        return drawn.figure
    return drawn.flat[0].figure  # an array of Axes


def _close(figure: Figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def _history_plot(study: optuna.Study, metric_name: str) -> Any:
    from optuna.visualization.matplotlib import plot_optimization_history

    ax = plot_optimization_history(study, target_name=metric_name)
    ax.set_title(f"Optimisation history ({study.direction.name.lower()})")
    return ax


def _importances_plot(study: optuna.Study, metric_name: str) -> Any:
    from optuna.visualization.matplotlib import plot_param_importances

    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    # Computed first so that a degenerate study raises here, not inside the plot.
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    if not importances or not all(math.isfinite(v) for v in importances.values()):
        raise ValueError("no finite importances")
    ax = plot_param_importances(study, evaluator=evaluator, target_name=metric_name)
    ax.set_title(f"Parameter importances for {metric_name}", loc="left")
    return ax


def _parallel_plot(study: optuna.Study, metric_name: str) -> Any:
    from optuna.visualization.matplotlib import plot_parallel_coordinate

    return plot_parallel_coordinate(study, target_name=metric_name)


# --------------------------------------------------------------------- MLflow runs


def find_sweep_run(
    client: MlflowClient, sweep: str | None = None, experiment_name: str = DEFAULT_EXPERIMENT
) -> Run:
    """The parent run of sweep ``sweep`` (its run name), else the latest sweep."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"No MLflow experiment '{experiment_name}' at {client.tracking_uri}.")
    query = f"tags.`{TAG_ROLE}` = 'sweep'"
    if sweep:
        query += f" and tags.`{TAG_SWEEP}` = '{sweep}'"
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=query,
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        which = f"named '{sweep}'" if sweep else "at all"
        raise LookupError(f"No sweep {which} in experiment '{experiment_name}'.")
    return runs[0]


def objective(parent: Run) -> tuple[str, str]:
    """(metric, mode) the sweep optimised, from its parent run's params."""
    params = parent.data.params
    metric = params.get("sweep.metric")
    if metric is None:
        best = [k.removeprefix("best/") for k in parent.data.metrics if k.startswith("best/")]
        metric = best[0] if best else DEFAULT_METRIC
    mode = params.get("sweep.mode", DEFAULT_MODE)
    return metric, mode if mode in ("min", "max") else DEFAULT_MODE


def child_runs(client: MlflowClient, parent_run_id: str) -> list[Run]:
    """Every trial run of a sweep, in trial id order."""
    parent = client.get_run(parent_run_id)
    query = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'"
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [parent.info.experiment_id], filter_string=query, max_results=_PAGE, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    return sorted(runs, key=lambda r: r.data.tags.get(TAG_TRIAL_ID, r.info.run_name or ""))


def sweep_frame(
    client: MlflowClient,
    parent_run_id: str,
    metric: str | None = None,
    mode: str | None = None,
) -> pd.DataFrame:
    """One row per trial of a sweep: ids, status, searched params and the objective.

    Columns: ``run_id``, ``trial_id``, ``status``, one per searched parameter
    (numeric where every value is a number), ``final_value`` (last reported)
    and ``best_value`` (best over all iterations, by ``mode``) of ``metric``.
    ``metric``/``mode`` default to the sweep's own; ``frame.attrs`` records them
    with the parameter names under ``params``.
    """
    sweep_metric, sweep_mode = objective(client.get_run(parent_run_id))
    metric, mode = metric or sweep_metric, mode or sweep_mode
    runs = child_runs(client, parent_run_id)
    rows = [_trial_row(client, run, metric, mode) for run in runs]
    names = sorted({name for run in runs for name in run.data.params})
    frame = pd.DataFrame(rows, columns=[*FRAME_COLUMNS[:3], *names, *FRAME_COLUMNS[3:]])
    for name in names:
        frame[name] = _as_numbers(frame[name])
    for column in FRAME_COLUMNS[3:]:
        frame[column] = frame[column].astype(float)
    frame.attrs.update(metric=metric, mode=mode, params=names)
    return frame


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


def _trial_row(client: MlflowClient, run: Run, metric: str, mode: str) -> dict[str, Any]:
    history = client.get_metric_history(run.info.run_id, metric)
    values = [p.value for p in history if math.isfinite(p.value)]
    final = max(history, key=_step_order).value if history else math.nan
    best = (max(values) if mode == "max" else min(values)) if values else math.nan
    tags = run.data.tags
    return {
        "run_id": run.info.run_id,
        "trial_id": tags.get(TAG_TRIAL_ID, run.info.run_name),
        "status": tags.get(TAG_TRIAL_STATUS, run.info.status.lower()),
        **run.data.params,
        "final_value": final,
        "best_value": best,
    }


def _as_numbers(column: pd.Series) -> pd.Series:
    """The column as numbers when every present value is one, else unchanged."""
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        return column
