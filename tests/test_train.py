"""``motif-tune train`` / ``evaluate``: checkpoints, restore in a new process, scores, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.entities import Param, RunTag

from motif_tune.cli import EXIT_BAD_INPUT, EXIT_OK, main
from motif_tune.commands.best_settings import parse_param, settings_from_sweep
from motif_tune.commands.train import progress_line, stop_reached
from motif_tune.tracking.client import experiment_id, mlflow_client
from motif_tune.tracking.runs import TAG_ROLE, TAG_SWEEP
from tests.conftest import settings_for

QUIET = ["logging.level=WARNING"]
# Two PPO iterations in a few seconds: small batches, one pass over them.
TINY = [
    "algo.training.train_batch_size_per_learner=128",
    "algo.training.minibatch_size=64",
    "algo.training.num_epochs=1",
    *QUIET,
]


def _client():
    settings = settings_for(QUIET)
    client = mlflow_client(settings)
    return client, experiment_id(client, settings)


def _runs(role: str) -> list:
    client, exp_id = _client()
    return client.search_runs(
        [exp_id],
        filter_string=f"tags.`{TAG_ROLE}` = '{role}'",
        order_by=["attributes.start_time ASC"],
    )


def _steps(run_id: str, metric: str = "time_this_iter_s") -> list[int]:
    client, _ = _client()
    return [m.step for m in sorted(client.get_metric_history(run_id, metric), key=lambda m: m.step)]


def _record_sweep(name: str, params: dict[str, str]) -> None:
    """A sweep's parent run as ``motif-tune sweep`` leaves it (tags and ``best.*`` params)."""
    client, exp_id = _client()
    run = client.create_run(
        exp_id, run_name=name, tags={TAG_SWEEP: name, TAG_ROLE: "sweep", "algo": "PPO"}
    )
    client.log_batch(
        run.info.run_id,
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag("env", "motif")],
    )
    client.set_terminated(run.info.run_id)


# --------------------------------------------------------------------------- no Ray


@pytest.mark.parametrize(
    "text,value",
    [("256", 256), ("0.0003", 3e-4), ("1e-05", 1e-5), ("True", True), ("None", None)]
    + [("[64, 64]", [64, 64]), ("auto", "auto")],
)
def test_mlflow_param_strings_become_values_again(text, value):
    assert parse_param(text) == value
    assert type(parse_param(text)) is type(value)


def test_stop_rule_is_any_key_reaching_its_value():
    result = {"training_iteration": 3, "env_runners": {"episode_return_mean": 0.4}}
    assert stop_reached({"training_iteration": 3}, result)
    assert not stop_reached({"training_iteration": 4}, result)
    assert stop_reached({"training_iteration": 9, "env_runners/episode_return_mean": 0.3}, result)
    assert not stop_reached({"env_runners/missing": 0.0}, result)


def test_progress_line_shows_return_match_throughput_and_time():
    metrics = {
        "env_runners/episode_return_mean": 0.25,
        "env_runners/match_accuracy": 0.5,
        "env_steps_per_s": 812.4,
    }
    declared = settings_for([], "train").env.metrics  # the motif env's: match, margin
    line = progress_line(7, metrics, 3.25, declared)
    for part in ("iter    7", "return   0.250", "match 0.500", "812 env steps/s", "3.2 s"):
        assert part in line, line
    assert "- env steps/s" in progress_line(1, {}, 0.5)


def test_from_sweep_applies_the_best_values_and_keeps_the_command_lines(existing_store):
    """train.from_sweep takes the sweep's best values; values given on the command line
    win over them."""
    _record_sweep(
        "found",
        {
            "best.rollout_fragment_length": "32",
            "best.train_batch_size": "256",
            "best.trial_id": "abc123",
            "best.verified": "True",  # a champion retrained on fresh seeds
            "sweep.space.rollout_fragment_length.path": "None",
        },
    )
    settings = settings_for([*QUIET, "train.from_sweep=found"], "train")
    applied, best = settings_from_sweep(settings)
    assert best == {"rollout_fragment_length": 32, "train_batch_size": 256}
    assert applied.scaling.env_runners["rollout_fragment_length"] == 32
    assert applied.algo.training["train_batch_size_per_learner"] == 256

    explicit = "algo.training.train_batch_size_per_learner=512"
    settings = settings_for([*QUIET, "train.from_sweep=found", explicit], "train")
    applied, _ = settings_from_sweep(settings, [explicit])
    assert applied.algo.training["train_batch_size_per_learner"] == 512
    assert applied.scaling.env_runners["rollout_fragment_length"] == 32


