"""How fast the trial callback gets results into MLflow, with and without its writer.

The project's ``MLflowTrialCallback`` is driven directly (no Tune, no trials), as
fast as it takes them: a run started for each of a number of trials, then one
RLlib-shaped result per trial per round, then every trial ended. "In Tune's
thread" is the time each result keeps the caller; "written/s" counts results
over the time until the last of them is in MLflow.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from standin import TEMPLATE, standin_result


def write_rates(settings: Any, runs: int, rounds: int, threads: int, tag: str) -> dict[str, float]:
    """Caller ms per result (median, p95) and results written per second; ``threads``
    writer threads (0: the writes in the caller's thread)."""
    from motif_tune.search.budget import trial_budget
    from motif_tune.tracking.callback import MLflowTrialCallback
    from motif_tune.tracking.sweep_run import SweepRun
    from motif_tune.tracking.writer import RunWriter

    sweep_run = SweepRun(settings)
    sweep_run.start()
    budget = trial_budget(settings)
    callback = MLflowTrialCallback(sweep_run, budget, role="trial", background=threads > 0)
    callback.writer = RunWriter(sweep_run.client, background=threads > 0, threads=threads)
    callback.setup()
    template = json.loads(Path(TEMPLATE).read_text())
    rng = random.Random(0)
    trials = [
        SimpleNamespace(
            trial_id=f"{tag}{i:05d}",
            config={"rollout_fragment_length": 16 + i % 64, "train_batch_size": 256 + i},
            status="RUNNING",
            last_result={},
        )
        for i in range(runs)
    ]
    start = time.perf_counter()
    for trial in trials:
        callback.on_trial_start(0, trials, trial)
    per_result = []
    for step in range(1, rounds + 1):
        for trial in trials:
            result = standin_result(template, 0.5, step, step * 1000, rng)
            result.update(training_iteration=step, time_this_iter_s=1.0, time_total_s=step)
            began = time.perf_counter()
            callback.on_trial_result(0, trials, trial, result)
            per_result.append(time.perf_counter() - began)
    for trial in trials:
        trial.status = "TERMINATED"
        callback.on_trial_complete(0, trials, trial)
    callback.on_experiment_end(trials)
    seconds = time.perf_counter() - start
    sweep_run.finish("FINISHED")
    ordered = sorted(per_result)
    return {
        "caller_ms": statistics.median(per_result) * 1000,
        "caller_p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "written_per_s": len(per_result) / seconds,
        "results": len(per_result),
        "seconds": seconds,
    }
