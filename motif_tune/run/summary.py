"""What a finished sweep found: the ranking, the verified finalists and the champion,
and their record in MLflow."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.config import Settings
from motif_tune.results import OBJECTIVE, fmt, relative, text_table
from motif_tune.run.ranking import Finalist, TrialScore
from motif_tune.search.budget import Budget, trial_budget
from motif_tune.search.params import SEED
from motif_tune.tracking.store import (
    TAG_ROLE,
    TAG_TRIAL_ID,
    TAG_TRIAL_STATUS,
    child_runs,
    log_metrics,
    ui_command,
    ui_link,
)
from motif_tune.tracking.sweep_run import SweepRun

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
_SHOWN = 5  # search trials listed in the summary


@dataclass
class SweepSummary:
    """What a finished sweep found."""

    run_name: str
    objective: str
    mode: str
    budget: str
    num_trials: int
    num_errored: int
    ranking: list[TrialScore] = field(default_factory=list)
    finalists: list[Finalist] = field(default_factory=list)
    champion: Finalist | None = None
    experiment_path: str = ""
    mlflow_run_id: str | None = None
    mlflow_experiment_id: str | None = None
    tracking_uri: str = ""
    registered_model: str | None = None
    retried: dict[str, int] = field(default_factory=dict)  # trial id -> failures survived

    @property
    def best(self) -> TrialScore | None:
        """The champion's search trial (the search winner when nothing was verified)."""
        if self.champion is not None:
            return self.champion.search
        return self.ranking[0] if self.ranking else None

    @property
    def best_checkpoint(self) -> str | None:
        if self.champion is not None and self.champion.scores:
            return self.champion.checkpoints[self.champion.best_seed(self.mode)]
        return self.best.checkpoint if self.best else None

    def render(self) -> str:
        lines = [
            f"Sweep '{self.run_name}': {self.num_trials} trials, {self.num_errored} errored; "
            f"budget {self.budget} per trial; objective: {self.objective} ({self.mode}).",
        ]
        if not self.ranking:
            lines.append("No trial reported its objective.")
        else:
            lines += ["Search, best first:", *_ranking_table(self.ranking[:_SHOWN])]
        if self.finalists:
            seeds = ", ".join(str(s) for s in self.finalists[0].seeds)
            lines += [f"Verified on fresh seeds ({seeds}) at the full budget:"]
            lines += _finalists_table(self.finalists)
        best = self.best
        if best is not None:
            lines.append(f"Champion: {_values(best.values)}: {self._champion_score()}")
            checkpoint = relative(self.best_checkpoint) if self.best_checkpoint else "(none saved)"
            lines.append(f"  checkpoint: {checkpoint}")
            if self.registered_model:
                lines.append(f"  registered: {self.registered_model}")
        if self.retried:
            retries = ", ".join(f"{t} ({n}x)" for t, n in sorted(self.retried.items()))
            lines.append(f"Restarted from their checkpoints after a failure: {retries}.")
        link = ui_link(self.tracking_uri, self.mlflow_experiment_id, self.mlflow_run_id)
        lines += [
            f"Tune results: {relative(self.experiment_path)}",
            f"MLflow run:   {link}",
            f"MLflow UI: {ui_command(self.tracking_uri, self.mlflow_experiment_id)}",
        ]
        return "\n".join(lines)

    def _champion_score(self) -> str:
        champion = self.champion
        baseline = next((f for f in self.finalists if f.search.baseline), None)
        if champion is None:
            best = self.best
            assert best is not None
            text = f"{fmt(best.objective)} in the search (not verified)"
            base = next((s for s in self.ranking if s.baseline), None)
            if base is not None and base is not best:
                text += f"; the baseline scored {fmt(base.objective)}"
            return text + "."
        text = f"{_spread(champion)} over {len(champion.scores)} seeds"
        if baseline is champion:
            return text + "; no searched setting beat the composed config's own values."
        if baseline is not None:
            gain = champion.mean - baseline.mean
            text += f"; the baseline scores {_spread(baseline)} ({gain:+.3f})"
        return text + "."


def _ranking_table(scores: list[TrialScore]) -> list[str]:
    rows = [
        ("#", "trial", "settings", "objective", "spent", "time"),
        *(
            (
                str(rank),
                s.trial_id + (" (baseline)" if s.baseline else ""),
                _values(s.values),
                fmt(s.objective),
                f"{s.spent:,.0f}" + ("" if s.finished else " (stopped early)"),
                f"{s.wall_s:.0f} s" if math.isfinite(s.wall_s) else "-",
            )
            for rank, s in enumerate(scores, start=1)
        ),
    ]
    return text_table(rows)


def _finalists_table(finalists: list[Finalist]) -> list[str]:
    rows = [
        ("#", "settings", "search", "verified", "per seed"),
        *(
            (
                str(f.rank),
                _values(f.values) + (" (baseline)" if f.search.baseline else ""),
                fmt(f.search.objective),
                _spread(f),
                " ".join(fmt(s) for s in f.scores),
            )
            for f in finalists
        ),
    ]
    return text_table(rows)


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in sorted(values.items())) or "(nothing searched)"


def _spread(finalist: Finalist) -> str:
    return f"{fmt(finalist.mean)} ± {finalist.std:.3f}"


