"""What a finished sweep found: the best trial, its checkpoints, and their record in MLflow."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from motif_tune.config import Settings
from motif_tune.results import flatten, fmt
from motif_tune.tracking.store import log_metrics
from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    """What a finished sweep found."""

    run_name: str
    metric: str
    mode: str
    num_trials: int
    num_errored: int
    best_trial_id: str | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_checkpoint: str | None = None
    experiment_path: str = ""
    mlflow_run_id: str | None = None
    tracking_uri: str = ""
    registered_model: str | None = None

    def render(self) -> str:
        lines = [
            f"Sweep '{self.run_name}': {self.num_trials} trials, {self.num_errored} errored.",
        ]
        if self.best_trial_id is None:
            lines.append(f"No trial reported {self.metric}.")
        else:
            params = ", ".join(f"{k}={fmt(v)}" for k, v in sorted(self.best_params.items()))
            lines += [
                f"Best trial {self.best_trial_id}: {self.metric} = {fmt(self.best_value)} "
                f"({self.mode})",
                f"  settings:   {params or '(no searched parameters)'}",
                f"  checkpoint: {self.best_checkpoint or '(none saved)'}",
            ]
            if self.registered_model:
                lines.append(f"  registered: {self.registered_model}")
        lines += [
            f"Tune results: {self.experiment_path}",
            f"MLflow run:   {self.mlflow_run_id} at {self.tracking_uri}",
            "Compare trials in the MLflow UI: make ui   (then open http://127.0.0.1:5000)",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class RankedCheckpoint:
    trial_id: str
    path: str
    value: float
    iteration: int


def ranked_checkpoints(results: Any, metric: str, mode: str) -> list[RankedCheckpoint]:
    """Every kept checkpoint of every trial, best first by the metric it was saved with."""
    ranked = []
    for result in results:
        trial_id = (result.metrics or {}).get("trial_id")
        for checkpoint, metrics in result.best_checkpoints or []:
            metrics = flatten(metrics)
            value = metrics.get(metric)
            if trial_id and isinstance(value, int | float) and math.isfinite(value):
                iteration = int(metrics.get("training_iteration", 0))
                ranked.append(RankedCheckpoint(trial_id, checkpoint.path, float(value), iteration))
    return sorted(ranked, key=lambda c: c.value, reverse=(mode == "max"))


def summarise(settings: Settings, results: Any, sweep_run: SweepRun) -> SweepSummary:
    sweep = settings.sweep
    summary = SweepSummary(
        run_name=settings.run_name,
        metric=sweep.metric,
        mode=sweep.mode,
        num_trials=len(results),
        num_errored=results.num_errors,
        experiment_path=str(results.experiment_path),
        mlflow_run_id=sweep_run.run_id,
        tracking_uri=settings.tracking.uri,
    )
    try:
        # Ranked by each trial's last result: what Optuna and ASHA judged the trial by.
        best = results.get_best_result(metric=sweep.metric, mode=sweep.mode, scope="last")
    except RuntimeError:
        return summary
    value = flatten(best.metrics or {}).get(sweep.metric)
    if not isinstance(value, int | float) or not math.isfinite(value):
        return summary
    summary.best_trial_id = best.metrics.get("trial_id")
    summary.best_value = value
    summary.best_params = dict(best.config or {})
    ranked = ranked_checkpoints(results, sweep.metric, sweep.mode)
    # The best trial's best checkpoint first (it is the one registered), then the rest.
    own = [c for c in ranked if c.trial_id == summary.best_trial_id]
    checkpoints = own[:1] + [c for c in ranked if c not in own[:1]]
    summary.best_checkpoint = checkpoints[0].path if checkpoints else None
    _record_outcome(settings, sweep_run, summary, checkpoints)
    return summary


def _record_outcome(
    settings: Settings,
    sweep_run: SweepRun,
    summary: SweepSummary,
    checkpoints: list[RankedCheckpoint],
) -> None:
    """The best trial, the top checkpoints, the registry version and the plots, in MLflow."""
    sweep = settings.sweep
    best_params = {f"best.{k}": v for k, v in summary.best_params.items()}
    sweep_run.log_new_params(best_params | {"best.trial_id": summary.best_trial_id})
    log_metrics(sweep_run.client, sweep_run.run_id, {f"best/{sweep.metric}": summary.best_value}, 0)
    top = checkpoints[: sweep.checkpoint.log_top_k]
    for rank, checkpoint in enumerate(top, start=1):
        sweep_run.log_checkpoint(checkpoint.trial_id, checkpoint.path, rank, checkpoint.value)
    if top and settings.tracking.registered_model:
        version = sweep_run.register_best(top[0].trial_id, settings.tracking.registered_model)
        summary.registered_model = f"models:/{settings.tracking.registered_model}/{version}"
    study = _searcher_study(summary.experiment_path)
    if study is not None:
        sweep_run.log_plots(study)


def _searcher_study(experiment_path: str):
    """The Optuna study as Tune saved it with the experiment (fresh or resumed alike)."""
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch()
    try:
        searcher.restore_from_dir(experiment_path)
    except Exception as err:  # no searcher state: nothing to plot
        log.warning("No Optuna state under %s (%s): no sweep plots.", experiment_path, err)
        return None
    return getattr(searcher, "_ot_study", None)
