"""Plots and a table of a sweep's Optuna study.

Figures are drawn off screen and closed once saved; the caller's pyplot backend
and style are left as they were, so this module is safe to import in a notebook.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import optuna
import pandas as pd
from matplotlib.figure import Figure

from motif_tune.config import ParamSpec
from motif_tune.results import OBJECTIVE, is_number

log = logging.getLogger(__name__)

# Importances from fewer trials than this say more about noise than about parameters.
_MIN_TRIALS_FOR_IMPORTANCES = 5

PlotFn = Callable[[optuna.Study, str], Any]


# --------------------------------------------------------------------- Optuna study


def applied_study(trials: pd.DataFrame, space: Mapping[str, ParamSpec], mode: str) -> optuna.Study:
    """An in-memory study of the values the trials ran with (the batch after snapping to
    whole fragments, not the size Optuna asked for), one trial per row of ``trials``
    (columns: the searched names and ``objective``; a missing score is a failed trial)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    names = [name for name in space if name in trials]
    distributions = {name: _distribution(space[name], trials[name].dropna()) for name in names}
    for row in trials.to_dict("records"):
        value = row.get("objective")
        scored = is_number(value) and math.isfinite(value)
        params = {name: _param_value(row[name]) for name in names if not _missing(row[name])}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={name: distributions[name] for name in params},
                value=float(value) if scored else None,
                state=optuna.trial.TrialState.COMPLETE if scored else optuna.trial.TrialState.FAIL,
                user_attrs={k: row[k] for k in ("trial", "trial_id", "run_id") if k in row},
            )
        )
    return study


def _distribution(spec: ParamSpec, values: pd.Series) -> Any:
    """The spec's distribution, widened to the values run (the baseline may lie outside)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if spec.type == "categorical":
        extra = [v for v in values.tolist() if v not in (spec.choices or [])]
        return CategoricalDistribution([*(spec.choices or []), *dict.fromkeys(extra)])
    low = min([spec.low, *values.tolist()])
    high = max([spec.high, *values.tolist()])
    if spec.type == "int":
        return IntDistribution(int(low), int(high), log=spec.log)
    return FloatDistribution(float(low), float(high), log=spec.log)


def _param_value(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def study_plots(study: optuna.Study, out_dir: Path, metric_name: str) -> list[Path]:
    """Write the study's plots: ``study.html`` (interactive: history, parallel coordinates,
    slices, importances) and the same views as PNGs.

    Nothing is drawn without a completed trial; importances need
    ``_MIN_TRIALS_FOR_IMPORTANCES`` completed trials and two searched parameters (the
    HTML says so instead). Returns the files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if _skip_reason(study, "optimization_history"):
        log.info("No sweep plots: no completed trial.")
        return []
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
    html = _html_report(study, metric_name, out_dir / "study.html")
    return [html, *written] if html else written


# ------------------------------------------------------------------ interactive HTML


def _html_report(study: optuna.Study, metric_name: str, path: Path) -> Path | None:
    """The plotly views of the study in one page (plotly.js inline once: no network)."""
    try:
        import optuna.visualization as ov
    except ImportError:  # plotly missing
        return None
    views: list[tuple[str, Callable[[], Any] | str]] = [
        (
            "Optimisation history",
            lambda: ov.plot_optimization_history(study, target_name=OBJECTIVE),
        ),
        (
            "Parallel coordinates",
            lambda: ov.plot_parallel_coordinate(study, target_name=OBJECTIVE),
        ),
        ("Each parameter against the score", lambda: ov.plot_slice(study, target_name=OBJECTIVE)),
    ]
    reason = _skip_reason(study, "param_importances")
    if reason:
        views.append(("Parameter importances", f"Not drawn: {reason}."))
    else:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        views.append(
            (
                "Parameter importances",
                lambda: ov.plot_param_importances(
                    study, evaluator=evaluator, target_name=OBJECTIVE
                ),
            )
        )
    parts, first = [], True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for title, view in views:
            parts.append(f"<h2>{title}</h2>")
            if isinstance(view, str):
                parts.append(f"<p>{view}</p>")
                continue
            try:
                figure = view()
            except (ValueError, RuntimeError, ZeroDivisionError) as err:
                parts.append(f"<p>Not drawn: {err}</p>")
                continue
            _plain_ticks(figure, len(study.trials))
            parts.append(figure.to_html(full_html=False, include_plotlyjs=first))
            first = False
    title = f"Sweep study: the objective is {metric_name}"
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body style='font-family: sans-serif'><h1>{title}</h1>{''.join(parts)}</body></html>"
    )
    return path


def _plain_ticks(figure: Any, trials: int) -> None:
    """Plain numbers on log axes (1-2-5 steps, no ``1e+03``); trials named as their runs."""
    plain = [m * 10**e for e in range(-6, 8) for m in (1, 2, 5)]
    figure.update_xaxes(exponentformat="none")
    figure.update_yaxes(exponentformat="none")
    figure.for_each_xaxis(lambda axis: _plain_log_axis(axis, plain))
    figure.for_each_yaxis(lambda axis: _plain_log_axis(axis, plain))
    figure.layout.annotations = _axis_labels(figure.layout.annotations)
    xaxis = figure.layout.xaxis
    if xaxis.title.text == "Trial":  # numbered from 0 like the study's trials
        ticks = list(range(0, trials, max(1, math.ceil(trials / 20))))
        xaxis.update(tickmode="array", tickvals=ticks, ticktext=[f"t{i + 1:02d}" for i in ticks])


