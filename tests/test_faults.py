"""Faults: env runners that crash, a driver that is killed, logs from remote workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import cli, runs_by_role

pytestmark = pytest.mark.slow


def test_crashing_env_runners_are_restarted_and_the_trial_finishes(isolated_runs):
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


def test_a_killed_sweep_resumes_and_finishes_every_trial_once(isolated_runs):
    args = [
        "sweep",
        "sweep=smoke",
        "run_name=killed",
        "sweep.num_samples=3",
        "sweep.max_concurrent_trials=1",
        "sweep.budget.iterations=15",
        "sweep.checkpoint.frequency=3",
    ]
    driver = subprocess.Popen(
        cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    try:
        experiment = isolated_runs / "ray_results" / "killed"
        while time.time() < deadline:  # kill once one trial is done and another is running
            reported = list(experiment.glob("trial_*/result.json"))
            if len(reported) >= 2 and any(_iterations(r) >= 15 for r in reported):
                break
            assert driver.poll() is None, "the sweep ended before it could be killed"
            time.sleep(1)
        else:
            pytest.fail("no trial finished in time")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert any(t.info.status == "RUNNING" for t in runs_by_role(isolated_runs, "trial"))
    storage = f"sqlite:///{isolated_runs}/optuna.db"
    killed = optuna.load_study(study_name="killed", storage=storage)
    assert TrialState.RUNNING in {t.state for t in killed.trials}

    resumed = subprocess.run(
        cli("resume", "run_name=killed"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Champion:" in resumed.stdout

    (parent,) = runs_by_role(isolated_runs, "sweep")
    trials = runs_by_role(isolated_runs, "trial")
    assert parent.info.status == "FINISHED"
    assert len(trials) == 3
    assert len({t.data.tags["motif_tune.trial_id"] for t in trials}) == 3
    statuses = [(t.info.run_name, t.info.status) for t in trials]
    assert all(t.info.status == "FINISHED" for t in trials), statuses
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    for trial in trials:
        steps = [m.step for m in client.get_metric_history(trial.info.run_id, "time_this_iter_s")]
        assert sorted(steps) == list(range(1, 16))  # each iteration once, none lost
    best = parent.data.params["best.trial_id"]
    assert best in {t.data.tags["motif_tune.trial_id"] for t in trials}
    # The same study goes on: no trial stuck running, each Tune trial told once.
    study = optuna.load_study(study_name="killed", storage=storage)
    assert not [t.number for t in study.trials if not t.state.is_finished()]
    told = [t.user_attrs["tune_trial_id"] for t in study.trials if t.state == TrialState.COMPLETE]
    assert sorted(told) == sorted(t.data.tags["motif_tune.trial_id"] for t in trials)


def _iterations(result_file) -> int:
    """The last training iteration a trial's ``result.json`` holds."""
    lines = result_file.read_text().splitlines()
    return int(json.loads(lines[-1])["training_iteration"]) if lines else 0


@pytest.mark.parametrize("console", ["normal", "verbose"])
def test_info_logs_from_remote_env_runners_reach_the_log_file_and_a_verbose_terminal(
    isolated_runs, console
):
    proc = subprocess.run(
        cli(
            "sweep",
            "sweep=smoke",
            "sweep.num_samples=1",
            "stop.training_iteration=1",
            "run_name=logs",
            f"logging.console={console}",
            "scaling.env_runners.num_env_runners=1",
            "scaling.env_runners.num_envs_per_env_runner=1",
            "logging.format='LOGTEST %(levelname)s [%(name)s] %(message)s'",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Ray folds lines that differ only in numbers into one on the terminal, so a verbose
    # terminal shows one env runner's line; the log file has every worker's.
    shown = "LOGTEST INFO [motif_tune.envs.motif] MotifEnv ready (worker"
    assert (shown in proc.stdout + proc.stderr) == (console == "verbose")
    line = "LOGTEST INFO [motif_tune.envs.motif] MotifEnv ready (worker 1)"
    log_file = isolated_runs / "hydra" / "logs" / "motif_tune.log"
    assert line in log_file.read_text()
