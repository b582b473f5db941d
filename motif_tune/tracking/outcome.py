"""A finished sweep's outcome in MLflow: the champion's values and scores on the parent
run, the finalists' table and plot, the top checkpoints, the registry, and the plots
and table of every trial."""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.results import OBJECTIVE
from motif_tune.search.budget import Budget
from motif_tune.search.cost import COST_KEYS, costs_of
from motif_tune.search.params import SEED
from motif_tune.search.ranking import Selection, describe_finalist
from motif_tune.search.standing import standing_of
from motif_tune.text import fmt
from motif_tune.tracking.lineage import record_lineage
from motif_tune.tracking.outage import GaveUp
from motif_tune.tracking.registry import Registration, register_winner
from motif_tune.tracking.runs import TAG_TRIAL_STATUS, log_metrics
from motif_tune.tracking.sweep_run import SweepRun
from motif_tune.tracking.writer import held_records, outage_of

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Recorded:
    """What reached MLflow of a finished sweep."""

    registration: Registration | None = None
    written: bool = True  # the outcome is in MLflow (False: the store did not answer)
    held: int = 0  # trial records the store did not take in time (kept for a resume)


def record_outcome(
    sweep_run: SweepRun,
    selection: Selection,
    results: Any,
    budget: Budget,
    fresh: tuple[float, float] | None = None,
) -> Recorded:
    """Record what the sweep found, waiting up to ``tracking.outage_wait_s`` for a store
    that does not answer; what could not be written is left to ``motif-tune resume``.
    ``fresh`` is the winner's and the current champion's score in a fresh evaluation,
    when they were measured differently."""
    outage = outage_of(sweep_run.client)
    outage.deadline = time.monotonic() + sweep_run.settings.tracking.outage_wait_s
    held = held_records(sweep_run.settings.run_name)
    try:
        registration = outage.until_written(
            lambda: _record(sweep_run, selection, results, budget, fresh)
        )
    except GaveUp:
        return Recorded(None, written=False, held=held)
    return Recorded(registration, held=held)


def _record(
    sweep_run: SweepRun,
    selection: Selection,
    results: Any,
    budget: Budget,
    fresh: tuple[float, float] | None,
) -> Registration | None:
    settings = sweep_run.settings
    best, champion = selection.best, selection.champion
    if best is None:
        return None
    params = {f"best.{k}": v for k, v in best.values.items()}
    params |= {"best.trial_id": best.trial_id, "best.verified": champion is not None}
    if best.schedule:  # a population member: how often its values changed as it trained
        params["best.schedule_changes"] = best.schedule_changes
    sweep_run.log_new_params(params)
    metrics = {f"best/{OBJECTIVE}": best.objective}
    if champion is not None:
        metrics["champion/objective_mean"] = champion.mean
        metrics["champion/objective_std"] = champion.std
        metrics |= {f"champion/{key}": champion.cost(key) for key in COST_KEYS}
        _log_finalists(sweep_run, selection)
    held = selection.held
    if held is not None:
        metrics["ranking/search_winner_survived"] = float(held.survived)
        if held.tau is not None:
            metrics["ranking/kendall_tau"] = held.tau
    metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
    log_metrics(sweep_run.client, sweep_run.run_id, metrics, 0)
    top = selection.checkpoints_to_upload(settings.sweep.checkpoint.log_top_k)
    for rank, (trial_id, path, value) in enumerate(top, start=1):
        sweep_run.log_checkpoint(trial_id, path, rank, value)
    registered = None
    model_name = settings.tracking.registered_model
    standing = standing_of(settings, selection)
    if top and model_name and standing is not None:
        tags = {"objective": fmt(best.objective), "search_trial_id": best.trial_id}
        if champion is not None:
            tags |= {
                "objective_mean": fmt(champion.mean),
                "objective_std": f"{champion.std:.4f}",
                "seeds": ",".join(str(s) for s in champion.seeds),
                "scores": ",".join(fmt(s) for s in champion.scores),
            }
        if best.schedule_changes:
            tags["schedule"] = best.schedule  # the values over time every seed replayed
        registered = register_winner(sweep_run, top[0][0], model_name, standing, tags, fresh)
    if settings.sweep.scheduler.population_based:
        record_lineage(sweep_run, selection, budget)
        if best.schedule:
            sweep_run.client.log_text(sweep_run.run_id, best.schedule, "lineage/champion.json")
    _log_plots(sweep_run, trials_frame(results, budget, sweep_run))
    return registered


