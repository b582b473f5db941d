"""A two-node Ray cluster on this machine: the same sweep command, trials on both nodes."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import runs_by_role

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_node(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [RAY, "start", "--block", "--disable-usage-stats", "--num-cpus=2", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def two_node_cluster(tmp_path):
    """A head and a worker node with a token exported to both and to the driver."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    yield from _cluster(env)


@pytest.fixture
def plain_cluster(tmp_path):
    """A head and a worker started as Ray's token-auth docs show: `RAY_AUTH_MODE=token`
    on the nodes, the token generated into ~/.ray/auth_token, `ray start --head`, then
    `ray start --address=…`. The driver's environment is the plain one (no RAY_AUTH_*),
    with the same home folder."""
    home = tmp_path / "home"
    home.mkdir()
    plain = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    plain["HOME"] = str(home)
    nodes = {**plain, "RAY_AUTH_MODE": "token"}
    subprocess.run(
        [RAY, "get-auth-token", "--generate"], env=nodes, check=True, capture_output=True
    )
    assert (home / ".ray" / "auth_token").is_file()
    for address, _ in _cluster(nodes):
        yield address, plain


def _cluster(env: dict, workers: list | None = None):
    """A head and a worker node, each a `ray start` of its own; torn down after.
    The worker's process goes into ``workers`` for tests that kill it."""
    port = _free_port()
    head = _start_node(
        ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false"],
        env,
    )
    nodes = [head]
    try:
        _wait_for_port(port)
        nodes.append(
            _start_node([f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1"], env)
        )
        if workers is not None:
            workers.append(nodes[-1])
        _wait_for_nodes(f"127.0.0.1:{port}", env, 2)
        yield f"127.0.0.1:{port}", env
    finally:
        for node in reversed(nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
        _forget_cluster_file(port)


def _forget_cluster_file(port: int) -> None:
    """`ray start` notes its head in /tmp/ray; a plain ray.init() would try to join it."""
    note = Path("/tmp/ray/ray_current_cluster")
    if note.is_file() and note.read_text().strip().endswith(f":{port}"):
        note.unlink()


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail("the head node did not start")


def _wait_for_nodes(address: str, env: dict, count: int, timeout: float = 90) -> None:
    probe = (
        "import ray, sys; from motif_tune.runtime.ray_session import use_cluster_token; "
        "use_cluster_token(); ray.init(address=sys.argv[1]); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(
            [sys.executable, "-c", probe, address],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.stdout.strip().endswith(str(count)):
            return
        time.sleep(1)
    pytest.fail(f"the cluster did not reach {count} nodes")


def test_a_smoke_sweep_runs_trials_on_both_nodes(two_node_cluster, isolated_runs):
    address, env = two_node_cluster
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "motif_tune",
            "sweep",
            "scaling=cluster",
            f"scaling.ray.address={address}",
            "sweep=smoke",
            "run_name=cluster-smoke",
            "scaling.env_runners.num_env_runners=1",
            "scaling.env_runners.num_envs_per_env_runner=1",
        ],
        env={**env, "MOTIF_TUNE_HOME": str(isolated_runs)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 at a time" in proc.stdout  # read from the cluster: 4 CPUs, 2 per trial
    nodes = set()
    for result_file in (isolated_runs / "ray_results" / "cluster-smoke").glob("*/result.json"):
        lines = result_file.read_text().splitlines()
        nodes |= {json.loads(line)["node_id"] for line in lines}
    assert len(nodes) == 2, nodes


def test_an_address_where_no_cluster_answers_fails_fast(isolated_runs):
    started = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "motif_tune",
            "sweep",
            "scaling=cluster",
            f"scaling.ray.address=127.0.0.1:{_free_port()}",
            "sweep=smoke",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no Ray cluster answers there" in proc.stderr.strip().splitlines()[-1]
    assert time.time() - started < 30
    assert not (isolated_runs / "mlflow.db").exists()


def test_a_cluster_started_the_standard_way_is_joined_with_ray_address_alone(
    plain_cluster, isolated_runs
):
    address, env = plain_cluster
    proc = subprocess.run(
        [sys.executable, "-m", "motif_tune", "sweep", "sweep=smoke", "run_name=joined"],
        env={**env, "RAY_ADDRESS": address, "MOTIF_TUNE_HOME": str(isolated_runs)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Champion:" in proc.stdout
    nodes = set()
    for result_file in (isolated_runs / "ray_results" / "joined").glob("*/result.json"):
        nodes |= {json.loads(line)["node_id"] for line in result_file.read_text().splitlines()}
    assert nodes  # trials ran on the cluster's nodes


def test_a_wrong_token_is_told_apart_from_an_unreachable_head_in_seconds(
    plain_cluster, isolated_runs
):
    address, env = plain_cluster
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "motif_tune", "sweep", "sweep=smoke"],
        env={**env, "RAY_ADDRESS": address, "RAY_AUTH_TOKEN": "not-the-clusters-token"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.time() - started < 10
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "the Ray cluster answers but refused this driver's token" in line
    assert "RAY_AUTH_TOKEN" in line and "RAY_AUTH_MODE=token" in line
    assert "not-the-clusters-token" not in line
    assert not (isolated_runs / "mlflow.db").exists()


@pytest.fixture
def cluster_and_worker(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    workers: list = []
    for address, _ in _cluster(env, workers):
        yield address, env, workers[0]


def test_a_node_lost_mid_sweep_costs_retries_not_trials(cluster_and_worker, isolated_runs):
    """Trials on a worker node that dies restart from their checkpoints on the head."""
    address, env, worker = cluster_and_worker
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "motif_tune",
            "sweep",
            "scaling=cluster",
            f"scaling.ray.address={address}",
            "scaling.env_runners.num_env_runners=0",
            "sweep=smoke",
            "run_name=node-lost",
            "sweep.num_samples=4",
            "sweep.budget.iterations=120",
            "sweep.checkpoint.frequency=5",
            "sweep.max_failures=3",
        ],
        env={**env, "MOTIF_TUNE_HOME": str(isolated_runs)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    experiment = isolated_runs / "ray_results" / "node-lost"
    deadline = time.time() + 300
    while time.time() < deadline:  # all four trials running, two of them on the worker
        checkpoints = list(experiment.glob("trial_*/checkpoint_*"))
        if len({c.parent for c in checkpoints}) == 4:
            break
        assert sweep.poll() is None, sweep.communicate()[1][-3000:]
        time.sleep(0.5)
    else:
        pytest.fail("the four trials did not all checkpoint in time")
    os.killpg(worker.pid, signal.SIGKILL)  # the worker node and everything on it
    out, err = sweep.communicate(timeout=900)
    assert sweep.returncode == 0, err[-3000:]
    assert "Restarted from their checkpoints after a failure:" in out, out
    trials = runs_by_role(isolated_runs, "trial")
    assert len(trials) == 4
    assert all(t.info.status == "FINISHED" for t in trials), [t.info.status for t in trials]
    assert all(t.data.tags["motif_tune.trial_status"] == "finished" for t in trials)
    (parent,) = runs_by_role(isolated_runs, "sweep")
    assert parent.info.status == "FINISHED"
