"""Faults: env runners that crash, and where their logs go (a killed driver:
``tests/test_interrupts.py``; remote runners' lines on a verbose terminal: the packing
sweep in ``tests/test_sweep_e2e.py``)."""

from __future__ import annotations

import subprocess

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli, runs_by_role

pytestmark = pytest.mark.slow


# Remote env runners' INFO lines in a format of the tests' own.
LOGTEST = "logging.format='LOGTEST %(levelname)s [%(name)s] %(message)s'"
READY = "LOGTEST INFO [motif_tune.envs.motif] MotifEnv ready (worker"


def test_crashing_env_runners_are_restarted_and_the_trial_finishes(isolated_runs):
    """A remote env runner whose env raises (1% of steps, the faults reaching RLlib) is
    restarted and the trial finishes all four iterations. On the normal console the
    runners' INFO lines reach the run's log file, every worker's, and not the terminal."""
    proc = subprocess.run(
        cli(
            "sweep",
            "sweep=smoke",
            "sweep.num_samples=1",
            "run_name=faulty",
            "sweep.budget.iterations=4",
            "scaling.env_runners.num_env_runners=1",
            "scaling.env_runners.num_envs_per_env_runner=1",
            "+env.env_config.fault_step_probability=0.01",
            "env.end_episode_on_fault=false",  # the faults reach RLlib, which restarts runners
            "fault_tolerance.delay_between_env_runner_restarts_s=0.5",
            "logging.console=normal",
            LOGTEST,
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log_file = isolated_runs / "hydra" / "faulty" / "motif_tune.log"
    assert "MotifEnvFault" in log_file.read_text()  # the fault really happened
    (trial,) = runs_by_role(isolated_runs, "trial")
    assert trial.info.status == "FINISHED"
    assert trial.data.tags["motif_tune.trial_status"] == "finished"
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    steps = [m.step for m in client.get_metric_history(trial.info.run_id, "time_this_iter_s")]
    assert steps == [1, 2, 3, 4]
    assert READY not in proc.stdout + proc.stderr
    assert f"{READY} 1)" in log_file.read_text()
