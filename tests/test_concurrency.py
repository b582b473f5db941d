"""One local store, many processes: sweeps started together, readers polling meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import cli, runs_by_role

OPEN_STORE = """
import sys
from motif_tune.tracking.client import experiment_id, open_store
from tests.conftest import settings_for
settings = settings_for([f"tracking.uri={sys.argv[1]}"])
print(experiment_id(open_store(sys.argv[1]), settings))
"""


def test_processes_creating_one_fresh_store_and_experiment_at_once_all_succeed(isolated_runs):
    uri = f"sqlite:///{isolated_runs}/mlflow.db"
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_STORE, uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [opener.communicate(timeout=120) for opener in openers]
    for opener, (_, err) in zip(openers, outputs, strict=True):
        assert opener.returncode == 0, err[-2000:]
    assert len({out.strip() for out, _ in outputs}) == 1  # one experiment, the same id


@pytest.mark.slow
def test_three_sweeps_started_together_on_one_fresh_store_all_finish(isolated_runs):
    """Each sweep starts its own local Ray; the store is created and migrated once."""
    env = {**os.environ, "MOTIF_TUNE_HOME": str(isolated_runs)}
    sweeps = [
        subprocess.Popen(
            cli("sweep", "sweep=smoke", f"run_name=together-{i}"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    outputs = [sweep.communicate(timeout=900) for sweep in sweeps]
    for sweep, (out, err) in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0, err[-3000:]
        assert "Champion:" in out
    parents = runs_by_role(isolated_runs, "sweep")
    trials = runs_by_role(isolated_runs, "trial")
    assert sorted(p.info.run_name for p in parents) == [f"together-{i}" for i in range(3)]
    assert all(p.info.status == "FINISHED" for p in parents)
    assert len(trials) == 6 and all(t.info.status == "FINISHED" for t in trials)
    by_parent = {p.info.run_id: 0 for p in parents}
    for trial in trials:
        by_parent[trial.data.tags["mlflow.parentRunId"]] += 1
    assert sorted(by_parent.values()) == [2, 2, 2]


@pytest.mark.slow
def test_a_sweep_starts_while_another_process_keeps_opening_the_store(isolated_runs):
    """A reader (the UI, a notebook, a script) with a plain MlflowClient, in a loop."""
    isolated_runs.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{isolated_runs}/mlflow.db"
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from mlflow.tracking import MlflowClient
                opened = 0
                deadline = time.time() + 40
                while time.time() < deadline:
                    try:
                        MlflowClient("{uri}").search_experiments()
                        opened += 1
                    except Exception:
                        pass  # a reader that raced the creation tries again
                print(opened)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    sweep = subprocess.run(
        cli("sweep", "sweep=smoke", "run_name=polled"),
        env={**os.environ, "MOTIF_TUNE_HOME": str(isolated_runs)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    opened = int(reader.communicate(timeout=120)[0].strip())
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert opened > 0
    (parent,) = runs_by_role(isolated_runs, "sweep")
    assert parent.info.status == "FINISHED"
    assert len(runs_by_role(isolated_runs, "trial")) == 2


@pytest.mark.slow
def test_a_joblib_multirun_runs_its_sweeps_side_by_side_sharing_the_cores(isolated_runs):
    proc = subprocess.run(
        cli(
            "sweep",
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "sweep=smoke",
            "sweep.seed=0,1",
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


def test_a_registered_model_another_sweep_created_meanwhile_is_used(isolated_runs):
    """Two sweeps ending together both find the model missing; the second create is fine."""
    from types import SimpleNamespace

    from mlflow.exceptions import MlflowException

    from motif_tune.tracking.client import open_store
    from motif_tune.tracking.registry import ensure_registered_model

    client = open_store(f"sqlite:///{isolated_runs}/mlflow.db")
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
