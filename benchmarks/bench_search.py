"""Search efficiency: the default searcher (TPE + ASHA) against random search.

    python benchmarks/bench_search.py [--quick] [--seeds 0 1 2]

Both run ``sweep=default`` (PPO on the motif env; rollout fragment length and
train batch size searched) through the ``motif-tune`` CLI with the same
``sweep.num_samples``, the same stop rule and the same ``sweep.seed``; random
search is ``sweep.searcher=random sweep.scheduler.type=fifo``. The best
objective is the one motif-tune's summary ranks by: the best trial's last
reported ``env_runners/episode_return_mean``, read from the Tune experiment.
Also reported: iterations trained (ASHA stops trials early, so its compute is
smaller at an equal trial budget) and how many trials both searchers proposed
trials.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchlib import (
    MOTIF_TUNE,
    OBJECTIVE,
    child_env,
    log,
    mean,
    new_figure,
    require_ok,
    run_process,
    save_figure,
    scratch,
    table,
    trial_params,
    trial_results,
)

FULL = {"seeds": [0, 1, 2], "trials": 6, "iterations": 8}
QUICK = {"seeds": [0], "trials": 2, "iterations": 4}
SEARCHERS = {
    "tpe+asha": [],
    "random+fifo": ["sweep.searcher=random", "sweep.scheduler.type=fifo"],
}
TIMEOUT_S = 900.0
TPE_STARTUP_TRIALS = 10  # optuna.samplers.TPESampler's default n_startup_trials


def sweep_command(
    run_name: str, seed: int, trials: int, iterations: int, extra: list[str]
) -> list[str]:
    return [
        MOTIF_TUNE,
        "sweep",
        "sweep=default",
        f"run_name={run_name}",
        f"sweep.seed={seed}",
        f"sweep.num_samples={trials}",
        f"stop.training_iteration={iterations}",
        *extra,
    ]


def _one_sweep(
    searcher: str, seed: int, trials: int, iterations: int, root: Path
) -> dict[str, Any]:
    home = root / f"{searcher}-{seed}"
    home.mkdir(parents=True)
    run_name = f"search-{searcher.replace('+', '-')}-{seed}"
    command = sweep_command(run_name, seed, trials, iterations, SEARCHERS[searcher])
    run = run_process(
        command,
        env=child_env(home, ray_token=False),
        cwd=home,
        timeout_s=TIMEOUT_S,
        log_file=home / "output.log",
    )
    require_ok(run, f"sweep {run_name}")
    experiment = home / "ray_results" / run_name
    results = trial_results(experiment)
    params = trial_params(experiment)
    last = {t: rows[-1].get(OBJECTIVE, float("nan")) for t, rows in results.items() if rows}
    best_trial = max(last, key=lambda t: last[t])
    steps = sum(rows[-1].get("num_env_steps_sampled_lifetime", 0) for rows in results.values())
    row = {
        "searcher": searcher,
        "seed": seed,
        "best_objective": last[best_trial],
        "best_params": params.get(best_trial, {}),
        "best_any_iteration": max(
            r.get(OBJECTIVE, float("-inf")) for rows in results.values() for r in rows
        ),
        "trials": len(results),
        "iterations": sum(len(rows) for rows in results.values()),
        "env_steps": steps,
        "wall_s": run.wall_s,
        "proposals": sorted(tuple(sorted(p.items())) for p in params.values()),
    }
    log(
        f"  {searcher} seed {seed}: best {row['best_objective']:.4f} "
        f"({row['iterations']} iterations, {row['wall_s']:.0f} s)"
    )
    return row


def run(
    seeds: list[int] = FULL["seeds"],
    trials: int = FULL["trials"],
    iterations: int = FULL["iterations"],
) -> dict[str, Any]:
    """Both searchers for every seed, alternating; best objective per seed and the means."""
    rows = []
    with scratch("search") as root:
        for seed in seeds:
            log(f"search: seed {seed}")
            for searcher in SEARCHERS:
                rows.append(_one_sweep(searcher, seed, trials, iterations, root))
    summary = {}
    for searcher in SEARCHERS:
        mine = [r for r in rows if r["searcher"] == searcher]
        summary[searcher] = {
            "mean_best": mean([r["best_objective"] for r in mine]),
            "mean_iterations": mean([r["iterations"] for r in mine]),
            "mean_env_steps": mean([r["env_steps"] for r in mine]),
            "mean_wall_s": mean([r["wall_s"] for r in mine]),
        }
    shared = []
    for seed in seeds:
        a, b = (
            next(r for r in rows if r["searcher"] == s and r["seed"] == seed) for s in SEARCHERS
        )
        shared.append(sum(1 for p in a["proposals"] if p in b["proposals"]))
    for r in rows:
        r["proposals"] = [dict(p) for p in r["proposals"]]
    return {
        "setup": {"trials": trials, "iterations": iterations, "seeds": seeds, "sweep": "default"},
        "rows": rows,
        "summary": summary,
        "shared_proposals": shared,
    }


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    names = list(SEARCHERS)
    headers = ["seed"]
    for name in names:
        headers += [f"{name} best", f"{name} iterations", f"{name} wall s"]
    headers.append("trials proposed by both")
    rows = []
    for seed, both in zip(setup["seeds"], results["shared_proposals"], strict=True):
        row: list[Any] = [seed]
        for name in names:
            r = next(x for x in results["rows"] if x["searcher"] == name and x["seed"] == seed)
            row += [r["best_objective"], r["iterations"], r["wall_s"]]
        row.append(f"{both}/{setup['trials']}")
        rows.append(row)
    mean_row: list[Any] = ["**mean**"]
    for name in names:
        s = results["summary"][name]
        mean_row += [s["mean_best"], s["mean_iterations"], s["mean_wall_s"]]
    mean_row.append("")
    rows.append(mean_row)
    a, b = (results["summary"][n]["mean_best"] for n in names)
    lines = [
        f"`sweep=default`, {setup['trials']} trials x up to {setup['iterations']} iterations "
        f"per sweep, two trials at a time; objective `{OBJECTIVE}` (the best trial's last "
        "result, as the summary ranks it; higher is better).",
        "",
        table(headers, rows),
        "",
        f"Mean best: {names[0]} {a:.4f}, {names[1]} {b:.4f} (difference {a - b:+.4f}).",
    ]
    if setup["trials"] <= TPE_STARTUP_TRIALS:
        lines.append(
            f"With {setup['trials']} trials TPE never leaves its start-up phase: Optuna's "
            f"`TPESampler` draws its first {TPE_STARTUP_TRIALS} trials at random "
            "(`n_startup_trials`), so both arms search at random and differ in ASHA's early "
            "stopping (and in which random points they draw)."
        )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure(6, 3.8)
    axes = figure.subplots()
    names = list(SEARCHERS)
    seeds = results["setup"]["seeds"]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [
            next(
                r["best_objective"]
                for r in results["rows"]
                if r["searcher"] == name and r["seed"] == s
            )
            for s in seeds
        ]
        axes.bar(
            [k + (i - (len(names) - 1) / 2) * width for k in range(len(seeds))],
            values,
            width,
            label=f"{name} (mean {results['summary'][name]['mean_best']:.3f})",
        )
    axes.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    axes.set_ylabel(f"best {OBJECTIVE}")
    axes.axhline(0.0, color="grey", linewidth=0.5)
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 2 trials x 4 iterations")
    parser.add_argument("--seeds", type=int, nargs="+")
    args = parser.parse_args(argv)
    preset = dict(QUICK if args.quick else FULL)
    if args.seeds:
        preset["seeds"] = args.seeds
    print(markdown(run(**preset)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
