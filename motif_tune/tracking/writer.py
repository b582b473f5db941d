"""MLflow writes off the driver's result path: bounded queues, writer threads, one
``log_batch`` per run for whatever queued up meanwhile.

The sweep's Tune callback hands every record of a trial (its run created with its
params, a metric step, its end) to a ``RunWriter``. In the background mode the
caller only queues; a writer thread takes everything queued on its lane at that
moment and writes it: the steps, params and tags each run got meanwhile in one
``log_batch`` per run, any other call (``set_terminated``, ``update_run``,
``delete_run``) in the order it was made, after what its run had queued before
it. When MLflow is slower than results arrive, the batches grow rather than the
queue; a full queue makes the caller wait rather than memory grow. A run's
records all take one lane, so they keep their order with several lanes.

``flush()`` waits until all that was queued is written; the callback flushes at
the end of its experiment, and the writer at interpreter exit (SIGTERM ends the
driver as an exit does). What a driver killed outright loses from its queue, a
resumed sweep writes from the journal (:mod:`motif_tune.tracking.journal`).

Without the background mode every call is made at once, in the caller's thread.
"""

from __future__ import annotations

import atexit
import logging
import queue
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from motif_tune.tracking.outage import GaveUp, Outage
from motif_tune.tracking.runs import batches, start_run_once

log = logging.getLogger(__name__)

# Calls a RunWriter makes for a run in order (after writing what the run queued before).
RUN_CALLS = ("set_terminated", "update_run", "delete_run")


@dataclass
class RunRef:
    """A run of the writer's: its id once MLflow created it (None until then)."""

    run_id: str | None = None
    lane: int | None = None  # the writer thread that writes its records


@dataclass
class _Pending:
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.metrics or self.params or self.tags)


class _Lane:
    """One writer thread and its bounded queue; a run's records all go to one lane."""

    def __init__(self, max_queued: int) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=max_queued)
        self.thread: threading.Thread | None = None
        self.done = 0  # records written (counted by the lane's thread only)


