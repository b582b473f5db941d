"""One sweep of the control plane at scale: the project's own pieces around a stand-in.

The settings are composed like a user's (``sweep=default``); the searcher
(``make_searcher``: TPE over the define-by-run space, its study in the study
storage), the scheduler (ASHA in env steps), the MLflow parent run and trial
callback, Tune's set-up (trial names, stop rule, checkpoints, result files), the
console and the summary are the project's. Only the trainable is the stand-in
(``standin.py``), asking a hundredth of a CPU, reused from trial to trial.

As a program it is the driver of one such sweep, or resumes it:

    python benchmarks/scale_sweep.py --root DIR --trials 100 --concurrency 50
    python benchmarks/scale_sweep.py --root DIR --trials 100 --concurrency 50 --resume
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STEPS_PER_ITERATION = 1000
RUN_NAME = "scale"
# TPE settings a sweep may run with (``--sampler``): the project's settings they set.
SAMPLERS: dict[str, list[str]] = {
    "project": [],
    "ei8": ["sweep.n_ei_candidates=8"],
}
JOURNAL_FILE = "optuna-journal.log"


@dataclass(frozen=True)
class Case:
    """One sweep: its size, its stand-in's pace, its MLflow store and the fixes in place."""

    trials: int
    concurrency: int
    iterations: int  # of a trial that spends its whole budget (ASHA stops many earlier)
    interval_s: float  # one stand-in iteration
    tracking_uri: str
    background: bool = True  # MLflow writes off the driver's result path
    sampler: str = "project"  # a key of SAMPLERS
    storage: str = "project"  # the study's: "project" (SQLite), "journal" (a file) or "memory"
    gate: str | None = None  # a file the first trials wait for (see ``standin.make_standin``)

    @property
    def budget_steps(self) -> int:
        return self.iterations * STEPS_PER_ITERATION


def settings_for(root: Path, case: Case, run_name: str = RUN_NAME) -> Any:
    """The sweep's settings, composed as the command line composes them."""
    from motif_tune import compose_settings

    overrides = [
        "sweep=default",
        f"run_name={run_name}",
        f"paths.root={root}",
        f"tracking.uri={case.tracking_uri}",
        "tracking.registered_model=null",
        f"sweep.num_samples={case.trials}",
        f"sweep.max_concurrent_trials={case.concurrency}",
        f"sweep.budget.env_steps={case.budget_steps}",
        "sweep.verify.top_k=0",
        "sweep.checkpoint.log_top_k=0",
        *SAMPLERS[case.sampler],
    ]
    if case.storage == "journal":
        overrides.append(f"sweep.study.storage={root / JOURNAL_FILE}")
    return compose_settings(overrides)


def plan_for(settings: Any, resuming: bool = False) -> Any:
    """The sweep's plan, as ``motif-tune sweep`` (or ``resume``) makes it."""
    from motif_tune.pipeline.plan import plan_sweep

    return plan_sweep(settings, resuming=resuming)


def searcher_for(plan: Any, parent_run_id: str | None) -> Any:
    """The project's searcher for ``plan`` (``make_searcher``)."""
    from motif_tune.search.searcher import make_searcher

    return make_searcher(plan.settings, plan.search, parent_run_id)


@contextlib.contextmanager
def study_storage(kind: str) -> Iterator[None]:
    """With ``kind`` "memory", ``open_storage`` answers with an in-memory Optuna storage
    while the block runs (a floor to compare the stored kinds with)."""
    import optuna

    import motif_tune.search.searcher as searcher_module
    import motif_tune.search.study as study_module

    if kind != "memory":
        yield
        return
    storage = optuna.storages.InMemoryStorage()
    modules = (study_module, searcher_module)
    originals = [module.open_storage for module in modules]
    for module in modules:
        module.open_storage = lambda url: storage
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.open_storage = original


def new_tuner(plan: Any, case: Case, searcher: Any, callbacks: list[Any]) -> Any:
    """A Tuner as the sweep builds it (searcher, scheduler, callbacks, trial names), of
    the stand-in in place of the RLlib trainable."""
    from ray import tune
    from standin import make_standin

    from motif_tune.pipeline.tuners import make_tuner
    from motif_tune.search.schedulers import make_scheduler

    config = tune.TuneConfig(
        search_alg=searcher,
        scheduler=make_scheduler(plan.budget),
        num_samples=plan.settings.sweep.num_samples,
        max_concurrent_trials=case.concurrency,
        reuse_actors=True,
    )
    gate = Path(case.gate) if case.gate else None
    standin = make_standin(case.interval_s, STEPS_PER_ITERATION, gate=gate)
    return make_tuner(plan, plan.run_name, standin, config, callbacks, plan.budget)


def restored_tuner(settings: Any, case: Case) -> Any:
    """The sweep's Tuner from its experiment folder, as ``motif-tune resume`` restores it."""
    from ray import tune
    from standin import make_standin

    path = Path(settings.storage_path) / settings.run_name
    return tune.Tuner.restore(
        str(path),
        trainable=make_standin(case.interval_s, STEPS_PER_ITERATION),
        resume_unfinished=True,
        resume_errored=True,
    )


def callbacks_for(plan: Any, case: Case, sweep_run: Any) -> list[Any]:
    """The project's callbacks of a search: the MLflow trial callback and the console
    (its lines kept in memory: Tune saves the callbacks with the experiment)."""
    from motif_tune.pipeline.console import SweepConsole
    from motif_tune.tracking.callback import MLflowTrialCallback

    stream = io.StringIO()
    return [
        MLflowTrialCallback(sweep_run, plan.budget, role="trial", background=case.background),
        SweepConsole("search", case.trials, plan.budget, plan.mode, stream=stream, live=False),
    ]


