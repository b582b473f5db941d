"""A team's MLflow tracking server, reached with a password in its URI, stopped for
maintenance while trials report: nothing is lost, the terminal hears one line when it
goes and one when it is back, and the password shows nowhere."""

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
from tests.test_secrets import SECRET

pytestmark = pytest.mark.slow

# MLflow's own client retries (7, with backoff: minutes) cut short, so that the server is
# down for longer than they last. The stopped server refuses connections at once; the
# timeout stays long so that a slow answer on a busy machine (two test workers on two
# cores) is not taken for a second outage.
SHORT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}
DOWN_S = 8


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
    # The server ignores the credentials clients send; the password must show nowhere.
    uri_with_password = server.uri.replace("http://", f"http://alice:{SECRET}@")
    try:
        sweep = subprocess.Popen(
            cli(
                "sweep",
                "sweep=smoke",
                "run_name=maintenance",
                f"tracking.uri={uri_with_password}",
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
        server.kill()
        before, down_since = sum(_results(experiment).values()), time.time()
        # Down for DOWN_S at least, and until a trial has reported meanwhile (on a busy
        # machine, such as two test workers on two cores, an iteration can take longer).
        while time.time() < down_since + DOWN_S or (
            sum(_results(experiment).values()) == before and sweep.poll() is None
        ):
            assert time.time() < down_since + 120, "no trial reported while the server was down"
            time.sleep(0.5)
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
        _password_shows_nowhere(output, server, isolated_runs / "hydra" / "maintenance")
    finally:
        server.stop()


def _password_shows_nowhere(output: str, server: MlflowServer, run_folder: Path) -> None:
    """Not on the terminal (the summary's link shows it masked), in the log file, or in any
    param, tag or the config artifact the sweep recorded."""
    assert SECRET not in output
    assert f"alice:***@127.0.0.1:{server.port}" in output
    log_text = (run_folder / "motif_tune.log").read_text()
    assert "tracking" in log_text and SECRET not in log_text
    client = MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name("motif_tune")
    runs = client.search_runs([experiment.experiment_id])
    for run in runs:
        recorded = [*run.data.params.values(), *run.data.tags.values()]
        assert not [value for value in recorded if SECRET in value], run.info.run_name
    (parent,) = [r for r in runs if r.data.tags["motif_tune.role"] == "sweep"]
    config = Path(client.download_artifacts(parent.info.run_id, "config.yaml")).read_text()
    assert "alice:***@" in config and SECRET not in config
