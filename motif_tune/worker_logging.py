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
from pathlib import Path

from motif_tune.logging_setup import DEFAULT_FORMAT, configure_logging

LEVEL_VAR = "MOTIF_TUNE_LOG_LEVEL"
FORMAT_VAR = "MOTIF_TUNE_LOG_FORMAT"
FILE_VAR = "MOTIF_TUNE_LOG_FILE"
SETUP_HOOK = "motif_tune.worker_logging.setup_worker_logging"


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
