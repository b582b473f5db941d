"""Records when ``ray.tune.Tuner.fit()`` starts and returns, for the benchmarks.

The benchmarks put this folder on ``PYTHONPATH`` of the processes they time
(``motif-tune`` and the plain script alike) with ``MOTIF_BENCH_FIT_TIMES`` naming
a file. When ``ray.tune.tuner`` is first imported, ``Tuner.fit`` is wrapped to
append one JSON line ``{"pid", "fit_start", "fit_end"}`` (epoch seconds) to that
file. Nothing else changes; without the variable this module does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from typing import Any

_TARGET = "ray.tune.tuner"


def _wrap_fit(tuner_cls: Any, out_file: str) -> None:
    original = tuner_cls.fit

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return original(self, *args, **kwargs)
        finally:
            stamp = {"pid": os.getpid(), "fit_start": start, "fit_end": time.time()}
            with open(out_file, "a", encoding="utf-8") as out:
                out.write(json.dumps(stamp) + "\n")

    tuner_cls.fit = fit


class _TunerFinder(importlib.abc.MetaPathFinder):
    """Finds ``ray.tune.tuner`` as usual, and wraps ``Tuner.fit`` once it has loaded."""

    def __init__(self, out_file: str) -> None:
        self.out_file = out_file

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module
        out_file = self.out_file

        def exec_and_wrap(module: Any) -> None:
            exec_module(module)
            _wrap_fit(module.Tuner, out_file)

        loader.exec_module = exec_and_wrap  # type: ignore[method-assign]
        sys.meta_path.remove(self)
        return spec


if os.environ.get("MOTIF_BENCH_FIT_TIMES"):
    sys.meta_path.insert(0, _TunerFinder(os.environ["MOTIF_BENCH_FIT_TIMES"]))
