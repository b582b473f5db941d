"""A real sweep whose trials are seed groups: k seeds of one configuration as one trial."""

from __future__ import annotations

import math
import subprocess

import optuna
import pytest

from motif_tune.results import OBJECTIVE, SEEDS_MEAN, SEEDS_SE
from motif_tune.search.cost import CPU_S, WALL_S
from tests.conftest import clean_environ, cli, runs_by_role

pytestmark = pytest.mark.slow

STEPS = "num_env_steps_sampled_lifetime"
PER_SEED = 512  # the smoke sweep's budget


def test_a_seed_group_trial_reports_mean_and_error_over_its_seeds_and_spends_k_budgets(
    isolated_runs,
):
    env = clean_environ() | {"MOTIF_TUNE_HOME": str(isolated_runs)}
    proc = subprocess.run(
        cli(
            "sweep",
            "sweep=smoke",
            "sweep.num_samples=1",
            "sweep.seeds_per_trial=2",
            "run_name=groups",
        ),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"each 2 seeds of {PER_SEED} env steps" in proc.stdout

    (trial,) = runs_by_role(isolated_runs, "trial")
    client_metrics = trial.data.metrics
    # Two seeds, each stopped at its own budget: twice the per-seed budget in all, and
    # less than one more iteration of both seeds beyond it.
    spent = client_metrics[STEPS]
    batch = int(trial.data.params["train_batch_size"])
    assert 2 * PER_SEED <= spent < 2 * PER_SEED + 2 * batch
    mean, se = client_metrics[SEEDS_MEAN], client_metrics[SEEDS_SE]
    assert math.isfinite(mean) and se >= 0
    assert client_metrics[OBJECTIVE] == pytest.approx(mean)
    # Two seeds' placement groups: twice one seed's env-runner CPUs, one driver.
    assert client_metrics[CPU_S] >= client_metrics[WALL_S]

    from motif_tune.tracking.client import open_store

    history = open_store(f"sqlite:///{isolated_runs}/mlflow.db").get_metric_history(
        trial.info.run_id, SEEDS_SE
    )
    assert len(history) >= 1  # at every report, not only the last

    (study_trial,) = optuna.load_study(
        study_name="groups", storage=f"sqlite:///{isolated_runs}/optuna.db"
    ).trials
    assert study_trial.state == optuna.trial.TrialState.COMPLETE
    assert study_trial.value == pytest.approx(mean, abs=1e-6)
