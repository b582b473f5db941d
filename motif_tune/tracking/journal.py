"""A sweep's metric steps on local disk, written before MLflow gets them.

The trial callback appends each step it queues for MLflow to a JSON-lines file
(an OS write, no fsync: it outlives a killed process, not a lost machine). A
driver killed outright loses what its writer still had queued; the resumed sweep
reads the journal and writes the steps MLflow lacks. The file is removed once a
sweep's records are all written.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

Step = tuple[int, int, dict[str, float]]  # (step, timestamp ms, metrics)


class Journal:
    """Append-only steps of a sweep's trials, by trial id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def append(
        self, trial_id: str, step: int, timestamp_ms: int, metrics: dict[str, float]
    ) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        line = {"trial": trial_id, "step": step, "ts": timestamp_ms, "metrics": metrics}
        self._file.write(json.dumps(line, allow_nan=False) + "\n")
        self._file.flush()

    def read(self) -> dict[str, list[Step]]:
        """Every trial's steps in the order they were appended (a torn last line skipped)."""
        steps: dict[str, list[Step]] = defaultdict(list)
        if not self.path.is_file():
            return {}
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    metrics = {
                        str(k): float(v)
                        for k, v in entry["metrics"].items()
                        if math.isfinite(float(v))
                    }
                    step = (int(entry["step"]), int(entry["ts"]), metrics)
                    steps[str(entry["trial"])].append(step)
                except (ValueError, KeyError, TypeError, AttributeError):
                    log.info("Skipped an unreadable line of %s.", self.path)
        return dict(steps)

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
