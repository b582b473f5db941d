"""A trial restored from the checkpoint that ended its budget trains no further.

Tune restores a trial from its final checkpoint when the driver was killed after the
trial's last result but before Tune recorded it as finished; one more iteration would
train and record past the budget. The trainables are built and restored here as Tune
does it (``save()`` hands ``restore()`` the checkpoint with the metrics it was taken at).
"""

from __future__ import annotations

import pytest
from ray.tune.result import RESULT_DUPLICATE, TRAINING_ITERATION

from motif_tune.pipeline.trainable import make_trainable
from motif_tune.search.budget import trial_budget
from tests.conftest import settings_for

SMALL = ["sweep=smoke", "algo.training.num_epochs=1", "sweep.objective.episodes=2"]
ENV_STEPS = "num_env_steps_sampled_lifetime"


def _trial(*overrides: str, seeds: int = 1):
    settings = settings_for([*SMALL, *overrides])
    return make_trainable(settings, trial_budget(settings), seeds)(config={})


def _trained_and_saved(trial, iterations: int, folder) -> tuple[dict, object]:
    try:
        for _ in range(iterations):
            result = trial.train()
        return result, trial.save(str(folder))
    finally:
        trial.stop()


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [1, 2], ids=["one seed", "seed group"])
def test_a_trial_restored_at_its_budget_ends_on_its_last_result(
    ray_local, tmp_path, monkeypatch, seeds
):
    # A standalone Trainable writes its logdir under ~/ray_results; keep it in tmp_path.
    monkeypatch.setattr("ray.tune.trainable.trainable.DEFAULT_STORAGE_PATH", str(tmp_path))
    budget = "sweep.budget={iterations: 1}"
    last, saved = _trained_and_saved(_trial(budget, seeds=seeds), 1, tmp_path / "end")
    assert last[TRAINING_ITERATION] == 1 and saved.metrics[TRAINING_ITERATION] == 1

    restored = _trial(budget, seeds=seeds)
    try:
        restored.restore(saved)
        # Tune then ends the trial on the result its checkpoint was taken at (that
        # result, with done=True, is what the scheduler, searcher and stop rule see).
        assert restored.train() == {RESULT_DUPLICATE: True}
        assert restored.iteration == 1
    finally:
        restored.stop()

    # A checkpoint short of the budget trains on as before.
    longer = _trial("sweep.budget={iterations: 2}", seeds=seeds)
    try:
        longer.restore(saved)
        result = longer.train()
        assert result[TRAINING_ITERATION] == 2
        assert result[ENV_STEPS] > saved.metrics[ENV_STEPS]
    finally:
        longer.stop()


@pytest.mark.slow
def test_an_env_step_budget_is_checked_in_env_steps(ray_local, tmp_path, monkeypatch):
    monkeypatch.setattr("ray.tune.trainable.trainable.DEFAULT_STORAGE_PATH", str(tmp_path))
    # smoke: 512 env steps; a first batch of 256 leaves half of it
    batch = "algo.training.train_batch_size_per_learner=256"
    last, saved = _trained_and_saved(_trial(batch), 2, tmp_path / "two")
    assert last[ENV_STEPS] >= 512
    restored = _trial(batch)
    try:
        restored.restore(saved)
        assert restored.train() == {RESULT_DUPLICATE: True}
    finally:
        restored.stop()
    _, halfway = _trained_and_saved(_trial(batch), 1, tmp_path / "one")
    assert halfway.metrics[ENV_STEPS] < 512
    resumed = _trial(batch)
    try:
        resumed.restore(halfway)
        assert resumed.train()[ENV_STEPS] >= 512
    finally:
        resumed.stop()
