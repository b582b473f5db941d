"""What one suggestion costs the driver as a study grows, per TPE setting and study storage.

The searcher is ``make_searcher``'s, the candidate's TPE setting and study storage
set as a user sets them (``sweep.n_ei_candidates``, ``sweep.study.storage``; an
in-memory study, which no sweep can use, as the floor). Each candidate keeps a fixed
number of trials running (as a sweep at full concurrency does) while finished trials
are added up to each level; at each level a few suggestions are timed, each after
the oldest running trial is told its score, as Tune does when a slot frees up.
Times are CPU time of the calling thread, so a busy machine does not inflate them.
"""

from __future__ import annotations

import collections
import math
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from standin import quality


@dataclass(frozen=True)
class Candidate:
    label: str
    sampler: str  # a key of scale_sweep.SAMPLERS
    storage: str  # "project" (the default SQLite file), "journal" (a file) or "memory"


CANDIDATES = (
    Candidate("as configured: TPE defaults, SQLite study", "project", "project"),
    Candidate("n_ei_candidates=8, SQLite study", "ei8", "project"),
    Candidate("TPE defaults, study in memory", "project", "memory"),
    Candidate("n_ei_candidates=8, study in memory", "ei8", "memory"),
    Candidate("TPE defaults, journal-file study", "project", "journal"),
    Candidate("n_ei_candidates=8, journal-file study", "ei8", "journal"),
)


def finished_trials(settings: Any, count: int, seed: int) -> list[Any]:
    """``count`` finished trials of the sweep's space, random values, stand-in scores."""
    import optuna

    from motif_tune.search.space import SearchSpace

    space = SearchSpace(settings)
    scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    rng = random.Random(seed)
    trials = []
    for _ in range(count):
        trial = scratch.ask()
        values = space(trial)
        score = 0.8 * quality(values) + rng.gauss(0, 0.02)
        scratch.tell(trial, score)
        frozen = scratch.trials[-1]
        trials.append(
            optuna.trial.create_trial(
                params=frozen.params,
                distributions=frozen.distributions,
                value=score,
                intermediate_values={1: score, 2: score},
            )
        )
    return trials


def suggest_costs(
    settings: Any,
    candidate: Candidate,
    folder: Path,
    levels: tuple[int, ...],
    running: int,
    timed_per_level: int,
) -> dict[str, Any]:
    """CPU ms per suggest (median, p95), per report and per tell, at each level."""
    import optuna
    from scale_sweep import plan_for, searcher_for, study_storage

    folder.mkdir(parents=True, exist_ok=True)
    with study_storage(candidate.storage):
        searcher = searcher_for(plan_for(settings), None)
    study, tpe = searcher.study, searcher.study.sampler
    queue: collections.deque[str] = collections.deque()
    study.sampler = optuna.samplers.RandomSampler(seed=1)  # fill the running slots cheaply
    for i in range(running):
        _suggest(searcher, f"r{i}", queue)
    study.sampler = tpe
    rows = {}
    added, number = 0, 0
    for level in levels:
        study.add_trials(finished_trials(settings, level - added, seed=level))
        added = level
        suggest, report, tell = [], [], []
        for _ in range(timed_per_level):
            tell.append(_cpu(searcher.on_trial_complete, queue.popleft(), {"objective": 0.5}))
            number += 1
            suggest.append(_suggest(searcher, f"s{number}", queue))
            result = {"objective": 0.5, "training_iteration": 1}
            result["num_env_steps_sampled_lifetime"] = 1000
            report.append(_cpu(searcher.on_trial_result, queue[-1], result))
        rows[level] = {
            "suggest_ms": statistics.median(suggest) * 1000,
            "suggest_p95_ms": _p95(suggest) * 1000,
            "report_ms": statistics.median(report) * 1000,
            "tell_ms": statistics.median(tell) * 1000,
        }
    return {"label": candidate.label, "sampler": candidate.sampler, "levels": rows}


def _suggest(searcher: Any, trial_id: str, queue: collections.deque[str]) -> float:
    seconds = _cpu(searcher.suggest, trial_id)
    queue.append(trial_id)
    return seconds


def _cpu(fn: Any, *args: Any) -> float:
    start = time.thread_time()
    fn(*args)
    return time.thread_time() - start


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
