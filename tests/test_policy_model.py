"""The registered champion is an MLflow pyfunc model: it loads, predicts, serves and evaluates."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import clean_environ, settings_for

pytestmark = pytest.mark.slow

MODEL = "smoke-PPO-motif"
CHAMPION = f"models:/{MODEL}@champion"


@pytest.fixture(scope="module")
def champion(shared_sweep, tmp_path_factory) -> dict[str, str]:
    """The environment the module's subprocesses run in: a copy of the shared sweep's runs
    folder (MLflow writes beside a registered model it serves from a local store) as
    MOTIF_TUNE_HOME and MLFLOW_TRACKING_URI, and a HOME of their own."""
    assert f"registered: models:/{MODEL}/1 (alias @champion)" in shared_sweep.proc.stdout
    home = tmp_path_factory.mktemp("policy_model")
    runs = shared_sweep.copy_to(home / "runs")
    (home / "home").mkdir()
    return clean_environ() | {
        "MOTIF_TUNE_HOME": str(runs),
        "MLFLOW_TRACKING_URI": f"sqlite:///{runs}/mlflow.db",
        "HOME": str(home / "home"),  # RLlib may write under ~ when it loads a checkpoint
        # `mlflow models serve` starts `uvicorn` from PATH: the one beside this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def observations(n: int, seed: int = 0) -> list[list[int]]:
    """``n`` observations of the smoke sweep's motif env, one list per observation."""
    from motif_tune.envs.registry import make_env

    env_settings = settings_for(["sweep=smoke"]).env
    env = make_env(env_settings.id, env_settings.env_config)
    env.observation_space.seed(seed)
    rows = [env.observation_space.sample().tolist() for _ in range(n)]
    env.close()
    return rows


def num_motifs() -> int:
    return int(settings_for(["sweep=smoke"]).env.env_config["num_motifs"])


def test_the_champion_version_is_an_mlflow_model(champion):
    """The champion version holds an MLflow model (MLmodel, the pickled pyfunc, its
    requirements), tagged with its algorithm and env; its run keeps the raw checkpoint."""
    from mlflow.artifacts import list_artifacts
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=champion["MLFLOW_TRACKING_URI"])
    version = client.get_model_version_by_alias(MODEL, "champion")
    location = client.get_model_version_download_uri(MODEL, version.version)
    files = {
        Path(a.path).name
        for a in list_artifacts(artifact_uri=location, tracking_uri=client.tracking_uri)
    }
    assert {"MLmodel", "python_model.pkl", "requirements.txt"} <= files
    assert version.tags["algo"] == "PPO" and version.tags["env"] == "motif"
    assert version.tags["env_id"] == "motif_tune.envs:MotifEnv"
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    # The raw checkpoint upload stays where runs:/<id>/checkpoint finds it.
    assert "checkpoint/rllib_checkpoint.json" in {
        a.path for a in client.list_artifacts(version.run_id, "checkpoint")
    }


PREDICT = """
import json, sys
import mlflow, numpy as np
rows = json.loads(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
first = model.predict(np.asarray(rows))
again = model.predict(rows)
print(json.dumps({
    "type": type(first).__name__,
    "dtype": str(first.dtype),
    "shape": list(first.shape),
    "finite": bool(np.all(np.isfinite(first))),
    "same": bool(np.array_equal(first, again)),
    "inputs": [c.type.name for c in model.metadata.get_input_schema().inputs],
}))
"""


def test_the_champion_loads_with_pyfunc_and_predicts_greedy_actions(champion):
    """``mlflow.pyfunc.load_model`` gives a model that maps observations to finite greedy
    actions (the same twice), with one long column per observation element."""
    rows = observations(16)
    proc = subprocess.run(
        [sys.executable, "-c", PREDICT, json.dumps(rows), CHAMPION],
        capture_output=True,
        text=True,
        timeout=300,
        env=champion,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "ndarray" and result["dtype"].startswith("float")
    assert result["shape"] == [16, num_motifs()]
    assert result["finite"] and result["same"]  # greedy: the same observations, the same actions
    assert result["inputs"] == ["long"] * len(rows[0])  # one column per observation element


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_mlflow_models_serve_answers_with_actions(champion, tmp_path):
    """``mlflow models serve`` answers /invocations with actions, the same for a list of
    observations and for a split data frame of them."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", CHAMPION]
        + ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "-w", "1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=champion,
        cwd=tmp_path,
        start_new_session=True,  # its own process group: uvicorn and its worker stop together
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, "the server did not answer /ping in 120 s"
                time.sleep(1)
        rows = observations(5, seed=1)
        url = f"http://127.0.0.1:{port}/invocations"
        by_inputs = post(url, {"inputs": rows})["predictions"]
        columns = [f"obs_{i}" for i in range(len(rows[0]))]
        by_frame = post(url, {"dataframe_split": {"columns": columns, "data": rows}})
        assert np.asarray(by_inputs).shape == (5, num_motifs())
        np.testing.assert_allclose(by_frame["predictions"], by_inputs, rtol=1e-5, atol=1e-6)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


def test_evaluate_restores_the_checkpoint_inside_the_registered_model(champion):
    """``evaluate checkpoint=models:/…@champion`` finds the model in the default store
    (MOTIF_TUNE_HOME's, no MLFLOW_TRACKING_URI) and scores it."""
    proc = subprocess.run(
        [sys.executable, "-m", "motif_tune", "evaluate", f"checkpoint={CHAMPION}"]
        + ["evaluate.episodes=5"],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in champion.items() if k != "MLFLOW_TRACKING_URI"},
        cwd=Path(champion["HOME"]).parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Evaluated {CHAMPION}" in proc.stdout


def test_observations_are_one_hot_or_flattened_as_in_training():
    import gymnasium as gym

    from motif_tune.tracking.policy_model import (
        encode_observations,
        observation_batch,
        sample_rows,
    )

    spaces = [
        gym.spaces.MultiDiscrete([5] * 8),
        gym.spaces.Discrete(4),
        gym.spaces.Box(-1.0, 1.0, (2, 3)),
    ]
    for space in spaces:
        batch = observation_batch(sample_rows(space, 4), space)
        # Gymnasium's flatten one-hots discrete values as RLlib's FlattenObservations does.
        expected = np.stack([gym.spaces.flatten(space, obs) for obs in batch])
        np.testing.assert_allclose(encode_observations(batch, space), expected)
    with pytest.raises(ValueError, match="lie in"):
        observation_batch([[9] * 8], spaces[0])
