"""Shared helpers: compose configs the way the CLI does, in an isolated runs folder; one
real sweep that many end-to-end tests read; an empty MLflow store to start from."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import DictConfig

from motif_tune.config import Settings, load_settings
from motif_tune.config.composition import compose
from motif_tune.config.sources import PROJECT_VAR
from motif_tune.pipeline.plan import plan_sweep
from motif_tune.rllib.checks import check_settings

CHECKOUT = Path(__file__).resolve().parents[1]

# matplotlib builds its font cache in a new MPLCONFIGDIR (a run's folder, by default) in
# about two seconds; every sweep the tests start shares one, made once.
os.environ.setdefault("MPLCONFIGDIR", str(Path(tempfile.gettempdir()) / "motif_tune_tests_mpl"))

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items) -> None:
    """The modules that run real sweeps first: ``make test`` gives each worker a whole
    module at a time (``--dist loadfile``: a module-scoped sweep runs once), in this
    order, so that the longest work does not start last."""
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)


def cli(*args: str) -> list[str]:
    """The ``motif-tune`` program, as a subprocess command line."""
    return [sys.executable, "-m", "motif_tune", *args]


def runs_by_role(store: Path, role: str) -> list:
    """The runs of ``role`` in the local store under ``store`` (none before it exists)."""
    from motif_tune.tracking.client import open_store

    if not (store / "mlflow.db").exists():
        return []
    client = open_store(f"sqlite:///{store}/mlflow.db")  # safe while a sweep creates it
    experiment = client.get_experiment_by_name("motif_tune")
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`motif_tune.role` = '{role}'"
    )


def trial_pids(experiment: Path) -> dict[str, set[int]]:
    """The process ids each trial of a Tune experiment folder reported from."""
    return {
        results.parent.name: {json.loads(line)["pid"] for line in results.read_text().splitlines()}
        for results in experiment.glob("trial_*/result.json")
    }


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The config composed as the command line composes it."""
    return compose(overrides)


def settings_for(overrides: Sequence[str] = (), command: str = "sweep") -> Settings:
    """Settings as the command line makes them: loaded, then checked whole (a sweep's
    as its plan checks them)."""
    settings = load_settings(compose_config(overrides), command)
    check_settings(settings)
    if command == "sweep":
        plan_sweep(settings)
    return settings


