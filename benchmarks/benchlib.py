"""Helpers shared by the benchmarks: subprocesses with timing and memory, paths, tables.

Every benchmark writes under a temporary folder of its own (``scratch``), never
into the checkout's ``runs/`` or the home folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from motif_tune.results import flatten as flatten_result

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PYTHON = sys.executable
MOTIF_TUNE = str(Path(sys.executable).with_name("motif-tune"))
FIT_TIMER_DIR = BENCH_DIR / "fit_timer"
FIT_TIMES_VAR = "MOTIF_BENCH_FIT_TIMES"
PHASES_VAR = "MOTIF_BENCH_PHASES"
OBJECTIVE = "env_runners/episode_return_mean"


@contextmanager
def scratch(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary folder for one benchmark's files, removed afterwards unless ``keep``."""
    folder = Path(tempfile.mkdtemp(prefix=f"motif-bench-{prefix}-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def ensure_ray_token() -> None:
    """Give a local Ray a token in the environment, so it does not write ``~/.ray``."""
    if any(os.environ.get(k) for k in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    if "ray" in sys.modules:  # Ray read its settings at import: make it read them again
        from ray._raylet import Config

        Config.initialize("")


_MPL_DIR: list[str] = []


def matplotlib_dir() -> str:
    """One matplotlib config folder for all benchmarked processes, its font cache built once.

    A user's matplotlib keeps its cache in the home folder; here it lives in a
    temporary folder, warmed up front so no measured run pays for building it.
    """
    if not _MPL_DIR:
        folder = os.environ.get("MPLCONFIGDIR") or tempfile.mkdtemp(prefix="motif-bench-mpl-")
        env = {**os.environ, "MPLCONFIGDIR": folder}
        subprocess.run([PYTHON, "-c", "import matplotlib.font_manager"], env=env, check=False)
        _MPL_DIR.append(folder)
    return _MPL_DIR[0]


def child_env(
    home: Path,
    *,
    ray_token: bool,
    fit_times: Path | None = None,
    phases: Path | None = None,
    pythonpath: Sequence[Path] = (),
) -> dict[str, str]:
    """The environment of a benchmarked process: its files under ``home``, nothing in $HOME.

    ``fit_times`` and ``phases`` turn on the ``fit_timer`` hook's records;
    ``pythonpath`` comes first on the path (another checkout of the package, say).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_AUTH_", "MOTIF_", "MLFLOW_TRACKING_URI", "RAY_ADDRESS"))
    }
    env["MOTIF_TUNE_HOME"] = str(home)
    env["MPLCONFIGDIR"] = matplotlib_dir()
    if ray_token:
        env["RAY_AUTH_MODE"] = "token"
        env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    hook = fit_times is not None or phases is not None
    if fit_times is not None:
        env[FIT_TIMES_VAR] = str(fit_times)
    if phases is not None:
        env[PHASES_VAR] = str(phases)
    if hook or pythonpath:
        paths = [str(FIT_TIMER_DIR)] if hook else []
        paths += [str(p) for p in pythonpath]
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (*paths, os.environ.get("PYTHONPATH", "")) if p
        )
    return env


@dataclass
class ProcessRun:
    """One benchmarked process: exit status, wall time, output and what was watched."""

    command: list[str]
    returncode: int
    wall_s: float
    started_at: float  # epoch seconds, comparable with the fit timer's stamps
    output: str
    timed_out: bool = False
    event_s: float | None = None  # when ``watch`` first returned True, from launch
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    peak_processes: int = 0
    memory_trace: list[tuple[float, float, float]] = field(default_factory=list)
    fit_start_s: float | None = None  # Tuner.fit() entered, from launch
    fit_end_s: float | None = None  # Tuner.fit() returned, from launch
    fits: list[tuple[float, float]] = field(default_factory=list)  # every Tuner.fit(), in order
    # (seconds from launch, machine's busy CPUs, the process tree's busy CPUs) per interval
    cpu_trace: list[tuple[float, float, float]] = field(default_factory=list)
    load_at_launch: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def fit_s(self) -> float | None:
        if self.fit_start_s is None or self.fit_end_s is None:
            return None
        return self.fit_end_s - self.fit_start_s

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float,
    log_file: Path,
    watch: Callable[[], bool] | None = None,
    memory: bool = False,
    memory_interval_s: float = 0.5,
    fit_times: Path | None = None,
    cpu: bool = False,
    cpu_interval_s: float = 0.5,
) -> ProcessRun:
    """Run ``command`` to its exit, polling ``watch`` and (optionally) the tree's memory
    and the CPUs in use (the machine's, from ``/proc/stat``, and the process tree's).

    The process gets a session of its own; whatever of that session outlives it
    (Ray's helpers) is killed afterwards, so runs do not disturb each other.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    peak_rss = peak_pss = 0.0
    peak_procs = 0
    trace: list[tuple[float, float, float]] = []
    event_s: float | None = None
    timed_out = False
    next_memory = 0.0
    cpu_meter = CpuMeter() if cpu else None
    next_cpu = 0.0
    load = tuple(round(x, 2) for x in os.getloadavg())
    with open(log_file, "wb") as out:
        started_at = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while proc.poll() is None:
            now = time.perf_counter() - start
            if now > timeout_s:
                timed_out = True
                _kill_session(proc.pid)
                proc.wait()
                break
            if watch is not None and event_s is None and watch():
                event_s = now
            if memory and now >= next_memory:
                rss, pss, count = tree_memory_mb(proc.pid)
                trace.append((round(now, 2), rss, pss))
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
                peak_procs = max(peak_procs, count)
                next_memory = now + memory_interval_s
            if cpu_meter is not None and now >= next_cpu:
                cpu_meter.sample(proc.pid, now)
                next_cpu = now + cpu_interval_s
            time.sleep(0.05)
        wall = time.perf_counter() - start
    _kill_session(proc.pid)
    if watch is not None and event_s is None and watch():
        event_s = wall
    run = ProcessRun(
        command=list(command),
        returncode=proc.returncode if not timed_out else 124,
        wall_s=wall,
        started_at=started_at,
        output=log_file.read_text(errors="replace"),
        timed_out=timed_out,
        event_s=event_s,
        peak_rss_mb=peak_rss,
        peak_pss_mb=peak_pss,
        peak_processes=peak_procs,
        memory_trace=trace,
        cpu_trace=cpu_meter.trace if cpu_meter is not None else [],
        load_at_launch=load,  # type: ignore[arg-type]
    )
    if fit_times is not None:
        _read_fit_times(run, fit_times)
    return run


def _read_fit_times(run: ProcessRun, path: Path) -> None:
    """The fit timer's stamps, relative to launch: the first ``Tuner.fit`` of the run as
    ``fit_start_s``/``fit_end_s``, and all of them (a sweep's search and verification)."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        try:
            stamp = json.loads(line)
        except ValueError:
            continue
        run.fits.append((stamp["fit_start"] - run.started_at, stamp["fit_end"] - run.started_at))
    run.fits.sort()
    if run.fits:
        run.fit_start_s, run.fit_end_s = run.fits[0]


def read_phases(path: Path, started_at: float) -> list[dict[str, Any]]:
    """The ``fit_timer`` hook's phase records (``MOTIF_BENCH_PHASES``), times from launch."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        for key in ("start", "end"):
            if key in record:
                record[key] -= started_at
        records.append(record)
    return sorted(records, key=lambda r: r["start"])


class CpuMeter:
    """CPUs in use between samples: the machine's (``/proc/stat``) and a process tree's.

    A process that starts between two samples counts with all its CPU time; one that
    ends between them loses what it used since the last sample.
    """

    def __init__(self) -> None:
        self.trace: list[tuple[float, float, float]] = []
        self._last_t: float | None = None
        self._last_stat = _proc_stat()
        self._last_tree: dict[int, float] = {}

    def sample(self, pid: int, now: float) -> None:
        stat, tree = _proc_stat(), _tree_cpu(pid)
        if self._last_t is not None and now > self._last_t:
            elapsed = now - self._last_t
            busy = (stat[0] - self._last_stat[0]) / _CLOCK_TICKS / elapsed
            used = sum(cpu - self._last_tree.get(p, 0.0) for p, cpu in tree.items())
            self.trace.append((round(now, 2), round(busy, 3), round(used / elapsed, 3)))
        self._last_t, self._last_stat, self._last_tree = now, stat, tree


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from ``/proc/stat``."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def machine_busy_s() -> float:
    """CPU-seconds the whole machine has spent busy since boot (``/proc/stat``)."""
    return _proc_stat()[0] / _CLOCK_TICKS


def _tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of a process and each of its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    used = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        used[proc.pid] = times.user + times.system
    return used


def busy_fraction(
    trace: Sequence[tuple[float, float, float]], start: float, end: float, cpus: int, which: int
) -> float:
    """Mean busy share of ``cpus`` CPUs over the samples ending in (start, end]:
    ``which`` 1 for the whole machine, 2 for the process tree."""
    values = [row[which] for row in trace if start < row[0] <= end]
    return sum(values) / len(values) / cpus if values else float("nan")


def tree_memory_mb(pid: int) -> tuple[float, float, int]:
    """Summed RSS and PSS (MB) of a process and all its descendants, and their count."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0, 0
    rss = pss = 0.0
    count = 0
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        count += 1
    return rss / 2**20, pss / 2**20, count


def _kill_session(pid: int) -> None:
    """Kill what is left of the session that ``pid`` leads (a process this module started)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def require_ok(run: ProcessRun, what: str) -> None:
    """Stop the benchmark (it cannot run) when a measured process failed."""
    if run.returncode != 0:
        raise RuntimeError(
            f"{what} exited with status {run.returncode}"
            f"{' (timed out)' if run.timed_out else ''}; its last lines:\n{run.tail()}"
        )


def trial_results(experiment: Path) -> dict[str, list[dict[str, Any]]]:
    """Every trial's results (flattened, in order) from a Tune experiment folder."""
    trials: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(experiment.glob("*/result.json")):
        rows = [flatten_result(json.loads(line)) for line in path.read_text().splitlines() if line]
        trials[path.parent.name] = rows
    return trials


def trial_params(experiment: Path) -> dict[str, dict[str, Any]]:
    """Every trial's config (its searched values) from a Tune experiment folder."""
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted(experiment.glob("*/params.json"))
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A markdown table; ``align`` holds one of 'l'/'r' per column (default: right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def new_figure(width: float = 7.0, height: float = 4.0) -> Any:
    """A matplotlib figure drawn off screen (no pyplot state, no display needed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
