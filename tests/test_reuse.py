"""A trial process that takes the next trial (``sweep.reuse_processes``) trains it as a
fresh process would: Tune's ``reset`` with the next trial's config, then the same
results, iteration for iteration, as a new instance built from that config.

The trainables are driven here as Tune drives them (``reset(config)``, then
``train()``); a sweep that reuses its processes is checked in
``tests/test_sweep_e2e.py``, one that keeps a process per trial here.
"""

from __future__ import annotations

import subprocess

import pytest

from motif_tune.pipeline.scheduled_trial import make_scheduled_trial
from motif_tune.pipeline.trainable import make_trainable
from motif_tune.results import OBJECTIVE
from motif_tune.search.budget import trial_budget
from motif_tune.search.params import SEED
from motif_tune.search.schedule import SCHEDULE, Schedule
from tests.conftest import cli, settings_for, trial_pids

pytestmark = pytest.mark.slow

SMALL = ["algo.training.num_epochs=1", "sweep.objective.episodes=4"]
# What a result must repeat exactly: the score, what training saw, and the counters.
COMPARED = (
    OBJECTIVE,
    "training_iteration",
    "num_env_steps_sampled_lifetime",
    "env_runners/episode_return_mean",
    "env_steps",
)


def _seen(result: dict) -> dict:
    flat = {**result, **{f"env_runners/{k}": v for k, v in result["env_runners"].items()}}
    return {key: flat.get(key) for key in COMPARED}


def _trained(trial, iterations: int = 2) -> list[dict]:
    return [_seen(trial.train()) for _ in range(iterations)]


def _single(seeds: int):
    settings = settings_for(["sweep=smoke", *SMALL])
    first = {"rollout_fragment_length": 16, "train_batch_size": 128, SEED: 1}
    second = {"rollout_fragment_length": 32, "train_batch_size": 256, SEED: 2}
    return make_trainable(settings, trial_budget(settings), seeds), first, second


def _replay():
    pbt = ["sweep=pbt", "sweep.budget={iterations: 2}", "sweep.scheduler.perturbation_interval=1"]
    settings = settings_for([*pbt, *SMALL])
    start = {"algo.training.lr": 0.0003, "algo.training.entropy_coeff": 0.0}
    schedule = Schedule.starting(start).to_json()
    first = {SCHEDULE: schedule, SEED: 1}
    second = {SCHEDULE: Schedule.starting(start | {"algo.training.lr": 0.001}).to_json()}
    return make_scheduled_trial(settings, trial_budget(settings)), first, second | {SEED: 2}


@pytest.mark.parametrize(
    "kind", ["one seed", "seed group", "schedule replay"], ids=lambda kind: kind
)
def test_a_reused_trial_process_trains_the_next_trial_as_a_new_one_would(
    ray_local, tmp_path, monkeypatch, kind
):
    # A standalone Trainable writes its logdir under ~/ray_results; keep it in tmp_path.
    monkeypatch.setattr("ray.tune.trainable.trainable.DEFAULT_STORAGE_PATH", str(tmp_path))
    trainable, first, second = {
        "one seed": lambda: _single(1),
        "seed group": lambda: _single(2),
        "schedule replay": _replay,
    }[kind]()
    reused = trainable(config=dict(first))
    try:
        _trained(reused)
        assert reused.reset(dict(second)) is True
        assert reused.iteration == 0
        again = _trained(reused)
    finally:
        reused.stop()
    fresh = trainable(config=dict(second))  # built after: the seeds are global
    try:
        assert again == _trained(fresh)
    finally:
        fresh.stop()
    assert [r["training_iteration"] for r in again] == [1, 2]


def test_a_sweep_told_not_to_reuse_runs_each_trial_in_a_process_of_its_own(isolated_runs):
    """``sweep.reuse_processes=false``: three trials, two at a time, three processes."""
    proc = subprocess.run(
        cli(
            "sweep",
            "sweep=smoke",
            "sweep.num_samples=3",
            "sweep.budget.iterations=1",
            "sweep.objective.episodes=5",
            "sweep.reuse_processes=false",
            "run_name=apart",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pids = trial_pids(isolated_runs / "ray_results" / "apart")
    assert len(pids) == 3 and len(set().union(*pids.values())) == 3
