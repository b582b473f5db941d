"""What a person sees: a short plain record through a pipe, a live table on a terminal,
help that names the commands."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

import pytest

from motif_tune.cli import EXIT_OK, main
from motif_tune.tracking.client import open_store

ESCAPE = "\x1b["
NOISE = ("gputil", "tensorboard", "Trial status", "Configuration for experiment", "env_config:")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "motif_tune", *args]


def test_help_names_the_commands_the_groups_and_the_keys(capsys):
    assert main(["--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.startswith("motif-tune:")
    for word in ("sweep", "train", "evaluate", "resume", "algo", "appo, ppo", "run_name="):
        assert word in text
    assert "Hydra" in text and "powered by Hydra" not in text
    assert main(["evaluate", "--help"]) == EXIT_OK
    assert "checkpoint=" in capsys.readouterr().out


@pytest.mark.slow
def test_a_sweep_through_a_pipe_prints_a_short_plain_record(shared_sweep):
    """The shared sweep (three trials, then two finalists on two seeds) through a pipe:
    a short plain record, one event line per trial, no escape codes and none of Ray's
    own noise; the env's lines and the composed config go to the log file only."""
    output = shared_sweep.output
    lines = output.splitlines()
    assert len(lines) < 60, output
    assert ESCAPE not in output
    for noise in NOISE:
        assert noise.lower() not in output.lower(), noise
    assert "MotifEnv ready" not in output  # in the log file, once per env runner
    log_text = shared_sweep.log_file.read_text()
    assert "MotifEnv ready" in log_text
    assert "Composed config for sweep 'shared'" in log_text

    uri = shared_sweep.uri
    client = open_store(uri)
    experiment = client.get_experiment_by_name("motif_tune")
    trials = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`motif_tune.role` = 'trial'"
    )
    verify = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`motif_tune.role` = 'verify'"
    )
    assert len(trials) == 3
    for trial in trials:  # one event line each, and each in the summary's table
        trial_id = trial.data.tags["motif_tune.trial_id"]
        assert sum(f"search: trial {trial_id} " in line for line in lines) == 1
    for trial in verify:
        trial_id = trial.data.tags["motif_tune.trial_id"]
        assert sum(f"verification: trial {trial_id} " in line for line in lines) == 1
    # Short because it grows by a line or two per trial (and a status line per half
    # minute), not by screens: what else it says is a fixed handful of lines.
    per_trial = [t.data.tags["motif_tune.trial_id"] for t in [*trials, *verify]]
    status = re.compile(r"^(search|verification): \d+/\d+ trials done")
    other = [
        line
        for line in lines
        if not status.match(line) and not any(trial_id in line for trial_id in per_trial)
    ]
    assert len(other) <= 20, other
    assert "Search, best first:" in output and "Verified on fresh seeds" in output
    assert "MLflow UI: motif-tune ui, then open http://127.0.0.1:5000/#/experiments/" in output


@pytest.mark.slow
def test_a_sweep_on_a_terminal_shows_a_live_table_of_the_trials(isolated_runs):
    """On a terminal the sweep draws a live table of its trials (escape codes, the
    columns, each trial's id) and its progress line (the smoke sweep's two trials)."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        cli("sweep", "sweep=smoke", "run_name=live"),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"},
    )
    os.close(follower)
    screen = b""
    deadline = time.time() + 600
    while time.time() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the program closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(leader)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert ESCAPE in text  # drawn, not printed line by line
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "search: 2/2 trials done" in plain
    for column in ("trial", "fragment", "batch", "objective", "env steps", "status"):
        assert column in plain
    client = open_store(f"sqlite:///{isolated_runs}/mlflow.db")
    experiment = client.get_experiment_by_name("motif_tune")
    for trial in client.search_runs([experiment.experiment_id]):
        if trial.data.tags.get("motif_tune.role") == "trial":
            assert trial.data.tags["motif_tune.trial_id"] in plain
