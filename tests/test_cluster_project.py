"""A team's env on a Ray cluster: the project folder reaches every node through Ray's
runtime_env, so a worker node started from another folder imports the env from Ray's
copy of the project, not from the team's folder."""

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

from tests.conftest import CHECKOUT, cli, runs_by_role

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))
TRACED_ENV = '''
import json, os, uuid
from pathlib import Path

import gymnasium as gym
import numpy as np


class TracedEnv(gym.Env):
    """A one-step task that notes, once per process, which file of it was imported."""

    def __init__(self, config=None):
        config = dict(config or {})
        trace = Path(config.pop("trace_dir"))
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        import ray

        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "driver"
        (trace / f"{uuid.uuid4().hex}.json").write_text(
            json.dumps({"file": __file__, "node": node, "pid": os.getpid()})
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), float(action), True, False, {}
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node(args: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [RAY, "start", "--block", "--disable-usage-stats", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait(address: str, env: dict, nodes: int) -> str:
    """The worker node's id, once ``nodes`` nodes are alive."""
    probe = (
        "import ray, sys, json; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(json.dumps([(n['NodeID'], n['Resources'].get('CPU', 0)) "
        "for n in ray.nodes() if n['Alive']]))"
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        proc = subprocess.run(
            [sys.executable, "-c", probe, address], env=env, capture_output=True, text=True
        )
        alive = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else []
        if len(alive) == nodes:
            return next(node for node, cpus in alive if cpus > 0)
        time.sleep(1)
    pytest.fail(f"the cluster did not reach {nodes} nodes")


def test_a_projects_env_reaches_a_worker_node_through_runtime_env(tmp_path):
    project, elsewhere, trace = tmp_path / "team", tmp_path / "elsewhere", tmp_path / "trace"
    for folder in (project, elsewhere, trace):
        folder.mkdir()
    (project / "traced_env.py").write_text(TRACED_ENV)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MOTIF_", "RAY_"))}
    clean = {k: v for k, v in clean.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(CHECKOUT)}
    env = clean | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # The head holds no CPUs for trials: every trial runs on the worker, started elsewhere.
    head = _node(
        ["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"]
        + ["--node-ip-address=127.0.0.1"],
        env,
        elsewhere,
    )
    nodes = [head]
    try:
        time.sleep(3)
        nodes.append(
            _node(
                [f"--address={address}", "--num-cpus=2", "--node-ip-address=127.0.0.1"],
                env,
                elsewhere,
            )
        )
        worker = _wait(address, env, 2)
        proc = subprocess.run(
            cli(
                "sweep", "sweep=smoke", "scaling=cluster", f"scaling.ray.address={address}",
                "scaling.env_runners.num_env_runners=0", "env=gym", "env.id=traced_env:TracedEnv",
                f"+env.env_config.trace_dir={trace}", "sweep.num_samples=1", "sweep.space={}",
                "sweep.budget.env_steps=256", "sweep.objective.episodes=5",
                "algo.training.train_batch_size_per_learner=128", "run_name=cluster-project",
            ),
            cwd=project,
            env=env | {"MOTIF_TUNE_HOME": str(tmp_path / "runs")},
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        for node in reversed(nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
        for node in nodes:
            node.wait(timeout=30)
    traces = [json.loads(p.read_text()) for p in trace.glob("*.json")]
    on_worker = [t for t in traces if t["node"] == worker]
    assert on_worker, traces
    for traced in on_worker:  # Ray's unpacked copy of the project, not the team's folder
        assert "runtime_resources" in traced["file"] and str(project) not in traced["file"]
    (trial,) = runs_by_role(tmp_path / "runs", "trial")
    assert trial.info.status == "FINISHED"
