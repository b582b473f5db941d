"""Start-up time to the first trial result, and peak memory of a two-trial sweep.

    python benchmarks/bench_startup.py [--quick]

Launches ``motif-tune sweep`` (the default sweep, as ``make sweep`` does, with
the venv installed; fewer trials and iterations so it ends soon) and measures:

- the time from launch to ``Tuner.fit()`` (imports, config composition and
  validation, the feasibility check, Ray's start, the MLflow parent run), timed
  by the ``benchmarks/fit_timer`` hook;
- the time from launch to the first trial result: the first line of any
  trial's ``result.json`` in the Tune experiment folder;
- memory while two trials run at once: RSS and PSS summed over the driver and
  every descendant process (Ray's GCS, raylet, workers, trial actors), sampled
  every 0.5 s with psutil. RSS counts shared pages once per process; PSS splits
  them, so the PSS sum is the better estimate of what the sweep takes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchlib import (
    MOTIF_TUNE,
    child_env,
    log,
    mean,
    new_figure,
    require_ok,
    run_process,
    save_figure,
    scratch,
    table,
)

FULL = {"runs": 2, "iterations": 4}
QUICK = {"runs": 1, "iterations": 4}  # ASHA needs more than its grace period (3)
TRIALS = 2
TIMEOUT_S = 600.0


def _first_result(experiment: Path) -> bool:
    """True once any trial of the experiment has written a result line."""
    for path in experiment.glob("*/result.json"):
        try:
            if path.stat().st_size > 0:
                return True
        except OSError:
            continue
    return False


def _one_run(index: int, iterations: int, root: Path) -> dict[str, Any]:
    home = root / f"startup-{index}"
    home.mkdir(parents=True)
    run_name = f"startup-{index}"
    experiment = home / "ray_results" / run_name
    fit_times = home / "fit_times.jsonl"
    command = [
        MOTIF_TUNE,
        "sweep",
        f"run_name={run_name}",
        f"sweep.num_samples={TRIALS}",
        f"sweep.budget.iterations={iterations}",
        "sweep.verify.top_k=0",
    ]
    run = run_process(
        command,
        env=child_env(home, ray_token=False, fit_times=fit_times),
        cwd=home,
        timeout_s=TIMEOUT_S,
        log_file=home / "output.log",
        watch=lambda: _first_result(experiment),
        memory=True,
        fit_times=fit_times,
    )
    require_ok(run, f"startup run {index + 1}")
    row = {
        "run": index + 1,
        "to_fit_s": run.fit_start_s,
        "to_first_result_s": run.event_s,
        "wall_s": run.wall_s,
        "peak_rss_mb": run.peak_rss_mb,
        "peak_pss_mb": run.peak_pss_mb,
        "peak_processes": run.peak_processes,
        "memory_trace": run.memory_trace,
    }
    log(
        f"  run {index + 1}: fit after {row['to_fit_s'] or float('nan'):.1f} s, first result "
        f"after {row['to_first_result_s'] or float('nan'):.1f} s, peak RSS "
        f"{row['peak_rss_mb']:.0f} MB, PSS {row['peak_pss_mb']:.0f} MB"
    )
    return row


def run(runs: int = FULL["runs"], iterations: int = FULL["iterations"]) -> dict[str, Any]:
    """``runs`` sweeps of two trials each; start-up times and peak memory of each."""
    rows = []
    with scratch("startup") as root:
        for index in range(runs):
            log(f"startup: run {index + 1}/{runs}")
            rows.append(_one_run(index, iterations, root))
    return {
        "setup": {"trials": TRIALS, "concurrent": 2, "iterations": iterations, "runs": runs},
        "rows": rows,
        "mean_to_fit_s": mean([r["to_fit_s"] for r in rows if r["to_fit_s"] is not None]),
        "mean_to_first_result_s": mean(
            [r["to_first_result_s"] for r in rows if r["to_first_result_s"] is not None]
        ),
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "max_peak_pss_mb": max(r["peak_pss_mb"] for r in rows),
    }


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    headers = [
        "run",
        "launch → Tuner.fit s",
        "launch → first result s",
        "wall s",
        "peak RSS sum MB",
        "peak PSS sum MB",
        "processes",
    ]
    rows = [
        [
            r["run"],
            r["to_fit_s"],
            r["to_first_result_s"],
            r["wall_s"],
            r["peak_rss_mb"],
            r["peak_pss_mb"],
            r["peak_processes"],
        ]
        for r in results["rows"]
    ]
    return "\n".join(
        [
            f"`motif-tune sweep` (default sweep, {setup['trials']} trials at once, "
            f"{setup['iterations']} iterations each), launched {setup['runs']} time(s).",
            "",
            table(headers, rows),
            "",
            f"Mean time to the first trial result: {results['mean_to_first_result_s']:.1f} s "
            f"(of which {results['mean_to_fit_s']:.1f} s before `Tuner.fit()`); peak memory with "
            f"two trials running: {results['max_peak_pss_mb']:,.0f} MB PSS "
            f"({results['max_peak_rss_mb']:,.0f} MB summed RSS).",
        ]
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure(6.5, 3.8)
    axes = figure.subplots()
    for row in results["rows"]:
        trace = row["memory_trace"]
        line = axes.plot(
            [t for t, _, _ in trace], [p for _, _, p in trace], label=f"run {row['run']} PSS"
        )
        color = line[0].get_color()
        axes.plot(
            [t for t, _, _ in trace],
            [r for _, r, _ in trace],
            ":",
            color=color,
            label=f"run {row['run']} RSS",
        )
        for key, style in (("to_fit_s", "--"), ("to_first_result_s", "-.")):
            if row[key] is not None:
                axes.axvline(row[key], color=color, linestyle=style, linewidth=0.8)
    axes.set_xlabel("seconds since launch (-- Tuner.fit, -. first result)")
    axes.set_ylabel("MB, summed over the process tree")
    axes.legend(fontsize=7)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
