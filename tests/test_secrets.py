"""Secrets in URIs and tokens never reach the terminal, the log file or MLflow."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from motif_tune.cli import EXIT_BAD_INPUT, main
from motif_tune.secrets import mask_secrets
from tests.conftest import cli

SECRET = "s3cr3t-pw-4711"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"http://alice:{SECRET}@host:5000/x", "http://alice:***@host:5000/x"),
        (
            f"tracking.uri=https://a:{SECRET}@m.example.com",
            "tracking.uri=https://a:***@m.example.com",
        ),
        (f"postgresql://mlf:{SECRET}@db:5432/mlflow", "postgresql://mlf:***@db:5432/mlflow"),
        (f"s3://bucket/runs?token={SECRET}&x=1", "s3://bucket/runs?token=***&x=1"),
        (f"uri: 'http://a:{SECRET}@h'", "uri: 'http://a:***@h'"),
        ("sqlite:////tmp/runs/mlflow.db", "sqlite:////tmp/runs/mlflow.db"),
        ("http://127.0.0.1:5000/#/experiments/1", "http://127.0.0.1:5000/#/experiments/1"),
    ],
)
def test_mask_secrets(text, masked):
    assert mask_secrets(text) == masked


def test_a_ray_token_in_the_environment_is_masked_wherever_it_appears(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", SECRET)
    assert mask_secrets(f"joined with token {SECRET}.") == "joined with token ***."


def test_a_refused_tracking_uri_is_named_without_its_password(capsys):
    code = main(["sweep", f"tracking.uri=http://alice:{SECRET}@127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "tracking.uri 'http://alice:***@127.0.0.1:9'" in err and SECRET not in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tracking_server(tmp_path, empty_store_file):
    """A real ``mlflow server`` on 127.0.0.1 (it ignores the credentials clients send), on
    a store created before."""
    shutil.copyfile(empty_store_file, tmp_path / "server.db")
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path}/server.db",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"},
    )
    deadline = time.monotonic() + 120
    try:
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server did not answer in 120 s"
                time.sleep(1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_sweep_on_a_server_uri_with_a_password_never_shows_it(tracking_server, isolated_runs):
    """A sweep recording to a tracking server whose URI holds a password: the password
    is in no output, log line, param, tag or artifact; the links show it masked."""
    uri = f"http://alice:{SECRET}@127.0.0.1:{tracking_server}"
    proc = subprocess.run(
        cli("sweep", "sweep=smoke", "run_name=secret", f"tracking.uri={uri}"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert SECRET not in proc.stdout + proc.stderr
    assert f"alice:***@127.0.0.1:{tracking_server}" in proc.stdout  # the summary's link
    log_file = isolated_runs / "hydra" / "secret" / "motif_tune.log"
    assert "tracking" in log_file.read_text() and SECRET not in log_file.read_text()

    client = MlflowClient(tracking_uri=f"http://127.0.0.1:{tracking_server}")
    experiment = client.get_experiment_by_name("motif_tune")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # the sweep and its two trials
    for run in runs:
        recorded = [*run.data.params.values(), *run.data.tags.values()]
        assert not [value for value in recorded if SECRET in value], run.info.run_name
    (parent,) = [r for r in runs if r.data.tags["motif_tune.role"] == "sweep"]
    config = client.download_artifacts(parent.info.run_id, "config.yaml")
    text = Path(config).read_text()
    assert "alice:***@" in text and SECRET not in text
