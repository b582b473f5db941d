"""Faults: env runners that crash, a driver that is killed, logs from remote workers."""

from __future__ import annotations

import json
import subprocess

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import cli, kill_when, runs_by_role

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


# The sweep killed twice: three trials of a few quick iterations (one pass over each
# batch), checkpointed every two; then the best and the baseline on two fresh seeds.
ITERATIONS = 6
KILLED = [
    "sweep=smoke",
    "run_name=killed",
    "sweep.num_samples=3",
    "sweep.verify.top_k=1",
    "sweep.verify.seeds=2",
    f"sweep.budget.iterations={ITERATIONS}",
    "sweep.checkpoint.frequency=2",
    "algo.training.num_epochs=1",
]


def test_a_sweep_killed_in_the_search_and_in_verification_resumes_without_duplicates(
    isolated_runs,
):
    """The driver is SIGKILLed once a trial has finished while another runs, and again,
    after `resume`, once a verification trial has reported. A second `resume` finishes
    the verification: every search trial and every verification trial ran once, each
    iteration recorded once, the study has no trial left running and each Tune trial was
    told to it once, and the champion is registered once."""
    experiment = isolated_runs / "ray_results" / "killed"
    kill_when(
        cli("sweep", *KILLED),
        lambda: _one_finished_and_one_running(experiment),
        "no trial finished while another ran",
    )
    assert any(t.info.status == "RUNNING" for t in runs_by_role(isolated_runs, "trial"))
    storage = f"sqlite:///{isolated_runs}/optuna.db"
    killed = optuna.load_study(study_name="killed", storage=storage)
    assert TrialState.RUNNING in {t.state for t in killed.trials}

    verification = isolated_runs / "ray_results" / "killed-verify"
    kill_when(
        cli("resume", "run_name=killed"),
        lambda: any(verification.glob("trial_*/result.json")),
        "the resumed sweep did not reach verification",
    )
    (parent,) = runs_by_role(isolated_runs, "sweep")
    assert parent.info.status == "RUNNING"  # killed again before the sweep could end

    resumed = subprocess.run(
        cli("resume", "run_name=killed"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Verified on fresh seeds (1, 2)" in resumed.stdout
    assert "Champion:" in resumed.stdout

    (parent,) = runs_by_role(isolated_runs, "sweep")
    trials = runs_by_role(isolated_runs, "trial")
    verify = runs_by_role(isolated_runs, "verify")
    assert parent.info.status == "FINISHED"
    assert len(trials) == 3
    assert len({t.data.tags["motif_tune.trial_id"] for t in trials}) == 3
    statuses = [(t.info.run_name, t.info.status) for t in [*trials, *verify]]
    assert all(t.info.status == "FINISHED" for t in [*trials, *verify]), statuses
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    for trial in [*trials, *verify]:
        steps = [m.step for m in client.get_metric_history(trial.info.run_id, "time_this_iter_s")]
        assert sorted(steps) == list(range(1, ITERATIONS + 1))  # each iteration once, none lost
    best = parent.data.params["best.trial_id"]
    assert best in {t.data.tags["motif_tune.trial_id"] for t in trials}
    # The same study goes on: no trial stuck running, each Tune trial told once.
    study = optuna.load_study(study_name="killed", storage=storage)
    assert not [t.number for t in study.trials if not t.state.is_finished()]
    told = [t.user_attrs["tune_trial_id"] for t in study.trials if t.state == TrialState.COMPLETE]
    assert sorted(told) == sorted(t.data.tags["motif_tune.trial_id"] for t in trials)
    # Each finalist (the best and the baseline, or the baseline alone when it won) on
    # both seeds, once each, and one registered version.
    finalists = len({v.data.params["train_batch_size"] for v in verify})
    ids = [v.data.tags["motif_tune.trial_id"] for v in verify]
    assert finalists in (1, 2) and len(ids) == len(set(ids)) == 2 * finalists
    assert sorted(v.data.params["seed"] for v in verify) == ["1"] * finalists + ["2"] * finalists
    assert len(client.search_model_versions("name = 'smoke-PPO-motif'")) == 1


def _one_finished_and_one_running(experiment) -> bool:
    """A trial has reported its last iteration and another one an earlier iteration."""
    done = [_iterations(r) for r in experiment.glob("trial_*/result.json")]
    return ITERATIONS in done and any(0 < i < ITERATIONS for i in done)


def _iterations(result_file) -> int:
    """The last training iteration a trial's ``result.json`` holds (a line still being
    written is skipped)."""
    for line in reversed(result_file.read_text().splitlines()):
        try:
            return int(json.loads(line)["training_iteration"])
        except (ValueError, KeyError):
            continue
    return 0
