"""Plots and a table of a sweep's Optuna study.

Figures are drawn off screen and closed once saved; the caller's pyplot backend
and style are left as they were, so this module is safe to import in a notebook.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import optuna
import pandas as pd
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Importances from fewer trials than this say more about noise than about parameters.
_MIN_TRIALS_FOR_IMPORTANCES = 5

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
        if len(completed) < _MIN_TRIALS_FOR_IMPORTANCES:
            return f"fewer than {_MIN_TRIALS_FOR_IMPORTANCES} completed trials"
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


def finalists_plot(rows: list[dict[str, Any]], path: Path, metric: str) -> Path:
    """Each finalist's verified scores (one dot per seed, mean and spread) beside the score
    it reached in the search."""
    import matplotlib.pyplot as plt

    with _offscreen():
        figure, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.6))
        for y, row in enumerate(rows):
            scores = row["scores"]
            ax.scatter(scores, [y] * len(scores), color="tab:blue", alpha=0.6, zorder=3)
            ax.errorbar(row["mean"], y, xerr=row["std"], fmt="D", color="tab:blue", capsize=4)
            ax.scatter([row["search"]], [y], marker="x", color="tab:orange", zorder=4)
        ax.set_yticks(range(len(rows)), [row["label"] for row in rows])
        ax.invert_yaxis()
        ax.set_xlabel(metric)
        ax.set_title("Finalists: verified on fresh seeds (blue) vs the search's score (×)")
        figure.savefig(path, dpi=100, bbox_inches="tight")
        _close(figure)
    return path