def _axis_labels(annotations: Any) -> list[Any]:
    """Parallel coordinates' axis labels (annotations) as plain numbers, without a tick
    label that would overlap the axis' end label (``1e+03`` under ``1.02e+03``)."""
    kept: list[Any] = []
    for note in annotations:
        try:
            value = float(note.text)
        except (TypeError, ValueError):
            value = None
        if value is None or note.y is None:
            kept.append(note)
            continue
        note.text = f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
        close = [k for k in kept if k.x == note.x and k.y is not None and abs(k.y - note.y) < 0.04]
        if close and note.y in (0.0, 1.0):
            kept = [k for k in kept if k not in close]
        elif close:
            continue
        kept.append(note)
    return kept


def _plain_log_axis(axis: Any, values: list[float]) -> None:
    if axis.type == "log":
        axis.update(tickmode="array", tickvals=values, ticktext=[f"{v:g}" for v in values])


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
        if len({trial.value for trial in completed}) == 1:
            return "every completed trial scored the same"  # importances are undefined
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
        _plain_axes(figure)
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


def _plain_axes(figure: Figure) -> None:
    """Plain numbers on log axes (``64``, not ``6.4×10¹``), whole-number trial ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(NullFormatter())
        if ax.get_xlabel().lower() == "trial":  # trial n (from 0) is the run t{n+1:02d}
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"t{int(value) + 1:02d}"))


def _close(figure: Figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def _history_plot(study: optuna.Study, metric_name: str) -> Any:
    from optuna.visualization.matplotlib import plot_optimization_history

    ax = plot_optimization_history(study, target_name=OBJECTIVE)
    ax.set_title(f"Objective ({metric_name}) by trial, {study.direction.name.lower()}d")
    return ax


def _importances_plot(study: optuna.Study, metric_name: str) -> Any:
    from optuna.visualization.matplotlib import plot_param_importances

    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    # Computed first so that a degenerate study raises here, not inside the plot.
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    if not importances or not all(math.isfinite(v) for v in importances.values()):
        raise ValueError("no finite importances")
    ax = plot_param_importances(study, evaluator=evaluator, target_name=OBJECTIVE)
    ax.set_title(f"Parameter importances for the objective ({metric_name})", loc="left")
    return ax


def _parallel_plot(study: optuna.Study, metric_name: str) -> Any:
    from optuna.visualization.matplotlib import plot_parallel_coordinate

    return plot_parallel_coordinate(study, target_name=OBJECTIVE)


def quality_cost_plot(rows: list[dict[str, Any]], path: Path, metric: str, cost: str) -> Path:
    """Each finalist's verified mean (with its spread) against its cost, the quality-cost
    front joined and the champion marked."""
    import matplotlib.pyplot as plt

    with _offscreen():
        figure, ax = plt.subplots(figsize=(7, 4.2))
        priced = [r for r in rows if math.isfinite(r.get(cost, math.nan))]
        for row in priced:
            color = "tab:red" if row["champion"] else "tab:blue"
            ax.errorbar(row[cost], row["mean"], yerr=row["std"], fmt="o", color=color, capsize=4)
            ax.annotate(
                row["label"],
                (row[cost], row["mean"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
        front = sorted((r[cost], r["mean"]) for r in priced if r["on_front"])
        if len(front) > 1:
            ax.plot(*zip(*front, strict=True), "--", color="tab:gray", label="front")
            ax.legend(loc="lower right")
        ax.set_xlabel(cost)
        ax.set_ylabel(f"{metric} (verified mean)")
        ax.set_title("Finalists: quality against cost (champion in red)")
        figure.savefig(path, dpi=100, bbox_inches="tight")
        _close(figure)
    return path


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


def lineage_plot(
    lineage: dict[str, Any],
    names: Mapping[str, bool],
    champion: str | None,
    unit: str,
    end: float,
    path: Path,
) -> Path:
    """One panel per mutable value (``names``: name -> log scale): each member's schedule
    up to ``end`` of the budget (a step line; the champion's bold), each exploit marked."""
    import matplotlib.pyplot as plt

    with _offscreen():
        figure, axes = plt.subplots(
            len(names), 1, figsize=(7.5, 2.6 * len(names) + 0.6), squeeze=False, sharex=True
        )
        for ax, (name, log) in zip(axes[:, 0], names.items(), strict=True):
            for trial_id, member in lineage.items():
                changes = member["schedule"]
                if not changes:
                    continue
                xs = [c["step"] for c in changes]
                ys = [c["values"].get(name) for c in changes]
                bold = trial_id == champion
                ax.step(
                    [*xs, end],
                    [*ys, ys[-1]],
                    where="post",
                    linewidth=2.6 if bold else 1.0,
                    alpha=1.0 if bold else 0.6,
                    label=f"{trial_id}{' (champion)' if bold else ''}",
                )
                exploits = member["exploits"]
                ax.scatter(
                    [e["step"] for e in exploits],
                    [e["new"].get(name, math.nan) for e in exploits],
                    marker="v",
                    s=18,
                    color="tab:gray",
                    zorder=3,
                )
            ax.set_ylabel(name.rsplit(".", 1)[-1])
            if log:
                ax.set_yscale("log")
        axes[-1, 0].set_xlabel(unit)
        axes[0, 0].set_title("Population: each member's values over time (▼ an exploit)")
        axes[0, 0].legend(fontsize=7, loc="best")
        figure.savefig(path, dpi=100, bbox_inches="tight")
        _close(figure)
    return path
