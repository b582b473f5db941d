"""Trial processes reused (``sweep.reuse_processes``) against a process per trial.

    python benchmarks/bench_reuse.py [--quick]

The same smoke sweep (search trials two at a time on 2 CPUs, then the best
finalists and the baseline verified on two fresh seeds) run with
``sweep.reuse_processes=true`` (the default) and ``false``, alternating over the
rounds so both see the same machine. Per run: wall time, the CPU-seconds the
machine spent while it ran (``/proc/stat``; nothing else runs), the trial
processes Tune started (distinct process ids in the trials' results) and the
champion's verified mean, which must be the same in both arms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchlib import (
    MOTIF_TUNE,
    log,
    machine_busy_s,
    median,
    new_figure,
    save_figure,
    scratch,
    table,
    trial_results,
)
from sweep_runs import run_command

FULL = {"rounds": 3, "trials": 6, "finalists": 2}
QUICK = {"rounds": 1, "trials": 3, "finalists": 1}
ARMS = (("reused", "true"), ("per trial", "false"))
TIMEOUT_S = 1200.0


def _sweep(arm: str, reuse: str, round_: int, trials: int, finalists: int, root: Path) -> dict:
    home = root / f"{round_}-{reuse}"
    home.mkdir(parents=True)
    name = f"reuse-{reuse}-{round_}"
    command = [
        MOTIF_TUNE,
        "sweep",
        "sweep=smoke",
        f"sweep.num_samples={trials}",
        f"sweep.verify.top_k={finalists}",
        "sweep.verify.seeds=2",
        f"sweep.reuse_processes={reuse}",
        f"run_name={name}",
    ]
    busy = machine_busy_s()
    run = run_command(command, home, TIMEOUT_S, name)
    cpu_s = machine_busy_s() - busy
    results = {
        **trial_results(home / "ray_results" / name),
        **trial_results(home / "ray_results" / f"{name}-verify"),
    }
    pids = {row["pid"] for rows in results.values() for row in rows}
    champion = next((line for line in run.output.splitlines() if line.startswith("Champion:")), "")
    row = {
        "arm": arm,
        "round": round_ + 1,
        "wall_s": run.wall_s,
        "cpu_s": cpu_s,
        "trials": len(results),
        "processes": len(pids),
        "champion": champion,
    }
    log(
        f"reuse round {round_ + 1}, {arm}: {run.wall_s:.1f} s, {cpu_s:.1f} CPU-s, "
        f"{len(results)} trials in {len(pids)} processes"
    )
    return row


def run(rounds: int = 3, trials: int = 6, finalists: int = 2) -> dict[str, Any]:
    rows = []
    with scratch("reuse") as root:
        for round_ in range(rounds):
            order = ARMS if round_ % 2 == 0 else tuple(reversed(ARMS))
            for arm, reuse in order:
                rows.append(_sweep(arm, reuse, round_, trials, finalists, root))
    by_arm = {arm: [r for r in rows if r["arm"] == arm] for arm, _ in ARMS}
    summary = {
        arm: {
            key: median([r[key] for r in runs])
            for key in ("wall_s", "cpu_s", "trials", "processes")
        }
        for arm, runs in by_arm.items()
    }
    reused, fresh = summary["reused"], summary["per trial"]
    saved = fresh["processes"] - reused["processes"]
    return {
        "setup": {"rounds": rounds, "trials": trials, "finalists": finalists},
        "rows": rows,
        "summary": summary,
        "wall_ratio": median(
            [a["wall_s"] / b["wall_s"] for a, b in zip(*by_arm.values(), strict=True)]
        ),
        "cpu_ratio": median(
            [a["cpu_s"] / b["cpu_s"] for a, b in zip(*by_arm.values(), strict=True)]
        ),
        "cpu_s_per_process": (fresh["cpu_s"] - reused["cpu_s"]) / saved if saved else None,
        "same_champion": len({r["champion"] for r in rows}) == 1,
    }


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        f"`sweep=smoke` with {setup['trials']} search trials (two at a time on 2 CPUs), the "
        f"best {setup['finalists']} and the baseline verified on two fresh seeds; "
        f"`sweep.reuse_processes` true and false alternating over {setup['rounds']} rounds. "
        "CPU-seconds: the machine's while the sweep ran.",
        "",
        table(
            ["round", "arm", "wall s", "CPU s", "trials", "trial processes"],
            [
                [r["round"], r["arm"], r["wall_s"], r["cpu_s"], r["trials"], r["processes"]]
                for r in results["rows"]
            ],
            align="rlrrrr",
        ),
        "",
        f"Reused / a process per trial (median of the rounds' ratios): "
        f"{results['wall_ratio']:.2f}x the wall time, {results['cpu_ratio']:.2f}x the "
        "CPU-seconds.",
    ]
    if results["cpu_s_per_process"] is not None:
        lines.append(
            f"Each trial process not started saved about {results['cpu_s_per_process']:.1f} "
            "CPU-seconds (medians)."
        )
    lines.append(
        "Every run named the same champion with the same verified scores."
        if results["same_champion"]
        else "The runs' champions differed: " + "; ".join(r["champion"] for r in results["rows"])
    )
    return "\n".join(lines)


def headline(results: dict[str, Any]) -> str:
    s = results["summary"]
    return (
        f"- Trial processes reused: a {results['setup']['trials']}-trial smoke sweep with "
        f"verification in {results['wall_ratio']:.2f}x the wall time and "
        f"{results['cpu_ratio']:.2f}x the CPU-seconds of a process per trial "
        f"({s['reused']['processes']:.0f} trial processes against "
        f"{s['per trial']['processes']:.0f}; same champion: "
        f"{'yes' if results['same_champion'] else 'no'})."
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure()
    wall, cpu = figure.subplots(1, 2)
    arms = list(results["summary"])
    for ax, key, label in ((wall, "wall_s", "wall s"), (cpu, "cpu_s", "CPU-seconds")):
        ax.bar(arms, [results["summary"][a][key] for a in arms], color=["tab:blue", "tab:gray"])
        ax.set_ylabel(f"{label} (median)")
    figure.suptitle("One smoke sweep: trial processes reused or one per trial")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of a 3-trial sweep")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