def objective_description(settings: Settings) -> str:
    objective, metric = settings.sweep.objective, settings.sweep.metric
    if objective.by == "evaluation":
        return f"{metric} of a greedy evaluation over {objective.episodes} fixed-seed episodes"
    return f"{metric}, mean of the last {objective.window} reports"


def summarise(
    settings: Settings,
    results: Any,
    ranking: list[TrialScore],
    finalists: list[Finalist],
    champion: Finalist | None,
    sweep_run: SweepRun,
) -> SweepSummary:
    """The summary of a finished sweep, recorded in MLflow as it is made."""
    summary = SweepSummary(
        run_name=settings.run_name,
        objective=objective_description(settings),
        mode=settings.sweep.mode,
        budget=trial_budget(settings).describe(),
        num_trials=len(results),
        num_errored=results.num_errors,
        ranking=ranking,
        finalists=finalists,
        champion=champion,
        experiment_path=str(results.experiment_path),
        retried=_retried(results),
        mlflow_run_id=sweep_run.run_id,
        mlflow_experiment_id=sweep_run.experiment_id,
        tracking_uri=settings.tracking.uri,
    )
    if summary.best is not None:
        _record_outcome(settings, sweep_run, summary, results)
    return summary


def _record_outcome(
    settings: Settings, sweep_run: SweepRun, summary: SweepSummary, results: Any
) -> None:
    """The champion's values and scores, the top checkpoints, the registry and the plots."""
    best, champion = summary.best, summary.champion
    assert best is not None
    params = {f"best.{k}": v for k, v in best.values.items()}
    params |= {"best.trial_id": best.trial_id, "best.verified": champion is not None}
    sweep_run.log_new_params(params)
    metrics = {f"best/{OBJECTIVE}": best.objective}
    if champion is not None:
        metrics["champion/objective_mean"] = champion.mean
        metrics["champion/objective_std"] = champion.std
        sweep_run.log_verification(_finalist_rows(summary.finalists), settings.sweep.metric)
    log_metrics(sweep_run.client, sweep_run.run_id, metrics, 0)
    top = _checkpoints_to_upload(summary, settings.sweep.checkpoint.log_top_k)
    for rank, (trial_id, path, value) in enumerate(top, start=1):
        sweep_run.log_checkpoint(trial_id, path, rank, value)
    if top and settings.tracking.registered_model:
        tags = {"objective": fmt(best.objective), "search_trial_id": best.trial_id}
        if champion is not None:
            tags |= {
                "objective_mean": fmt(champion.mean),
                "objective_std": f"{champion.std:.4f}",
                "seeds": ",".join(str(s) for s in champion.seeds),
                "scores": ",".join(fmt(s) for s in champion.scores),
            }
        version = sweep_run.register_champion(top[0][0], settings.tracking.registered_model, tags)
        summary.registered_model = (
            f"models:/{settings.tracking.registered_model}/{version} (alias @champion)"
        )
    sweep_run.log_plots(trials_frame(results, trial_budget(settings), sweep_run))


def _finalist_rows(finalists: list[Finalist]) -> list[dict[str, Any]]:
    return [
        {
            "rank": f.rank,
            "label": _values(f.values) + (" (baseline)" if f.search.baseline else ""),
            **f.values,
            "search_trial_id": f.search.trial_id,
            "search": f.search.objective,
            "mean": f.mean,
            "std": f.std,
            "seeds": f.seeds,
            "scores": f.scores,
            "verify_trial_ids": f.trial_ids,
        }
        for f in finalists
    ]


def _checkpoints_to_upload(summary: SweepSummary, k: int) -> list[tuple[str, str, float]]:
    """(trial id, path, score) of the champion's best-seed checkpoint, then the search's best."""
    picked: list[tuple[str, str, float]] = []
    champion = summary.champion
    if champion is not None and champion.scores:
        i = champion.best_seed(summary.mode)
        if champion.checkpoints[i]:
            picked.append((champion.trial_ids[i], champion.checkpoints[i], champion.scores[i]))
    for score in summary.ranking:
        if score.checkpoint and all(score.trial_id != p[0] for p in picked):
            picked.append((score.trial_id, score.checkpoint, score.objective))
    return picked[:k]


def tune_trials(results: Any) -> list[Any]:
    """The Tune trials behind a ``ResultGrid`` (their status and failure counts)."""
    analysis = getattr(results, "_experiment_analysis", None)
    return list(getattr(analysis, "trials", None) or [])


def _retried(results: Any) -> dict[str, int]:
    """Trials Tune restarted after a failure (a lost node, a crashed actor), and how often."""
    trials = tune_trials(results)
    return {t.trial_id: int(t.num_failures) for t in trials if getattr(t, "num_failures", 0)}


def trials_frame(results: Any, budget: Budget, sweep_run: SweepRun) -> pd.DataFrame:
    """Every search trial, in the order they started: its run (name, trial id, MLflow run
    id), outcome as its run records it, the values it ran with, its score, what it spent
    and its wall time."""
    import pandas as pd

    runs = {
        run.data.tags.get(TAG_TRIAL_ID): run
        for run in child_runs(sweep_run.client, sweep_run.experiment_id, sweep_run.run_id)
        if run.data.tags.get(TAG_ROLE) == "trial"
    }
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
            }
        )
    return pd.DataFrame(rows).sort_values("trial", kind="stable").reset_index(drop=True)
