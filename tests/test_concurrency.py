"""One local store, many processes: sweeps started together, readers polling meanwhile."""

from __future__ import annotations

import os
import re
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
def test_sweeps_and_multiruns_started_together_on_one_fresh_store_all_finish(isolated_runs):
    """Three commands started at once on a store that does not exist yet, while another
    process keeps opening it with a plain MlflowClient: a sweep; ``-m algo=ppo,appo``
    (Hydra's basic launcher: one sweep after the other in one process, each recorded as a
    sweep of its own); and a joblib multirun, whose two sweeps run side by side, each
    told its share of the cores (its trials one at a time on two cores) and named apart
    though started in the same second. Each sweep starts its own local Ray; the store is
    created and migrated once; every sweep finishes with its trial under it."""
    isolated_runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MOTIF_TUNE_HOME": str(isolated_runs)}
    stop = isolated_runs.parent / "stop-reading"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, f"sqlite:///{isolated_runs}/mlflow.db", str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    commands = {
        "sweep": cli("sweep", *TINY_SWEEP, "run_name=together"),
        "basic": cli("sweep", "-m", "algo=ppo,appo", *TINY_SWEEP),
        "joblib": cli(
            "sweep",
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "sweep.seed=0,1",
            *TINY_SWEEP,
        ),
    }
    started = {
        name: subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, command in commands.items()
    }
    try:
        outputs = {name: proc.communicate(timeout=900) for name, proc in started.items()}
    finally:
        stop.touch()
        opened = int(reader.communicate(timeout=120)[0].strip())
    for name, (_, err) in outputs.items():
        assert started[name].returncode == 0, (name, err[-3000:])
    assert opened > 0
    expected = {"sweep": 1, "basic": 2, "joblib": 2}  # sweeps, each naming its champion
    assert {name: out.count("Champion:") for name, (out, _) in outputs.items()} == expected
    share = max(1, (os.cpu_count() or 1) // 2)
    assert outputs["joblib"][0].count(f"{min(share, 2)} at a time") == 2  # its share each

    parents = runs_by_role(isolated_runs, "sweep")
    trials = runs_by_role(isolated_runs, "trial")
    assert len(parents) == 5 and all(p.info.status == "FINISHED" for p in parents)
    assert len({p.info.run_name for p in parents}) == 5  # named apart, also in one second
    assert "together" in {p.info.run_name for p in parents}
    assert sorted(p.data.tags["algo"] for p in parents) == ["APPO", "PPO", "PPO", "PPO", "PPO"]
    assert len(trials) == 5 and all(t.info.status == "FINISHED" for t in trials)
    by_parent = {p.info.run_id: 0 for p in parents}
    for trial in trials:
        by_parent[trial.data.tags["mlflow.parentRunId"]] += 1
    assert sorted(by_parent.values()) == [1] * 5
    # Each sweep's log file holds its own records only, also where one process ran two.
    logs = {
        path: re.findall(r"Composed config for sweep '([^']+)'", path.read_text())
        for path in (isolated_runs / "hydra").rglob("motif_tune.log")
    }
    assert sorted(name for names in logs.values() for name in names) == sorted(
        p.info.run_name for p in parents
    )
    assert all(len(names) == 1 for names in logs.values()), logs


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