def finalist_rows(selection: Selection) -> list[dict[str, Any]]:
    """One row per finalist: its values, search score, per-seed scores, mean and spread,
    its cost (means over its seeds), whether it is on the quality-cost front and the
    champion."""
    champion = selection.champion
    return [
        {
            "rank": f.rank,
            "label": describe_finalist(f),
            **f.values,
            "search_trial_id": f.search.trial_id,
            "search": f.search.objective,
            "mean": f.mean,
            "std": f.std,
            "seeds": f.seeds,
            "scores": f.scores,
            "verify_trial_ids": f.trial_ids,
            **{key: f.cost(key) for key in COST_KEYS},
            "on_front": f.rank in selection.front,
            "champion": champion is not None and f.rank == champion.rank,
        }
        for f in selection.finalists
    ]


def _log_finalists(sweep_run: SweepRun, selection: Selection) -> None:
    """The finalists' per-seed scores and costs as a table, their scores and their
    quality against cost as plots (``verification/``)."""
    import pandas as pd

    from motif_tune.tracking.plots import finalists_plot, quality_cost_plot

    rows = finalist_rows(selection)
    metric = sweep_run.settings.sweep.metric
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "finalists.csv"
        pd.DataFrame(rows).to_csv(table, index=False)
        plot = finalists_plot(rows, Path(folder) / "finalists.png", metric)
        front = quality_cost_plot(
            rows, Path(folder) / "quality_cost.png", metric, selection.cost_key
        )
        sweep_run.log_files("verification", [table, plot, front])


def _log_plots(sweep_run: SweepRun, trials: pd.DataFrame) -> None:
    """The trials as ``plots/trials.csv`` and the study of the values they ran with as
    plots (``plots/study.html`` and PNGs)."""
    from motif_tune.tracking.plots import applied_study, study_plots

    sweep = sweep_run.settings.sweep
    with tempfile.TemporaryDirectory() as folder:
        study = applied_study(trials, sweep.space, sweep.mode)
        paths = study_plots(study, Path(folder), sweep.metric)
        table = Path(folder) / "trials.csv"
        trials.to_csv(table, index=False)
        sweep_run.log_files("plots", [table, *paths])


def trials_frame(results: Any, budget: Budget, sweep_run: SweepRun) -> pd.DataFrame:
    """Every search trial, in the order they started: its run (name, trial id, MLflow run
    id), outcome as its run records it, the values it ran with, its score, what it spent
    and its wall time."""
    import pandas as pd

    runs = sweep_run.trial_runs("trial")
    rows = []
    for result in results:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name.removeprefix("trial_")
        run = runs.get(trial_id)
        spent = metrics.get(budget.result_key, 0)
        rows.append(
            {
                "trial": (run.info.run_name or "").split(" ")[0] if run else "",
                "trial_id": trial_id,
                "run_id": run.info.run_id if run else "",
                "status": run.data.tags.get(TAG_TRIAL_STATUS, "") if run else "",
                **{k: v for k, v in (result.config or {}).items() if k != SEED},
                OBJECTIVE: metrics.get(OBJECTIVE, math.nan),
                budget.unit: spent,
                "wall_s": round(float(metrics.get("time_total_s", math.nan)), 1),
                **{key: round(value, 2) for key, value in costs_of(metrics).items()},
            }
        )
    return pd.DataFrame(rows).sort_values("trial", kind="stable").reset_index(drop=True)
