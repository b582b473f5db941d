"""Real sweeps: equal env-step budgets, one objective everywhere, a verified champion,
and a sweep killed during verification that resumes into it."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from motif_tune.tracking.client import open_store
from tests.conftest import cli, runs_by_role

pytestmark = pytest.mark.slow

STEPS = "num_env_steps_sampled_lifetime"
# Two finalists (the baseline and the other trial) on two fresh seeds: four verify trials.
VERIFIED = ["sweep=smoke", "sweep.num_samples=2", "sweep.verify.top_k=2", "sweep.verify.seeds=2"]


def client_for(store) -> MlflowClient:
    return open_store(f"sqlite:///{store}/mlflow.db")  # safe while a sweep creates it


def test_small_and_large_batches_stop_at_the_same_env_steps_scored_by_one_objective(
    isolated_runs,
):
    budget = 2048
    proc = subprocess.run(
        cli("sweep", "sweep=smoke", f"sweep.budget.env_steps={budget}", "run_name=equal"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = client_for(isolated_runs)
    trials = runs_by_role(isolated_runs, "trial")
    batches = sorted(int(t.data.params["train_batch_size"]) for t in trials)
    assert len(batches) == 2 and batches[0] < 300 and batches[1] == 1024  # the baseline's
    for trial in trials:
        run_id, batch = trial.info.run_id, int(trial.data.params["train_batch_size"])
        spent = trial.data.metrics[STEPS]
        assert budget <= spent < budget + batch, (batch, spent)  # within one batch
        steps = [m.step for m in client.get_metric_history(run_id, "time_this_iter_s")]
        objective = client.get_metric_history(run_id, "objective")
        assert sorted(m.step for m in objective) == sorted(steps)  # in every result
        evaluated = client.get_metric_history(run_id, "evaluation/env_runners/episode_return_mean")
        assert {min(steps), max(steps)} <= {m.step for m in evaluated}  # first and last
        final = max(objective, key=lambda m: m.step).value
        assert final == pytest.approx(max(evaluated, key=lambda m: m.step).value)
        assert trial.data.tags["motif_tune.trial_status"] == "finished"

    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch()
    searcher.restore_from_dir(str(isolated_runs / "ray_results" / "equal"))
    study_values = sorted(t.value for t in searcher._ot_study.trials)
    mlflow_values = sorted(t.data.metrics["objective"] for t in trials)
    assert study_values == pytest.approx(mlflow_values)


def test_finalists_are_retrained_on_fresh_seeds_and_the_champion_registered(isolated_runs):
    proc = subprocess.run(
        cli("sweep", *VERIFIED, "run_name=verified"), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Verified on fresh seeds (1, 2) at the full budget:" in proc.stdout
    assert "Champion: " in proc.stdout
    (parent,) = runs_by_role(isolated_runs, "sweep")
    verify = runs_by_role(isolated_runs, "verify")
    assert len(runs_by_role(isolated_runs, "trial")) == 2
    assert len(verify) == 4 and all(v.info.status == "FINISHED" for v in verify)
    assert all(v.data.tags["mlflow.parentRunId"] == parent.info.run_id for v in verify)
    assert sorted(v.data.params["seed"] for v in verify) == ["1", "1", "2", "2"]

    client = client_for(isolated_runs)
    table = client.download_artifacts(parent.info.run_id, "verification/finalists.csv")
    rows = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert len(rows) == 2
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "verification")}
    assert "verification/finalists.png" in artifacts

    version = client.get_model_version_by_alias("smoke-PPO-motif", "champion")
    tags = version.tags
    assert tags["seeds"] == "1,2"
    scores = [float(s) for s in tags["scores"].split(",")]
    assert len(scores) == 2
    assert float(tags["objective_mean"]) == pytest.approx(sum(scores) / 2, abs=1e-3)
    champion_run = client.get_run(version.run_id)
    assert champion_run.data.tags["motif_tune.role"] == "verify"
    assert parent.data.metrics["champion/objective_mean"] == pytest.approx(
        float(tags["objective_mean"]), abs=1e-3
    )
    best = {k.removeprefix("best."): v for k, v in parent.data.params.items()}
    assert best["verified"] == "True"
    assert champion_run.data.params["train_batch_size"] == best["train_batch_size"]


def test_a_sweep_killed_during_verification_resumes_into_it_without_duplicates(isolated_runs):
    args = [*VERIFIED, "sweep.budget.env_steps=3072", "sweep.max_concurrent_trials=1"]
    driver = subprocess.Popen(
        cli("sweep", *args, "run_name=cut"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = isolated_runs / "ray_results" / "cut-verify"
    deadline = time.time() + 400
    try:
        while time.time() < deadline:  # kill once a verification trial has reported
            if any(started.glob("trial_*/result.json")):
                break
            assert driver.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.5)
        else:
            pytest.fail("verification did not start in time")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()

    resumed = subprocess.run(
        cli("resume", "run_name=cut"),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Verified on fresh seeds (1, 2)" in resumed.stdout
    (parent,) = runs_by_role(isolated_runs, "sweep")
    trials, verify = runs_by_role(isolated_runs, "trial"), runs_by_role(isolated_runs, "verify")
    assert parent.info.status == "FINISHED"
    assert len(trials) == 2 and all(t.info.status == "FINISHED" for t in trials)
    ids = [v.data.tags["motif_tune.trial_id"] for v in verify]
    assert len(ids) == len(set(ids)) == 4
    assert all(v.info.status == "FINISHED" for v in verify)
    assert len(client_for(isolated_runs).search_model_versions("name = 'smoke-PPO-motif'")) == 1
