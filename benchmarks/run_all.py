"""Run the benchmarks, print their figures and write ``benchmarks/RESULTS.md``.

    python benchmarks/run_all.py                  # everything (over an hour on 2 cores)
    python benchmarks/run_all.py --quick          # a short pass that checks it all works
    python benchmarks/run_all.py --only overhead sweep-value
    python benchmarks/run_all.py --skip throughput
    python benchmarks/run_all.py --render         # rewrite RESULTS.md from results.json

Figures go to ``<output-dir>/RESULTS.md``, plots to ``<output-dir>/plots/`` and the
raw numbers to ``<output-dir>/results.json``. The output folder is ``benchmarks/``
for a full run and a new temporary folder for ``--quick`` (so a check never
replaces real figures). A run of some benchmarks keeps the other benchmarks'
last figures. Exit status 1 when a benchmark could not run, else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchlib import BENCH_DIR, REPO_DIR, log, new_figure, save_figure

PACKAGES = ("ray", "torch", "optuna", "mlflow", "gymnasium", "numpy", "hydra-core")


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    title: str
    full: dict[str, Any]
    quick: dict[str, Any]


BENCHMARKS = [
    Benchmark(
        "overhead",
        "bench_overhead",
        "Framework overhead: motif-tune vs a plain Tune script",
        {},
        {},
    ),
    Benchmark("throughput", "bench_throughput", "Sampling throughput of one trial", {}, {}),
    Benchmark(
        "sweep-value",
        "bench_sweep_value",
        "Sweep value: the champion against the defaults and random search",
        {},
        {},
    ),
    Benchmark(
        "pbt",
        "bench_pbt",
        "PBT against TPE + ASHA at equal env steps",
        {},
        {},
    ),
    Benchmark("startup", "bench_startup", "Start-up time and peak memory", {}, {}),
    Benchmark(
        "reuse",
        "bench_reuse",
        "Trial processes: reused, or one per trial",
        {},
        {},
    ),
    Benchmark("faults", "bench_faults", "Throughput with a flaky env", {}, {}),
    Benchmark(
        "outage",
        "bench_outage",
        "Outage: a tracking server down in the middle of a sweep",
        {},
        {},
    ),
    Benchmark(
        "warm-start",
        "bench_warm_start",
        "Warm start: half a sweep from an earlier study against a full cold one",
        {},
        {},
    ),
    Benchmark(
        "scale",
        "bench_scale",
        "Scale: the control plane of a 1,000-trial sweep",
        {},
        {},
    ),
    Benchmark(
        "env",
        "bench_env",
        "Env step rate, alone and vectorised",
        {"steps": 50_000},
        {"steps": 5_000},
    ),
]
NAMES = [b.name for b in BENCHMARKS]


def _presets(bench: Benchmark, module: Any, quick: bool) -> dict[str, Any]:
    """The keyword arguments of ``module.run``: the module's own FULL/QUICK presets."""
    own = getattr(module, "QUICK" if quick else "FULL", None)
    kwargs = dict(own) if isinstance(own, dict) else {}
    kwargs.update(bench.quick if quick else bench.full)
    return kwargs


# ----------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and package versions of this machine."""
    import psutil

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "commit": _commit(),
    }


# What the benchmarks write: changes to these do not make a checkout's code differ.
WRITTEN_HERE = ("benchmarks/RESULTS.md", "benchmarks/results.json", "benchmarks/plots/")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _commit() -> str | None:
    """HEAD's short hash, and whether tracked files other than prose and the benchmarks'
    own output differ from it: a figure is only as reproducible as the code it ran."""
    head = (_git("rev-parse", "--short", "HEAD") or "").strip()
    if not head:
        return None
    status = _git("status", "--porcelain", "--untracked-files=no") or ""
    changed = [line[3:] for line in status.splitlines() if line[3:]]
    if any(not (p.startswith(WRITTEN_HERE) or p.endswith(".md")) for p in changed):
        return f"{head} with uncommitted changes"
    return head


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ----------------------------------------------------------------------- env adapter


def env_markdown(results: dict[str, Any]) -> str:
    module = importlib.import_module("bench_env")
    rates = results["rates"]
    single, vector = rates.get("motif, scores"), _vector_rate(rates)
    lines = [
        f"Random actions, {results['steps']:,} env steps per case.",
        "",
        module.markdown(rates),
    ]
    if single and vector:
        lines += [
            "",
            f"Vectorised / single motif env (measured side by side): {vector / single:.2f}x.",
        ]
    return "\n".join(lines)


