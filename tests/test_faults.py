"""Faults: env runners that crash, logs from remote workers (a killed driver:
``tests/test_interrupts.py``)."""

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


def test_info_logs_from_remote_env_runners_reach_the_log_file_and_a_verbose_terminal(
    isolated_runs,
):
    """With logging.console=verbose a remote env runner's INFO line reaches the terminal
    too (the normal console: the test above), and the log file has it."""
    proc = subprocess.run(
        cli(
            "sweep",
            "sweep=smoke",
            "sweep.num_samples=1",
            "stop.training_iteration=1",
            "run_name=logs",
            "logging.console=verbose",
            "scaling.env_runners.num_env_runners=1",
            "scaling.env_runners.num_envs_per_env_runner=1",
            LOGTEST,
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Ray folds lines that differ only in numbers into one on the terminal, so a verbose
    # terminal shows one env runner's line; the log file has every worker's.
    assert READY in proc.stdout + proc.stderr
    log_file = isolated_runs / "hydra" / "logs" / "motif_tune.log"
    assert f"{READY} 1)" in log_file.read_text()
