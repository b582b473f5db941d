"""A flaky env costs episodes, not trials, in every scaling profile."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from motif_tune.envs.faults import FAULT_INFO, EndEpisodeOnFault
from motif_tune.envs.motif import MotifEnv, MotifEnvFault
from tests.conftest import cli, runs_by_role


def flaky(step: float = 0.0, reset: float = 0.0, episode_length: int = 4) -> EndEpisodeOnFault:
    env = MotifEnv(
        {
            "seed": 0,
            "episode_length": episode_length,
            "fault_step_probability": step,
            "fault_reset_probability": reset,
        }
    )
    return EndEpisodeOnFault(env)


def test_a_failed_step_ends_the_episode_with_the_last_observation():
    env = flaky(step=0.3)
    obs, _ = env.reset(seed=1)
    faults = ends = 0
    for _ in range(400):
        next_obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(next_obs)
        if info.get(FAULT_INFO):
            faults += 1
            assert truncated and not terminated and reward == 0.0
            assert np.array_equal(next_obs, obs)  # the last observation the env gave
        if terminated or truncated:
            ends += 1
            next_obs, _ = env.reset()
        obs = next_obs
    assert 60 < faults < 180 and ends > faults


def test_a_failed_reset_is_retried_and_counted():
    env = flaky(reset=0.5)
    counted = 0
    for _ in range(100):
        obs, info = env.reset()
        assert env.observation_space.contains(obs)
        counted += info.get(FAULT_INFO, 0)
        env.step(env.action_space.sample())
    assert counted > 30


def test_an_env_that_always_fails_is_broken_not_flaky():
    env = flaky(step=1.0, episode_length=1)
    with pytest.raises(RuntimeError, match="failed 20 times in a row") as caught:
        for _ in range(25):  # each failed step ends its episode; the resets succeed
            env.reset()
            env.step(env.action_space.sample())
    assert isinstance(caught.value.__cause__, MotifEnvFault)


@pytest.mark.slow
def test_a_flaky_env_under_the_default_local_profile_finishes_every_trial(isolated_runs):
    """With 5% of steps failing, each fault costs an episode, counted in env_faults and
    logged once per iteration, and both trials spend their whole budget."""
    proc = subprocess.run(
        cli(
            "sweep",
            "sweep=smoke",
            "run_name=flaky",
            "sweep.num_samples=2",
            "env.env_config.fault_step_probability=0.05",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    trials = runs_by_role(isolated_runs, "trial")
    assert len(trials) == 2
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    for trial in trials:
        assert trial.data.tags["motif_tune.trial_status"] == "finished"
        assert trial.data.metrics["num_env_steps_sampled_lifetime"] >= 512  # the whole budget
        faults = client.get_metric_history(trial.info.run_id, "env_runners/env_faults")
        assert sum(m.value for m in faults) > 0
    log = (isolated_runs / "hydra" / "flaky" / "motif_tune.log").read_text()
    assert "each cost its episode (env_faults)" in log
    assert "MotifEnvFault" not in log  # no traceback per fault


@pytest.mark.slow
def test_a_sweep_whose_every_trial_fails_exits_1_saying_why(isolated_runs):
    """An env that fails every step is broken, not flaky: both trials fail, the sweep's
    run is FAILED and the program exits 1 with one sentence saying why."""
    proc = subprocess.run(
        cli(
            "sweep",
            "sweep=smoke",
            "run_name=broken",
            "env.env_config.fault_step_probability=1.0",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("motif-tune: error: All 2 trials of sweep 'broken' failed"), last
    assert "broken, not flaky" in last and "motif_tune.log" in last
    (parent,) = runs_by_role(isolated_runs, "sweep")
    assert parent.info.status == "FAILED"
    assert all(t.info.status == "FAILED" for t in runs_by_role(isolated_runs, "trial"))
