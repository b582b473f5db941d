"""A team's MLflow tracking server stopped for maintenance while trials report: nothing
is lost, the terminal hears one line when it goes and one when it is back."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli
from tests.servers import MlflowServer

pytestmark = pytest.mark.slow

# MLflow's own client retries (7, with backoff: minutes) cut short, so that the server is
# down for longer than they last.
SHORT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
DOWN_S = 20


def _results(experiment: Path) -> dict[str, int]:
    """Tune's reported iterations per trial id."""
    counts = {}
    for result in experiment.glob("trial_*/result.json"):
        lines = result.read_text().splitlines()
        if lines:
            counts[json.loads(lines[-1])["trial_id"]] = len(lines)
    return counts


def _steps_in_mlflow(uri: str, runs: list) -> dict[str, int]:
    client = MlflowClient(tracking_uri=uri)
    return {
        run.data.tags["motif_tune.trial_id"]: len(
            client.get_metric_history(run.info.run_id, "time_this_iter_s")
        )
        for run in runs
    }


def test_a_server_down_longer_than_mlflows_retries_loses_no_step(isolated_runs, tmp_path):
    server = MlflowServer(tmp_path / "server")
    server.start()
    try:
        sweep = subprocess.Popen(
            cli(
                "sweep",
                "sweep=smoke",
                "run_name=maintenance",
                f"tracking.uri={server.uri}",
                "sweep.max_concurrent_trials=1",
                "sweep.budget.iterations=10",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **SHORT_RETRIES},
            start_new_session=True,
        )
        experiment = isolated_runs / "ray_results" / "maintenance"
        deadline = time.time() + 300
        while max(_results(experiment).values(), default=0) < 2:  # the first trial reports
            assert sweep.poll() is None, sweep.communicate()[1][-3000:]
            assert time.time() < deadline, "no trial reported in time"
            time.sleep(0.5)
        server.stop()
        before = sum(_results(experiment).values())
        time.sleep(DOWN_S)
        trained_meanwhile = sum(_results(experiment).values()) - before
        server.start()
        out, err = sweep.communicate(timeout=600)
        assert sweep.returncode == 0, err[-3000:]
        output = out + err
        gone = [line for line in output.splitlines() if "is not answering" in line]
        back = [line for line in output.splitlines() if "answers again" in line]
        assert len(gone) == 1 and len(back) == 1, output[-3000:]
        assert "training goes on" in gone[0]
        for noise in ("urllib3", "connectionpool", "Retrying", "Traceback"):
            assert noise not in output, f"{noise!r} reached the terminal"
        assert "Champion:" in out and "did not take" not in output

        trials = server.runs_by_role("trial")
        assert len(trials) == 2 and all(t.info.status == "FINISHED" for t in trials)
        assert trained_meanwhile > 0
        assert _steps_in_mlflow(server.uri, trials) == _results(experiment)
    finally:
        server.stop()