def _vector_rate(rates: dict[str, float]) -> float | None:
    return next((v for k, v in rates.items() if "SyncVectorEnv" in k), None)


def env_plot(results: dict[str, Any], path: Path) -> Path:
    rates = results["rates"]
    figure = new_figure(6.5, 3.2)
    axes = figure.subplots()
    names = list(rates)
    axes.barh(names[::-1], [rates[n] for n in names[::-1]])
    axes.set_xlabel("env steps/s")
    return save_figure(figure, path)


# ----------------------------------------------------------------------- running


def run_one(bench: Benchmark, quick: bool, plots_dir: Path) -> dict[str, Any]:
    """Run one benchmark; its figures, plot, wall time and (on failure) the error."""
    module = importlib.import_module(bench.module)
    kwargs = _presets(bench, module, quick)
    entry: dict[str, Any] = {
        "title": bench.title,
        "measured_at": _now(),
        "commit": _commit(),
        "mode": "quick" if quick else "full",
        "load_before": _load(),
    }
    start = time.perf_counter()
    try:
        results = module.run(**kwargs)
        if bench.name == "env":
            results = {"steps": kwargs["steps"], "rates": results}
        entry["results"] = results
    except Exception as err:  # a benchmark that cannot run: report it, run the others
        entry["error"] = f"{type(err).__name__}: {err}"
        log(f"{bench.name} could not run:\n{traceback.format_exc()}")
    entry["wall_s"] = time.perf_counter() - start
    entry["load_after"] = _load()
    if "results" in entry:
        plot_fn = env_plot if bench.name == "env" else module.plot
        try:
            entry["plot"] = str(plot_fn(entry["results"], plots_dir / f"{bench.name}.png").name)
        except Exception as err:  # a figure is no reason to lose the numbers
            log(f"{bench.name}: no plot ({err})")
    return entry


def _on(commit: str | None) -> str:
    return f" on {commit}" if commit else ""


def section_markdown(name: str, entry: dict[str, Any]) -> str:
    lines = [f"## {entry['title']}", ""]
    meta = (
        f"Measured {entry['measured_at']}{_on(entry.get('commit'))} ({entry['mode']} mode) in "
        f"{entry['wall_s']:.0f} s; "
        f"load average before/after: {_fmt_load(entry.get('load_before'))} / "
        f"{_fmt_load(entry.get('load_after'))}."
    )
    lines += [meta, ""]
    if "error" in entry:
        lines.append(f"**Could not run:** {entry['error']}")
        return "\n".join(lines)
    if name == "env":
        lines.append(env_markdown(entry["results"]))
    else:
        lines.append(importlib.import_module(_module_of(name)).markdown(entry["results"]))
    if entry.get("plot"):
        lines += ["", f"![{name}](plots/{entry['plot']})"]
    return "\n".join(lines)


def _module_of(name: str) -> str:
    return next(b.module for b in BENCHMARKS if b.name == name)


def _fmt_load(load: list[float] | None) -> str:
    return "/".join(f"{x:.2f}" for x in load) if load else "?"


