"""`motif-tune ui` serves the MLflow UI over the store the sweeps use (MOTIF_TUNE_HOME or
MLFLOW_TRACKING_URI), on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import cli

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_ui_serves_the_store_that_motif_tune_home_names(isolated_runs, tmp_path):
    from motif_tune.tracking.client import open_store

    store = tmp_path / "elsewhere"
    open_store(f"sqlite:///{store}/mlflow.db").create_experiment("probe")
    port = _free_port()
    server = subprocess.Popen(
        cli("ui", f"ui.port={port}"),
        env={**os.environ, "MOTIF_TUNE_HOME": str(store)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        search = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10"
        names = {e["name"] for e in json.loads(_get(search, deadline))["experiments"]}
        assert "probe" in names
        assert server.poll() is None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert f"Serving on http://127.0.0.1:{port}" in output
    assert not (isolated_runs / "hydra").exists()  # a server records nothing of its own
