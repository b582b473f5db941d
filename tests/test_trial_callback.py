"""The MLflow trial callback on a real local store: names, params, curves, and the runs
a killed driver leaves behind."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from motif_tune.search.budget import trial_budget
from motif_tune.search.schedule import EXPLOIT_SOURCE, EXPLOIT_STEP
from motif_tune.tracking.callback import MLflowTrialCallback
from motif_tune.tracking.client import open_store
from motif_tune.tracking.sweep_run import SweepRun
from tests.conftest import settings_for


def trial(trial_id: str, status: str = "RUNNING", steps: int = 0) -> SimpleNamespace:
    values = {"rollout_fragment_length": 17, "train_batch_size": 272}
    return SimpleNamespace(
        trial_id=trial_id,
        config=values,
        status=status,
        last_result={"num_env_steps_sampled_lifetime": steps},
    )


def result(iteration: int, steps: int) -> dict:
    return {
        "training_iteration": iteration,
        "objective": 0.1 * iteration,
        "num_env_steps_sampled_lifetime": steps,
        "time_this_iter_s": 0.5,
        "time_total_s": 0.5 * iteration,
        "env_runners": {"episode_return_mean": 0.1 * iteration, "env_faults": 0, "num_episodes": 9},
        "perf": {"cpu_util_percent": 50.0},
    }


@pytest.fixture
def sweep(existing_store):
    """The smoke sweep's parent run, started in an (empty) local store."""
    settings = settings_for(["sweep=smoke", "run_name=callback"])
    sweep_run = SweepRun(settings, open_store(settings.tracking.uri))
    sweep_run.start()
    return sweep_run


def test_a_trial_run_is_named_with_its_settings_and_curated_curves(sweep):
    callback = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    callback.setup()
    first = trial("a1")
    callback.on_trial_start(0, [first], first)
    for i in (1, 2):
        callback.on_trial_result(0, [first], first, result(i, 272 * i))
    callback.writer.flush()  # the writes leave Tune's thread
    run = sweep.client.get_run(sweep.child_runs()["a1"])
    assert run.info.run_name == "t01 fragment=17 batch=272"
    assert run.data.params["rollout_fragment_length"] == "17"
    assert run.data.params["num_envs_per_env_runner"] == "4" and run.data.params["lr"] == "0.0003"
    assert "perf/cpu_util_percent" not in run.data.metrics  # not curated
    speed = sweep.client.get_metric_history(run.info.run_id, "env_steps_per_s")
    assert [(m.step, m.value) for m in speed] == [(1, 544.0), (2, 544.0)]  # 272 steps / 0.5 s


def test_runs_a_killed_driver_left_running_are_settled_on_resume(sweep):
    before = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    before.setup()
    ended, lost, failed = trial("e1"), trial("l2"), trial("f3")
    for t in (ended, lost, failed):
        before.on_trial_start(0, [ended, lost, failed], t)
        before.on_trial_result(0, [t], t, result(1, 600))
    before.writer.flush()
    # The driver is killed here: all three runs are RUNNING. Tune's saved state knows
    # that e1 ended (its budget spent) and f3 failed, and never heard of l2.
    resumed = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    resumed.setup()
    ended = trial("e1", "TERMINATED", steps=600)
    failed = trial("f3", "ERROR")
    resumed.on_experiment_end([ended, failed])
    runs = {t: sweep.client.get_run(r) for t, r in sweep.child_runs().items()}
    assert set(runs) == {"e1", "f3"}  # l2's run is gone: the resumed sweep replaced it
    assert runs["e1"].info.status == "FINISHED"
    assert runs["e1"].data.tags["motif_tune.trial_status"] == "finished"
    assert runs["f3"].info.status == "FAILED"


@pytest.mark.parametrize("copied_iteration", [1, 5])
def test_a_member_that_copies_another_goes_on_from_its_own_last_step(sweep, copied_iteration):
    """A population member that copies a member behind it or ahead of it (its next
    report's iteration follows the copied one's) records its next report at its own next
    step: none skipped, none twice."""
    callback = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    callback.setup()
    member = trial("m1")
    callback.on_trial_start(0, [member], member)
    for i in (1, 2):
        callback.on_trial_result(0, [member], member, result(i, 272 * i))
    copied = result(copied_iteration + 1, 272 * (copied_iteration + 1))
    copied |= {EXPLOIT_SOURCE: "m2", EXPLOIT_STEP: 272.0 * copied_iteration}
    callback.on_trial_result(0, [member], member, copied)
    callback.on_trial_result(0, [member], member, result(copied_iteration + 2, 0))
    callback.writer.flush()
    run_id = sweep.child_runs()["m1"]
    history = sweep.client.get_metric_history(run_id, "time_this_iter_s")
    assert sorted(m.step for m in history) == [1, 2, 3, 4]
    offset = sweep.client.get_run(run_id).data.tags["motif_tune.step_offset"]
    assert int(offset) == 2 - (copied_iteration + 1) + 1
