"""The time in a run's default name, unique on this machine.

Default run names are ``<time>-<sweep>-<algo>-<env>`` to the second, so two commands
started in the same second (a script that starts two sweeps, two multiruns at once)
would share a name, and with it a Tune folder, a study and a log file. The time is
claimed under a lock instead: the current second, or the second after the last one
another process claimed on this machine. ``${run_stamp:}`` in the config is the time
claimed for the composition under way.
"""

from __future__ import annotations

import getpass
import os
import tempfile
import time
from pathlib import Path

STAMP_FORMAT = "%Y%m%d-%H%M%S"


class _Claimed:
    stamp: str | None = None  # the composition under way's time, once claimed


def new_run_stamp() -> None:
    """A composition begins: its first ``${run_stamp:}`` claims a time of its own."""
    _Claimed.stamp = None


def run_stamp() -> str:
    """The time the composition under way names its run with (claimed on first use)."""
    if _Claimed.stamp is None:
        _Claimed.stamp = time.strftime(STAMP_FORMAT, time.localtime(_claim_second()))
    return _Claimed.stamp


def _claim_second() -> int:
    """Now, or the second after another process's latest claim (this process may name
    runs in the same second: one after the other, they never run at once)."""
    from filelock import FileLock

    record = claims_file()
    with FileLock(f"{record}.lock"):
        try:
            last, holder = (int(part) for part in record.read_text().split())
        except (OSError, ValueError):
            last, holder = 0, 0
        second = max(int(time.time()), last + (holder != os.getpid()))
        record.write_text(f"{second} {os.getpid()}")
    return second


def claims_file() -> Path:
    """Where this machine's latest claim is kept (one file per user)."""
    return Path(tempfile.gettempdir()) / f"motif-tune-run-stamp-{getpass.getuser()}"
