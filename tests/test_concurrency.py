"""One local store, many processes: sweeps started together, readers polling meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import cli, runs_by_role

# Settings as the sweep loads them (without RLlib's checks, which take seconds to
# import), then, once told to go, the store and the experiment at once.
OPEN_STORE = """
import os, sys, time
from motif_tune.config import load_settings
from motif_tune.tracking.client import experiment_id, open_store
from tests.conftest import compose_config
uri, ready, go = sys.argv[1:]
settings = load_settings(compose_config([f"tracking.uri={uri}"]), "sweep")
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
print(experiment_id(open_store(uri), settings))
"""


def test_processes_creating_one_fresh_store_and_experiment_at_once_all_succeed(
    isolated_runs, tmp_path
):
    """Four processes, started together once each is ready, open one store that does not
    exist yet and get or create the experiment: all succeed, with the same experiment."""
    uri = f"sqlite:///{isolated_runs}/mlflow.db"
    go = tmp_path / "go"
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_STORE, uri, str(tmp_path / f"ready-{i}"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 4:
        assert all(o.poll() is None for o in openers), [o.communicate() for o in openers]
        assert time.monotonic() < deadline, "the openers did not get ready"
        time.sleep(0.05)
    go.touch()
    outputs = [opener.communicate(timeout=120) for opener in openers]
    for opener, (_, err) in zip(openers, outputs, strict=True):
        assert opener.returncode == 0, err[-2000:]
    assert len({out.strip() for out, _ in outputs}) == 1  # one experiment, the same id


# A reader (the UI, a notebook, a script) with a plain MlflowClient, in a loop until told
# to stop: how many times it opened the store.
READER = """
import os, sys, time
from mlflow.tracking import MlflowClient
uri, stop = sys.argv[1], sys.argv[2]
opened = 0
deadline = time.time() + 600
while not os.path.exists(stop) and time.time() < deadline:
    try:
        MlflowClient(uri).search_experiments()
        opened += 1
    except Exception:
        pass  # a reader that raced the creation tries again
print(opened)
"""
# One trial of one iteration each, scored on a few episodes: the store is what is tested.
TINY_SWEEP = [
    "sweep=smoke",
    "sweep.num_samples=1",
    "stop.training_iteration=1",
    "sweep.objective.episodes=5",
]


@pytest.mark.slow
def test_three_sweeps_started_together_on_one_fresh_store_all_finish(isolated_runs):
    """Each sweep starts its own local Ray; the store is created and migrated once, while
    another process keeps opening it with a plain MlflowClient; every sweep finishes and
    each trial is recorded under its own sweep."""
    isolated_runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MOTIF_TUNE_HOME": str(isolated_runs)}
    stop = isolated_runs.parent / "stop-reading"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, f"sqlite:///{isolated_runs}/mlflow.db", str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    sweeps = [
        subprocess.Popen(
            cli("sweep", *TINY_SWEEP, f"run_name=together-{i}"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        outputs = [sweep.communicate(timeout=900) for sweep in sweeps]
    finally:
        stop.touch()
        opened = int(reader.communicate(timeout=120)[0].strip())
    for sweep, (out, err) in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0, err[-3000:]
        assert "Champion:" in out
    assert opened > 0
    parents = runs_by_role(isolated_runs, "sweep")
    trials = runs_by_role(isolated_runs, "trial")
    assert sorted(p.info.run_name for p in parents) == [f"together-{i}" for i in range(3)]
    assert all(p.info.status == "FINISHED" for p in parents)
    assert len(trials) == 3 and all(t.info.status == "FINISHED" for t in trials)
    by_parent = {p.info.run_id: 0 for p in parents}
    for trial in trials:
        by_parent[trial.data.tags["mlflow.parentRunId"]] += 1
    assert sorted(by_parent.values()) == [1, 1, 1]


@pytest.mark.slow
def test_a_joblib_multirun_runs_its_sweeps_side_by_side_sharing_the_cores(isolated_runs):
    """Two sweeps of a joblib multirun run at once, each told its share of the cores (its
    trials one at a time on two cores), and are named apart though started in the same
    second."""
    proc = subprocess.run(
        cli(
            "sweep",
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "sweep=smoke",
            "sweep.seed=0,1",
            "stop.training_iteration=1",
            "sweep.objective.episodes=5",
        ),
        env={**os.environ, "MOTIF_TUNE_HOME": str(isolated_runs)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cores = os.cpu_count() or 1
    share = max(1, cores // 2)
    assert proc.stdout.count(f"{min(share, 2)} at a time") == 2  # each its share of the cores
    parents = runs_by_role(isolated_runs, "sweep")
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert len({p.info.run_name for p in parents}) == 2  # started in the same second, named apart
    assert len(runs_by_role(isolated_runs, "trial")) == 4


def test_a_registered_model_another_sweep_created_meanwhile_is_used(existing_store):
    """Two sweeps ending together both find the model missing; the second create is fine."""
    from types import SimpleNamespace

    from mlflow.exceptions import MlflowException

    from motif_tune.tracking.client import open_store
    from motif_tune.tracking.registry import ensure_registered_model

    client = open_store(f"sqlite:///{existing_store}/mlflow.db")
    client.create_registered_model("champions")  # by the other sweep, after our look

    def not_found(name: str, **_: object):
        raise MlflowException(f"{name} not found", error_code="RESOURCE_DOES_NOT_EXIST")

    racing = SimpleNamespace(
        get_registered_model=not_found, create_registered_model=client.create_registered_model
    )
    ensure_registered_model(racing, "champions")
    assert [m.name for m in client.search_registered_models()] == ["champions"]
    with pytest.raises(MlflowException, match="not found"):  # other errors still surface
        racing.create_registered_model = not_found
        ensure_registered_model(racing, "champions")
