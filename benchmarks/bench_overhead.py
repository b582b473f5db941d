"""What motif-tune costs over a hand-written Tune + RLlib + MLflow script.

    python benchmarks/bench_overhead.py [--pairs 3] [--iterations 8] [--quick]

The same small sweep (PPO on the motif env, ``num_env_runners=0``, fixed
rollout fragment length and train batch size, the same iterations, two trials
at once on 2 CPUs) runs through the ``motif-tune`` CLI and through
``benchmarks/plain_tune.py``, alternating A, B, A, B, … Each process is timed
from launch to exit, and inside it ``Tuner.fit()`` is timed too (a
``sitecustomize`` hook, ``benchmarks/fit_timer/``, loaded in both alike).
Reports the per-pair ratios motif-tune / plain and their median.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchlib import (
    BENCH_DIR,
    MOTIF_TUNE,
    OBJECTIVE,
    PYTHON,
    ProcessRun,
    child_env,
    log,
    mean,
    median,
    new_figure,
    require_ok,
    run_process,
    save_figure,
    scratch,
    table,
    trial_results,
)

FULL = {"pairs": 3, "iterations": 8}
QUICK = {"pairs": 1, "iterations": 2}
TRIALS, FRAGMENT, BATCH = 2, 64, 1024
TIMEOUT_S = 600.0


def motif_tune_command(run_name: str, iterations: int) -> list[str]:
    """``motif-tune sweep`` with the searched pair pinned to one value each."""
    return [
        MOTIF_TUNE,
        "sweep",
        "sweep=smoke",
        f"run_name={run_name}",
        f"sweep.num_samples={TRIALS}",
        f"sweep.budget.iterations={iterations}",
        "sweep.objective.by=smoothed",  # no scoring evaluation: the same work as the plain script
        f"sweep.space.rollout_fragment_length.low={FRAGMENT}",
        f"sweep.space.rollout_fragment_length.high={FRAGMENT}",
        f"sweep.space.train_batch_size.low={BATCH}",
        f"sweep.space.train_batch_size.high={BATCH}",
    ]


def plain_command(storage: Path, iterations: int) -> list[str]:
    return [
        PYTHON,
        str(BENCH_DIR / "plain_tune.py"),
        f"--storage={storage}",
        f"--trials={TRIALS}",
        f"--iterations={iterations}",
        f"--fragment={FRAGMENT}",
        f"--batch={BATCH}",
        "--cpus=2",
    ]


def _measure(kind: str, index: int, iterations: int, root: Path) -> dict[str, Any]:
    home = root / f"{kind}-{index}"
    home.mkdir(parents=True)
    fit_times = home / "fit_times.jsonl"
    if kind == "motif-tune":
        run_name = f"overhead-{index}"
        command = motif_tune_command(run_name, iterations)
        env = child_env(home, ray_token=False, fit_times=fit_times)
        experiment = home / "ray_results" / run_name
    else:
        command = plain_command(home / "store", iterations)
        env = child_env(home, ray_token=True, fit_times=fit_times)
        experiment = home / "store" / "ray_results" / "plain"
    run = run_process(
        command,
        env=env,
        cwd=home,
        timeout_s=TIMEOUT_S,
        log_file=home / "output.log",
        fit_times=fit_times,
    )
    require_ok(run, f"{kind} (pair {index + 1})")
    return _figures(kind, run, experiment, iterations)


def _figures(kind: str, run: ProcessRun, experiment: Path, iterations: int) -> dict[str, Any]:
    trials = trial_results(experiment)
    done = [len(rows) for rows in trials.values()]
    if len(trials) != TRIALS or any(n != iterations for n in done):
        raise RuntimeError(
            f"{kind}: expected {TRIALS} trials x {iterations} iterations, got {done}"
        )
    iter_times = [r["time_this_iter_s"] for rows in trials.values() for r in rows]
    best = max(rows[-1].get(OBJECTIVE, float("nan")) for rows in trials.values())
    figures = {
        "kind": kind,
        "wall_s": run.wall_s,
        "fit_s": run.fit_s,
        "before_fit_s": run.fit_start_s,
        "after_fit_s": (run.wall_s - run.fit_end_s) if run.fit_end_s is not None else None,
        "mean_iteration_s": mean(iter_times),
        "best_objective": best,
    }
    log(
        f"  {kind}: {run.wall_s:.1f} s wall, fit {_s(run.fit_s)}, "
        f"before fit {_s(run.fit_start_s)}, after fit {_s(figures['after_fit_s'])}"
    )
    return figures


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def run(pairs: int = FULL["pairs"], iterations: int = FULL["iterations"]) -> dict[str, Any]:
    """Alternate motif-tune and the plain script ``pairs`` times; per-pair ratios."""
    rows = []
    with scratch("overhead") as root:
        for index in range(pairs):
            log(f"overhead: pair {index + 1}/{pairs}")
            a = _measure("motif-tune", index, iterations, root)
            b = _measure("plain", index, iterations, root)
            rows.append(
                {
                    "pair": index + 1,
                    "motif_tune": a,
                    "plain": b,
                    "ratio_wall": _ratio(a["wall_s"], b["wall_s"]),
                    "ratio_fit": _ratio(a["fit_s"], b["fit_s"]),
                }
            )
    wall = [r["ratio_wall"] for r in rows if r["ratio_wall"] is not None]
    fit = [r["ratio_fit"] for r in rows if r["ratio_fit"] is not None]
    return {
        "setup": {
            "trials": TRIALS,
            "concurrent": 2,
            "iterations": iterations,
            "rollout_fragment_length": FRAGMENT,
            "train_batch_size": BATCH,
            "pairs": pairs,
        },
        "pairs": rows,
        "median_ratio_wall": median(wall),
        "median_ratio_fit": median(fit),
    }


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    headers = [
        "pair",
        "motif-tune wall s",
        "plain wall s",
        "ratio wall",
        "motif-tune fit s",
        "plain fit s",
        "ratio fit",
    ]
    rows = [
        [
            r["pair"],
            r["motif_tune"]["wall_s"],
            r["plain"]["wall_s"],
            r["ratio_wall"],
            r["motif_tune"]["fit_s"],
            r["plain"]["fit_s"],
            r["ratio_fit"],
        ]
        for r in results["pairs"]
    ]
    rows.append(
        [
            "**median**",
            None,
            None,
            results["median_ratio_wall"],
            None,
            None,
            results["median_ratio_fit"],
        ]
    )
    phase_headers = [
        "",
        "launch → fit s",
        "fit s",
        "fit → exit s",
        "mean s per iteration",
        f"best {OBJECTIVE}",
    ]
    phases = []
    for kind, key in (("motif-tune", "motif_tune"), ("plain", "plain")):
        runs = [r[key] for r in results["pairs"]]
        phases.append(
            [
                kind,
                mean([x["before_fit_s"] for x in runs if x["before_fit_s"] is not None]),
                mean([x["fit_s"] for x in runs if x["fit_s"] is not None]),
                mean([x["after_fit_s"] for x in runs if x["after_fit_s"] is not None]),
                mean([x["mean_iteration_s"] for x in runs]),
                mean([x["best_objective"] for x in runs]),
            ]
        )
    return "\n".join(
        [
            f"{setup['trials']} PPO trials on the motif env, {setup['concurrent']} at a time, "
            f"{setup['iterations']} iterations each, rollout_fragment_length "
            f"{setup['rollout_fragment_length']}, train batch {setup['train_batch_size']}, "
            f"num_env_runners=0; {setup['pairs']} pairs run alternately (motif-tune, then plain).",
            "",
            table(headers, rows),
            "",
            "Where the time goes (mean over the pairs):",
            "",
            table(phase_headers, phases),
        ]
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure()
    axes = figure.subplots()
    pairs = results["pairs"]
    width = 0.38
    for offset, key, label in (
        (-width / 2, "motif_tune", "motif-tune"),
        (width / 2, "plain", "plain"),
    ):
        xs = [r["pair"] + offset for r in pairs]
        before = [r[key]["before_fit_s"] or 0.0 for r in pairs]
        fit = [r[key]["fit_s"] or 0.0 for r in pairs]
        after = [r[key]["after_fit_s"] or 0.0 for r in pairs]
        bars = axes.bar(xs, before, width, label=f"{label}: launch → fit")
        color = bars.patches[0].get_facecolor() if bars.patches else None
        axes.bar(xs, fit, width, bottom=before, color=color, alpha=0.55, label=f"{label}: fit")
        axes.bar(
            xs,
            after,
            width,
            bottom=[b + f for b, f in zip(before, fit, strict=True)],
            color=color,
            alpha=0.25,
            label=f"{label}: fit → exit",
        )
    axes.set_xticks([r["pair"] for r in pairs], [f"pair {r['pair']}" for r in pairs])
    axes.set_ylabel("wall time (s)")
    axes.set_title(
        f"motif-tune vs plain Tune script (median ratio {results['median_ratio_wall']:.3f})"
    )
    axes.legend(fontsize=7, ncols=2)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pair of 2-iteration sweeps")
    parser.add_argument("--pairs", type=int)
    parser.add_argument("--iterations", type=int)
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    results = run(args.pairs or preset["pairs"], args.iterations or preset["iterations"])
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
