"""Work that runs beside the main thread: started now, its result (or error) taken later.

A sweep spends seconds on serial set-up and wrap-up (opening the MLflow store
while Ray starts, stopping Ray while the outcome is recorded). Each piece runs
in a thread of its own and is joined where its result is needed, so an error
surfaces there, in the main thread, exactly as if the work had run in line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Background(Generic[T]):
    """``fn(*args)`` in a daemon thread; ``result()`` waits for it and returns or raises."""

    def __init__(self, name: str, fn: Callable[..., T], *args: object) -> None:
        self._fn, self._args = fn, args
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"motif-tune-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as err:  # handed to whoever asks for the result
            self._error = err

    def result(self) -> T:
        """Wait for the work; its value, or its exception raised here."""
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._value  # type: ignore[return-value]

    def wait_quietly(self) -> None:
        """Wait for the work and drop its outcome (an error is only logged): for clean-up
        on a path that is already failing for another reason."""
        try:
            self.result()
        except BaseException as err:  # the other failure is the one to report
            log.debug("Background work %s failed as well: %s", self._thread.name, err)
