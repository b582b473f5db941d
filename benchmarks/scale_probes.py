"""What the scale benchmark measures on the driver: suggest and MLflow call latencies,
results handled, the driver's CPU and memory, the writer's queue.

Timers patch methods at the class level for the length of a sweep (``timed``), so
nothing unpicklable lands in the objects Tune saves with its experiment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from ray.tune import Callback

# The MLflow client calls a trial's record is made of.
MLFLOW_WRITES = ("create_run", "log_batch", "set_terminated", "update_run", "delete_run")


@dataclass
class Calls:
    """(start, wall s, CPU s of the calling thread, size) of every call of one kind."""

    records: list[tuple[float, float, float, int]] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[tuple[float, float, float, int]]:
        return [r for r in self.records if start <= r[0] < end]


@contextmanager
def timed(cls: type, name: str, calls: Calls, size: Callable[..., int] | None = None) -> Iterator:
    """Record every call of ``cls.name`` (any instance, any thread) while the block runs."""
    original = getattr(cls, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            record = (
                start,
                time.perf_counter() - start,
                time.thread_time() - cpu,
                size(*args, **kwargs) if size else 1,
            )
            calls.records.append(record)  # list.append: atomic across threads

    setattr(cls, name, wrapper)
    try:
        yield calls
    finally:
        setattr(cls, name, original)


def batch_size(run_id: str, metrics: Any = (), params: Any = (), tags: Any = ()) -> int:
    """Metric values in one ``log_batch`` call."""
    return len(metrics or ())


class ResultClock(Callback):
    """When the driver handled each result, how long after the trial reported it, how
    many trials were running then, and each trial's start and end (the first
    callback, so its times are when Tune hands a result over)."""

    def __init__(self, reported_at: str = "") -> None:
        self.reported_at = reported_at  # the result key holding the report's epoch time
        self.results: list[float] = []
        self.lags: list[float] = []  # s from the trial's report to this callback
        self.running_at: list[int] = []  # trials running at each result
        self.starts: dict[str, float] = {}
        self.ends: dict[str, float] = {}
        self.iterations: dict[str, int] = {}
        self.running = 0
        self.peak_running = 0
        self.full_at: float | None = None  # when the concurrency was first reached
        self.concurrency = 0
        self.gate: Path | None = None  # made once the concurrency is reached

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.starts.setdefault(trial.trial_id, time.perf_counter())
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        if self.full_at is None and self.concurrency and self.running >= self.concurrency:
            self.full_at = time.perf_counter()
            if self.gate is not None:
                self.gate.touch()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        self.results.append(time.perf_counter())
        reported = result.get(self.reported_at)
        self.lags.append(time.time() - reported if reported else float("nan"))
        self.running_at.append(self.running)
        step = int(result.get("training_iteration", 0))
        self.iterations[trial.trial_id] = max(self.iterations.get(trial.trial_id, 0), step)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ends[trial.trial_id] = time.perf_counter()
        self.running -= 1

    on_trial_error = on_trial_complete

    def __reduce__(self) -> Any:  # saved with the experiment: keep it small
        return (ResultClock, (self.reported_at,))


class ProcessSampler:
    """Samples this process's CPU time and RSS (and a queue depth) in a thread."""

    def __init__(self, every_s: float = 0.5, depth: Callable[[], int] | None = None) -> None:
        self.every_s = every_s
        self.depth = depth
        self.samples: list[tuple[float, float, float, int]] = []  # (t, cpu s, rss MB, depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scale-sampler", daemon=True)
        self._process = psutil.Process()

    def __enter__(self) -> ProcessSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _sample(self) -> None:
        cpu = self._process.cpu_times()
        rss = self._process.memory_info().rss / 2**20
        depth = self.depth() if self.depth else 0
        self.samples.append((time.perf_counter(), cpu.user + cpu.system, rss, depth))

    def between(self, start: float, end: float) -> dict[str, float]:
        """Mean CPU (1.0 = one core busy), peak RSS and peak queue depth in a window."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] <= start]
        first = before[-1] if before else (inside[0] if inside else None)
        if first is None or not inside or inside[-1][0] <= first[0]:
            return {"cpu": float("nan"), "rss_mb": float("nan"), "max_queue": 0}
        last = inside[-1]
        return {
            "cpu": (last[1] - first[1]) / (last[0] - first[0]),
            "rss_mb": max(s[2] for s in inside),
            "max_queue": max(s[3] for s in inside),
        }
