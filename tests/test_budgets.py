"""Equal budgets, one objective, a verified champion: the logic, unit by unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from motif_tune.results import OBJECTIVE
from motif_tune.search.budget import budget_notices, trial_budget
from motif_tune.search.champion import champion_of
from motif_tune.search.params import baseline_values
from motif_tune.search.plan import plan_search
from motif_tune.search.ranking import (
    choose_finalists,
    record_verification,
    trial_scores,
    verification_points,
)
from motif_tune.search.schedulers import make_scheduler
from motif_tune.search.space import SearchSpace
from motif_tune.search.trial import Scorer
from tests.conftest import settings_for

STEPS = "num_env_steps_sampled_lifetime"


def test_asha_rungs_count_env_steps_and_match_the_budgets_milestones():
    settings = settings_for(["sweep=default"])
    budget = trial_budget(settings)
    scheduler = make_scheduler(trial_budget(settings))
    assert isinstance(scheduler, ASHAScheduler)
    assert scheduler._time_attr == STEPS == budget.result_key
    rungs = sorted(milestone for milestone, _ in scheduler._brackets[0]._rungs)
    assert rungs == list(budget.milestones) == [2500, 5000, 10000, 20000]
    assert budget.stop_rule() == {STEPS: 20000}


@pytest.mark.parametrize(
    "overrides,key,amount",
    [
        (["sweep.budget.env_steps=4096"], STEPS, 4096),
        (["sweep.budget.time_s=90"], "time_total_s", 90),  # replaces the file's unit
        (["sweep.budget.iterations=12"], "training_iteration", 12),
        (["sweep.budget={time_s: 90}"], "time_total_s", 90),  # whole, not merged
        (["sweep.budget={iterations: 12}"], "training_iteration", 12),
        (["sweep.budget.time_s=30", "sweep.budget={env_steps: 4096}"], STEPS, 4096),
    ],
)
def test_the_budget_sets_the_stop_rule_and_the_schedulers_unit(overrides, key, amount):
    settings = settings_for(["sweep=default", *overrides])
    assert trial_budget(settings).stop_rule() == {key: amount}
    assert make_scheduler(trial_budget(settings))._time_attr == key


def test_a_budget_states_amounts_in_its_own_unit():
    """As the console's trial events and the summary print them."""
    assert (
        trial_budget(settings_for(["sweep.budget={time_s: 90}"])).describe() == "90 s of training"
    )
    default = trial_budget(settings_for(["sweep=default"]))
    assert default.describe() == "20,000 env steps"
    assert default.describe(1024) == "1,024 env steps"


def test_a_budget_below_the_grace_period_turns_early_stopping_off_with_a_notice():
    settings = settings_for(["sweep.budget.iterations=1"])
    assert isinstance(make_scheduler(trial_budget(settings)), FIFOScheduler)
    notices = " ".join(budget_notices(settings, trial_budget(settings)))
    assert "early stopping is off" in notices
    assert "not compared at equal cost" in notices  # iterations while the batch is searched


def _planned(overrides: list[str]) -> tuple[Any, list[str]]:
    plan = plan_search(settings_for(["sweep=default", *overrides]), new_study=False)
    return plan, " ".join(plan.notices)


def test_asha_s_first_rung_waits_for_the_largest_batch_s_first_report():
    """At 4,000 env steps the asked-for rung (500) would come before a 2,048 batch's
    first report: Tune would score that trial only at later rungs, and a small batch
    at every one of them, nearly untrained at the first."""
    plan, notices = _planned(["sweep.budget.env_steps=4000"])
    assert plan.budget.milestones == (2048,)
    assert plan.search_budget.milestones == (2048,)
    scheduler = make_scheduler(plan.budget)
    assert [m for m, _ in scheduler._brackets[0]._rungs] == [2048]
    assert "first rung is at 2,048 env steps, not 500 env steps" in notices
    # a smaller batch range leaves the sweep file's rungs as they were
    plan, notices = _planned(
        ["sweep.budget.env_steps=4000", "sweep.space.train_batch_size.high=480"]
    )
    assert plan.budget.milestones == (500, 1000, 2000, 4000)
    assert "first rung" not in notices


def test_a_seed_group_meets_the_moved_rungs_with_all_its_seeds():
    plan, _ = _planned(["sweep.budget.env_steps=4000", "sweep.seeds_per_trial=2"])
    assert plan.budget.milestones == (2048,)
    assert plan.search_budget.milestones == (4096,)


def test_a_budget_below_the_largest_batch_turns_early_stopping_off_and_says_why():
    plan, notices = _planned(["env=cartpole", "sweep.budget.env_steps=2000"])
    assert not plan.budget.early_stopping
    assert isinstance(make_scheduler(plan.budget), FIFOScheduler)
    assert "largest train batch in this sweep (2,048 env steps)" in notices
    assert "early stopping is off" in notices


def test_the_composed_batch_sets_the_first_rung_when_the_batch_is_not_searched():
    plan, notices = _planned(
        [
            "sweep.budget.env_steps=8000",
            "~sweep.space.train_batch_size",
            "algo.training.train_batch_size_per_learner=1500",
        ]
    )
    assert "train_batch_size" not in plan.space.specs
    assert plan.budget.milestones == (1500, 3000, 6000)
    assert "first rung is at 1,500 env steps, not 1,000 env steps" in notices


