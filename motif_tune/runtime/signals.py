"""Stopping a command the way a person or a scheduler asks: Ctrl-C (SIGINT) and SIGTERM
(Slurm preemption, Kubernetes, systemd, ``timeout``) take one path.

The first signal asks for a clean stop: inside a ``Tuner.fit`` Tune ends the run
as after its own Ctrl-C handling (the experiment state is saved, trials stop, the
MLflow writer flushes at the end); anywhere else the command unwinds through
``KeyboardInterrupt``. The command then says what was saved and how to go on,
and exits with the conventional status (130 for SIGINT, 143 for SIGTERM). A
second signal stops the process at once. Handlers are installed from the main
thread after Ray starts, so Ray's own SIGTERM handling (which dumps native stack
lines) never runs in the driver.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the signals of this command, in order
_tune_running = threading.Event()


@contextmanager
def stops_handled() -> Iterator[None]:
    """Our handler for SIGINT and SIGTERM inside (main thread only; Tune's own SIGINT
    handler is left out, and told through its SIGUSR1 instead); the handlers before
    are put back after, so a notebook or script keeps its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    tune_sigint = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if tune_sigint is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = tune_sigint


def received() -> int | None:
    """The first stop signal this command got (None: none)."""
    return _received[0] if _received else None


def exit_status(signum: int) -> int:
    """The conventional exit status of a process ended by ``signum``."""
    return 128 + signum


def name(signum: int) -> str:
    return signal.Signals(signum).name


@contextmanager
def tune_fit() -> Iterator[None]:
    """A ``Tuner.fit`` runs here: a stop signal asks Tune to end the run cleanly."""
    _tune_running.set()
    try:
        yield
    finally:
        _tune_running.clear()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _received:  # a second signal: at once
        sys.stderr.write(f"\nmotif-tune: {name(signum)} again: stopping at once.\n")
        sys.stderr.flush()
        os._exit(exit_status(signum))
    _received.append(signum)
    tune_stop = signal.getsignal(signal.SIGUSR1)
    if _tune_running.is_set() and callable(tune_stop):
        tune_stop(signal.SIGUSR1, frame)  # Tune's "stop, saving the experiment state"
        return
    raise KeyboardInterrupt
