"""Real sweeps: equal env-step budgets, one objective everywhere, a verified champion.

Both tests read the session's shared smoke sweep (three trials, the best and the
baseline verified on two fresh seeds). A sweep killed during verification that resumes
into it: ``test_faults.py``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.slow

STEPS = "num_env_steps_sampled_lifetime"
BASELINE_BATCH = 1024  # the composed config's own train_batch_size_per_learner


def test_small_and_large_batches_stop_at_the_same_env_steps_scored_by_one_objective(
    shared_sweep,
):
    """Trials with batches of ~100 and of 1024 env steps all stop within one batch of the
    512-step budget, report the objective in every result (an evaluation first and last),
    and Optuna's study holds the same scores as MLflow."""
    budget = 512
    client = shared_sweep.client()
    trials = shared_sweep.runs_by_role("trial")
    batches = sorted(int(t.data.params["train_batch_size"]) for t in trials)
    assert len(batches) == 3 and batches[0] < 300 and batches[-1] == BASELINE_BATCH
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

    study = optuna.load_study(study_name="shared", storage=shared_sweep.study_storage)
    study_values = sorted(t.value for t in study.trials)
    mlflow_values = sorted(t.data.metrics["objective"] for t in trials)
    assert study_values == pytest.approx(mlflow_values)


def test_finalists_are_retrained_on_fresh_seeds_and_the_champion_registered(shared_sweep):
    """The best search trial and the baseline are trained again on seeds 1 and 2; the
    finalists table, its plot, the champion's tags and the parent's champion score agree."""
    proc = shared_sweep.proc
    assert "Verified on fresh seeds (1, 2) at the full budget, with their cost:" in proc.stdout
    assert "Champion: " in proc.stdout
    (parent,) = shared_sweep.runs_by_role("sweep")
    trials = shared_sweep.runs_by_role("trial")
    verify = shared_sweep.runs_by_role("verify")
    assert len(trials) == 3
    best = {k.removeprefix("best."): v for k, v in parent.data.params.items()}
    (best_trial,) = [t for t in trials if t.data.tags["motif_tune.trial_id"] == best["trial_id"]]
    # The top one and the baseline: one configuration when the baseline won the search.
    finalists = 1 if int(best_trial.data.params["train_batch_size"]) == BASELINE_BATCH else 2
    assert len(verify) == 2 * finalists and all(v.info.status == "FINISHED" for v in verify)
    assert all(v.data.tags["mlflow.parentRunId"] == parent.info.run_id for v in verify)
    assert sorted(v.data.params["seed"] for v in verify) == ["1"] * finalists + ["2"] * finalists

    client = shared_sweep.client()
    table = client.download_artifacts(parent.info.run_id, "verification/finalists.csv")
    rows = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert len(rows) == finalists
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
    assert best["verified"] == "True"
    assert champion_run.data.params["train_batch_size"] == best["train_batch_size"]


def test_every_trial_records_what_it_cost_alike_in_mlflow_the_study_and_the_summary(
    shared_sweep,
):
    """CPU-seconds are the trial's CPUs times its training seconds wherever they appear;
    the summary states whether the search winner survived and Kendall's tau."""
    from motif_tune.runtime.resources import needs_of
    from motif_tune.search.cost import CPU_S, GPU_S, STEPS_PER_S, WALL_S
    from motif_tune.search.study import ATTR_TUNE_TRIAL
    from tests.conftest import SHARED_SWEEP, settings_for

    cpus = needs_of(settings_for(list(SHARED_SWEEP))).amounts["CPU"]
    runs = shared_sweep.runs_by_role("trial") + shared_sweep.runs_by_role("verify")
    for run in runs:
        m = run.data.metrics
        assert m[WALL_S] > 0 and m[GPU_S] == 0
        assert m[CPU_S] == pytest.approx(cpus * m[WALL_S], rel=1e-3)
        assert m[STEPS_PER_S] == pytest.approx(m[STEPS] / m[WALL_S], rel=1e-3)
    study = optuna.load_study(study_name="shared", storage=shared_sweep.study_storage)
    by_trial = {r.data.tags["motif_tune.trial_id"]: r.data.metrics for r in runs}
    for trial in study.trials:
        mlflow_cost = by_trial[trial.user_attrs[ATTR_TUNE_TRIAL]]
        assert trial.user_attrs[CPU_S] == pytest.approx(mlflow_cost[CPU_S], rel=1e-3)

    out = shared_sweep.proc.stdout
    assert "CPU s" in out and "* on the quality-cost front (CPU s)" in out
    (parent,) = shared_sweep.runs_by_role("sweep")
    survived = parent.data.metrics["ranking/search_winner_survived"]
    verdict = "is the verified champion" if survived else "is not the verified champion"
    assert "Ranking on fresh seeds: the search's winner (" in out and verdict in out
    assert "Kendall's tau" in out
    assert parent.data.metrics[f"champion/{CPU_S}"] > 0
