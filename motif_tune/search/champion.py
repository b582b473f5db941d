"""The champion among the verified finalists, by the sweep's selection rule; the
quality-cost front; and how far the search's ranking held on fresh seeds.

Rules (``sweep.selection.rule``):

- ``best``: the best verified mean;
- ``cheapest_within``: the cheapest finalist by ``sweep.selection.cost`` whose
  verified mean is within ``sweep.selection.tolerance`` of the best one (a
  setting as good for less compute); the best when no cheaper one qualifies.

A finalist is on the front when no other finalist is at least as good on both
its verified mean and its cost, and strictly better on one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from motif_tune.config.schema import SelectionSettings
from motif_tune.search.cost import BY_NAME
from motif_tune.search.ranking import (
    Finalist,
    RankingHeld,
    Selection,
    TrialScore,
    best_verified,
)
from motif_tune.text import fmt


def select(
    mode: str,
    ranking: list[TrialScore],
    finalists: list[Finalist],
    rule: SelectionSettings | None = None,
) -> Selection:
    """The sweep's selection: the champion by ``rule``, the front, how the ranking held."""
    rule = rule or SelectionSettings()
    cost_key = BY_NAME[rule.cost].key
    champion, reason = champion_of(finalists, mode, rule)
    return Selection(
        mode,
        ranking,
        finalists,
        champion,
        reason=reason,
        cost_key=cost_key,
        front=quality_cost_front(finalists, mode, cost_key),
        held=ranking_held(ranking, finalists, champion),
    )


def champion_of(
    finalists: list[Finalist], mode: str, rule: SelectionSettings | None = None
) -> tuple[Finalist | None, str]:
    """The champion by ``rule`` (None: nothing verified) and, when it is not simply the
    best mean, why."""
    rule = rule or SelectionSettings()
    best = best_verified(finalists, mode)
    if best is None:
        return None, ""
    if rule.rule == "best":
        return best, ""
    figure, sign = BY_NAME[rule.cost], 1 if mode == "max" else -1
    close = rule.tolerance + 1e-12
    within = [f for f in finalists if f.scores and sign * (best.mean - f.mean) <= close]
    priced = [f for f in within if math.isfinite(f.cost(figure.key))]
    if not priced or not math.isfinite(best.cost(figure.key)):
        return best, f"the best verified mean ({figure.label} not measured for every finalist)"
    cheapest = min(priced, key=lambda f: (f.cost(figure.key), -sign * f.mean))
    if cheapest is best or cheapest.cost(figure.key) >= best.cost(figure.key):
        return best, (
            f"the best verified mean; no finalist within {rule.tolerance:g} of it is "
            f"cheaper in {figure.label}"
        )
    return cheapest, (
        f"the cheapest in {figure.label} ({cheapest.cost(figure.key):,.0f} against "
        f"{best.cost(figure.key):,.0f}) within {rule.tolerance:g} of the best verified "
        f"mean ({fmt(best.mean)})"
    )


def quality_cost_front(finalists: list[Finalist], mode: str, cost_key: str) -> tuple[int, ...]:
    """The ranks of the finalists no other beats on verified mean and cost together."""
    sign = 1 if mode == "max" else -1
    points = [
        (f.rank, sign * f.mean, f.cost(cost_key))
        for f in finalists
        if f.scores and math.isfinite(f.cost(cost_key))
    ]

    def dominated(quality: float, cost: float) -> bool:
        return any(q >= quality and c <= cost and (q > quality or c < cost) for _, q, c in points)

    return tuple(rank for rank, quality, cost in points if not dominated(quality, cost))


def ranking_held(
    ranking: list[TrialScore], finalists: list[Finalist], champion: Finalist | None
) -> RankingHeld | None:
    """Whether the search's winner is the champion, and Kendall's tau between the
    finalists' search scores and their verified means."""
    # A population's baseline that no member kept has no search score of its own.
    scored = [f for f in finalists if f.scores and math.isfinite(f.search.objective)]
    if champion is None or not ranking or not scored:
        return None
    tau = kendall_tau([f.search.objective for f in scored], [f.mean for f in scored])
    return RankingHeld(ranking[0].trial_id, champion.search.trial_id, tau, len(scored))


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired sequences (ties corrected); None when it is
    undefined (fewer than two pairs, or one side all tied)."""
    n = len(xs)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else None
