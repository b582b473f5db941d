"""One logging setup for the driver (workers get theirs from the same function)."""

from __future__ import annotations

import logging
import sys

DEFAULT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
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
