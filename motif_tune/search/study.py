"""The sweep's Optuna study, kept in a storage of its own so it outlives the sweep.

Each sweep's study is named after the sweep (``run_name``), like its Tune
experiment and its MLflow parent run. Its attributes say which question it
answers (objective, env, budget unit), so a later sweep can be warm-started
from it only when it asks the same one. Trials carry their Tune trial id, the
values they ran with (the batch after snapping to whole fragments, next to the
size Optuna asked for) and, once recorded, their MLflow run id.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.stores import created_once, sqlite_path
from motif_tune.text import one_line

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)

# Trial user attributes.
ATTR_TUNE_TRIAL = "tune_trial_id"
ATTR_MLFLOW_RUN = "mlflow_run_id"
ATTR_APPLIED = "applied"  # the values the trial ran with
ATTR_WARM_FROM = "warm_start_from"  # the study an imported trial came from
# Study user attributes: the question a study answers (a warm start must match them).
QUESTION = ("objective", "env", "budget_unit")
ATTR_PARENT_RUN = "mlflow_parent_run_id"


def study_question(settings: Settings) -> dict[str, str]:
    """What makes two sweeps' scores comparable: objective, env, budget unit."""
    sweep, env = settings.sweep, settings.env
    by = sweep.objective.by
    if by == "evaluation":
        by = f"evaluation over {sweep.objective.episodes} episodes"
    config = json.dumps(env.env_config, sort_keys=True, default=str)
    return {
        "objective": f"{sweep.metric} ({sweep.mode}, by {by})",
        "env": f"{env.id} {config}",
        "budget_unit": sweep.budget.unit,
    }


def study_attrs(settings: Settings) -> dict[str, Any]:
    """The study's attributes: its question, and what a listing shows of the sweep."""
    sweep = settings.sweep
    attrs: dict[str, Any] = {
        **study_question(settings),
        "algo": settings.algo.name,
        "sweep": sweep.name,
        "budget": sweep.budget.amount,  # per seed
        "seeds_per_trial": sweep.seeds_per_trial,  # a trial's steps are this times a seed's
        "space": sorted(sweep.space),
    }
    return attrs


@cache
def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The Optuna storage at ``url``; a local SQLite file is created (and its schema
    migrated) under a lock beside it, so several processes may open it at once. A
    path without a scheme is a journal file (Optuna's JournalStorage)."""
    import optuna

    try:
        if "://" not in url:
            from optuna.storages.journal import JournalFileBackend

            Path(url).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(url))
        path = sqlite_path(url)
        if path is None:
            return optuna.storages.RDBStorage(url)
        # A generous timeout: concurrent sweeps write to one file.
        engine = {"connect_args": {"timeout": 60}}
        return created_once(path, lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine))
    except (ImportError, ValueError, OSError) as err:
        raise ConfigError(
            f"sweep.study.storage '{url}' cannot be opened ({one_line(str(err), 160)}); "
            "give an Optuna storage URL such as sqlite:///path/optuna.db or "
            "postgresql://user@host/db, or a journal file's path."
        ) from None
    except Exception as err:  # sqlalchemy's errors: a server that does not answer, …
        raise ConfigError(
            f"sweep.study.storage '{url}' cannot be opened: {one_line(str(err), 160)}."
        ) from None


def study_names(url: str) -> list[str]:
    """The studies stored at ``url``, oldest first (none, without creating a SQLite file)."""
    path = sqlite_path(url) or (None if "://" in url else Path(url))
    if path is not None and not path.exists():
        return []
    if sqlite_path(url) is not None:
        names = _sqlite_study_names(sqlite_path(url))
        if names is not None:
            return names
    return [s.study_name for s in open_storage(url).get_all_studies()]


def _sqlite_study_names(path: Path) -> list[str] | None:
    """The study names in Optuna's ``studies`` table, read-only with the standard library:
    milliseconds, where opening the storage (SQLAlchemy, the schema check) takes most of
    a second before a sweep starts. None when the file holds no Optuna tables yet."""
    import sqlite3

    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=60)) as db:
            rows = db.execute("SELECT study_name FROM studies ORDER BY study_id").fetchall()
    except sqlite3.Error as err:
        log.debug("Study names of %s read through Optuna instead: %s", path, err)
        return None
    return [name for (name,) in rows]


def check_new_study(settings: Settings) -> None:
    """A new sweep's study name is free (else its trials would mix with another's)."""
    if settings.run_name in study_names(settings.study_storage):
        raise ConfigError(
            f"run_name '{settings.run_name}' already names a study in {settings.study_storage}; "
            f"continue it with `motif-tune resume run_name={settings.run_name}` or choose "
            "another run_name."
        )


