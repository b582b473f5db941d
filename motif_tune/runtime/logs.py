"""One logging setup for the driver and every Ray worker process.

The terminal gets what a person watching needs: warnings and errors (and, with
``logging.console=verbose``, every record). Everything goes to the run's log
file, driver and workers alike.

Ray starts env runners and trials in fresh processes whose root logger sits at
WARNING with no format, and forwards whatever they write to stdout and stderr
to the driver's terminal. A ``worker_process_setup_hook`` runs
``setup_worker_logging`` in every worker; it reads the level, format, console
mode and log file from environment variables that the driver sets in Ray's
``runtime_env``. In the normal console mode the worker's stdout and stderr
themselves are sent to the log file (Ray's and RLlib's chatter, Python
warnings, checkpoint notes), and only warnings and errors are written where
Ray forwards them to the driver.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from motif_tune.secrets import mask_secrets

DEFAULT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LEVEL_VAR = "MOTIF_TUNE_LOG_LEVEL"
FORMAT_VAR = "MOTIF_TUNE_LOG_FORMAT"
FILE_VAR = "MOTIF_TUNE_LOG_FILE"
CONSOLE_VAR = "MOTIF_TUNE_LOG_CONSOLE"
SETUP_HOOK = f"{__name__}.setup_worker_logging"
_QUIET = ("alembic", "mlflow.store.db.utils", "urllib3", "filelock", "optuna")
# RLlib's notes about its own internals (its new API stack is the only one used here).
_SILENT = ("ray._common.deprecation", "ray.rllib.algorithms.algorithm_config")


class _MaskingFormatter(logging.Formatter):
    """Formats a record with secrets (URI passwords, tokens) masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


# Tune's own messages (its restore advice, trial tracebacks, missing-metric lists): the
# console says those things in a line of its own, the log file keeps Tune's.
_FILE_ONLY = ("ray.tune", "ray.train", "ray.air", "urllib3")


class _NotFileOnly(logging.Filter):
    """Keeps the records of ``_FILE_ONLY`` loggers off the terminal (unless critical)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.CRITICAL or not record.name.startswith(_FILE_ONLY)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (it may be swapped after setup)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self._fixed = stream

    @property
    def stream(self):  # type: ignore[override]
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it; we always follow sys.stderr
        pass


def configure_logging(
    level: str = "INFO",
    fmt: str = DEFAULT_FORMAT,
    console_level: str | None = None,
    stream: IO[str] | None = None,
) -> None:
    """Records of ``console_level`` (default: ``level``) and above to stderr in ``fmt``;
    the root logger passes ``level`` on (to the log file); chatty libraries are quieted."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler(stream)
    handler.setFormatter(_MaskingFormatter(fmt))
    handler.setLevel(console_level or level)
    if console_level is not None and console_level != level:  # the normal console
        handler.addFilter(_NotFileOnly())
    root.addHandler(handler)
    route_ray_logs()
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _SILENT:
        logging.getLogger(name).setLevel(logging.ERROR)
    # RLlib registers its own env wrapper again in every runner; gymnasium warns each time.
    warnings.filterwarnings("ignore", ".*Overriding environment rllib-", UserWarning)
    # A population member's new values need a new Algorithm: actors are not reused on
    # purpose (Tune suggests reuse_actors to every PBT run).
    warnings.filterwarnings("ignore", "Consider boosting PBT performance", UserWarning)


def route_ray_logs() -> None:
    """Ray's loggers through ours (the log file, and the terminal's filters) instead of
    the stderr handler Ray gives its ``ray`` logger when it is imported."""
    if "ray" not in sys.modules:
        return
    ray_logger = logging.getLogger("ray")
    for handler in list(ray_logger.handlers):
        if type(handler).__module__.startswith("ray."):
            ray_logger.removeHandler(handler)
    ray_logger.propagate = True


def runtime_env(level: str, fmt: str, log_file: Path | None, console: str = "normal") -> dict:
    """The ``runtime_env`` that gives every worker this logging setup."""
    env_vars = {
        LEVEL_VAR: level,
        FORMAT_VAR: fmt,
        CONSOLE_VAR: console,
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    if log_file is not None:
        env_vars[FILE_VAR] = str(log_file)
    return {"env_vars": env_vars, "worker_process_setup_hook": SETUP_HOOK}


def setup_worker_logging() -> None:
    """Runs in each Ray worker at start-up (and is safe to run twice)."""
    level = os.environ.get(LEVEL_VAR, "INFO")
    fmt = os.environ.get(FORMAT_VAR, DEFAULT_FORMAT)
    log_file = os.environ.get(FILE_VAR)
    verbose = os.environ.get(CONSOLE_VAR, "normal") == "verbose"
    if log_file and not verbose:
        forwarded = _send_output_to(Path(log_file))
        configure_logging(level, fmt, "WARNING", forwarded)
    else:
        configure_logging(level, fmt)
    if log_file:
        add_file_handler(Path(log_file), level, fmt)


def _send_output_to(path: Path) -> IO[str]:
    """Point this process's stdout and stderr at ``path``; returns a stream to what
    stderr was (which Ray forwards to the driver's terminal)."""
    if getattr(sys, "_motif_tune_forwarded", None) is not None:
        return sys._motif_tune_forwarded  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    forwarded = os.fdopen(os.dup(2), "w", buffering=1)
    target = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
    sys._motif_tune_forwarded = forwarded  # type: ignore[attr-defined]
    return forwarded


def add_file_handler(path: Path, level: str, fmt: str) -> logging.Handler | None:
    """Append this process's records to ``path`` (one file shared by driver and workers);
    the handler added, or None where one already writes there."""
    root = logging.getLogger()
    target = str(path.resolve())
    if any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(_MaskingFormatter(fmt))
    root.addHandler(handler)
    return handler


@contextmanager
def logging_to(path: Path, level: str, fmt: str) -> Iterator[None]:
    """This process's records go to ``path`` for the block only: a process that runs one
    command after another (a multirun, a script) gives each run's log file that run's
    records, not the next run's too."""
    handler = add_file_handler(path, level, fmt)
    try:
        yield
    finally:
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
