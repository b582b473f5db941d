"""Trials ranked by their score, and the finalists a sweep verifies on fresh seeds.

A trial that spent its whole budget outranks one that ASHA stopped early: the
two were scored at different costs. The composed config's own values (the
baseline, the sweep's first trial) always go to verification, so a champion is
never declared without being measured against doing nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from motif_tune.results import OBJECTIVE, is_number
from motif_tune.search.budget import Budget
from motif_tune.search.cost import costs_of
from motif_tune.search.params import SEED
from motif_tune.search.schedule import SCHEDULE, Schedule
from motif_tune.text import fmt


@dataclass(frozen=True)
class RankingHeld:
    """How far the search's ranking held on fresh seeds: whether its winner is the
    verified champion, and Kendall's tau between the finalists' search scores and
    verified means (None: fewer than two finalists, or all tied)."""

    search_winner: str  # trial id
    champion: str  # the champion's search trial id
    tau: float | None
    finalists: int

    @property
    def survived(self) -> bool:
        return self.search_winner == self.champion


@dataclass(frozen=True)
class TrialScore:
    """One trial's last score, what it spent, and its best kept checkpoint."""

    trial_id: str
    values: dict[str, Any]
    objective: float
    spent: float
    finished: bool  # spent its whole budget
    checkpoint: str | None
    baseline: bool = False
    seed: int | None = None  # verification trials train with a seed of their own
    wall_s: float = math.nan  # training time, evaluations not counted
    cost: dict[str, float] = field(default_factory=dict)  # search.cost's figures
    schedule: str | None = None  # a population member's values over time (JSON)

    @property
    def schedule_changes(self) -> int:
        """How often a population member's values changed as it trained (0: never, or
        not a population member)."""
        return len(Schedule.from_json(self.schedule).changes) - 1 if self.schedule else 0

    @property
    def point(self) -> dict[str, Any]:
        """What verification retrains: the values, or a population member's schedule."""
        return {SCHEDULE: self.schedule} if self.schedule else dict(self.values)


def trial_scores(
    results: Any, budget: Budget, mode: str, baseline: Mapping[str, Any] | None = None
) -> list[TrialScore]:
    """Every trial that reported a score, best first (full-budget trials before the rest)."""
    scores = []
    for result in results:
        metrics = result.metrics or {}
        value, spent = metrics.get(OBJECTIVE), metrics.get(budget.result_key, 0)
        if not (is_number(value) and math.isfinite(value)) or "trial_id" not in metrics:
            continue
        config = dict(result.config or {})
        values = {k: v for k, v in config.items() if k != SEED}
        schedule = metrics.get(SCHEDULE) if SCHEDULE not in values else None
        scores.append(
            TrialScore(
                trial_id=metrics["trial_id"],
                values=values,
                objective=float(value),
                spent=float(spent),
                finished=float(spent) >= budget.amount,
                checkpoint=_best_checkpoint(result, mode),
                baseline=baseline is not None and values == dict(baseline),
                seed=config.get(SEED),
                wall_s=float(metrics.get("time_total_s", math.nan)),
                cost=costs_of(metrics),
                schedule=schedule,
            )
        )
    sign = -1 if mode == "max" else 1
    return sorted(scores, key=lambda s: (not s.finished, sign * s.objective))


def _best_checkpoint(result: Any, mode: str) -> str | None:
    kept = [
        (float(metrics[OBJECTIVE]), checkpoint.path)
        for checkpoint, metrics in result.best_checkpoints or []
        if is_number(metrics.get(OBJECTIVE)) and math.isfinite(metrics[OBJECTIVE])
    ]
    if not kept:
        return result.checkpoint.path if result.checkpoint else None
    return (max(kept) if mode == "max" else min(kept))[1]


@dataclass
class Finalist:
    """A configuration trained again from scratch on fresh seeds."""

    rank: int
    search: TrialScore
    seeds: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    trial_ids: list[str] = field(default_factory=list)
    checkpoints: list[str | None] = field(default_factory=list)
    costs: list[dict[str, float]] = field(default_factory=list)  # per seed

    @property
    def values(self) -> dict[str, Any]:
        return self.search.values

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0

    def cost(self, key: str) -> float:
        """A cost figure's mean over the seeds (NaN where none was measured)."""
        values = [c.get(key, math.nan) for c in self.costs]
        finite = [v for v in values if math.isfinite(v)]
        return statistics.fmean(finite) if finite and len(finite) == len(values) else math.nan

    def best_seed(self, mode: str) -> int:
        """Index of the seed with the best score."""
        pick = max if mode == "max" else min
        return pick(range(len(self.scores)), key=self.scores.__getitem__)


def best_verified(finalists: list[Finalist], mode: str) -> Finalist | None:
    """The finalist with the best verified mean (None: none verified)."""
    sign = 1 if mode == "max" else -1
    return max((f for f in finalists if f.scores), key=lambda f: sign * f.mean, default=None)


