"""motif_tune as an installed tool: a wheel built from the checkout, installed (not
editable) into a fresh virtual environment outside it, used from a team's own folder."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT, runs_by_role

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment with the wheel installed; the project's environment lends it
    the dependencies (a .pth file), so nothing is downloaded."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(CHECKOUT)], cwd=root)  # fmt: skip
    (wheel,) = dist.glob("motif_tune-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd=root).stdout.strip()  # fmt: skip
    Path(site, "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], cwd=root
    )
    return venv / "bin"


def run(argv: list[str], cwd: Path, env: dict | None = None, timeout: int = 600):
    """``argv`` in ``cwd`` with none of this test run's MOTIF_* or PYTHON* variables."""
    env = env or {k: v for k, v in os.environ.items() if not k.startswith(("MOTIF_", "PYTHON"))}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_the_wheel_carries_the_config_and_sweeps_a_project_of_its_own(installed, tmp_path):
    team = tmp_path / "team"
    team.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOTIF_", "PYTHON"))}
    tool = str(installed / "motif-tune")
    show = "import motif_tune; print(motif_tune.__file__)"
    where = run([str(installed / "python"), "-c", show], cwd=team, env=env).stdout
    assert str(installed.parent) in where and str(CHECKOUT) not in where  # not the checkout
    run([tool, "init", "demo"], cwd=team, env=env)
    # A sweep file named like a shipped one replaces it.
    smoke = (team / "sweeps" / "demo.yaml").read_text().replace("name: demo", "name: smoke")
    (team / "sweeps" / "smoke.yaml").write_text(smoke)
    composed = run([tool, "sweep", "sweep=smoke", "--cfg", "job"], cwd=team, env=env).stdout
    assert "metric: env_runners/hit_rate" in composed and "id: demo_env:DemoEnv" in composed
    small = ["sweep.num_samples=2", "sweep.verify.top_k=0", "sweep.budget.env_steps=1024"]
    small += ["sweep.objective.episodes=20", "run_name=demo-wheel"]
    proc = run([tool, "sweep", "sweep=demo", *small], cwd=team, env=env)
    assert "Champion:" in proc.stdout, proc.stdout
    runs = team / "runs"
    (parent,) = runs_by_role(runs, "sweep")
    assert parent.info.status == "FINISHED" and parent.data.params["sweep"] == "demo"
    trials = runs_by_role(runs, "trial")
    assert len(trials) == 2
    assert all("env_runners/hit_rate" in t.data.metrics for t in trials)
    assert all(t.data.metrics["objective"] >= 0 for t in trials)