@dataclass(frozen=True)
class WarmStart:
    """The trials earlier sweeps lend this one, and what the terminal says of them."""

    trials: tuple[FrozenTrial, ...] = ()
    lines: tuple[str, ...] = ()  # one per source study: how many trials it lent
    notices: tuple[str, ...] = ()  # what differs and still lets them compare (budgets)


def warm_start(settings: Settings) -> WarmStart:
    """The finished trials of ``sweep.warm_start``'s studies that this sweep's space
    holds, each once (a trial a listed sweep itself imported from another listed one is
    taken from its origin only); a study that asks another question is refused."""
    import optuna

    if not settings.sweep.warm_start:
        return WarmStart()
    known = study_names(settings.study_storage)
    wanted = study_question(settings)
    trials: list[FrozenTrial] = []
    seen: set[tuple[str, str]] = set()
    lines, notices = [], []
    for name in settings.sweep.warm_start:
        if name not in known:
            recent = ", ".join(reversed(known[-5:])) or "none"
            raise ConfigError(
                f"sweep.warm_start names '{name}', which is no study in "
                f"{settings.study_storage}; the most recent are: {recent}."
            )
        study = optuna.load_study(study_name=name, storage=open_storage(settings.study_storage))
        _check_same_question(name, study.user_attrs, wanted)
        _check_same_space(name, study.user_attrs.get("space"), sorted(settings.sweep.space))
        finished = [t for t in study.get_trials(deepcopy=False) if _finished(t)]
        fitting = [t for t in finished if _in_space(t, settings)]
        fresh = [t for t in fitting if _origin(t, name) not in seen]
        seen |= {_origin(t, name) for t in fresh}
        trials += [_imported(t, name) for t in fresh]
        lines.append(
            f"Warm start from '{name}': {len(fresh)} of its {len(finished)} finished trials "
            f"({len(finished) - len(fitting)} outside this sweep's space, "
            f"{len(fitting) - len(fresh)} already taken from their own sweep)."
        )
        group = int(study.user_attrs.get("seeds_per_trial", 1))
        if group != settings.sweep.seeds_per_trial:
            notices.append(
                f"sweep.warm_start: sweep '{name}' trained {group} seed(s) per trial, this one "
                f"{settings.sweep.seeds_per_trial}: its scores are means over another number "
                "of seeds, so TPE's head start may mislead."
            )
        budget = study.user_attrs.get("budget")
        if budget is not None and float(budget) != float(settings.sweep.budget.amount):
            unit = settings.sweep.budget.unit.replace("_", " ")
            notices.append(
                f"sweep.warm_start: sweep '{name}' spent {float(budget):,.0f} {unit} per trial, "
                f"this one {settings.sweep.budget.amount:,.0f}: its scores were reached at "
                "another cost, so TPE's head start may mislead."
            )
    for line in lines:
        log.info(line)
    return WarmStart(tuple(trials), tuple(lines), tuple(notices))


def _origin(trial: FrozenTrial, study_name: str) -> tuple[str, str]:
    """Where a trial ran: its study and Tune trial id (an imported trial keeps both)."""
    study = trial.user_attrs.get(ATTR_WARM_FROM, study_name)
    return study, str(trial.user_attrs.get(ATTR_TUNE_TRIAL, trial.number))


def _check_same_question(name: str, attrs: Mapping[str, Any], wanted: Mapping[str, str]) -> None:
    for key in QUESTION:
        if attrs.get(key) != wanted[key]:
            raise ConfigError(
                f"sweep.warm_start: sweep '{name}' has another {key.replace('_', ' ')} "
                f"({attrs.get(key)!s}) than this sweep ({wanted[key]}); warm starts need "
                "the same objective, env and budget unit."
            )


def _check_same_space(name: str, theirs: Sequence[str] | None, ours: list[str]) -> None:
    if theirs is not None and sorted(theirs) != ours:
        raise ConfigError(
            f"sweep.warm_start: sweep '{name}' searched {', '.join(theirs) or 'nothing'}, "
            f"this sweep searches {', '.join(ours) or 'nothing'}; warm starts need the same "
            "searched names."
        )


def _finished(trial: FrozenTrial) -> bool:
    """Complete with a score, or pruned (stopped early by ASHA) after reporting one: TPE
    reads a pruned trial at its last report, as it does Optuna's own pruned trials."""
    from optuna.trial import TrialState

    if trial.state == TrialState.PRUNED:
        return bool(trial.intermediate_values)
    return trial.state == TrialState.COMPLETE and math.isfinite(trial.value or math.nan)