def headline(entries: dict[str, dict[str, Any]]) -> list[str]:
    """One line per benchmark with its main figure."""
    lines = []
    r = entries.get("overhead", {}).get("results")
    if r:
        lines.append(
            f"- Overhead: motif-tune / plain Tune script, median of {len(r['pairs'])} pairs: "
            f"{r['median_ratio_wall']:.3f} (whole process), {r['median_ratio_fit']:.3f} "
            "(inside `Tuner.fit()`)."
        )
    r = entries.get("throughput", {}).get("results")
    if r and r["best"].get("local/sampling_steps_per_s"):
        b = r["best"]["local/sampling_steps_per_s"]
        lines.append(
            f"- Throughput: fastest sampling for a `num_env_runners=0` trial: "
            f"{b['num_envs_per_env_runner']} envs, fragment {b['rollout_fragment_length']}, "
            f"{b['sampling_steps_per_s']:,.0f} env steps/s."
        )
    r = entries.get("sweep-value", {}).get("results")
    if r:
        lines.append(importlib.import_module("bench_sweep_value").headline(r))
    r = entries.get("pbt", {}).get("results")
    if r:
        lines.append(importlib.import_module("bench_pbt").headline(r))
    r = entries.get("startup", {}).get("results")
    if r:
        lines.append(importlib.import_module("bench_startup").headline(r))
    r = entries.get("reuse", {}).get("results")
    if r:
        lines.append(importlib.import_module("bench_reuse").headline(r))
    r = entries.get("warm-start", {}).get("results")
    if r:
        cold, warm = r["rows"][1], r["rows"][2]
        lines.append(
            f"- Warm start: {warm['search_trials']} warm-started trials against "
            f"{cold['search_trials']} cold ones, champion {warm['champion_mean'] or 0:.3f} vs "
            f"{cold['champion_mean'] or 0:.3f} (verified means), {r['wall_ratio']:.2f}x the wall "
            "time."
        )
    r = entries.get("scale", {}).get("results")
    if r:
        lines.append(importlib.import_module("bench_scale").headline(r))
    r = entries.get("env", {}).get("results")
    if r:
        single, vector = r["rates"].get("motif, scores"), _vector_rate(r["rates"])
        if single and vector:
            lines.append(
                f"- Env: {single:,.0f} steps/s alone, {vector:,.0f} steps/s in a SyncVectorEnv "
                f"({vector / single:.2f}x)."
            )
    return lines


def results_markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    entries = data["benchmarks"]
    lines = [
        "# Benchmark results",
        "",
        f"Written {data['written_at']} by `benchmarks/run_all.py` "
        f"({'quick' if data.get('quick') else 'full'} run, {data['wall_s']:.0f} s). "
        "How to run and read them: `benchmarks/README.md`.",
        "",
        f"- Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs "
        f"({m['physical_cores']} cores), {m['memory_gb']} GB memory; {m['os']}",
        f"- Python {m['python']}; {packages}",
        f"- Checkout of the latest run: {m.get('commit') or 'unknown'} (each section names the "
        "checkout it was measured on, where it was recorded)",
        "- The machine was shared: other processes may have used the CPUs during a run; each "
        "section gives the load average around it. Ratios compare runs made side by side "
        "within one benchmark.",
        "",
        "## Headlines",
        "",
        *headline(entries),
    ]
    for name in NAMES:
        if name in entries:
            lines += ["", section_markdown(name, entries[name])]
    return "\n".join(lines) + "\n"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a much shorter pass (a check)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=NAMES,
        metavar="NAME",
        help=f"run only these: {', '.join(NAMES)}",
    )
    parser.add_argument("--skip", nargs="+", choices=NAMES, default=[], metavar="NAME")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite RESULTS.md from the output folder's results.json (runs nothing)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="where RESULTS.md, results.json and plots/ go "
        "(default: benchmarks/, or a temporary folder with --quick)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="motif-bench-mpl-"))
    out = args.output_dir or (
        Path(tempfile.mkdtemp(prefix="motif-bench-quick-")) if args.quick else BENCH_DIR
    )
    out.mkdir(parents=True, exist_ok=True)
    selected = [b for b in BENCHMARKS if (not args.only or b.name in args.only)]
    selected = [b for b in selected if b.name not in args.skip]

    json_path = out / "results.json"
    data: dict[str, Any] = {"benchmarks": {}}
    if json_path.is_file():
        with contextlib.suppress(ValueError):
            data = json.loads(json_path.read_text())
    data.setdefault("benchmarks", {})
    if args.render:
        if "machine" not in data:
            parser.error(f"--render: no results in {json_path}")
        (out / "RESULTS.md").write_text(results_markdown(data))
        log(f"Rewrote {out / 'RESULTS.md'} from {json_path}")
        return 0
    data["machine"] = machine()
    data["quick"] = args.quick

    failed = []
    start = time.perf_counter()
    for bench in selected:
        log(f"== {bench.name}: {bench.title}")
        entry = run_one(bench, args.quick, out / "plots")
        data["benchmarks"][bench.name] = entry
        if "error" in entry:
            failed.append(bench.name)
        print(f"\n{section_markdown(bench.name, entry)}\n", flush=True)
        data["wall_s"] = time.perf_counter() - start
        data["written_at"] = _now()
        json_path.write_text(json.dumps(data, indent=1, default=str))
        (out / "RESULTS.md").write_text(results_markdown(data))
    total = time.perf_counter() - start
    log(f"All done in {total:.0f} s; figures in {out / 'RESULTS.md'}")
    if failed:
        log(f"Could not run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
