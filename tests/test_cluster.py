"""A two-node Ray cluster on this machine: the same sweep command, trials on both nodes.

One cluster serves the module, started as Ray's token-auth docs show: the token
generated into ~/.ray/auth_token, `RAY_AUTH_MODE=token` on the nodes, `ray start
--head`, then `ray start --address=…`. Drivers reach it either the plain way (the same
home folder, no RAY_AUTH_* variables) or with the token in RAY_AUTH_TOKEN and a home
folder without this cluster's. The test that kills the worker node runs last; a test after it
would get a new worker.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
        start_new_session=True,  # the node's processes (raylet, workers…) in one group
    )


def _stop_node(node: subprocess.Popen) -> None:
    """The node and every process it started, at once (`ray start --block` takes 30 s
    to stop on SIGTERM)."""
    if node.poll() is None:
        os.killpg(node.pid, signal.SIGKILL)
    node.wait(timeout=30)


@dataclass
class Cluster:
    """A head and a worker node of 2 CPUs each on 127.0.0.1."""

    port: int
    nodes_env: dict[str, str]  # the nodes' environment: the token file, RAY_AUTH_MODE=token
    plain: dict[str, str]  # a driver's: the same home folder, no RAY_AUTH_* variables
    token: str
    head: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    lost: list[subprocess.Popen] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def with_token(self) -> dict[str, str]:
        """A driver's environment with the token in RAY_AUTH_TOKEN (this process's home
        folder, with no token file of this cluster)."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        return environ | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def start(self) -> None:
        self.head = _start_node(
            ["--head", f"--port={self.port}", "--node-ip-address=127.0.0.1"]
            + ["--include-dashboard=false"],
            self.nodes_env,
        )
        _wait_for_port(self.port)
        self.start_worker()

    def start_worker(self) -> None:
        self.worker = _start_node(
            [f"--address={self.address}", "--node-ip-address=127.0.0.1"], self.nodes_env
        )
        _wait_for_nodes(self.address, self.nodes_env, 2)

    def kill_worker(self) -> None:
        """The worker node and everything on it, as when its machine dies."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=30)
        self.lost.append(self.worker)
        self.worker = None

    def stop(self) -> None:
        for node in [self.worker, self.head, *self.lost]:
            if node is not None:
                _stop_node(node)
        _forget_cluster_file(self.port)


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory):
    home = tmp_path_factory.mktemp("cluster") / "home"
    home.mkdir()
    plain = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    plain["HOME"] = str(home)
    nodes_env = {**plain, "RAY_AUTH_MODE": "token"}
    subprocess.run(
        [RAY, "get-auth-token", "--generate"], env=nodes_env, check=True, capture_output=True
    )
    token_file = home / ".ray" / "auth_token"
    assert token_file.is_file()
    cluster = Cluster(_free_port(), nodes_env, plain, token_file.read_text().strip())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(module_cluster) -> Cluster:
    """The module's cluster with both nodes up (a worker lost in an earlier test is
    replaced)."""
    if module_cluster.worker is None:
        module_cluster.start_worker()
    return module_cluster


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


def _nodes_that_reported(experiment: Path) -> set[str]:
    """The node ids in the results of an experiment's trials."""
    nodes = set()
    for result_file in experiment.glob("*/result.json"):
        nodes |= {json.loads(line)["node_id"] for line in result_file.read_text().splitlines()}
    return nodes


def test_an_address_where_no_cluster_answers_fails_fast(isolated_runs):
    """A head address where nothing listens: exit status 2 in seconds, no store made."""
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


def test_a_wrong_token_is_told_apart_from_an_unreachable_head_in_seconds(cluster, isolated_runs):
    """A token the cluster refuses: one sentence saying so (and how to give the right one),
    without the token, in seconds, with no store made."""
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "motif_tune", "sweep", "sweep=smoke"],
        env={
            **cluster.plain,
            "RAY_ADDRESS": cluster.address,
            "RAY_AUTH_TOKEN": "not-the-clusters-token",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    # About 4 s here (most of it imports); the bound leaves room for a busy machine
    # (11 s seen with three test workers on two cores) and still catches a hang.
    assert time.time() - started < 20
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "the Ray cluster answers but refused this driver's token" in line
    assert "RAY_AUTH_TOKEN" in line and "RAY_AUTH_MODE=token" in line
    assert "not-the-clusters-token" not in line
    assert not (isolated_runs / "mlflow.db").exists()


def test_a_cluster_started_the_standard_way_is_joined_with_ray_address_alone(
    cluster, isolated_runs
):
    """RAY_ADDRESS alone (the token found in ~/.ray, the default scaling profile): the
    sweep runs its trial on the cluster's nodes and names a champion."""
    proc = subprocess.run(
        [sys.executable, "-m", "motif_tune", "sweep", "sweep=smoke", "run_name=joined"]
        + ["sweep.num_samples=1"],
        env={
            **cluster.plain,
            "RAY_ADDRESS": cluster.address,
            "MOTIF_TUNE_HOME": str(isolated_runs),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Champion:" in proc.stdout
    assert _nodes_that_reported(isolated_runs / "ray_results" / "joined")  # on the cluster


# Two trials of a remote env runner each (2 CPUs: one trial per node), of quick
# iterations (small batches, one pass over each), checkpointed every two iterations.
NODE_LOST = [
    "sweep=smoke",
    "run_name=node-lost",
    "scaling.env_runners.num_env_runners=1",
    "scaling.env_runners.num_envs_per_env_runner=1",
    "algo.training.train_batch_size_per_learner=128",
    "algo.training.minibatch_size=64",
    "algo.training.num_epochs=1",
    "sweep.budget.iterations=10",
    "sweep.checkpoint.frequency=2",
    "sweep.max_failures=3",
]


def test_a_cluster_sweep_runs_trials_on_both_nodes_and_a_lost_node_costs_retries_not_trials(
    cluster, isolated_runs
):
    """`scaling=cluster` with the address and the token in RAY_AUTH_TOKEN: concurrency is
    read from the cluster (4 CPUs, 2 a trial), and the trials run on both nodes. The
    worker node dies once both trials have checkpointed: its trial restarts from its
    checkpoint on the head, and both finish."""
    env = cluster.with_token()
    sweep = subprocess.Popen(
        [sys.executable, "-m", "motif_tune", "sweep", "scaling=cluster"]
        + [f"scaling.ray.address={cluster.address}", *NODE_LOST],
        env={**env, "MOTIF_TUNE_HOME": str(isolated_runs)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    experiment = isolated_runs / "ray_results" / "node-lost"
    deadline = time.time() + 300
    while time.time() < deadline:  # both trials running, one of them on the worker
        checkpoints = list(experiment.glob("trial_*/checkpoint_*"))
        if len({c.parent for c in checkpoints}) == 2:
            break
        assert sweep.poll() is None, sweep.communicate()[1][-3000:]
        time.sleep(0.25)
    else:
        sweep.kill()
        pytest.fail("the two trials did not both checkpoint in time")
    cluster.kill_worker()
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err[-3000:]
    assert "2 at a time" in out  # read from the cluster: 4 CPUs, 2 per trial
    assert "Restarted from their checkpoints after a failure:" in out, out
    assert len(_nodes_that_reported(experiment)) == 2
    trials = runs_by_role(isolated_runs, "trial")
    assert len(trials) == 2
    assert all(t.info.status == "FINISHED" for t in trials), [t.info.status for t in trials]
    assert all(t.data.tags["motif_tune.trial_status"] == "finished" for t in trials)
    (parent,) = runs_by_role(isolated_runs, "sweep")
    assert parent.info.status == "FINISHED"
