"""The sweep's Optuna study: stored, linked to Tune and MLflow, listed, served, warm-started."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from motif_tune.errors import ConfigError
from motif_tune.results import OBJECTIVE
from motif_tune.search.plan import plan_search
from motif_tune.search.searcher import make_searcher
from motif_tune.search.space import SearchSpace
from motif_tune.search.study import (
    ATTR_APPLIED,
    ATTR_MLFLOW_RUN,
    ATTR_TUNE_TRIAL,
    ATTR_WARM_FROM,
    check_new_study,
    list_studies,
    open_storage,
    settle_unfinished,
    study_attrs,
    study_names,
    warm_start,
)
from tests.conftest import cli, runs_by_role, settings_for

SMOKE = ["sweep=smoke"]
STEPS = "num_env_steps_sampled_lifetime"
REPO = Path(__file__).resolve().parents[1]


def stored_study(settings, name: str, values: list[float]) -> optuna.Study:
    """A finished study of ``settings``' question, as an earlier sweep leaves it."""
    study = optuna.create_study(
        study_name=name, storage=open_storage(settings.study_storage), direction="maximize"
    )
    for key, value in study_attrs(settings).items():
        study.set_user_attr(key, value)
    space = SearchSpace(settings)
    for value in values:
        trial = study.ask()
        space(trial)
        study.tell(trial, value)
    return study


def test_a_new_sweep_needs_a_free_study_name(isolated_runs):
    settings = settings_for([*SMOKE, "run_name=taken"])
    stored_study(settings, "taken", [0.1])
    with pytest.raises(ConfigError, match="run_name 'taken' already names a study"):
        check_new_study(settings)


