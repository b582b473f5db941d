"""Modules imported ahead of time, so that two threads never import the same one at once.

Python imports a module under a per-module lock; two threads importing
overlapping packages at the same moment can each hold a lock the other needs
(``ImportError: deadlock detected``). Where work runs beside the main thread
(:mod:`motif_tune.runtime.background`), the modules both sides would import are
imported first, in the main thread; what is left to each side is its own.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

# What both ``ray.init`` (lazily, as it starts) and MLflow import: imported first, in
# the main thread, so the thread that opens the MLflow store while Ray starts never
# imports a module that ray.init imports at the same time.
SHARED_WITH_RAY_INIT = ("click",)
# What ``ray.shutdown`` imports on its way (it runs beside the wrap-up).
RAY_STOP_MODULES = ("ray.dag.compiled_dag_node",)


def import_modules(names: tuple[str, ...]) -> None:
    """Import ``names`` now; one that is missing (another library version) is skipped."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            log.debug("Not imported ahead of time: %s (%s)", name, err)
