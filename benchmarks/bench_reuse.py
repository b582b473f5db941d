"""Trial processes reused (``sweep.reuse_processes``) against a process per trial.

    python benchmarks/bench_reuse.py [--quick]

Two sweeps, each run with ``sweep.reuse_processes=true`` (the default) and
``false``, alternating over the rounds so both see the same machine:

- ``smoke``: the smoke sweep (search trials two at a time on 2 CPUs, then the
  best finalists and the baseline verified on two fresh seeds); the champion's
  verified mean must be the same in both arms.
- ``pbt``: a population of two on 2 CPUs (``sweep=pbt``, a comparison every 256
  env steps over 2,048), its best member and the baseline replayed on a fresh
  seed. Members pause at every comparison; which one copies which depends on
  the order their reports arrive in, so the champions may differ between runs.

Per run: wall time, the CPU-seconds the machine spent while it ran
(``/proc/stat``; nothing else runs), the trial processes Tune started (distinct
process ids in the trials' results) and the champion.
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
SCENARIOS = ("smoke", "pbt")
PBT = [
    "sweep=pbt",
    "sweep.num_samples=2",
    "sweep.budget.env_steps=2048",
    "sweep.scheduler.perturbation_interval=256",
    "algo.training.train_batch_size_per_learner=256",
    "algo.training.minibatch_size=64",
    "sweep.objective.episodes=10",
    "sweep.verify.top_k=1",
    "sweep.verify.seeds=1",
]
TIMEOUT_S = 1200.0


def _overrides(scenario: str, trials: int, finalists: int) -> list[str]:
    if scenario == "pbt":
        return list(PBT)
    return [
        "sweep=smoke",
        f"sweep.num_samples={trials}",
        f"sweep.verify.top_k={finalists}",
        "sweep.verify.seeds=2",
    ]


def _sweep(scenario: str, arm: str, reuse: str, round_: int, overrides: list[str], root: Path):
    home = root / f"{scenario}-{round_}-{reuse}"
    home.mkdir(parents=True)
    name = f"reuse-{scenario}-{reuse}-{round_}"
    command = [
        MOTIF_TUNE,
        "sweep",
        *overrides,
        f"sweep.reuse_processes={reuse}",
        f"run_name={name}",
    ]
    busy = machine_busy_s()
    run = run_command(command, home, TIMEOUT_S, name)
    cpu_s = machine_busy_s() - busy
    experiments = (home / "ray_results").glob(f"{name}*")
    results = {k: v for experiment in experiments for k, v in trial_results(experiment).items()}
    pids = {row["pid"] for rows in results.values() for row in rows}
    champion = next((line for line in run.output.splitlines() if line.startswith("Champion:")), "")
    row = {
        "scenario": scenario,
        "arm": arm,
        "round": round_ + 1,
        "wall_s": run.wall_s,
        "cpu_s": cpu_s,
        "trials": len(results),
        "processes": len(pids),
        "champion": champion,
    }
    log(
        f"reuse {scenario} round {round_ + 1}, {arm}: {run.wall_s:.1f} s, {cpu_s:.1f} CPU-s, "
        f"{len(results)} trials in {len(pids)} processes"
    )
    return row


def _compared(rows: list[dict]) -> dict[str, Any]:
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
    pairs = list(zip(*by_arm.values(), strict=True))
    return {
        "summary": summary,
        "wall_ratio": median([a["wall_s"] / b["wall_s"] for a, b in pairs]),
        "cpu_ratio": median([a["cpu_s"] / b["cpu_s"] for a, b in pairs]),
        "cpu_s_per_process": (fresh["cpu_s"] - reused["cpu_s"]) / saved if saved else None,
        "same_champion": len({r["champion"] for r in rows}) == 1,
    }


def run(rounds: int = 3, trials: int = 6, finalists: int = 2) -> dict[str, Any]:
    rows = []
    with scratch("reuse") as root:
        for scenario in SCENARIOS:
            overrides = _overrides(scenario, trials, finalists)
            for round_ in range(rounds):
                order = ARMS if round_ % 2 == 0 else tuple(reversed(ARMS))
                for arm, reuse in order:
                    rows.append(_sweep(scenario, arm, reuse, round_, overrides, root))
    return {
        "setup": {"rounds": rounds, "trials": trials, "finalists": finalists},
        "rows": rows,
        "scenarios": {
            scenario: _compared([r for r in rows if r["scenario"] == scenario])
            for scenario in SCENARIOS
        },
    }


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        f"**smoke**: `sweep=smoke` with {setup['trials']} search trials (two at a time on 2 "
        f"CPUs), the best {setup['finalists']} and the baseline verified on two fresh seeds. "
        "**pbt**: `sweep=pbt` with a population of two on 2 CPUs, a comparison every 256 of "
        "2,048 env steps, the best member and the baseline replayed on a fresh seed. "
        f"`sweep.reuse_processes` true and false alternating over {setup['rounds']} rounds; "
        "CPU-seconds: the machine's while the sweep ran.",
        "",
        table(
            ["sweep", "round", "arm", "wall s", "CPU s", "trials", "trial processes"],
            [
                [
                    r["scenario"],
                    r["round"],
                    r["arm"],
                    r["wall_s"],
                    r["cpu_s"],
                    r["trials"],
                    r["processes"],
                ]
                for r in results["rows"]
            ],
            align="lrlrrrr",
        ),
        "",
    ]
    for scenario, compared in results["scenarios"].items():
        line = (
            f"**{scenario}**, reused / a process per trial (median of the rounds' ratios): "
            f"{compared['wall_ratio']:.2f}x the wall time, {compared['cpu_ratio']:.2f}x the "
            "CPU-seconds"
        )
        if compared["cpu_s_per_process"] is not None:
            line += (
                f"; each trial process not started saved about "
                f"{compared['cpu_s_per_process']:.1f} CPU-seconds (medians)"
            )
        champions = [r["champion"] for r in results["rows"] if r["scenario"] == scenario]
        line += (
            ". Every run named the same champion with the same verified scores."
            if compared["same_champion"]
            else ". The runs' champions differed: " + "; ".join(champions)
        )
        lines += [line, ""]
    return "\n".join(lines).rstrip()


def headline(results: dict[str, Any]) -> str:
    smoke, pbt = results["scenarios"]["smoke"], results["scenarios"]["pbt"]
    s, p = smoke["summary"], pbt["summary"]
    return (
        f"- Trial processes reused: a {results['setup']['trials']}-trial smoke sweep with "
        f"verification in {smoke['wall_ratio']:.2f}x the wall time and "
        f"{smoke['cpu_ratio']:.2f}x the CPU-seconds of a process per trial "
        f"({s['reused']['processes']:.0f} trial processes against "
        f"{s['per trial']['processes']:.0f}; same champion: "
        f"{'yes' if smoke['same_champion'] else 'no'}); a PBT population of two in "
        f"{pbt['wall_ratio']:.2f}x the wall time and {pbt['cpu_ratio']:.2f}x the CPU-seconds "
        f"({p['reused']['processes']:.0f} trial processes against "
        f"{p['per trial']['processes']:.0f})."
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure()
    wall, cpu = figure.subplots(1, 2)
    scenarios = list(results["scenarios"])
    width = 0.38
    for ax, key, label in ((wall, "wall_s", "wall s"), (cpu, "cpu_s", "CPU-seconds")):
        for i, (arm, color) in enumerate((("reused", "tab:blue"), ("per trial", "tab:gray"))):
            ax.bar(
                [x + (i - 0.5) * width for x in range(len(scenarios))],
                [results["scenarios"][s]["summary"][arm][key] for s in scenarios],
                width,
                color=color,
                label=arm,
            )
        ax.set_xticks(range(len(scenarios)), scenarios)
        ax.set_ylabel(f"{label} (median)")
    wall.legend()
    figure.suptitle("Sweeps with trial processes reused or one per trial")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="one round of each sweep (3 smoke trials)"
    )
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
