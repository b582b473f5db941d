"""Which registered model version is the champion: the rule, apart from MLflow.

Each sweep registers its winner as a new version aliased ``challenger``. It takes
``champion`` only when it beats the current champion on the same question (the
env and its config, the objective's metric and direction, the budget per trial),
measured the same way (verified means over fresh seeds of the same evaluation),
or, when the current champion was scored another way, in a fresh evaluation of
both on this sweep's evaluation episodes. A champion that answers another
question is never replaced by a challenger it cannot be compared with.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from motif_tune.config import Settings
from motif_tune.search.ranking import Selection
from motif_tune.text import fmt

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class Standing:
    """What a model version claims: the question it answers, how it was scored, its score."""

    question: str  # JSON: env, env_config, metric, mode, budget
    measure: str  # how the score was measured (verified over seeds, or the search's)
    mean: float
    std: float
    mode: str  # "max" or "min"

    def better_than(self, other: float, own: float | None = None) -> bool:
        mine = self.mean if own is None else own
        return mine > other if self.mode == "max" else mine < other

    def describe(self) -> str:
        return f"{fmt(self.mean)} ± {self.std:.3f}" if self.std else fmt(self.mean)


def question_of(settings: Settings) -> str:
    """The question a sweep's champion answers, as a registry tag."""
    sweep, env = settings.sweep, settings.env
    question = {
        "env": env.id,
        "env_config": env.env_config,
        "metric": sweep.metric,
        "mode": sweep.mode,
        "budget": {sweep.budget.unit: getattr(sweep.budget, sweep.budget.unit)},
    }
    return json.dumps(question, sort_keys=True, default=str)


def standing_of(settings: Settings, selection: Selection) -> Standing | None:
    """What this sweep's winner claims (None: nothing to register)."""
    best, champion = selection.best, selection.champion
    if best is None:
        return None
    how = settings.sweep.objective_description
    if champion is not None and champion.scores:
        measure = f"verified mean over {len(champion.scores)} fresh seeds; {how}"
        return Standing(question_of(settings), measure, champion.mean, champion.std, selection.mode)
    return Standing(
        question_of(settings), f"search score; {how}", best.objective, 0.0, selection.mode
    )


@dataclass(frozen=True)
class Verdict:
    """Whether the challenger takes ``champion``, and the sentence that says why."""

    promoted: bool
    reason: str


def needs_fresh_evaluation(new: Standing, current: Standing | None) -> bool:
    """Same question, scored another way: only an evaluation of both compares them."""
    return (
        current is not None and current.question == new.question and current.measure != new.measure
    )


def verdict(
    new: Standing,
    current: Standing | None,
    current_version: str = "",
    fresh: tuple[float, float] | None = None,
) -> Verdict:
    """The rule (see the module's docstring); ``fresh`` is (challenger, champion) scored
    afresh on this sweep's evaluation, when they were measured differently."""
    if current is None:
        return Verdict(True, "the model's first champion")
    held = f"version {current_version}"
    if current.question != new.question:
        return Verdict(
            False,
            f"@champion stays {held}: it answers another question ({_differs(current, new)}), "
            "so this sweep's winner stays @challenger",
        )
    if current.measure == new.measure:
        if new.better_than(current.mean):
            return Verdict(True, f"it beats {held}: {new.describe()} against {current.describe()}")
        return Verdict(
            False,
            f"@champion stays {held}: {current.describe()} against this sweep's "
            f"{new.describe()}, measured the same way",
        )
    if fresh is None or not all(math.isfinite(v) for v in fresh):
        return Verdict(False, f"@champion stays {held}: it was scored another way")
    mine, theirs = fresh
    if new.better_than(theirs, own=mine):
        return Verdict(
            True,
            f"it beats {held} in a fresh evaluation of both: {fmt(mine)} against {fmt(theirs)}",
        )
    return Verdict(
        False,
        f"@champion stays {held}: a fresh evaluation of both scores it {fmt(theirs)} against "
        f"this sweep's {fmt(mine)}",
    )


def _differs(current: Standing, new: Standing) -> str:
    theirs, ours = json.loads(current.question), json.loads(new.question)
    keys = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
    return "; ".join(f"{k} {json.dumps(theirs.get(k))} not {json.dumps(ours.get(k))}" for k in keys)
