"""A real ``mlflow server`` on 127.0.0.1 that a test can stop and start again on the same
port and store, as a team's server restarts for maintenance."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """``mlflow server`` over a SQLite store in ``folder`` (it ignores the credentials
    clients send)."""

    def __init__(self, folder: Path, store: Path | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.store = store or folder / "server.db"
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120) -> None:
        log = (self.folder / "server.log").open("a")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.store}",
                "--artifacts-destination",
                str(self.folder / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"},
            start_new_session=True,  # its workers stop with it
        )
        deadline = time.monotonic() + timeout_s
        while True:
            assert self._process.poll() is None, self.log_tail()
            try:
                urllib.request.urlopen(f"{self.uri}/health", timeout=2)
                return
            except OSError:
                assert time.monotonic() < deadline, f"mlflow server not up in {timeout_s} s"
                time.sleep(0.5)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Gone at once, as a crashed server is (``stop`` lets it shut down in its own
        time, which can outlast a short trial)."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def log_tail(self) -> str:
        return (self.folder / "server.log").read_text()[-3000:]

    def runs_by_role(self, role: str) -> list:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.uri)
        experiment = client.get_experiment_by_name("motif_tune")
        if experiment is None:
            return []
        return client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.`motif_tune.role` = '{role}'"
        )