def _expect_bad_input(argv: list[str], message: str, capsys, home: Path) -> None:
    before = _recorded_runs(home)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("motif-tune: error: "), err
    assert message in last, last
    assert not (home / "ray_results" / "bad").exists()
    assert _recorded_runs(home) == before, "a half-written run was left"


def _recorded_runs(home: Path) -> int:
    if not (home / "mlflow.db").exists():
        return 0
    return len(_runs("train")) + len(_runs("evaluate"))


def _not_a_checkpoint(home: Path) -> Path:
    folder = home / "empty_folder"
    folder.mkdir(parents=True)
    return folder


BAD_INPUT = [
    (["evaluate"], "checkpoint must be set"),
    (["evaluate", "checkpoint=no/such/folder"], "checkpoint 'no/such/folder' does not exist"),
    (["evaluate", "checkpoint={empty}"], "is not an RLlib checkpoint"),
    (["evaluate", "checkpoint=runs:/0123456789abcdef/checkpoint"], "names no MLflow run"),
    (["evaluate", "checkpoint=models:/nobody/3"], "names no registered model version"),
    (["train", "checkpoint=runs:/0123456789abcdef/checkpoint"], "names no MLflow run"),
    (["train", "train.from_sweep=nosuch"], "train.from_sweep 'nosuch' names no sweep"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUT, ids=[" ".join(c[0]) for c in BAD_INPUT])
def test_bad_input_exits_2_naming_the_setting(argv, message, capsys, existing_store):
    """Each bad checkpoint or sweep reference: exit status 2, one sentence naming it, and
    no run or Tune folder left behind."""
    _record_sweep("an-earlier-sweep", {"best.train_batch_size": "256"})  # an existing store
    empty = _not_a_checkpoint(existing_store)
    argv = [a.replace("{empty}", str(empty)) for a in argv]
    _expect_bad_input([*argv, "run_name=bad", *QUIET], message, capsys, existing_store)


def test_unknown_sweep_lists_recent_sweeps(capsys, existing_store):
    """A train.from_sweep that names no sweep is refused, listing the recent ones."""
    _record_sweep("older", {"best.train_batch_size": "256"})
    _record_sweep("newer", {"best.train_batch_size": "512"})
    argv = ["train", "train.from_sweep=typo", "run_name=bad", *QUIET]
    _expect_bad_input(argv, "recent sweeps: newer, older.", capsys, existing_store)


def test_no_store_yet_is_bad_input_and_creates_none(capsys, isolated_runs):
    argv = ["evaluate", "checkpoint=runs:/0123456789abcdef/checkpoint", "run_name=bad", *QUIET]
    _expect_bad_input(argv, "no MLflow store exists yet", capsys, isolated_runs)
    assert not (isolated_runs / "mlflow.db").exists()


# --------------------------------------------------------------------------- with Ray


@pytest.mark.slow
def test_train_saves_records_and_continues_in_a_new_process(isolated_runs, capsys):
    assert main(["train", "run_name=first", "stop.training_iteration=2", *TINY]) == EXIT_OK
    out = capsys.readouterr().out
    assert "iter    1 |" in out and "iter    2 |" in out
    checkpoint = isolated_runs / "ray_results" / "first" / "checkpoint_000002"
    assert (checkpoint / "rllib_checkpoint.json").is_file()
    state = json.loads((checkpoint / "motif_tune.json").read_text())
    assert state["training_iteration"] == 2 and state["algo"] == "PPO"
    (first,) = _runs("train")
    assert first.info.status == "FINISHED"
    assert first.data.tags["algo"] == "PPO" and first.data.tags["env"] == "motif"
    assert first.data.params["train_batch_size_per_learner"] == "128"
    assert _steps(first.info.run_id) == [1, 2]
    client, _ = _client()
    artifacts = [a.path for a in client.list_artifacts(first.info.run_id, "checkpoint")]
    assert "checkpoint/rllib_checkpoint.json" in artifacts

    # The stop rule must leave something to train.
    again = ["train", f"checkpoint={checkpoint}", "stop.training_iteration=2", "run_name=bad"]
    _expect_bad_input(
        [*again, *QUIET], "stop.training_iteration (2) must exceed", capsys, isolated_runs
    )

    uri = f"runs:/{first.info.run_id}/checkpoint"
    argv = ["train", f"checkpoint={uri}", "stop.training_iteration=4", "run_name=second", *TINY]
    env = {**os.environ, "MOTIF_TUNE_HOME": str(isolated_runs)}
    done = subprocess.run(
        [sys.executable, "-m", "motif_tune", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "iter    3 |" in done.stdout and "iter    4 |" in done.stdout, done.stdout
    assert "iter    1 |" not in done.stdout
    (second,) = [r for r in _runs("train") if r.info.run_name == "second"]
    assert second.data.tags["motif_tune.checkpoint"] == uri
    assert _steps(second.info.run_id) == [3, 4]
    assert (isolated_runs / "ray_results" / "second" / "checkpoint_000004").is_dir()
    # Lifetime counters and the total time go on from where the first run stopped.
    for metric in ("num_env_steps_sampled_lifetime", "time_total_s"):
        before = client.get_metric_history(first.info.run_id, metric)[-1].value
        after = min(client.get_metric_history(second.info.run_id, metric), key=lambda m: m.step)
        assert after.value > before, metric


@pytest.mark.slow
def test_evaluate_scores_a_trained_policy_above_random(isolated_runs, capsys):
    # Measured on this task (6 motifs, noise 0.3, 200-500 greedy episodes): an untrained
    # policy scores a return of -0.05 (match accuracy 0.08; sampled actions: -0.02, 0.15),
    # after 4 iterations of 512 steps 0.45 (0.74), after 6 iterations 0.51 (0.76).
    train = ["train", "run_name=learn", "stop.training_iteration=6", *QUIET]
    train += ["algo.training.train_batch_size_per_learner=512", "train.checkpoint_frequency=0"]
    assert main(train) == EXIT_OK
    (trained,) = _runs("train")
    uri = f"runs:/{trained.info.run_id}/checkpoint"
    capsys.readouterr()

    assert main(["evaluate", f"checkpoint={uri}", "evaluate.episodes=100", *QUIET]) == EXIT_OK
    table = capsys.readouterr().out
    assert "greedy actions" in table and "return mean" in table and "match accuracy" in table
    (evaluation,) = _runs("evaluate")
    metrics = evaluation.data.metrics
    assert metrics["num_episodes"] == 100
    assert metrics["episode_return_mean"] > 0.2, metrics
    assert metrics["match_accuracy"] > 0.4, metrics
    assert metrics["episode_return_min"] <= metrics["episode_return_mean"]
    assert metrics["episode_return_mean"] <= metrics["episode_return_max"]
    assert evaluation.data.params["checkpoint"] == uri
    assert evaluation.data.params["evaluate.deterministic"] == "True"

    # The same, spread over two remote env runners, with sampled actions.
    argv = ["evaluate", f"checkpoint={uri}", "evaluate.episodes=40", "evaluate.num_env_runners=2"]
    assert main([*argv, "evaluate.deterministic=false", "run_name=remote", *QUIET]) == EXIT_OK
    (remote,) = [r for r in _runs("evaluate") if r.info.run_name == "remote"]
    assert remote.data.metrics["num_episodes"] == 40
    assert remote.data.metrics["episode_return_mean"] > 0.1


@pytest.mark.slow
def test_a_checkpoint_of_another_algorithm_or_env_is_refused(isolated_runs, capsys):
    from motif_tune.compat.ray import build_algorithm_in
    from motif_tune.rllib.builder import build_algorithm_config
    from motif_tune.runtime.ray_session import start_ray

    settings = settings_for(["algo=appo", *QUIET], "train")
    start_ray(settings)
    algo = build_algorithm_in(build_algorithm_config(settings), isolated_runs / "appo")
    checkpoint = isolated_runs / "appo" / "checkpoint_000000"
    algo.save_to_path(str(checkpoint))
    algo.stop()

    argv = ["evaluate", f"checkpoint={checkpoint}", "run_name=bad", *QUIET]
    _expect_bad_input(
        argv, "was trained with APPO, but algo is PPO; add algo=appo", capsys, isolated_runs
    )
    argv = ["train", f"checkpoint={checkpoint}", "run_name=bad", *QUIET]
    _expect_bad_input(argv, "was trained with APPO", capsys, isolated_runs)
    argv = ["evaluate", f"checkpoint={checkpoint}", "algo=appo", "env=cartpole", "run_name=bad"]
    _expect_bad_input(
        [*argv, *QUIET], "was trained on env 'motif_tune.envs:MotifEnv'", capsys, isolated_runs
    )
    # Remote evaluation runners that the local Ray could never place.
    argv = ["evaluate", f"checkpoint={checkpoint}", "algo=appo", "evaluate.num_env_runners=2"]
    argv += ["scaling.ray.num_cpus=1", "run_name=bad", *QUIET]
    _expect_bad_input(argv, "evaluate.num_env_runners: the env runners", capsys, isolated_runs)