class RunWriter:
    """Writes runs' records to MLflow, in the background (default) or at once.

    ``threads`` lanes write in parallel (a tracking server answers several calls at
    once; a SQLite file does not), each run's records in order on its own lane.
    """

    def __init__(
        self,
        client: MlflowClient,
        background: bool = True,
        max_queued: int = 50_000,
        threads: int = 1,
        label: str = "",
    ) -> None:
        self.client = client
        self.label = label  # whose records these are (a sweep's run name)
        self.background = background
        self.max_queued = max_queued
        self.threads = max(1, threads)
        self.failed = 0  # records that could not be written (held for a resume, or refused)
        self._init_lanes()

    def _init_lanes(self) -> None:
        self.outage = outage_of(self.client)
        per_lane = max(1, self.max_queued // self.threads)
        self._lanes = [_Lane(per_lane) for _ in range(self.threads)]
        self._handed = 0  # records handed over (counted by the caller only)
        self._next_lane = 0
        self._lock = threading.Lock()

    # The queues and threads stay with this process: a pickled writer (Tune saves its
    # callbacks with the experiment) starts new ones where it is unpickled.
    def __getstate__(self) -> dict[str, Any]:
        keys = ("client", "background", "max_queued", "threads", "failed", "label")
        return {k: self.__dict__[k] for k in keys}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_lanes()

    # ----------------------------------------------------------------- the caller's side

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        tags: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        on_created: Callable[[str], None] | None = None,
    ) -> RunRef:
        """A new run (its id arrives when it is written) and its params; ``on_created``
        is called with the run id once MLflow made it (in the writer's thread)."""
        ref = RunRef()
        self._put(ref, ("create", ref, (experiment_id, run_name, dict(tags), on_created)))
        if params:
            self.log(ref, params=[Param(k, v) for k, v in params.items()])
        return ref

    def log(
        self,
        ref: RunRef,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Metrics, params and tags of one run, written in one batch with the rest of its own."""
        self._put(ref, ("log", ref, _Pending(list(metrics), list(params), list(tags))))

    def call(self, ref: RunRef, name: str, **kwargs: Any) -> None:
        """``client.<name>(run_id, **kwargs)`` once the run's earlier records are written."""
        if name not in RUN_CALLS:
            raise ValueError(f"RunWriter.call: {name!r} is none of {', '.join(RUN_CALLS)}")
        self._put(ref, ("call", ref, (name, kwargs)))

    def give_up_after(self, seconds: float) -> None:
        """Stop retrying a store that does not answer after ``seconds`` from now: what is
        still held then stays in the journal for a resume."""
        self.outage.deadline = time.monotonic() + seconds

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False if ``timeout`` ran out."""
        if not self.background:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        events = []
        for lane in self._lanes:
            if lane.thread is not None:
                done = threading.Event()
                lane.queue.put(("flush", None, done))
                events.append(done)
        for done in events:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not done.wait(left):
                return False
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the threads (a later record starts new ones)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        threads = []
        with self._lock:
            for lane in self._lanes:
                if lane.thread is not None:
                    threads.append(lane.thread)
                    lane.queue.put(("stop", None, None))
                    lane.thread = None
        for thread in threads:
            thread.join(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        return not any(thread.is_alive() for thread in threads)

    @property
    def pending(self) -> int:
        """Records handed to the writer and not written yet."""
        return self._handed - sum(lane.done for lane in self._lanes)

    def _put(self, ref: RunRef, item: tuple) -> None:
        self._handed += 1
        if not self.background:
            self._write([item])
            self._lanes[0].done += 1
            return
        if ref.lane is None:
            ref.lane, self._next_lane = self._next_lane, (self._next_lane + 1) % self.threads
        lane = self._lanes[ref.lane % self.threads]
        self._start(lane)
        lane.queue.put(item)  # blocks while the lane's queue is full: back-pressure

    def _start(self, lane: _Lane) -> None:
        if lane.thread is not None:
            return
        with self._lock:
            if lane.thread is None:
                lane.thread = threading.Thread(
                    target=self._run, args=(lane,), name="mlflow-writer", daemon=True
                )
                lane.thread.start()
                _register(self)

    # ----------------------------------------------------------------- the writer's side

    def _run(self, lane: _Lane) -> None:
        while True:
            items = [lane.queue.get()]
            while True:  # everything queued at this moment
                try:
                    items.append(lane.queue.get_nowait())
                except queue.Empty:
                    break
            self._write([i for i in items if i[0] != "stop"], lane)
            if any(kind == "stop" for kind, _, _ in items):
                return

    def _write(self, items: list[tuple], lane: _Lane | None = None) -> None:
        """Write items in order, one log_batch per run for its records between calls."""
        pending: dict[int, tuple[RunRef, _Pending]] = {}
        seen = 0  # records taken since the lane's count of written ones was updated

        def write_pending(ref: RunRef) -> None:
            entry = pending.pop(id(ref), None)
            if entry is not None:
                self._log_batch(ref, entry[1])

        for kind, ref, payload in items:
            seen += kind != "flush"
            if kind == "log":
                slot = pending.setdefault(id(ref), (ref, _Pending()))[1]
                slot.metrics += payload.metrics
                slot.params += payload.params
                slot.tags += payload.tags
            elif kind == "create":
                self._create(ref, *payload)
            elif kind == "call":
                write_pending(ref)
                self._call(ref, *payload)
            elif kind == "flush":
                for entry in list(pending.values()):
                    write_pending(entry[0])
                if lane is not None:
                    lane.done, seen = lane.done + seen, 0
                payload.set()
        for entry in list(pending.values()):
            write_pending(entry[0])
        if lane is not None:
            lane.done += seen

    def _create(
        self,
        ref: RunRef,
        experiment_id: str,
        run_name: str,
        tags: dict,
        on_created: Callable[[str], None] | None,
    ) -> None:
        try:
            create = start_run_once(self.client, experiment_id, run_name, tags)
            ref.run_id = self.outage.until_written(create, self._held)
        except Exception as err:
            self._failed(1, f"creating run '{run_name}'", err)
            return
        if on_created is not None:
            try:
                on_created(ref.run_id)
            except Exception as err:
                log.warning("After creating run '%s': %s", run_name, err)

    def _log_batch(self, ref: RunRef, records: _Pending) -> None:
        if ref.run_id is None:
            self._failed(len(records.metrics), "logging to a run that was not created", None)
            return
        for metrics, params, tags in batches(records.metrics, records.params, records.tags):
            try:
                self.outage.until_written(
                    lambda m=metrics, p=params, t=tags: self.client.log_batch(
                        ref.run_id, metrics=m, params=p, tags=t
                    ),
                    self._held,
                )
            except Exception as err:
                self._failed(len(metrics), f"logging to run {ref.run_id}", err)

    def _call(self, ref: RunRef, name: str, kwargs: dict) -> None:
        if ref.run_id is None:
            return
        try:
            call = lambda: getattr(self.client, name)(ref.run_id, **kwargs)  # noqa: E731
            self.outage.until_written(call, self._held)
        except Exception as err:
            self._failed(0, f"{name} of run {ref.run_id}", err)

    def _held(self) -> int:
        """Records waiting for the store now (what an outage holds)."""
        return max(self.pending, 1)

    def _failed(self, records: int, what: str, err: BaseException | None) -> None:
        """A record not written: held when the store did not answer in time (the journal
        keeps metric steps for a resume), dropped when the store refused it."""
        self.failed += records
        if isinstance(err, GaveUp):
            log.info("MLflow: %s is held for a resume.", what)
        else:
            log.warning("MLflow: %s failed%s.", what, f" ({err})" if err else "")


_OUTAGES: dict[str, Outage] = {}


def outage_of(client: MlflowClient) -> Outage:
    """The one ``Outage`` of a store in this process (its writers share what they see)."""
    uri = str(client.tracking_uri)
    if uri not in _OUTAGES:
        _OUTAGES[uri] = Outage(uri)
    return _OUTAGES[uri]


def held_records(label: str) -> int:
    """Records the writers of ``label`` (a sweep) could not write: the store did not
    answer in time, or refused them."""
    return sum(writer.failed for writer in list(_WRITERS) if writer.label == label)


# ----------------------------------------------------------------- exit and SIGTERM

_WRITERS: weakref.WeakSet[RunWriter] = weakref.WeakSet()
_EXIT_TIMEOUT_S = 120.0
_AT_EXIT: list[bool] = []  # registered in this process


def _register(writer: RunWriter) -> None:
    """Flush at interpreter exit; make SIGTERM an exit (once per process)."""
    if not _AT_EXIT:
        atexit.register(_flush_all)
        _exit_on_sigterm()
        _AT_EXIT.append(True)
    _WRITERS.add(writer)


def _flush_all() -> None:
    deadline = time.monotonic() + _EXIT_TIMEOUT_S
    for writer in list(_WRITERS):
        writer.give_up_after(_EXIT_TIMEOUT_S)
        if not writer.close(max(deadline - time.monotonic(), 0.0)):
            log.warning("MLflow: %d records were still queued at exit.", writer.pending)


def _exit_on_sigterm() -> None:
    """SIGTERM ends the driver as ``sys.exit`` does, so queued records are written at
    exit; only where nothing else handles it, and only from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def exit_(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, exit_)
