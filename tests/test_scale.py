"""Thirty stand-in trials through the real control plane: every result reaches MLflow,
also when the driver is killed while MLflow writes are queued and the sweep resumed.
(A thousand, for the figures: ``benchmarks/scale_sweep.py``.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from motif_tune.tracking.client import open_store

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).resolve().parents[1] / "benchmarks" / "scale_sweep.py"
TRIALS = 30
KILL_AFTER = 12  # finished trials: the rest (some running) are left to the resumed driver
SWEEP = ["--trials", str(TRIALS), "--concurrency", "10", "--iterations", "4", "--interval", "0.2"]
STALL_AFTER = 24  # MLflow batches the killed driver writes before its store stops answering


def driver(root: Path, *args: str) -> list[str]:
    return [sys.executable, str(DRIVER), "--root", str(root), *SWEEP, *args]


def trial_runs(root: Path) -> list:
    client = open_store(f"sqlite:///{root}/mlflow.db")
    experiment = client.get_experiment_by_name("motif_tune").experiment_id
    return client.search_runs([experiment], "tags.`motif_tune.role` = 'trial'", max_results=1000)


def steps_in_mlflow(root: Path) -> dict[str, list[int]]:
    """Each trial run's logged steps (of one curve), by trial id."""
    client = open_store(f"sqlite:///{root}/mlflow.db")
    return {
        run.data.tags["motif_tune.trial_id"]: sorted(
            m.step for m in client.get_metric_history(run.info.run_id, "time_this_iter_s")
        )
        for run in trial_runs(root)
    }


def test_every_result_reaches_mlflow_through_a_kill_while_writes_are_queued(tmp_path):
    """The driver is killed once twelve trials have finished and MLflow writes are held
    (a store that stopped answering); the resumed sweep records every trial once, every
    iteration either driver handled once, the params of runs the kill left bare, and
    leaves no journal."""
    root, status = tmp_path / "sweep", tmp_path / "status.json"
    killed = subprocess.Popen(
        driver(root, "--stall-writes-after", str(STALL_AFTER), "--status", str(status)),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "killed.log").open("w"),
        start_new_session=True,
    )
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # kill once trials have ended and writes are held
            assert killed.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            state = json.loads(status.read_text()) if status.is_file() else {}
            if state.get("finished", 0) >= KILL_AFTER and state.get("pending", 0) >= 5:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the sweep did not reach the point to kill it: {state}")
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    journal = root / "ray_results" / "scale" / "mlflow-journal-trial.jsonl"
    queued = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    recorded = steps_in_mlflow(root)
    lost = [e for e in queued if e["step"] not in recorded.get(e["trial"], [])]
    assert lost, "every step had reached MLflow before the kill: nothing was queued"
    handled = {}  # the last iteration the killed driver handled, by trial
    for entry in queued:
        handled[entry["trial"]] = max(handled.get(entry["trial"], 0), entry["step"])

    out = tmp_path / "resumed.json"
    resumed = subprocess.run(
        driver(root, "--resume", "--out", str(out)), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    end = json.loads(out.read_text())
    assert end["trials"] == TRIALS and end["errored"] == 0
    reported, recorded = end["reported"], steps_in_mlflow(root)
    assert set(recorded) == set(reported)  # one run per trial, none left over
    # A trial restarted from scratch reports its first iterations again (its run keeps
    # the ones it had): every iteration either driver handled is in its run, once.
    last = {t: max(n, handled.get(t, 0)) for t, n in reported.items()}
    wrong = {t: (n, recorded[t]) for t, n in last.items() if recorded[t] != list(range(1, n + 1))}
    assert not wrong
    assert all(run.data.params for run in trial_runs(root))  # also those the kill left bare
    assert not journal.exists()  # all written: the journal is gone