def summarise_sweep(plan: Any, results: Any, sweep_run: Any) -> Any:
    """The ranking and the summary, recorded in MLflow, as a finished sweep makes them."""
    from motif_tune.pipeline.sweep import close_study, summarise
    from motif_tune.search.ranking import Selection, trial_scores
    from motif_tune.tracking.outcome import record_outcome

    close_study(plan)
    ranking = trial_scores(results, plan.budget, plan.mode, baseline=plan.search.baseline)
    selection = Selection(plan.mode, ranking)
    registered = record_outcome(sweep_run, selection, results, plan.budget)
    return summarise(plan, results, selection, sweep_run, registered, {})


def recorded_steps(client: Any, sweep_run: Any) -> dict[str, list[int]]:
    """Every trial's logged steps of ``time_this_iter_s`` in MLflow, by trial id."""
    from motif_tune.tracking.metrics import ITERATION_TIME

    return {
        trial_id: sorted(int(m.step) for m in client.get_metric_history(run_id, ITERATION_TIME))
        for trial_id, run_id in sweep_run.child_runs("trial").items()
    }


def reported_iterations(results: Any) -> dict[str, int]:
    """The last iteration each trial of a finished ``Tuner.fit`` reported, by trial id
    (from Tune's experiment state: a killed driver may have left result files unsynced)."""
    last = {}
    for result in results:
        metrics = result.metrics or {}
        if "trial_id" in metrics:
            last[metrics["trial_id"]] = int(metrics.get("training_iteration", 0))
    return last


# ----------------------------------------------------------------------- the driver


def _status_callback(path: Path, writer: Callable[[], Any]) -> Any:
    """A callback writing how far the sweep is (results, finished trials, records the
    MLflow writer still holds) to ``path`` twice a second."""
    from ray.tune import Callback

    class Status(Callback):
        def __init__(self) -> None:
            self.results = self.finished = 0
            self._next = 0.0

        def on_trial_result(self, **info: Any) -> None:
            self.results += 1

        def on_trial_complete(self, **info: Any) -> None:
            self.finished += 1

        def on_step_end(self, **info: Any) -> None:
            if time.monotonic() < self._next:
                return
            self._next = time.monotonic() + 0.5
            status = {"results": self.results, "finished": self.finished}
            status["pending"] = writer().pending
            staged = path.with_suffix(".tmp")
            staged.write_text(json.dumps(status))
            staged.replace(path)  # whole: a reader never sees half a file

    return Status()


def _stall_writes(after: int) -> None:
    """Let the first ``after`` MLflow ``log_batch`` calls through and hold every later one
    (an MLflow store that stopped answering), so records stay queued until the driver dies."""
    from mlflow.tracking import MlflowClient

    original, calls, never = MlflowClient.log_batch, itertools.count(), threading.Event()

    def log_batch(self: Any, *args: Any, **kwargs: Any) -> Any:
        if next(calls) >= after:
            never.wait()
        return original(self, *args, **kwargs)

    MlflowClient.log_batch = log_batch


def drive(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or resume) one sweep in this process; what MLflow and Tune hold at its end."""
    from benchlib import ensure_ray_token

    from motif_tune.tracking.sweep_run import SweepRun

    root = args.root.resolve()
    os.environ["MOTIF_TUNE_HOME"] = str(root)
    ensure_ray_token()
    import ray

    case = Case(
        trials=args.trials,
        concurrency=args.concurrency,
        iterations=args.iterations,
        interval_s=args.interval,
        tracking_uri=args.tracking_uri or f"sqlite:///{root}/mlflow.db",
        background=not args.foreground,
    )
    if args.stall_writes_after is not None:
        _stall_writes(args.stall_writes_after)
    settings = settings_for(root, case)
    plan = plan_for(settings, resuming=args.resume)
    sweep_run = SweepRun(settings)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        sweep_run.start()
        if args.resume:
            tuner = restored_tuner(settings, case)
        else:
            callbacks = callbacks_for(plan, case, sweep_run)
            trial_callback = callbacks[0]
            if args.status:
                callbacks.append(_status_callback(args.status, lambda: trial_callback.writer))
            searcher = searcher_for(plan, sweep_run.run_id)
            tuner = new_tuner(plan, case, searcher, callbacks)
        results = tuner.fit()
        summary = summarise_sweep(plan, results, sweep_run)
        sweep_run.finish("FINISHED")
    finally:
        ray.shutdown()
    return {
        "trials": summary.num_trials,
        "errored": summary.num_errored,
        "reported": reported_iterations(results),
        "recorded": recorded_steps(sweep_run.client, sweep_run),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder for everything written")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=4, help="of a full-budget trial")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds per iteration")
    parser.add_argument("--tracking-uri", help="MLflow store (default: a SQLite file in --root)")
    parser.add_argument("--resume", action="store_true", help="continue the sweep in --root")
    parser.add_argument("--foreground", action="store_true", help="MLflow writes in Tune's thread")
    parser.add_argument(
        "--stall-writes-after", type=int, help="hold every MLflow log_batch after this many"
    )
    parser.add_argument("--status", type=Path, help="a file to keep the sweep's progress in")
    parser.add_argument("--out", type=Path, help="write the end state here as JSON")
    args = parser.parse_args(argv)
    if min(args.trials, args.concurrency, args.iterations) < 1 or args.interval <= 0:
        parser.error("--trials, --concurrency and --iterations must be at least 1, --interval > 0")
    state = drive(args)
    if args.out:
        args.out.write_text(json.dumps(state))
    print(json.dumps({k: state[k] for k in ("trials", "errored")}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
