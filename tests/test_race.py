"""Verification as a race: which finalists train on more seeds, by Welch's t-test at
95%; the logic alone, no Ray (a race through real Tune rounds, preempted between them:
``test_interrupts.py``)."""

from __future__ import annotations

import math

import pytest
from scipy.stats import t, ttest_ind

from motif_tune.pipeline.summary import _race_line
from motif_tune.search.race import still_racing, t975, told_apart
from motif_tune.search.ranking import Finalist, TrialScore


def finalist(rank: int, verified: list[float]) -> Finalist:
    score = TrialScore(f"t{rank}", {"train_batch_size": 128 * rank}, 0.5, 1.0, True, None)
    return Finalist(rank, score, list(range(1, len(verified) + 1)), list(verified))


@pytest.mark.parametrize("df", [1, 2, 3, 4.7, 10, 29.9, 30, 31, 200])
def test_the_t_quantile_is_students_at_the_whole_degrees_of_freedom_below(df):
    whole = math.floor(df)
    expected = t.ppf(0.975, whole) if whole <= 30 else 1.96
    assert t975(df) == pytest.approx(expected, abs=2e-3)
    assert t975(df) >= t.ppf(0.975, df) - 2e-3 or whole > 30  # never less cautious


@pytest.mark.parametrize(
    "a,b",
    [
        ([0.80, 0.81, 0.79], [0.70, 0.72, 0.71]),
        ([0.80, 0.85, 0.75], [0.70, 0.78, 0.73]),
        ([120.0, 455.0, 30.0], [280.0, 60.0, 220.0]),
        ([0.5, 0.6, 0.7, 0.55, 0.65, 0.6], [0.4, 0.45, 0.5, 0.42, 0.48, 0.44]),
    ],
)
def test_two_finalists_are_told_apart_as_welchs_t_test_at_95_percent_says(a, b):
    welch = ttest_ind(a, b, equal_var=False)
    if abs(welch.pvalue - 0.05) > 0.01:  # away from the line, where the rounded df agrees
        assert told_apart(a, b) == (welch.pvalue < 0.05)
    assert told_apart(a, b) == told_apart(b, a)


def test_one_seed_tells_nothing_apart_and_identical_seeds_tell_any_difference():
    assert not told_apart([0.9], [0.1])
    assert told_apart([0.5, 0.5], [0.4, 0.4])
    assert not told_apart([0.5, 0.5], [0.5, 0.5])


def test_the_leader_races_on_with_the_finalists_it_is_not_told_apart_from():
    leader = finalist(2, [0.80, 0.84, 0.76])
    close = finalist(1, [0.78, 0.70, 0.83])
    far = finalist(3, [0.50, 0.51, 0.49])
    assert still_racing([close, leader, far], "max") == [leader, close]
    # Decided: only finalists told apart from the leader are left.
    assert still_racing([leader, far], "max") == []
    assert still_racing([leader], "max") == []


def test_the_leader_is_the_lowest_mean_when_the_sweep_minimises():
    low, high = finalist(1, [1.0, 1.2, 0.8]), finalist(2, [1.1, 1.5, 0.9])
    assert still_racing([high, low], "min") == [low, high]


def test_a_finalist_short_of_a_seed_still_races_and_one_with_none_does_not():
    """A verification trial that failed leaves its finalist fewer scores, not out."""
    leader, short = finalist(1, [0.8, 0.7, 0.9]), finalist(2, [0.7, 0.8])
    unscored = finalist(3, [])
    assert still_racing([leader, short, unscored], "max") == [leader, short]


def test_the_summary_says_which_finalists_raced_on_more_seeds():
    finalists = [finalist(1, [0.8] * 6), finalist(2, [0.7] * 6), finalist(3, [0.2] * 3)]
    line = _race_line(finalists)
    assert line == (
        "  raced: #1 and #2 on 6 seeds, the leader and those the seeds before could not tell "
        "from it (Welch's t-test, 95%); the rest on 3"
    )
    assert _race_line(finalists[:2]) is None  # all on as many seeds: nothing to say
