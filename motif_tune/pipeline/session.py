"""What a sweep runs inside: Ray started (or joined) and the sweep's MLflow parent run.

Two serial stretches overlap: MLflow is imported and its store (and the Optuna
storage) opened while Ray starts, and Ray stops while the outcome is recorded
(:meth:`SweepSession.release_ray`). The parent run ends FINISHED, KILLED (an
interrupted sweep, which resumes) or FAILED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from motif_tune.errors import SweepInterrupted
from motif_tune.pipeline.plan import SweepPlan, fit_to_cluster
from motif_tune.runtime.background import Background
from motif_tune.runtime.preload import RAY_STOP_MODULES, SHARED_WITH_RAY_INIT, import_modules
from motif_tune.runtime.ray_session import ray_is_running, start_ray, stop_ray
from motif_tune.runtime.signals import stops_handled
from motif_tune.search.study import open_storage
from motif_tune.text import plural

if TYPE_CHECKING:
    from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)


@dataclass
class SweepSession:
    """A running sweep's plan (fitted to the cluster) and its MLflow parent run."""

    plan: SweepPlan
    sweep_run: SweepRun
    owns_ray: bool = True  # this sweep started Ray (a script's own Ray is left running)
    _stopping: Background[None] | None = field(default=None, repr=False)

    def release_ray(self) -> None:
        """Every trial is over: Ray's processes wind down beside what comes next."""
        if self._stopping is None and self.owns_ray:
            import_modules(RAY_STOP_MODULES)
            self._stopping = Background("ray-stop", stop_ray, self.plan.settings)

    def stop_ray(self) -> None:
        """Ray stopped (now, or the stop begun by ``release_ray`` waited for)."""
        if self._stopping is not None:
            self._stopping.result()
        elif self.owns_ray:
            stop_ray(self.plan.settings)


@contextmanager
def sweep_session(plan: SweepPlan, overrides: Sequence[str] = ()) -> Iterator[SweepSession]:
    """Ray and the parent run for one sweep; both are ended on the way out."""
    settings = plan.settings
    import_modules(SHARED_WITH_RAY_INIT)
    owns_ray = not ray_is_running()
    tracking = Background("tracking", _open_tracking, plan)
    try:
        cluster, largest_node = start_ray(settings)
    except BaseException:
        tracking.wait_quietly()
        raise
    session: SweepSession | None = None
    try:
        with stops_handled():  # after Ray's start: its own SIGTERM handling never runs
            sweep_run = tracking.result()  # a study storage that cannot open: refused here
            fitted = fit_to_cluster(plan, cluster, largest_node)
            session = SweepSession(fitted, sweep_run, owns_ray)
            _announce(session.plan)
            sweep_run.start(overrides)
            status = "FAILED"
            try:
                yield session
                status = "FINISHED"
            except (SweepInterrupted, KeyboardInterrupt):
                status = "KILLED"
                raise
            finally:
                _finish(sweep_run, status)
    finally:
        if session is not None:
            session.stop_ray()
        elif owns_ray:
            stop_ray(settings)


def _finish(sweep_run: SweepRun, status: str) -> None:
    """End the parent run; a store that does not answer leaves it to the resume."""
    from motif_tune.tracking.outage import GaveUp
    from motif_tune.tracking.writer import outage_of

    outage = outage_of(sweep_run.client)
    outage.deadline = time.monotonic() + sweep_run.settings.tracking.outage_wait_s
    try:
        outage.until_written(lambda: sweep_run.finish(status))
    except GaveUp:
        log.warning("The parent run's end (%s) is left to motif-tune resume.", status)


def _open_tracking(plan: SweepPlan) -> SweepRun:
    """MLflow and its users here imported, the MLflow store and experiment (created and
    migrated on first use), and the Optuna storage opened: its error reaches the main
    thread before the sweep's run is recorded."""
    import motif_tune.tracking.callback  # noqa: F401
    import motif_tune.tracking.outcome  # noqa: F401
    from motif_tune.tracking.sweep_run import SweepRun

    sweep_run = SweepRun(plan.settings)
    open_storage(plan.settings.study_storage)
    return sweep_run


def _announce(plan: SweepPlan) -> None:
    """The sweep's first line: what runs, how long each trial trains, how it is scored."""
    settings = plan.settings
    if settings.scaling.logical_gpus:
        log.warning(
            "scaling=%s: %g logical GPUs are declared to Ray as the resource '%s'; env runners "
            "and learners are scheduled and packed as on GPUs, but all compute runs on the CPU "
            "(this proves scheduling and packing, not CUDA).",
            settings.scaling.name,
            plan.cluster.get(settings.scaling.gpu_resource, 0),
            settings.scaling.gpu_resource,
        )
    for notice in plan.search.notices:
        log.warning(notice)
    verify, sweep = settings.sweep.verify, settings.sweep
    seeds = plural(verify.seeds, "fresh seed")
    if verify.extra_seeds:
        seeds += f" ({verify.extra_seeds} more for those these cannot tell from the leader)"
    finalists = f"then the top {verify.top_k} and the baseline on {seeds}; "
    need = plan.need.describe() if plan.need else "nothing"
    each = f"{plan.budget.describe()} each"
    if sweep.seeds_per_trial > 1:
        score = "mean" if sweep.seed_group_score == "mean" else "mean less one standard error"
        each = (
            f"each {sweep.seeds_per_trial} seeds of {plan.budget.describe()} "
            f"({plan.search_budget.describe()} in all, scored by their {score})"
        )
    for line in plan.search.warm_lines:
        print(line, flush=True)
    print(
        f"Sweep '{settings.run_name}': {sweep.num_samples} trials of "
        f"{settings.algo.name} on {settings.env.name} ({settings.scaling.name}), "
        f"{each}, {plan.concurrency} at a time; "
        f"{finalists if verify.top_k else ''}scored by {sweep.objective_description}. "
        f"A trial needs {need}.",
        flush=True,
    )
