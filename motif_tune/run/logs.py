"""One logging setup for the driver and every Ray worker process.

Ray starts env runners and trials in fresh processes whose root logger sits at
WARNING with no format, so INFO lines from an env on a remote runner never
reach the driver. A ``worker_process_setup_hook`` runs ``setup_worker_logging``
in every worker; it reads the level, format and log file from environment
variables that the driver sets in Ray's ``runtime_env``. Ray forwards the
worker's stderr to the driver's terminal, and the file handler appends the same
lines to the run's log file.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

DEFAULT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LEVEL_VAR = "MOTIF_TUNE_LOG_LEVEL"
FORMAT_VAR = "MOTIF_TUNE_LOG_FORMAT"
FILE_VAR = "MOTIF_TUNE_LOG_FILE"
SETUP_HOOK = f"{__name__}.setup_worker_logging"
_QUIET = ("alembic", "mlflow.store.db.utils", "urllib3", "filelock", "optuna")
# RLlib's notes about its own internals (its new API stack is the only one used here).
_SILENT = ("ray._common.deprecation", "ray.rllib.algorithms.algorithm_config")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (it may be swapped after setup)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it; we always follow sys.stderr
        pass


def configure_logging(level: str = "INFO", fmt: str = DEFAULT_FORMAT) -> None:
    """Send records of ``level`` and above to stderr in ``fmt``; quiet chatty libraries."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _SILENT:
        logging.getLogger(name).setLevel(logging.ERROR)


def runtime_env(level: str, fmt: str, log_file: Path | None) -> dict:
    """The ``runtime_env`` that gives every worker this logging setup."""
    env_vars = {LEVEL_VAR: level, FORMAT_VAR: fmt, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    if log_file is not None:
        env_vars[FILE_VAR] = str(log_file)
    return {"env_vars": env_vars, "worker_process_setup_hook": SETUP_HOOK}


def setup_worker_logging() -> None:
    """Runs in each Ray worker at start-up (and is safe to run twice)."""
    level = os.environ.get(LEVEL_VAR, "INFO")
    fmt = os.environ.get(FORMAT_VAR, DEFAULT_FORMAT)
    configure_logging(level, fmt)
    log_file = os.environ.get(FILE_VAR)
    if log_file:
        add_file_handler(Path(log_file), level, fmt)


def add_file_handler(path: Path, level: str, fmt: str) -> None:
    """Append this process's records to ``path`` (one file shared by driver and workers)."""
    root = logging.getLogger()
    target = str(path.resolve())
    if any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt))
    root.addHandler(handler)