def test_study_names_of_a_sqlite_store_are_read_without_opening_it_through_optuna(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    code = (
        "import optuna, sys; s = optuna.storages.RDBStorage(sys.argv[1]); "
        "[optuna.create_study(study_name=n, storage=s) for n in ('first', 'second', 'third')]"
    )
    subprocess.run([sys.executable, "-c", code, url], check=True, timeout=120)
    open_storage.cache_clear()
    assert study_names(url) == ["first", "second", "third"]  # oldest first
    assert open_storage.cache_info().currsize == 0  # no SQLAlchemy engine, no schema check
    blank = tmp_path / "blank.db"
    blank.touch()  # a file with no Optuna tables yet: Optuna's storage creates them
    assert study_names(f"sqlite:///{blank}") == []
    assert open_storage.cache_info().currsize == 1


@pytest.mark.slow
def test_a_study_store_optuna_cannot_open_stops_the_sweep_before_any_run(isolated_runs):
    """The name check reads the store without Optuna; Optuna's refusal still comes as one
    sentence, exit status 2, and no run in MLflow."""
    store = isolated_runs / "old-optuna.db"
    store.parent.mkdir(parents=True)
    url = f"sqlite:///{store}"
    optuna.create_study(study_name="older", storage=optuna.storages.RDBStorage(url))
    with closing(sqlite3.connect(store)) as db, db:  # as an Optuna from 2020 left it
        db.execute("UPDATE alembic_version SET version_num = 'v1.3.0.a'")
    open_storage.cache_clear()
    proc = subprocess.run(
        cli(*SMOKE, f"sweep.study.storage={url}"), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"motif-tune: error: sweep.study.storage '{url}' cannot be opened")
    assert runs_by_role(isolated_runs, "sweep") == [] == runs_by_role(isolated_runs, "trial")


def test_bad_warm_starts_are_refused_in_one_sentence(isolated_runs):
    earlier = settings_for(SMOKE)
    stored_study(earlier, "earlier", [0.1, 0.2])
    cases = {
        "sweep.warm_start=missing": "names 'missing', which is no study",
        "env.env_config.noise=0.5": "another env",
        "sweep.budget.iterations=3": "another budget unit",
        "sweep.objective.by=smoothed": "another objective",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=message) as err:
            settings_for([*SMOKE, "sweep.warm_start=earlier", override])
        assert "\n" not in str(err.value)


def test_a_warm_start_keeps_the_trials_that_lie_in_the_space(isolated_runs):
    earlier = settings_for(SMOKE)
    stored_study(earlier, "earlier", [0.1, 0.2, 0.3])
    study = optuna.load_study(study_name="earlier", storage=earlier.study_storage)
    wider = {"train_batch_size": optuna.distributions.IntDistribution(1, 4096, log=True)}
    study.add_trial(  # asked by a wider sweep, out of this one's range
        optuna.trial.create_trial(params={"train_batch_size": 1000}, distributions=wider, value=0.9)
    )
    settings = settings_for([*SMOKE, "sweep.warm_start=earlier"])
    trials = warm_start(settings).trials
    assert len(trials) == 3
    assert all(t.user_attrs[ATTR_WARM_FROM] == "earlier" for t in trials)


def test_a_warm_start_imports_a_pruned_trial_as_pruned_at_its_last_report(isolated_runs):
    """ASHA's stopped trials come over as pruned with what they reported, as TPE reads
    Optuna's own pruned trials; one pruned before any report brings nothing to learn."""
    earlier = settings_for(SMOKE)
    study = stored_study(earlier, "earlier", [0.5])
    space = SearchSpace(earlier)
    stopped, unscored = study.ask(), study.ask()
    for trial in (stopped, unscored):
        space(trial)
    stopped.report(0.1, step=1)
    stopped.report(0.2, step=2)
    study.tell(stopped, state=TrialState.PRUNED)
    study.tell(unscored, state=TrialState.PRUNED)

    settings = settings_for([*SMOKE, "run_name=warm", "sweep.warm_start=earlier"])
    trials = warm_start(settings).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert trials[1].intermediate_values == {1: 0.1, 2: 0.2}
    assert trials[1].params == stopped.params
    warm = _searcher(settings, SearchSpace(settings)).study  # the new sweep's study
    imported = warm.trials[:2]  # the baseline waits after them
    assert [t.state for t in imported] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert imported[1].intermediate_values == {1: 0.1, 2: 0.2}


def test_a_trial_two_listed_sweeps_hold_is_imported_once_and_the_terminal_says_so(
    isolated_runs,
):
    """`second` was warm-started from `first`: warming from both takes first's trials from
    `first` only, and `studies` ranks each study by its own trials."""
    first_settings = settings_for(SMOKE)
    stored_study(first_settings, "first", [0.1, 0.9])
    second_settings = settings_for([*SMOKE, "run_name=second", "sweep.warm_start=first"])
    second = optuna.create_study(
        study_name="second", storage=open_storage(second_settings.study_storage)
    )
    for key, value in study_attrs(second_settings).items():
        second.set_user_attr(key, value)
    second.add_trials(list(warm_start(second_settings).trials))  # first's two, imported
    trial = second.ask()
    SearchSpace(second_settings)(trial)
    second.tell(trial, 0.3)
    both = warm_start(settings_for([*SMOKE, "sweep.warm_start=[first,second]"]))
    assert len(both.trials) == 3  # first's two once, second's own one
    assert sorted(t.user_attrs[ATTR_WARM_FROM] for t in both.trials) == [
        "first",
        "first",
        "second",
    ]
    assert both.lines == (
        "Warm start from 'first': 2 of its 2 finished trials (0 outside this sweep's space, "
        "0 already taken from their own sweep).",
        "Warm start from 'second': 1 of its 3 finished trials (0 outside this sweep's space, "
        "2 already taken from their own sweep).",
    )
    rows = {row.name: row for row in list_studies(second_settings.study_storage)}
    assert rows["second"].best == pytest.approx(0.3)  # not first's 0.9, which it only borrowed
    assert rows["second"].complete == 1


def test_a_warm_start_from_another_budget_says_so(isolated_runs):
    stored_study(settings_for(SMOKE), "earlier", [0.1])
    warm = warm_start(
        settings_for([*SMOKE, "sweep.warm_start=earlier", "sweep.budget.env_steps=2048"])
    )
    (notice,) = warm.notices
    assert "spent 512 env steps per trial, this one 2,048" in notice


def test_warm_trials_put_tpe_to_work_right_after_the_baseline(isolated_runs):
    earlier = settings_for([*SMOKE, "sweep.num_samples=9"])  # TPE starts after 3 random trials
    stored_study(earlier, "earlier", [0.1, 0.2, 0.3, 0.4])

    def random_proposals(overrides: list[str]) -> list[int]:
        settings = settings_for([*SMOKE, "sweep.num_samples=9", *overrides])
        space = SearchSpace(settings)
        searcher = _searcher(settings, space)
        sampler = searcher.study.sampler
        calls = []
        random_sample = sampler._random_sampler.sample_independent
        sampler._random_sampler.sample_independent = lambda *a, **k: (
            calls.append(1) or random_sample(*a, **k)
        )
        counts = []
        for i in range(3):
            before = len(calls)
            searcher.suggest(f"trial{i}")
            counts.append(len(calls) - before)
        return counts

    assert random_proposals(["run_name=cold"]) == [0, 2, 2]  # the baseline, then random
    assert random_proposals(["run_name=warm", "sweep.warm_start=earlier"]) == [0, 0, 0]
    warm = optuna.load_study(study_name="warm", storage=settings_for(SMOKE).study_storage)
    assert [t.user_attrs.get(ATTR_WARM_FROM) for t in warm.trials[:4]] == ["earlier"] * 4
    assert warm.trials[4].user_attrs[ATTR_TUNE_TRIAL] == "trial0"  # the baseline comes next


def test_a_warm_start_does_not_repeat_the_random_proposals_of_its_source(isolated_runs):
    """The same sweep.seed would draw the same random points the earlier sweep tried
    (the default sweep's space: the smoke sweep's holds few points, which chance repeats)."""

    def proposals(run_name: str, *overrides: str) -> list[dict]:
        settings = settings_for(
            ["sweep=default", "sweep.searcher=random", f"run_name={run_name}", *overrides]
        )
        space = SearchSpace(settings)
        searcher = _searcher(settings, space)
        points = []
        for i in range(4):
            points.append(searcher.suggest(f"trial{i}"))
            searcher.on_trial_complete(f"trial{i}", {OBJECTIVE: 0.1 * i, STEPS: 512})
        return points[1:]  # after the baseline

    earlier = proposals("earlier")
    assert proposals("cold") == earlier  # same seed, same points: reproducible
    warm = proposals("warm", "sweep.warm_start=earlier")
    assert not [point for point in warm if point in earlier]
    assert proposals("warm-again", "sweep.warm_start=earlier") == warm  # and reproducible


def test_trials_a_killed_driver_left_running_are_settled(isolated_runs):
    settings = settings_for(SMOKE)
    study = stored_study(settings, "killed", [0.1])
    study.ask()
    study.enqueue_trial({"train_batch_size": 128})
    assert settle_unfinished(settings.study_storage, "killed") == 2
    assert {t.state for t in study.get_trials()} == {TrialState.COMPLETE, TrialState.FAIL}


def test_without_asha_a_trial_that_stopped_short_is_complete_not_pruned(isolated_runs):
    """Only ASHA prunes: under FIFO a trial stopped early by a stop rule is COMPLETE."""
    settings = settings_for([*SMOKE, "stop.training_iteration=1"])
    searcher = _searcher(settings, SearchSpace(settings))
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"objective": 0.4, STEPS: 100, "training_iteration": 1})
    (trial,) = searcher.study.get_trials()
    assert trial.state == TrialState.COMPLETE and trial.value == 0.4


