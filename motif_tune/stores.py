"""Where the project's stores live, told from their URIs, and reaching them safely.

MLflow's tracking store and the Optuna study storage are each a local SQLite
file by default, or a server. Both files are created (and their schemas
migrated) under a lock beside them, so several processes may open one at once;
a server that does not answer is told in seconds by a socket probe instead of
a library's minutes of retries.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from motif_tune.errors import ConfigError

T = TypeVar("T")
SQLITE = "sqlite:///"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///…`` URL, else None."""
    return Path(url.removeprefix(SQLITE)) if url.startswith(SQLITE) else None


def sqlite_url(path: Path) -> str:
    return f"{SQLITE}{Path(path).resolve()}"


def is_server(uri: str) -> bool:
    """An ``http(s)://`` address (a tracking server), not a local store."""
    return urlparse(uri).scheme in ("http", "https")


def host_and_port(uri: str) -> tuple[str, int] | None:
    """The host and port an ``http(s)://`` URI points at (None for anything else)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)


def probe(host: str, port: int, timeout_s: float = 3.0) -> None:
    """Connect and close; ``OSError`` when nothing listens there within ``timeout_s``."""
    with socket.create_connection((host, port), timeout=timeout_s):
        return


def check_tracking_server(uri: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when no server answers
    at ``tracking.uri`` (a local store needs no check)."""
    address = host_and_port(uri)
    if address is None:
        return
    try:
        probe(*address, timeout_s=timeout_s)
    except OSError as err:
        raise ConfigError(
            f"tracking.uri '{uri}': no MLflow tracking server answers there "
            f"({err.strerror or err}); start it (mlflow server --host …) or fix tracking.uri."
        ) from None


def created_once(path: Path, open_store: Callable[[], T]) -> T:
    """``open_store()`` under a file lock beside ``path``: the first opener creates and
    migrates the file while the others wait, instead of colliding."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        return open_store()