def test_an_env_step_budget_needs_no_notice():
    assert budget_notices(*_with_budget(settings_for(["sweep=default"]))) == []


def test_the_baseline_is_the_composed_configs_own_values():
    settings = settings_for(["sweep=default"])
    values = baseline_values(settings)
    ppo = {"algo.training.minibatch_size": 128, "algo.training.num_epochs": 6}
    assert values == {"rollout_fragment_length": 256, "train_batch_size": 1024, **ppo}
    assert SearchSpace(settings).resolve(values) == values
    wider = settings_for(["sweep=default", "algo.training.train_batch_size_per_learner=512"])
    expected = {"rollout_fragment_length": 128, "train_batch_size": 512, **ppo}
    assert baseline_values(wider) == expected


def test_evaluations_happen_first_at_every_rung_and_at_the_end():
    settings = settings_for(["sweep=default"])
    scorer = Scorer(settings.sweep.metric, settings.sweep.objective, trial_budget(settings))
    due = [steps for steps in range(1000, 24000, 1000) if scorer.evaluation_due(steps)]
    assert due == [1000, 3000, 5000, 10000, 20000, 21000, 22000, 23000]


def test_a_smoothed_objective_is_the_mean_of_the_last_reports():
    settings = settings_for(
        ["sweep=default", "sweep.objective.by=smoothed", "sweep.objective.window=2"]
    )
    scorer = Scorer(settings.sweep.metric, settings.sweep.objective, trial_budget(settings))
    never = lambda: pytest.fail("smoothed scores never evaluate")  # noqa: E731
    values = [
        scorer.score({"env_runners": {"episode_return_mean": r}}, never) for r in (0.1, 0.3, 0.5)
    ]
    assert values == pytest.approx([0.1, 0.2, 0.4])


@dataclass
class _Checkpoint:
    path: str


@dataclass
class _Result:
    """The fields of a Tune ``Result`` that ranking reads."""

    metrics: dict[str, Any]
    config: dict[str, Any]
    best_checkpoints: list = field(default_factory=list)
    checkpoint: _Checkpoint | None = None


def _result(trial_id: str, objective: float, steps: int, **config: Any) -> _Result:
    metrics = {"trial_id": trial_id, OBJECTIVE: objective, STEPS: steps}
    checkpoint = _Checkpoint(f"/ckpt/{trial_id}")
    return _Result(metrics, config, [(checkpoint, metrics)], checkpoint)


def test_full_budget_trials_rank_first_and_the_baseline_always_reaches_verification():
    settings = settings_for(["sweep=default"])
    budget = trial_budget(settings)
    baseline = {"rollout_fragment_length": 256, "train_batch_size": 1024}
    results = [
        _result("base", 0.50, 20480, **baseline),
        _result("early", 0.90, 5000, rollout_fragment_length=16, train_batch_size=256),
        _result("a", 0.70, 20000, rollout_fragment_length=32, train_batch_size=512),
        _result("b", 0.65, 20100, rollout_fragment_length=64, train_batch_size=512),
        _result("a-again", 0.60, 20000, rollout_fragment_length=32, train_batch_size=512),
    ]
    ranked = trial_scores(results, budget, "max", baseline)
    assert [s.trial_id for s in ranked] == ["a", "b", "a-again", "base", "early"]
    assert [s.baseline for s in ranked] == [False, False, False, True, False]
    finalists = choose_finalists(
        ranked, settings.sweep.verify.top_k
    )  # top 2 distinct + the baseline
    assert [f.search.trial_id for f in finalists] == ["a", "b", "base"]

    seeds = list(plan_search(settings).verify_seeds)
    assert seeds == [1, 2, 3, 4, 5, 6]  # three for every finalist, three more for a race
    points = verification_points(finalists, seeds[: settings.sweep.verify.seeds])
    assert len(points) == 9 and points[0] == {**finalists[0].values, "seed": 1}
    scores = {("a", 1): 0.6, ("a", 2): 0.62, ("a", 3): 0.58, ("b", 1): 0.7, ("b", 2): 0.72}
    scores |= {("b", 3): 0.68, ("base", 1): 0.5, ("base", 2): 0.5, ("base", 3): 0.5}
    names = {f.search.trial_id: f.values for f in finalists}
    verified = [
        _result(f"v-{name}-{seed}", value, 20000, **names[name], seed=seed)
        for (name, seed), value in reversed(list(scores.items()))
    ]
    record_verification(finalists, verified, budget, "max")
    champion, reason = champion_of(finalists, "max")
    assert champion is finalists[1] and reason == ""  # b: the better mean, though a led the search
    assert champion.seeds == [1, 2, 3] and champion.scores == [0.7, 0.72, 0.68]
    assert champion.mean == pytest.approx(0.70) and champion.std == pytest.approx(0.02)
    assert champion.checkpoints[champion.best_seed("max")] == "/ckpt/v-b-2"


def test_no_verification_when_top_k_is_zero():
    settings = settings_for(["sweep=smoke"])
    ranked = trial_scores(
        [_result("x", 0.3, 600, rollout_fragment_length=16)], trial_budget(settings), "max"
    )
    assert choose_finalists(ranked, settings.sweep.verify.top_k) == []


def _with_budget(settings):
    return settings, trial_budget(settings)
