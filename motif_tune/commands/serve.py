"""``motif-tune ui`` and ``motif-tune dashboard``: the MLflow UI over the store the sweeps
record in, and optuna-dashboard over their stored studies, both on 127.0.0.1 unless told.

Each serves in the foreground until Ctrl-C, from the same environment as
motif-tune (the ``mlflow`` and ``optuna-dashboard`` programs beside it).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.stores import is_server


@dataclass(frozen=True)
class Server:
    """A program to serve, with its arguments."""

    argv: tuple[str, ...]
    address: str
    note: str = ""

    def render(self) -> str:
        return self.note or f"Serving on {self.address} (Ctrl-C stops it)."


def prepare_ui(settings: Settings, overrides: Sequence[str] = ()) -> Server:
    """The MLflow UI over ``tracking.uri`` (created first when it is a new local store)."""
    uri = settings.tracking.uri
    if is_server(uri):
        return Server((), uri, note=f"MLflow at {uri} serves its own UI: open {uri}")
    from motif_tune.tracking.client import open_store

    open_store(uri)
    host, port = settings.ui.host, settings.ui.port
    argv = (
        _program("mlflow"),
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
    )
    return Server(argv, f"http://{host}:{port}")


def prepare_dashboard(settings: Settings, overrides: Sequence[str] = ()) -> Server:
    """optuna-dashboard over the sweeps' study storage (created first when it is new)."""
    from motif_tune.search.study import open_storage

    url = settings.study_storage
    open_storage(url)
    host, port = settings.ui.host, settings.ui.dashboard_port
    program = _program("optuna-dashboard")
    argv = (program, url, "--server", "wsgiref", "--host", host, "--port", str(port))
    return Server(argv, f"http://{host}:{port}")


def serve(server: Server, overrides: Sequence[str] = ()) -> Server:
    """Replace this process with the server (nothing to serve: say where to look)."""
    if server.argv:
        print(f"Serving on {server.address} (Ctrl-C stops it).", flush=True)
        os.execv(server.argv[0], list(server.argv))
    return server


def _program(name: str) -> str:
    """A program installed beside this Python (the same virtual environment), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise ConfigError(f"{name} is not installed beside motif-tune; install motif_tune again.")
    return found
