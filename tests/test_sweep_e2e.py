"""A real smoke sweep through Ray, Tune, Optuna and MLflow, checked with MLflow's client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import trial_pids
from tests.test_faults import LOGTEST, READY

pytestmark = pytest.mark.slow

TRIAL_SETTINGS = {
    "algo",
    "lr",
    "num_epochs",
    "minibatch_size",
    "num_env_runners",
    "num_envs_per_env_runner",
    "rollout_fragment_length",
    "num_gpus_per_env_runner",
    "train_batch_size",
    "seed",
}
CURATED = {
    "objective",
    "env_runners/episode_return_mean",
    "env_runners/episode_return_min",
    "env_runners/episode_return_max",
    "env_runners/match_accuracy",
    "env_steps_per_s",
    "num_env_steps_sampled_lifetime",
    "time_this_iter_s",
    "learners/default_policy/entropy",
    "learners/default_policy/total_loss",
    "cost/wall_s",
    "cost/cpu_s",
    "cost/gpu_s",
    "cost/env_steps_per_s",
}


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "motif_tune", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_smoke_sweep_records_every_trial_in_mlflow(shared_sweep):
    """The shared smoke sweep (three trials, the best and the baseline verified on two
    seeds) leaves one parent run, a run per trial with its settings and curated curves,
    the plots and the config, and the champion's best verification run registered."""
    proc, runs = shared_sweep.proc, shared_sweep.runs
    assert "Champion:" in proc.stdout

    client = MlflowClient(tracking_uri=shared_sweep.uri)
    experiment = client.get_experiment_by_name("motif_tune")
    every_run = client.search_runs([experiment.experiment_id])
    parents = [r for r in every_run if r.data.tags.get("motif_tune.role") == "sweep"]
    trials = [r for r in every_run if r.data.tags.get("motif_tune.role") == "trial"]
    assert len(parents) == 1 and parents[0].info.run_name == "shared"
    assert parents[0].info.status == "FINISHED"
    assert len(trials) == 3
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # runs table
    assert sorted(t.info.run_name.split()[0] for t in trials) == ["t01", "t02", "t03"]
    for trial in trials:
        assert trial.info.status == "FINISHED"
        tags = trial.data.tags
        assert (tags["algo"], tags["env"], tags["scaling"], tags["sweep"]) == (
            "PPO",
            "motif",
            "local",
            "smoke",
        )
        assert f"batch={trial.data.params['train_batch_size']}" in trial.info.run_name
        assert trial.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        params = trial.data.params
        # The fixed settings that define the trial, with its searched values applied.
        assert set(params) >= TRIAL_SETTINGS, TRIAL_SETTINGS - set(params)
        assert "train_batch_size_per_learner" not in params  # the same as train_batch_size
        assert int(params["train_batch_size"]) % int(params["rollout_fragment_length"]) == 0
        assert (params["algo"], params["lr"], params["num_envs_per_env_runner"]) == (
            "PPO",
            "0.0003",
            "4",
        )
        # A curated dozen curves and the four cost figures; every iteration once.
        metrics = set(trial.data.metrics)
        assert metrics >= CURATED and len(metrics) <= 22, sorted(metrics)
        history = client.get_metric_history(trial.info.run_id, "objective")
        spent = client.get_metric_history(trial.info.run_id, "num_env_steps_sampled_lifetime")
        speed = client.get_metric_history(trial.info.run_id, "env_steps_per_s")
        assert [m.step for m in history] == [m.step for m in spent] == [m.step for m in speed]
        assert all(m.value > 0 for m in speed)
        assert max(m.value for m in spent) >= 512  # the smoke sweep's budget
    parent = parents[0]
    params = parent.data.params
    assert "best.rollout_fragment_length" in params
    assert (params["sweep"], params["env"], params["algo"], params["scaling"]) == (
        "smoke",
        "motif",
        "PPO",
        "local",
    )
    assert params["sweep.budget.env_steps"] == "512"
    assert params["sweep.space.train_batch_size"] == "int 128..256 log"
    # No param shows a base value the search replaced (nor the run's config dump).
    replaced = ("train_batch_size_per_learner", "rollout_fragment_length", "logging.", "paths.")
    recorded = [k for k in params if not k.startswith(("best.", "sweep.space."))]
    assert not [k for k in recorded if any(r in k for r in replaced)]
    assert parent.data.tags["env"] == "motif" and parent.data.tags["algo"] == "PPO"
    # Tune wrote its results where the settings say, not into $HOME.
    assert (runs / "ray_results" / "shared").is_dir()

    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "config.yaml" in artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/study.html", "plots/optimization_history.png", "plots/trials.csv"} <= plots
    html = client.download_artifacts(parent.info.run_id, "plots/study.html")
    assert "plotly" in Path(html).read_text()
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "plots/trials.csv"))
    by_run = {t.info.run_id: t for t in trials}
    assert sorted(table["run_id"]) == sorted(by_run)
    for row in table.to_dict("records"):  # the values the trials ran with, as their runs say
        run = by_run[row["run_id"]]
        assert run.data.tags["motif_tune.trial_id"] == row["trial_id"]
        assert run.info.run_name.split()[0] == row["trial"]
        for name in ("train_batch_size", "rollout_fragment_length"):
            assert str(row[name]) == run.data.params[name]

    # The parent names the champion's search trial (best.trial_id); the champion's
    # best-seed verification run, with that trial's settings, holds checkpoint rank 1
    # and is the registered version.
    best_trial = next(
        t for t in trials if t.data.tags["motif_tune.trial_id"] == params["best.trial_id"]
    )
    (rank_one,) = [r for r in every_run if r.data.tags.get("motif_tune.checkpoint_rank") == "1"]
    assert rank_one.data.tags["motif_tune.role"] == "verify"
    assert rank_one.data.tags["mlflow.parentRunId"] == parent.info.run_id
    for name in ("train_batch_size", "rollout_fragment_length"):
        assert rank_one.data.params[name] == best_trial.data.params[name]
    (version,) = client.search_model_versions("name = 'smoke-PPO-motif'")
    assert version.run_id == rank_one.info.run_id
    assert version.tags["search_trial_id"] == params["best.trial_id"]
    assert f"registered: models:/smoke-PPO-motif/{version.version}" in proc.stdout


