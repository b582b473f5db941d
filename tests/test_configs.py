"""Every shipped config composes and validates, alone and in every combination."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from motif_tune.config.sources import shipped_dir
from motif_tune.errors import ConfigError
from tests.conftest import compose_config, settings_for


def _choices(group: str) -> list[str]:
    return sorted(p.stem for p in (shipped_dir() / "conf" / group).glob("*.yaml"))


ENVS = _choices("env")
ALGOS = _choices("algo")
SCALINGS = _choices("scaling")
SWEEPS = sorted(p.stem for p in (shipped_dir() / "sweeps").glob("*.yaml"))
# Sweeps that only make sense where env runners get GPUs, and such profiles.
GPU_ONLY_SWEEPS = {"gpu_packing"}
GPU_SCALINGS = {"local_gpu", "logical_gpus"}
# Environments that need a name of their own to compose.
ENV_EXTRA = {"gym": ["env.id=Acrobot-v1"]}
# The generic Gymnasium profile takes its name from the id it is given.
ENV_NAME = {"gym": "Acrobot-v1"}


def test_groups_ship_the_documented_choices():
    assert {"motif", "cartpole", "gym"} <= set(ENVS)
    assert {"ppo", "appo"} <= set(ALGOS)
    assert "local" in SCALINGS
    assert {"default", "smoke"} <= set(SWEEPS)


@pytest.mark.parametrize(
    "env,algo,scaling,sweep", list(itertools.product(ENVS, ALGOS, SCALINGS, SWEEPS))
)
def test_every_combination_validates(env, algo, scaling, sweep):
    overrides = [f"env={env}", f"algo={algo}", f"scaling={scaling}", f"sweep={sweep}"]
    if sweep in GPU_ONLY_SWEEPS and scaling not in GPU_SCALINGS:
        with pytest.raises(ConfigError, match="workers_per_gpu needs env runners with GPUs"):
            settings_for(overrides + ENV_EXTRA.get(env, []))
        return
    settings = settings_for(overrides + ENV_EXTRA.get(env, []))
    assert settings.env.name == ENV_NAME.get(env, env)
    assert settings.algo.name.lower() == algo
    assert settings.sweep.name == sweep
    assert settings.sweep.num_samples >= 1


def test_defaults_are_the_motif_env_ppo_local_default_sweep(isolated_runs):
    settings = settings_for()
    assert (settings.env.name, settings.algo.name, settings.scaling.name, settings.sweep.name) == (
        "motif",
        "PPO",
        "local",
        "default",
    )
    assert settings.paths.root == Path(isolated_runs)
    assert settings.storage_path == str(isolated_runs / "ray_results")
    assert settings.tracking.uri == f"sqlite:///{isolated_runs}/mlflow.db"


def test_tracking_uri_honours_the_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert settings_for().tracking.uri == "http://127.0.0.1:5999"


def test_sweep_file_sets_the_budget_and_the_command_line_wins():
    settings = settings_for(["sweep=smoke"])
    assert (settings.sweep.budget.unit, settings.sweep.budget.amount) == ("env_steps", 512)
    assert settings.stop == {}
    wider = settings_for(["sweep=smoke", "sweep.budget.env_steps=1024"])
    assert wider.sweep.budget.amount == 1024


def test_stop_rules_need_no_plus_and_a_short_one_is_not_refused():
    """A quick look at the default sweep: one iteration per trial, no second edit."""
    settings = settings_for(["stop.training_iteration=1", "stop.env_runners.match_accuracy=0.9"])
    assert settings.stop == {"training_iteration": 1, "env_runners/match_accuracy": 0.9}


def test_run_name_defaults_to_a_timestamp_and_the_composition():
    cfg = compose_config(["sweep=smoke", "algo=appo"])
    name = settings_for(["sweep=smoke", "algo=appo"]).run_name
    assert name.endswith("-smoke-APPO-motif"), name
    assert cfg.run_name  # resolvable


def test_a_default_run_name_never_takes_the_second_another_process_named_a_run_with(
    tmp_path, monkeypatch
):
    """Two commands started in the same second get names a second apart; one process
    naming runs one after the other may reuse its second."""
    import os
    import time

    from motif_tune.config import run_stamp

    record = tmp_path / "claims"
    monkeypatch.setattr(run_stamp, "claims_file", lambda: record)
    ahead = int(time.time()) + 5  # another process's claim, a little in the future
    record.write_text(f"{ahead} {os.getpid() + 1}")
    taken = time.strftime(run_stamp.STAMP_FORMAT, time.localtime(ahead))
    after = time.strftime(run_stamp.STAMP_FORMAT, time.localtime(ahead + 1))
    first = settings_for(["sweep=smoke"]).run_name
    assert first == f"{after}-smoke-PPO-motif" and not first.startswith(taken)
    again = settings_for(["sweep=smoke", "algo=appo"]).run_name  # this process, next one
    assert again == f"{after}-smoke-APPO-motif"
    record.write_text(f"{ahead + 1} {os.getpid() + 1}")  # another process took it meanwhile
    assert settings_for(["sweep=smoke"]).run_name.startswith(
        time.strftime(run_stamp.STAMP_FORMAT, time.localtime(ahead + 2))
    )
    assert settings_for(["sweep=smoke", "run_name=mine"]).run_name == "mine"


def test_workers_per_gpu_is_searched_only_where_runners_get_gpus():
    assert "workers_per_gpu" not in settings_for(["scaling=local"]).sweep.space
    assert "workers_per_gpu" in settings_for(["scaling=logical_gpus"]).sweep.space


def test_a_config_path_is_searched_from_the_command_line():
    lr = "{type: float, low: 0.0001, high: 0.001, log: true}"
    settings = settings_for(["sweep=smoke", f"sweep.space.algo.training.lr={lr}"])
    spec = settings.sweep.space["algo.training.lr"]
    assert (spec.type, spec.low, spec.high, spec.log) == ("float", 0.0001, 0.001, True)
    assert "rollout_fragment_length" in settings.sweep.space  # the sweep file's own stay