def choose_finalists(
    ranked: list[TrialScore], top_k: int, baseline: Mapping[str, Any] | None = None
) -> list[Finalist]:
    """The top ``top_k`` distinct configurations (or schedules), and the baseline if it is
    not one. ``baseline``: the composed config's values, verified as a schedule that never
    changes when no trial kept them to its end (a population's members all may change)."""
    if top_k == 0:
        return []
    chosen: list[TrialScore] = []
    for score in ranked:
        if len(chosen) < top_k and all(score.point != c.point for c in chosen):
            chosen.append(score)
    kept = next((s for s in ranked if s.baseline and not s.schedule_changes), None)
    if kept is None and baseline is not None:
        kept = TrialScore(
            trial_id="baseline",
            values=dict(baseline),
            objective=math.nan,
            spent=0.0,
            finished=False,
            checkpoint=None,
            baseline=True,
            schedule=Schedule.starting(baseline).to_json(),
        )
    if kept is not None and all(kept.point != c.point for c in chosen):
        chosen.append(kept)
    return [Finalist(rank, score) for rank, score in enumerate(chosen, start=1)]


def verification_points(finalists: list[Finalist], seeds: list[int]) -> list[dict[str, Any]]:
    """One trial config per finalist and seed."""
    return [{**f.search.point, SEED: seed} for f in finalists for seed in seeds]


def record_verification(finalists: list[Finalist], results: Any, budget: Budget, mode: str) -> None:
    """Fill each finalist's per-seed scores from the verification trials."""
    by_values = {_key(f.search.point): f for f in finalists}
    for score in trial_scores(results, budget, mode):
        finalist = by_values.get(_key(score.values))
        if finalist is None or score.seed is None:
            continue
        finalist.seeds.append(int(score.seed))
        finalist.scores.append(score.objective)
        finalist.trial_ids.append(score.trial_id)
        finalist.checkpoints.append(score.checkpoint)
        finalist.costs.append(score.cost)
    for finalist in finalists:  # seed order, whatever order the trials finished in
        order = sorted(range(len(finalist.seeds)), key=finalist.seeds.__getitem__)
        for name in ("seeds", "scores", "trial_ids", "checkpoints", "costs"):
            column = getattr(finalist, name)
            setattr(finalist, name, [column[i] for i in order])


def _key(values: Mapping[str, Any]) -> tuple:
    return tuple(sorted(values.items()))


@dataclass
class Selection:
    """What a sweep found: its trials ranked, the verified finalists and the champion
    (chosen by :func:`motif_tune.search.champion.select`, which says why)."""

    mode: str
    ranking: list[TrialScore] = field(default_factory=list)
    finalists: list[Finalist] = field(default_factory=list)
    champion: Finalist | None = None
    reason: str = ""  # why the champion, when the rule is not simply the best mean
    cost_key: str = ""  # the cost figure the rule and the front weigh
    front: tuple[int, ...] = ()  # finalists' ranks on the quality-cost front
    held: RankingHeld | None = None  # how far the search's ranking held on fresh seeds

    @property
    def best(self) -> TrialScore | None:
        """The champion's search trial (the search winner when nothing was verified)."""
        if self.champion is not None:
            return self.champion.search
        return self.ranking[0] if self.ranking else None

    @property
    def baseline(self) -> Finalist | None:
        return next((f for f in self.finalists if f.search.baseline), None)

    @property
    def best_checkpoint(self) -> str | None:
        if self.champion is not None and self.champion.scores:
            return self.champion.checkpoints[self.champion.best_seed(self.mode)]
        return self.best.checkpoint if self.best else None

    def checkpoints_to_upload(self, k: int) -> list[tuple[str, str, float]]:
        """(trial id, path, score) of the champion's best-seed checkpoint, then the
        search's best, ``k`` at most."""
        picked: list[tuple[str, str, float]] = []
        champion = self.champion
        if champion is not None and champion.scores:
            i = champion.best_seed(self.mode)
            if champion.checkpoints[i]:
                picked.append((champion.trial_ids[i], champion.checkpoints[i], champion.scores[i]))
        for score in self.ranking:
            if score.checkpoint and all(score.trial_id != p[0] for p in picked):
                picked.append((score.trial_id, score.checkpoint, score.objective))
        return picked[:k]


def describe_values(values: Mapping[str, Any]) -> str:
    """``rollout_fragment_length=17, train_batch_size=272`` (searched values, sorted)."""
    return ", ".join(f"{k}={fmt(v)}" for k, v in sorted(values.items())) or "(nothing searched)"


def describe_score(score: TrialScore) -> str:
    """A trial's values (a population member's last ones, and how often they changed)."""
    text = describe_values(score.values)
    if score.schedule_changes:
        text += f" (its last; changed {score.schedule_changes}x)"
    return text


def describe_finalist(finalist: Finalist) -> str:
    """A finalist's values, marked when it is the baseline."""
    return describe_score(finalist.search) + (" (baseline)" if finalist.search.baseline else "")


def champion_schedule(score: TrialScore, unit: str) -> str | None:
    """The values a population member trained with over time, in words (None: they
    never changed, or not a population member)."""
    if not score.schedule or not score.schedule_changes:
        return None
    return Schedule.from_json(score.schedule).describe(unit)