def clean_environ() -> dict[str, str]:
    """This process's environment without the variables that point motif-tune elsewhere
    (MOTIF_*, MLFLOW_*, RAY_ADDRESS), and with this checkout first on PYTHONPATH, so a
    subprocess started in another folder runs the code under test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOTIF_", "MLFLOW_")) and k != "RAY_ADDRESS"
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Every test writes under its own folder, never into the checkout or $HOME."""
    monkeypatch.setenv("MOTIF_TUNE_HOME", str(tmp_path / "runs"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key in [k for k in os.environ if k.startswith("MOTIF_") and k != "MOTIF_TUNE_HOME"]:
        monkeypatch.delenv(key, raising=False)
    # The checkout is the project (its conf/ and sweeps/ are the shipped ones); a test
    # that points the CLI at a project of its own gets this back afterwards.
    monkeypatch.setenv(PROJECT_VAR, str(CHECKOUT))
    return tmp_path / "runs"


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """One small local Ray for a module that builds Algorithms in this process, its auth
    token kept out of $HOME (Ray's auth settings re-read, and any token an earlier
    module's Ray read in this process forgotten, before and after)."""
    import ray

    from motif_tune.compat.ray import reload_auth_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        reload_auth_settings()
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()
    reload_auth_settings()


@pytest.fixture(scope="module", autouse=True)
def _no_ray_left_behind() -> Iterator[None]:
    """Ray started in this process by a module's tests (``start_ray``, a command run
    in-process) is stopped with the module: a later module in the same worker starts its
    own, with its own runtime_env (a project's code), instead of inheriting this one."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


# --------------------------------------------------------------------- an existing store


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory) -> Path:
    """An MLflow SQLite store created and migrated once per session, with no runs in it
    (creating one costs seconds; tests that only need *a* store copy this file)."""
    from motif_tune.tracking.client import open_store

    path = tmp_path_factory.mktemp("empty_store") / "mlflow.db"
    open_store(f"sqlite:///{path}")
    return path


@pytest.fixture
def existing_store(empty_store_file, isolated_runs) -> Path:
    """``isolated_runs`` holding an (empty) MLflow store already, as after a first run."""
    isolated_runs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(empty_store_file, isolated_runs / "mlflow.db")
    return isolated_runs


# --------------------------------------------------------------------- the shared sweep

# The sweep many end-to-end tests read: the smoke sweep (FIFO, 512 env steps a trial)
# with three trials (the baseline at batch 1024 and two smaller batches), then the best
# and the baseline verified on two fresh seeds and the champion registered.
SHARED_RUN = "shared"
SHARED_SWEEP = (
    "sweep=smoke",
    "sweep.num_samples=3",
    "sweep.verify.top_k=1",
    "sweep.verify.seeds=2",
    f"run_name={SHARED_RUN}",
)


@dataclass(frozen=True)
class SharedSweep:
    """One finished sweep, run through the real command line and a pipe.

    Tests read it and never write into its folder: a test that writes works on a
    copy (:meth:`copy_to`).
    """

    root: Path  # the session folder
    runs: Path  # MOTIF_TUNE_HOME of the sweep
    proc: subprocess.CompletedProcess
    run_name: str = SHARED_RUN

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.runs}/mlflow.db"

    @property
    def study_storage(self) -> str:
        return f"sqlite:///{self.runs}/optuna.db"

    @property
    def output(self) -> str:
        """What the sweep printed: stdout, then stderr."""
        return self.proc.stdout + self.proc.stderr

    @property
    def log_file(self) -> Path:
        return self.runs / "hydra" / self.run_name / "motif_tune.log"

    def client(self):
        from motif_tune.tracking.client import open_store

        return open_store(self.uri)

    def runs_by_role(self, role: str) -> list:
        return runs_by_role(self.runs, role)

    def copy_to(self, runs: Path) -> Path:
        """A copy of the sweep's runs folder at ``runs``, for a test that writes (a next
        sweep, an ``evaluate``, MLflow serving a registered model): the copied MLflow
        store names the copied artifacts, so nothing reaches the shared folder."""
        shutil.copytree(self.runs, runs, ignore=shutil.ignore_patterns("*.lock", "ray_sessions"))
        relocate_store(runs / "mlflow.db", self.runs, runs)
        return runs


def relocate_store(store: Path, old: Path, new: Path) -> None:
    """Point every path under ``old`` recorded in the SQLite MLflow ``store`` (artifact
    locations of the experiment, runs, models) at the same path under ``new``."""
    with closing(sqlite3.connect(store)) as db, db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    db.execute(
                        f'UPDATE "{table}" SET "{column[1]}" = replace("{column[1]}", ?, ?) '
                        f'WHERE "{column[1]}" LIKE ?',
                        (str(old), str(new), f"%{old}%"),
                    )


@pytest.fixture(scope="session")
def shared_sweep(tmp_path_factory) -> Iterator[SharedSweep]:
    """The smoke sweep with verification (``SHARED_SWEEP``), run once per session exactly
    as a user runs it: ``python -m motif_tune sweep …`` through a pipe, with only
    MOTIF_TUNE_HOME set among the variables motif-tune reads. Under ``pytest -n`` the
    first worker that needs it runs it and the others read the same folder. At the end
    of the session its folder must hold what the sweep left, unchanged by the tests that
    read it."""
    from filelock import FileLock

    # One folder for every worker of this session (the base folder of a lone session).
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared_sweep"
    with FileLock(f"{root}.lock"):
        proc = _recorded(root / "proc.json") or _run_shared_sweep(root)
    runs = root / "runs"
    left = _fingerprint(runs)
    yield SharedSweep(root=root, runs=runs, proc=proc)
    changed = sorted(set(left.items()) ^ set(_fingerprint(runs).items()))
    assert not changed, f"tests wrote into the shared sweep's folder: {changed[:10]}"


def _run_shared_sweep(root: Path) -> subprocess.CompletedProcess:
    # The sweep runs in a folder of its own, not the parent of runs/ (where it would
    # name `make ui` rather than the `mlflow ui` command for its store).
    runs, cwd = root / "runs", root / "cwd"
    cwd.mkdir(parents=True)
    env = clean_environ() | {"MOTIF_TUNE_HOME": str(runs)}
    proc = subprocess.run(
        cli("sweep", *SHARED_SWEEP),
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (root / "proc.json").write_text(
        json.dumps({"args": proc.args, "stdout": proc.stdout, "stderr": proc.stderr})
    )
    return proc


def _recorded(path: Path) -> subprocess.CompletedProcess | None:
    """The shared sweep another worker ran, as it finished (None: not run yet)."""
    if not path.is_file():
        return None
    done = json.loads(path.read_text())
    return subprocess.CompletedProcess(done["args"], 0, done["stdout"], done["stderr"])


def _fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under ``folder`` (lock files aside: an
    opener of the store takes its lock)."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file() and path.suffix != ".lock"
    }


def kill_when(command: list[str], ready, what: str, timeout_s: float = 300) -> None:
    """Start ``command`` in a process group of its own and SIGKILL the group (the driver
    and its local Ray) as soon as ``ready()``."""
    driver = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + timeout_s
    try:
        while time.time() < deadline:
            if ready():
                break
            assert driver.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.25)
        else:
            pytest.fail(what)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