def _in_space(trial: FrozenTrial, settings: Settings) -> bool:
    """Every value the trial asked for lies in this sweep's ranges (or choices), drawn
    from a distribution of the same kind (Optuna refuses to mix them in one study)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    kinds = {"int": IntDistribution, "categorical": CategoricalDistribution}
    for name, value in trial.params.items():
        spec = settings.sweep.space.get(name)
        if spec is None:
            return False
        distribution = trial.distributions[name]
        if not isinstance(distribution, kinds.get(spec.type, type(None))) and spec.type in kinds:
            return False
        if spec.type == "categorical":
            if value not in (spec.choices or []):
                return False
        elif getattr(distribution, "log", False) != spec.log or not spec.low <= value <= spec.high:
            return False
    return True


def _imported(trial: FrozenTrial, source: str) -> FrozenTrial:
    """A copy of ``trial`` for another study, marked with the study it ran in."""
    import optuna

    origin = trial.user_attrs.get(ATTR_WARM_FROM, source)
    return optuna.trial.create_trial(
        params=trial.params,
        distributions=trial.distributions,
        value=trial.value,
        intermediate_values=trial.intermediate_values,
        user_attrs={**trial.user_attrs, ATTR_WARM_FROM: origin},
        state=trial.state,  # complete, or pruned (read at its last report)
    )


def link_run(storage_url: str, study_name: str, tune_trial_id: str, run_id: str) -> None:
    """Record a running trial's MLflow run id (a finished Optuna trial is read-only)."""
    import optuna
    from optuna.trial import TrialState

    storage = open_storage(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # a sweep begun before studies were stored
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(ATTR_TUNE_TRIAL) == tune_trial_id:
            if trial.user_attrs.get(ATTR_MLFLOW_RUN) != run_id:
                storage.set_trial_user_attr(
                    storage_trial_id(storage, study_name, trial.number), ATTR_MLFLOW_RUN, run_id
                )
            return


def storage_trial_id(storage: optuna.storages.BaseStorage, study_name: str, number: int) -> int:
    """The storage's id of trial ``number`` of a study (its public lookups)."""
    study_id = storage.get_study_id_from_name(study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def settle_unfinished(storage_url: str, study_name: str) -> int:
    """Mark trials left running or waiting (asked by a driver that was killed, never
    continued) as failed; returns how many. Call once the sweep's search is over."""
    import optuna
    from optuna.trial import TrialState

    storage = open_storage(storage_url)
    study = optuna.load_study(study_name=study_name, storage=storage)
    stuck = [t for t in study.get_trials(deepcopy=False) if not t.state.is_finished()]
    for trial in stuck:
        trial_id = storage_trial_id(storage, study_name, trial.number)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    if stuck:
        log.info("Study '%s': %d unfinished trial(s) marked failed.", study_name, len(stuck))
    return len(stuck)


def _best_value(trials: Sequence[FrozenTrial], direction: Any) -> float | None:
    """The best finished value among ``trials`` (a study's own: not a warm start's)."""
    from optuna.study import StudyDirection

    values = [t.value for t in trials if _finished(t)]
    if not values:
        return None
    return max(values) if direction == StudyDirection.MAXIMIZE else min(values)


@dataclass(frozen=True)
class StudyRow:
    """One stored study, as ``motif-tune studies`` lists it."""

    name: str
    started: str
    complete: int
    pruned: int
    failed: int
    running: int
    best: float | None
    parent_run: str


def list_studies(storage_url: str) -> list[StudyRow]:
    """Every study in the storage, oldest first."""
    import optuna
    from optuna.trial import TrialState

    storage = open_storage(storage_url)
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        own = [t for t in study.get_trials(deepcopy=False) if ATTR_WARM_FROM not in t.user_attrs]
        states = [t.state for t in own]
        best = _best_value(own, summary.direction)
        start = summary.datetime_start
        started = start.strftime("%Y-%m-%d %H:%M") if start else ""
        rows.append(
            StudyRow(
                name=summary.study_name,
                started=started,
                complete=states.count(TrialState.COMPLETE),
                pruned=states.count(TrialState.PRUNED),
                failed=states.count(TrialState.FAIL),
                running=states.count(TrialState.RUNNING) + states.count(TrialState.WAITING),
                best=best,
                parent_run=str(summary.user_attrs.get(ATTR_PARENT_RUN, "")),
            )
        )
    return rows