def test_a_journal_file_holds_the_study_and_the_tpe_candidates_are_a_setting(isolated_runs):
    journal = isolated_runs / "studies" / "optuna-journal.log"
    settings = settings_for(
        [
            *SMOKE,
            f"sweep.study.storage={journal}",
            "sweep.n_ei_candidates=8",
            "sweep.scheduler.type=asha",
        ]
    )
    assert settings.study_storage == str(journal) and not journal.exists()
    check_new_study(settings)  # no journal yet: no study, and no file made by looking
    assert not journal.exists()
    space = SearchSpace(settings)
    searcher = _searcher(settings, space)
    assert searcher.study.sampler._n_ei_candidates == 8
    assert isinstance(searcher.study._storage, optuna.storages.JournalStorage)
    spent_key, budget = searcher.budget
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"objective": 0.5, spent_key: budget})
    searcher.suggest("t2")  # stopped by ASHA before its budget was spent: pruned
    searcher.on_trial_result("t2", {"objective": 0.2, spent_key: budget / 2})
    searcher.on_trial_complete("t2", {"objective": 0.2, spent_key: budget / 2})
    assert journal.is_file()
    done, pruned = optuna.load_study(
        study_name=settings.run_name, storage=open_storage(str(journal))
    ).trials
    assert done.state == TrialState.COMPLETE and done.user_attrs[ATTR_TUNE_TRIAL] == "t1"
    assert done.value == 0.5
    assert pruned.state == TrialState.PRUNED and pruned.intermediate_values
    assert settings_for(SMOKE).sweep.n_ei_candidates == 24  # Optuna's own default


