"""The champion by the sweep's rule, the quality-cost front, how the ranking held,
cost figures and seed-group reports: the logic alone, no Ray."""

from __future__ import annotations

import math
import random

import pytest
from scipy.stats import kendalltau

from motif_tune.config.schema import SelectionSettings
from motif_tune.pipeline.seed_group import group_result, group_score
from motif_tune.results import OBJECTIVE, SEEDS_MEAN, SEEDS_SE
from motif_tune.search.champion import champion_of, kendall_tau, quality_cost_front, select
from motif_tune.search.cost import CPU_S, GPU_S, STEPS_PER_S, WALL_S, Held, trial_cost
from motif_tune.search.ranking import Finalist, TrialScore

STEPS = "num_env_steps_sampled_lifetime"


def finalist(rank: int, search: float, verified: list[float], cpu_s: float) -> Finalist:
    score = TrialScore(f"t{rank}", {"train_batch_size": 128 * rank}, search, 1.0, True, None)
    costs = [{CPU_S: cpu_s, WALL_S: cpu_s / 2, GPU_S: 0.0}] * len(verified)
    return Finalist(rank, score, list(range(len(verified))), verified, costs=costs)


def test_best_picks_the_best_verified_mean_whatever_it_costs():
    finalists = [finalist(1, 0.9, [0.80, 0.82], 200), finalist(2, 0.8, [0.805, 0.805], 50)]
    champion, reason = champion_of(finalists, "max", SelectionSettings(rule="best"))
    assert champion.rank == 1 and reason == ""


def test_cheapest_within_picks_the_cheaper_finalist_within_the_tolerance():
    finalists = [finalist(1, 0.9, [0.80, 0.82], 200), finalist(2, 0.8, [0.805, 0.805], 50)]
    rule = SelectionSettings(rule="cheapest_within", tolerance=0.01, cost="cpu_s")
    champion, reason = champion_of(finalists, "max", rule)
    assert champion.rank == 2
    assert reason.startswith("the cheapest in CPU s (50 against 200) within 0.01")


def test_cheapest_within_keeps_the_best_when_the_cheaper_one_is_too_far_behind():
    finalists = [finalist(1, 0.9, [0.80, 0.82], 200), finalist(2, 0.8, [0.70, 0.72], 50)]
    rule = SelectionSettings(rule="cheapest_within", tolerance=0.01, cost="cpu_s")
    champion, reason = champion_of(finalists, "max", rule)
    assert champion.rank == 1
    assert "no finalist within 0.01 of it is cheaper" in reason


def test_cheapest_within_minimises_when_the_sweep_does():
    finalists = [finalist(1, 0.1, [1.00, 1.00], 200), finalist(2, 0.2, [1.005, 1.005], 50)]
    rule = SelectionSettings(rule="cheapest_within", tolerance=0.01, cost="cpu_s")
    assert champion_of(finalists, "min", rule)[0].rank == 2
    assert champion_of(finalists, "min", SelectionSettings())[0].rank == 1


def test_the_front_holds_the_finalists_no_other_beats_on_quality_and_cost():
    finalists = [
        finalist(1, 0.9, [0.9], 300),  # best, dearest: on the front
        finalist(2, 0.8, [0.8], 100),  # cheaper, worse: on the front
        finalist(3, 0.7, [0.7], 200),  # worse and dearer than 2: off
        finalist(4, 0.6, [0.8], 100),  # ties 2 on both: neither dominates
    ]
    assert quality_cost_front(finalists, "max", CPU_S) == (1, 2, 4)


def test_kendall_tau_matches_scipy_with_and_without_ties():
    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(2, 7)
        xs = [rng.choice([0.1, 0.2, 0.3, 0.4]) for _ in range(n)]
        ys = [rng.choice([1.0, 2.0, 3.0]) for _ in range(n)]
        expected = kendalltau(xs, ys).statistic
        got = kendall_tau(xs, ys)
        if math.isnan(expected):
            assert got is None
        else:
            assert got == pytest.approx(expected)
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0


def test_selection_says_whether_the_search_winner_survived_fresh_seeds():
    ranking = [finalist(1, 0.9, [], 0).search, finalist(2, 0.8, [], 0).search]
    finalists = [finalist(1, 0.9, [0.5, 0.5], 100), finalist(2, 0.8, [0.7, 0.7], 100)]
    selection = select("max", ranking, finalists)
    assert selection.champion.rank == 2
    assert not selection.held.survived and selection.held.tau == -1.0
    assert selection.held.search_winner == "t1" and selection.held.champion == "t2"


def test_cost_figures_are_resources_times_training_time():
    held = Held.of({"CPU": 3.0, "logical_gpu": 0.5}, gpu_resource="logical_gpu")
    cost = trial_cost(wall_s=20.0, env_steps=10_000, held=held)
    assert cost == {WALL_S: 20.0, CPU_S: 60.0, GPU_S: 10.0, STEPS_PER_S: 500.0}
    assert math.isnan(trial_cost(0.0, 0, held)[STEPS_PER_S])


def test_a_seed_group_reports_the_mean_and_its_standard_error_over_its_seeds():
    results = [
        {
            OBJECTIVE: score,
            STEPS: 1000,
            "time_this_iter_s": 2.0,
            "training_iteration": 3,
            "env_runners": {"episode_return_mean": score * 10},
        }
        for score in (0.2, 0.4, 0.9)
    ]
    report = group_result(results, "mean")
    assert report[SEEDS_MEAN] == pytest.approx(0.5)
    assert report[SEEDS_SE] == pytest.approx(0.2081666, rel=1e-6)  # stdev / sqrt(3)
    assert report[OBJECTIVE] == report[SEEDS_MEAN]
    assert report[STEPS] == 3000 and report["time_this_iter_s"] == 6.0
    assert report["env_runners"]["episode_return_mean"] == pytest.approx(5.0)
    assert [report[f"seeds/{i}/objective"] for i in range(3)] == [0.2, 0.4, 0.9]
    pessimistic = group_result(results, "mean_minus_se")
    assert pessimistic[OBJECTIVE] == pytest.approx(0.5 - 0.2081666, rel=1e-6)


def test_a_seed_group_has_no_score_until_every_seed_has_one():
    assert all(math.isnan(v) for v in group_score([0.5, math.nan], "mean"))
    assert group_score([0.5], "mean_minus_se") == (0.5, 0.5, 0.0)
