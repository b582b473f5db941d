"""A real smoke sweep through Ray, Tune, Optuna and MLflow, checked with MLflow's client."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "motif_tune", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_smoke_sweep_records_every_trial_in_mlflow(isolated_runs):
    proc = run_cli("sweep", "sweep=smoke", "run_name=smoke-e2e")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Best trial" in proc.stdout

    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    experiment = client.get_experiment_by_name("motif_tune")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("motif_tune.role") == "sweep"]
    trials = [r for r in runs if r.data.tags.get("motif_tune.role") == "trial"]
    assert len(parents) == 1 and parents[0].info.run_name == "smoke-e2e"
    assert parents[0].info.status == "FINISHED"
    assert len(trials) == 2
    for trial in trials:
        assert trial.info.status == "FINISHED"
        assert trial.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        params = trial.data.params
        assert {"rollout_fragment_length", "train_batch_size"} <= set(params)
        assert int(params["train_batch_size"]) % int(params["rollout_fragment_length"]) == 0
        history = client.get_metric_history(trial.info.run_id, "env_runners/episode_return_mean")
        assert [m.step for m in history] == [1, 2]
    assert "best.rollout_fragment_length" in parents[0].data.params
    # Tune wrote its results where the settings say, not into $HOME.
    assert (isolated_runs / "ray_results" / "smoke-e2e").is_dir()


def test_multirun_records_one_sweep_per_composition(isolated_runs):
    proc = run_cli(
        "sweep",
        "-m",
        "algo=ppo,appo",
        "sweep=smoke",
        "sweep.num_samples=1",
        "stop.training_iteration=1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    experiment = client.get_experiment_by_name("motif_tune")
    parents = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`motif_tune.role` = 'sweep'"
    )
    assert sorted(p.data.tags["algo"] for p in parents) == ["APPO", "PPO"]
    assert len({p.info.run_name for p in parents}) == 2
