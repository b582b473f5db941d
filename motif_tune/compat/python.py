"""CPython internals: ending a finished command without the interpreter's teardown."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

from motif_tune.compat import PrivateName

PRIVATE_NAMES = (
    PrivateName(
        "threading",
        "_shutdown",
        "joins non-daemon threads and runs their exit hooks, the first step of a normal exit",
        "none: sys.exit runs it, followed by the teardown of every module (seconds with "
        "torch, Ray and MLflow loaded)",
    ),
    PrivateName(
        "atexit",
        "_run_exitfuncs",
        "runs the exit handlers (logs, MLflow's writer, Ray) before the process ends",
        "none: sys.exit runs them, followed by the same teardown",
    ),
)


def end_process(code: int) -> NoReturn:
    """End the program with ``code`` as a normal exit does (threads joined, then the exit
    handlers, the output flushed), then ``os._exit``: Python's teardown of every loaded
    module and object does nothing a finished command needs."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