def test_gpu_packing_on_logical_gpus_records_workers_per_gpu(isolated_runs):
    """The packing sweep schedules its env runners on logical GPUs, says that all compute
    stays on the CPU, and records the searched workers per GPU and envs per runner
    (one iteration a trial: the packing, not the training, is checked). On a verbose
    console its remote env runners' INFO lines reach the terminal too (the normal
    console keeps them in the log file: ``tests/test_faults.py``)."""
    proc = run_cli(
        "sweep",
        "sweep=gpu_packing",
        "scaling=logical_gpus",
        "sweep.num_samples=2",
        "sweep.budget.iterations=1",  # in place of 30 s of training each
        "sweep.objective.episodes=10",
        "sweep.verify.seeds=1",
        "run_name=packing",
        "logging.console=verbose",
        LOGTEST,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "all compute runs on the CPU" in proc.stderr  # it says what it does not prove
    # Ray folds lines that differ only in numbers into one on the terminal, so a verbose
    # terminal shows one env runner's line; the log file has every worker's.
    assert READY in proc.stdout + proc.stderr
    log_text = (isolated_runs / "hydra" / "packing" / "motif_tune.log").read_text()
    assert f"{READY} 1)" in log_text and f"{READY} 2)" in log_text
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    experiment = client.get_experiment_by_name("motif_tune")
    trials = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`motif_tune.role` = 'trial'"
    )
    assert len(trials) == 2
    for trial in trials:
        assert trial.info.status == "FINISHED"
        assert (trial.data.tags["scaling"], trial.data.tags["sweep"]) == (
            "logical_gpus",
            "gpu_packing",
        )
        assert trial.data.params["workers_per_gpu"] in {"1", "2", "4"}
        assert trial.data.params["num_envs_per_env_runner"] in {"1", "2", "4", "8"}
        # The logical GPUs a trial holds count as its GPU-seconds: fewer with more
        # workers sharing a GPU.
        assert 0 < trial.data.metrics["cost/gpu_s"] <= trial.data.metrics["cost/cpu_s"]
    # The champion is the cheapest in GPU-seconds near the best; the front is marked.
    assert "* on the quality-cost front (GPU s)" in proc.stdout


def test_the_registered_checkpoint_restores_into_an_algorithm_that_acts(shared_sweep, tmp_path):
    """Plain RLlib restores the checkpoint inside the shared sweep's registered model and
    the restored algorithm acts (the model is downloaded into this test's folder)."""
    acted = subprocess.run(
        [sys.executable, "-c", RESTORE_AND_ACT, shared_sweep.uri, str(tmp_path / "download")],
        capture_output=True,
        text=True,
        timeout=300,
        # RLlib's own from_checkpoint logs into ~/ray_results: keep that in the test folder.
        env={**os.environ, "HOME": str(tmp_path / "home")},
    )
    assert acted.returncode == 0, acted.stderr[-3000:]
    assert "episodes 5" in acted.stdout


RESTORE_AND_ACT = """
import os, sys
os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 32)  # nothing into ~/.ray
import mlflow, ray
from ray.rllib.algorithms.algorithm import Algorithm
mlflow.set_tracking_uri(sys.argv[1])
uri = "models:/smoke-PPO-motif/1"
path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=sys.argv[2])
ray.init(address="local", num_cpus=1, include_dashboard=False)
algo = Algorithm.from_checkpoint(os.path.join(path, "artifacts", "checkpoint"))  # inside the model
episodes = algo.env_runner.sample(num_episodes=5, explore=False)
assert all(e.get_actions().shape == (1, 6) for e in episodes)
print("episodes", len(episodes))
algo.stop()
"""


def test_a_trial_process_takes_the_next_trial(shared_sweep):
    """Three search trials, two at a time: the third runs in a process a finished trial
    left (its results as a new process's: ``tests/test_reuse.py``), not a third one (on
    a busy machine the second may too, when the first ended before its own was up)."""
    pids = trial_pids(shared_sweep.runs / "ray_results" / shared_sweep.run_name)
    assert len(pids) == 3 and all(len(p) == 1 for p in pids.values()), pids
    assert 1 <= len(set().union(*pids.values())) <= 2, pids