def test_many_processes_open_one_fresh_storage_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    code = (
        "import sys, optuna; from motif_tune.search.study import open_storage; "
        "optuna.create_study(study_name=sys.argv[2], storage=open_storage(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url, f"s{i}"], stderr=subprocess.PIPE)
        for i in range(4)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert len(optuna.get_all_study_summaries(url)) == 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_a_sweeps_study_agrees_with_tune_and_mlflow_and_warm_starts_the_next(
    shared_sweep, isolated_runs
):
    """The shared sweep's study holds each Tune trial with its MLflow run, settings and
    score; `make dashboard` serves the studies while a next sweep, warm-started from it
    (on a copy of its runs folder), runs; `studies` lists both."""
    study = optuna.load_study(study_name="shared", storage=shared_sweep.study_storage)
    trials = shared_sweep.runs_by_role("trial")
    assert len(study.trials) == len(trials) == 3
    runs = {r.data.tags["motif_tune.trial_id"]: r for r in trials}
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        run = runs[trial.user_attrs[ATTR_TUNE_TRIAL]]
        assert trial.user_attrs[ATTR_MLFLOW_RUN] == run.info.run_id
        applied = trial.user_attrs[ATTR_APPLIED]
        assert {k: str(v) for k, v in applied.items()} == {k: run.data.params[k] for k in applied}
        assert trial.value == pytest.approx(run.data.metrics["objective"])
        assert trial.intermediate_values  # per env step, for the dashboard
    (parent,) = shared_sweep.runs_by_role("sweep")
    assert study.user_attrs["mlflow_parent_run_id"] == parent.info.run_id

    # The next sweep runs in this test's folder, on a copy of the shared one's.
    shared_sweep.copy_to(isolated_runs)
    storage = f"sqlite:///{isolated_runs}/optuna.db"
    # `make dashboard` serves the stored studies while the next sweep runs.
    port = free_port()
    dashboard = subprocess.Popen(
        ["make", "-C", str(REPO), "dashboard", f"STUDY_STORE={storage}"]
        + [f"DASHBOARD_PORT={port}"]
        # The Makefile's recipe with this interpreter's environment, never an install, and
        # no ARGS of a `make test ARGS=…` that runs this test (make exports them).
        + [f"VENV={sys.prefix}", "-o", f"{sys.prefix}/.installed", "ARGS="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # make and the dashboard it starts stop together
    )
    second = subprocess.Popen(
        cli("sweep", *SMOKE, "run_name=second", "sweep.warm_start=shared"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        served = get_json(f"http://127.0.0.1:{port}/api/studies")
        assert "shared" in {s["study_name"] for s in served["study_summaries"]}
        out, err = second.communicate(timeout=600)
        assert second.returncode == 0, err[-3000:]
        served = get_json(f"http://127.0.0.1:{port}/api/studies")
        assert {"shared", "second"} <= {s["study_name"] for s in served["study_summaries"]}
    finally:
        second.kill()
        os.killpg(dashboard.pid, signal.SIGTERM)
        dashboard.wait(timeout=30)

    warm = optuna.load_study(study_name="second", storage=storage)
    imported = [t for t in warm.trials if t.user_attrs.get(ATTR_WARM_FROM) == "shared"]
    own = [t for t in warm.trials if ATTR_WARM_FROM not in t.user_attrs]
    # The baseline lies outside smoke's batch range: only the other two trials are imported.
    assert len(imported) == 2 and len(own) == 2
    listing = subprocess.run(cli("studies"), capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert any(line.split()[:1] == ["shared"] and parent.info.run_id in line for line in lines)
    assert any(line.split()[:1] == ["second"] for line in lines)


def _searcher(settings, space):
    """The sweep's searcher as its Tuner gets it: warm trials, the baseline first."""
    return make_searcher(settings, plan_search(settings))
