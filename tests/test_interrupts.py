"""Stops as machines, schedulers and people make them: a driver killed during the search
and preempted (SIGTERM) during verification, Ctrl-C to the whole process group during
the search; then ``resume``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from motif_tune.results import OBJECTIVE
from tests.conftest import cli, kill_when, runs_by_role

pytestmark = pytest.mark.slow

ITERATIONS = 6


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        cli(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a job
    )


def _stop_when(
    driver: subprocess.Popen, ready: Callable[[], bool], signum: int, group: bool = False
) -> tuple[int, str]:
    """Send ``signum`` once ``ready()`` holds; the exit status and all the output."""
    deadline = time.time() + 300
    try:
        while not ready():
            assert driver.poll() is None, "the command ended before it could be stopped"
            assert time.time() < deadline, "never ready to be stopped"
            time.sleep(0.5)
        (os.killpg if group else os.kill)(driver.pid, signum)
        out, err = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    return driver.returncode, out + err


def _iterations(result_file: Path) -> int:
    """The last training iteration a trial's ``result.json`` holds (a line still being
    written is skipped)."""
    for line in reversed(result_file.read_text().splitlines()):
        try:
            return int(json.loads(line)["training_iteration"])
        except (ValueError, KeyError):
            continue
    return 0


def _search_half_done(experiment: Path) -> Callable[[], bool]:
    """One trial trained to its budget and another reporting."""

    def ready() -> bool:
        reported = list(experiment.glob("trial_*/result.json"))
        return len(reported) >= 2 and any(_iterations(r) >= ITERATIONS for r in reported)

    return ready


def _one_line_to_resume(output: str, run_name: str) -> None:
    advice = [
        line for line in output.splitlines() if f"motif-tune resume run_name={run_name}" in line
    ]
    assert len(advice) == 1, output[-3000:]
    assert "state saved" in advice[0]
    for noise in ("SIGTERM received", "PC: @", "Tuner.restore", "FileNotFoundError", "Traceback"):
        assert noise not in output, f"{noise!r} reached the terminal:\n{output[-3000:]}"
    assert "Champion:" not in output  # an interrupted sweep ranks and registers nothing


def _steps(client: MlflowClient, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "time_this_iter_s"))


# Three trials of a few quick iterations (one pass over each batch), checkpointed every
# two; then the best two and the baseline raced on fresh seeds: one seed each cannot tell
# them apart, so all train on a second seed, in a second round.
STOPPED = [
    "sweep=smoke",
    "sweep.num_samples=3",
    "sweep.verify.top_k=2",
    "sweep.verify.seeds=1",
    "sweep.verify.extra_seeds=1",
    f"sweep.budget.iterations={ITERATIONS}",
    "sweep.checkpoint.frequency=2",
    "algo.training.num_epochs=1",
]


def test_a_sweep_killed_in_the_search_and_preempted_in_verification_resumes_exactly(
    isolated_runs,
):
    """The driver is SIGKILLed once a trial has finished while another runs; `resume` is
    sent SIGTERM (a preemption) once a trial of the verification's second round has
    reported (the first round is over): exit 143 and one
    line that says what was saved and how to go on; a second `resume` finishes. Every
    search and verification trial ran once, each iteration recorded once, the study has
    no trial left running and each Tune trial was told to it once, and the champion is
    registered once; a `resume` of the finished sweep registers nothing again. (Ctrl-C
    during the search: the next test.)"""
    run_name = "preempted"
    experiment = isolated_runs / "ray_results" / run_name
    kill_when(
        cli("sweep", *STOPPED, f"run_name={run_name}"),
        lambda: _one_finished_and_one_running(experiment),
        "no trial finished while another ran",
    )
    assert any(t.info.status == "RUNNING" for t in runs_by_role(isolated_runs, "trial"))
    storage = f"sqlite:///{isolated_runs}/optuna.db"
    killed = optuna.load_study(study_name=run_name, storage=storage)
    assert TrialState.RUNNING in {t.state for t in killed.trials}

    second_round = isolated_runs / "ray_results" / f"{run_name}-verify-2"

    def verifying() -> bool:
        return any(second_round.glob("trial_*/result.json"))

    status, output = _stop_when(_start("resume", f"run_name={run_name}"), verifying, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM, output[-3000:]
    _one_line_to_resume(output, run_name)
    assert "by SIGTERM" in output and "verification trials finished" in output
    (parent,) = runs_by_role(isolated_runs, "sweep")
    assert parent.info.status == "KILLED"  # stopped, and said so, before the sweep could end

    resumed = subprocess.run(
        cli("resume", f"run_name={run_name}"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = resumed.stdout
    assert "Verified on fresh seeds (1, 2)" in out
    raced = re.search(r"verification round 2: 1 seed cannot tell (.+) from the leader #(\d)", out)
    assert raced, out  # one seed each tells no one apart: every finalist races on
    assert "(Welch's t-test, 95%): 1 more seed for each." in out
    assert "raced:" not in out  # all on as many seeds
    assert "Champion:" in resumed.stdout

    (parent,) = runs_by_role(isolated_runs, "sweep")
    trials = runs_by_role(isolated_runs, "trial")
    verifies = runs_by_role(isolated_runs, "verify")
    assert parent.info.status == "FINISHED"
    assert len(trials) == 3
    for runs in (trials, verifies):
        assert len({r.data.tags["motif_tune.trial_id"] for r in runs}) == len(runs)
        assert all(r.info.status == "FINISHED" for r in runs), [r.info.run_name for r in runs]
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated_runs}/mlflow.db")
    for run in trials + verifies:
        assert _steps(client, run.info.run_id) == list(range(1, ITERATIONS + 1)), run.info.run_name
    assert parent.data.params["best.trial_id"] in {
        t.data.tags["motif_tune.trial_id"] for t in trials
    }
    # The same study goes on: no trial stuck running (the one the kill cut short is
    # settled as failed), each Tune trial told once.
    study = optuna.load_study(study_name=run_name, storage=storage)
    assert not [t.number for t in study.trials if not t.state.is_finished()]
    told = [t.user_attrs["tune_trial_id"] for t in study.trials if t.state == TrialState.COMPLETE]
    assert sorted(told) == sorted(t.data.tags["motif_tune.trial_id"] for t in trials)
    # Each finalist (the best two and the baseline, unless it is one of them) on both
    # seeds, the first in the first round, once each, and one registered version.
    finalists = len({_values(v) for v in verifies})
    assert finalists in (2, 3) and len(verifies) == 2 * finalists
    assert len(re.findall(r"#\d", raced[1])) == finalists - 1
    first = {_values(v) for v in verifies if v.data.params["seed"] == "1"}
    assert first == {_values(v) for v in verifies if v.data.params["seed"] == "2"}
    assert sorted(v.data.params["seed"] for v in verifies) == ["1"] * finalists + ["2"] * finalists
    assert len(client.search_model_versions("name = 'smoke-PPO-motif'")) == 1

    # `resume` of the finished sweep adds no version and leaves the alias where it was.
    again = subprocess.run(
        cli("resume", f"run_name={run_name}"), capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    versions = client.search_model_versions("name = 'smoke-PPO-motif'")
    assert [str(v.version) for v in versions] == ["1"]
    assert str(client.get_model_version_by_alias("smoke-PPO-motif", "champion").version) == "1"


def _values(run: Run) -> tuple[str, str]:
    return run.data.params["rollout_fragment_length"], run.data.params["train_batch_size"]


def _one_finished_and_one_running(experiment: Path) -> bool:
    """A trial has reported its last iteration and another one an earlier iteration."""
    done = [_iterations(r) for r in experiment.glob("trial_*/result.json")]
    return ITERATIONS in done and any(0 < i < ITERATIONS for i in done)


def test_ctrl_c_says_one_thing_and_the_resumed_study_holds_true_states(isolated_runs):
    run_name = "interrupted"
    args = [
        "sweep",
        "sweep=smoke",
        f"run_name={run_name}",
        "sweep.num_samples=3",
        "sweep.max_concurrent_trials=1",
        f"sweep.budget.iterations={ITERATIONS}",
        "algo.training.num_epochs=1",
    ]
    experiment = isolated_runs / "ray_results" / run_name
    # Ctrl-C in a shell reaches the whole foreground process group, Ray's workers too.
    status, output = _stop_when(
        _start(*args), _search_half_done(experiment), signal.SIGINT, group=True
    )
    assert status == 128 + signal.SIGINT, output[-3000:]
    _one_line_to_resume(output, run_name)
    finished = output.split(" with ")[1].split(" of ")[0]
    assert finished in {"1", "2"}, output[-2000:]  # the one trained to its budget, perhaps 2
    assert not runs_by_role(isolated_runs, "sweep")[0].data.params.get("best.trial_id")

    resumed = subprocess.run(
        cli("resume", f"run_name={run_name}"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for noise in ("Configuration for experiment", "TensorBoard", "Result:", "Traceback"):
        assert noise not in resumed.stdout + resumed.stderr, noise
    study = optuna.load_study(study_name=run_name, storage=f"sqlite:///{isolated_runs}/optuna.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    (parent,) = runs_by_role(isolated_runs, "sweep")
    assert parent.data.metrics[f"best/{OBJECTIVE}"] == pytest.approx(study.best_value)
