"""Which registered version is the champion: a challenger takes it only by beating it on
the same question, measured the same way (or in a fresh evaluation of both). (A resumed
sweep that had finished registers nothing again: ``tests/test_interrupts.py``.)"""

from __future__ import annotations

import json

from motif_tune.search.standing import Standing, needs_fresh_evaluation, question_of, verdict
from tests.conftest import settings_for

VERIFIED = "verified mean over 3 fresh seeds; objective of a greedy evaluation"
SEARCH = "search score; objective of a greedy evaluation"


def standing(mean: float, measure: str = VERIFIED, question: str = "q", mode: str = "max"):
    return Standing(question, measure, mean, 0.01, mode)


def test_the_first_winner_is_the_champion():
    assert verdict(standing(0.5), None).promoted


def test_a_better_mean_on_the_same_question_takes_the_champion():
    decision = verdict(standing(0.81), standing(0.79), "3")
    assert decision.promoted and "beats version 3: 0.810 ± 0.010 against 0.790 ± 0.010" in (
        decision.reason
    )
    minimised = verdict(standing(0.2, mode="min"), standing(0.3, mode="min"), "1")
    assert minimised.promoted


def test_a_worse_mean_leaves_the_champion_where_it_is():
    decision = verdict(standing(0.40), standing(0.80), "1")
    assert not decision.promoted
    assert decision.reason == (
        "@champion stays version 1: 0.800 ± 0.010 against this sweep's 0.400 ± 0.010, "
        "measured the same way"
    )


def test_another_question_is_never_compared_and_says_what_differs():
    ours = question_of(settings_for(["sweep=smoke"]))
    theirs = question_of(settings_for(["sweep=smoke", "sweep.budget.env_steps=2048"]))
    assert ours != theirs and json.loads(ours)["budget"] == {"env_steps": 512}
    decision = verdict(standing(0.99, question=ours), standing(0.1, question=theirs), "2")
    assert not decision.promoted
    assert 'budget {"env_steps": 2048} not {"env_steps": 512}' in decision.reason


def test_another_measure_on_the_same_question_needs_a_fresh_evaluation():
    new, current = standing(0.9), standing(0.7, measure=SEARCH)
    assert needs_fresh_evaluation(new, current)
    assert not needs_fresh_evaluation(new, standing(0.7))
    assert not verdict(new, current, "4").promoted  # no fresh scores: the champion stays
    assert verdict(new, current, "4", fresh=(0.8, 0.6)).promoted
    lost = verdict(new, current, "4", fresh=(0.5, 0.6))
    assert not lost.promoted and "fresh evaluation of both scores it 0.600" in lost.reason
