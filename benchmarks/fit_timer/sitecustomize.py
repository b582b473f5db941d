"""Records when ``ray.tune.Tuner.fit()`` starts and returns, and (optionally) the
phases of a sweep, for the benchmarks.

The benchmarks put this folder on ``PYTHONPATH`` of the processes they time
(``motif-tune`` and the plain script alike) with ``MOTIF_BENCH_FIT_TIMES`` naming
a file. When ``ray.tune.tuner`` is first imported, ``Tuner.fit`` is wrapped to
append one JSON line ``{"pid", "fit_start", "fit_end"}`` (epoch seconds) to that
file.

With ``MOTIF_BENCH_PHASES`` naming a file as well, the functions in ``PHASES``
are wrapped the same way when their module is imported, in every process that
loads this hook (Ray's workers inherit ``PYTHONPATH``), each call appending
``{"pid", "name", "start", "end"}``; a Ray worker process appends
``{"pid", "name": "worker process", "start"}`` as it starts. A function that does
not exist (another version of the code) is skipped. Nothing else changes;
without the variables this module does nothing.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

FIT_TIMES_VAR = "MOTIF_BENCH_FIT_TIMES"
PHASES_VAR = "MOTIF_BENCH_PHASES"
# module -> functions (``Class.method`` for methods) whose calls are timed.
PHASES = {
    "motif_tune.cli": ("main", "_main"),  # main ends the process: _main returns first
    "motif_tune.commands.sweep": ("prepare_sweep",),
    "motif_tune.pipeline.sweep": ("run_sweep", "summarise"),
    "motif_tune.pipeline.plan": ("plan_sweep", "fit_to_cluster"),
    "motif_tune.runtime.ray_session": ("start_ray", "stop_ray"),
    "motif_tune.tracking.sweep_run": ("SweepRun.__init__", "SweepRun.start", "SweepRun.finish"),
    "motif_tune.tracking.outcome": ("record_outcome",),
    "ray.rllib.algorithms.algorithm": ("Algorithm.__init__",),
}
_WORKER_SCRIPTS = ("default_worker.py", "setup_worker.py")


def _append(path: str, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")  # one short write: whole lines from any process


def _wrap_fit(tuner_cls: Any, out_file: str) -> None:
    original = tuner_cls.fit

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return original(self, *args, **kwargs)
        finally:
            stamp = {"pid": os.getpid(), "fit_start": start, "fit_end": time.time()}
            _append(out_file, stamp)

    tuner_cls.fit = fit


def _timed(fn: Callable[..., Any], name: str, out_file: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            record = {"pid": os.getpid(), "name": name, "start": start, "end": time.time()}
            _append(out_file, record)

    return timed


def _wrap_phases(module: Any, names: tuple[str, ...], out_file: str) -> None:
    for qualname in names:
        *owners, attr = qualname.split(".")
        owner = module
        for part in owners:
            owner = getattr(owner, part, None)
        fn = vars(owner).get(attr) if owner is not None else None
        if callable(fn):
            setattr(owner, attr, _timed(fn, qualname, out_file))


class _WrappingFinder(importlib.abc.MetaPathFinder):
    """Finds the wanted modules as usual, and wraps their functions once they have loaded."""

    def __init__(self, wrappers: dict[str, Callable[[Any], None]]) -> None:
        self.wrappers = wrappers

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        wrap = self.wrappers.get(name)
        if wrap is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_wrap(module: Any) -> None:
            exec_module(module)
            wrap(module)

        loader.exec_module = exec_and_wrap  # type: ignore[method-assign]
        del self.wrappers[name]
        if not self.wrappers:
            sys.meta_path.remove(self)
        return spec


def _install() -> None:
    wrappers: dict[str, Callable[[Any], None]] = {}
    fit_times = os.environ.get(FIT_TIMES_VAR)
    if fit_times:
        wrappers["ray.tune.tuner"] = lambda module: _wrap_fit(module.Tuner, fit_times)
    phases = os.environ.get(PHASES_VAR)
    if phases:
        for name, functions in PHASES.items():
            wrappers[name] = functools.partial(_wrap_phases, names=functions, out_file=phases)
        if sys.argv and os.path.basename(sys.argv[0]) in _WORKER_SCRIPTS:
            _append(phases, {"pid": os.getpid(), "name": "worker process", "start": time.time()})
    if wrappers:
        sys.meta_path.insert(0, _WrappingFinder(wrappers))


_install()
