"""When the MLflow store stops answering (a tracking server restarting for maintenance, a
network cut): records are held and written again as soon as it answers, the sweep
trains on, and the terminal gets one line when it stops answering and one when it is
back, instead of the HTTP client's retry warnings.

A write that fails because of what it holds (an invalid value) is not an outage: it
is reported once and dropped, as retrying could never succeed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from motif_tune.secrets import mask_secrets
from motif_tune.text import one_line

log = logging.getLogger(__name__)
T = TypeVar("T")
# MLflow's error codes for a store that cannot answer now (a connection refused or
# timed out comes as INTERNAL_ERROR after the client's own retries).
_OUTAGE_CODES = ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED")
_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)


class GaveUp(RuntimeError):
    """The store did not answer before the deadline: the write is still to be made."""


def is_outage(err: BaseException) -> bool:
    """The store did not answer (retrying later may succeed), as opposed to refusing
    what was sent."""
    code = getattr(err, "error_code", None)
    if code is not None:
        return code in _OUTAGE_CODES
    return isinstance(err, OSError | ConnectionError | TimeoutError) or "locked" in str(err)


class Outage:
    """Whether the store answers, shared by the writer threads of one process; the
    terminal hears once when it stops and once when it is back."""

    def __init__(self, uri: str) -> None:
        self.uri = mask_secrets(uri)
        self.down_since: float | None = None
        self.deadline: float | None = None  # monotonic: retrying stops then (wrap-up)
        self._lock = threading.Lock()

    def went_down(self, err: BaseException, held: int) -> None:
        with self._lock:
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.warning(
                    "MLflow at %s is not answering; training goes on, %d records held (%s).",
                    self.uri,
                    held,
                    one_line(err, 120),
                )

    def came_back(self) -> None:
        with self._lock:
            if self.down_since is not None:
                gone = time.monotonic() - self.down_since
                self.down_since = None
                log.warning(
                    "MLflow at %s answers again after %.0f s; the held records are being written.",
                    self.uri,
                    gone,
                )

    def until_written(self, write: Callable[[], T], held: Callable[[], int] = lambda: 1) -> T:
        """``write()``, retried while the store does not answer (``held()``: how many
        records wait meanwhile); ``GaveUp`` when the deadline passes first. Any other
        error is raised at once."""
        waited, attempt = False, 0
        while True:
            try:
                result = write()
            except Exception as err:
                if not is_outage(err):
                    raise
                if not waited:
                    self.went_down(err, held())
                    waited = True
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    raise GaveUp(f"MLflow at {self.uri} did not answer in time") from err
                pause = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
                if self.deadline is not None:
                    pause = min(pause, max(self.deadline - time.monotonic(), 0.0))
                time.sleep(pause)
                attempt += 1
                continue
            if waited:
                self.came_back()
            return result
