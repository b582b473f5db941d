"""Warm start: half a sweep seeded with an earlier sweep's study against a full cold one.

    python benchmarks/bench_warm_start.py [--quick]

Three runs of ``sweep=default`` on the same question (objective, env, budget per
trial), each with its usual verification of the finalists on fresh seeds:

1. ``earlier``: the full sweep with sampler seed 0, whose study is stored;
2. ``cold``: the full sweep with sampler seed 1, starting from nothing;
3. ``warm``: half the trials with sampler seed 1 and ``sweep.warm_start=`` the
   earlier sweep, so TPE models the space from its second proposal.

A row gives the champion's verified mean (its fresh-seed objective), the best
search objective, the trials and env steps its search spent and its wall time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchlib import log, new_figure, save_figure, scratch, table
from sweep_runs import QUICK_SWEEP, run_sweep, runs_tagged

FULL = {"trials": 10, "budget_env_steps": 20_000, "sweep_overrides": []}
QUICK = {
    "trials": 4,
    "budget_env_steps": 2048,
    "sweep_overrides": [o for o in QUICK_SWEEP if not o.startswith("sweep.num_samples")],
}
EARLIER, COLD, WARM = "earlier", "cold", "warm"


def _sweep(arm: str, seed: int, extra: list[str], budget: int, home: Path) -> dict[str, Any]:
    row = run_sweep(arm, seed, extra, budget, home)
    name = f"value-{arm}-{seed}"
    (parent,) = runs_tagged(home, name, "sweep")
    objectives = [t.data.metrics.get("objective") for t in runs_tagged(home, name, "trial")]
    row["champion_mean"] = parent.data.metrics.get("champion/objective_mean")
    row["search_best"] = max((o for o in objectives if o is not None), default=None)
    row["name"] = name
    log(f"  {name}: champion {row['champion_mean']}, wall {row['sweep_wall_s']:.0f} s")
    return row


def run(
    trials: int = FULL["trials"],
    budget_env_steps: int = FULL["budget_env_steps"],
    sweep_overrides: list[str] = FULL["sweep_overrides"],
) -> dict[str, Any]:
    with scratch("warm-start") as home:
        common = [*sweep_overrides]
        earlier = _sweep(
            EARLIER, 0, [*common, f"sweep.num_samples={trials}"], budget_env_steps, home
        )
        cold = _sweep(COLD, 1, [*common, f"sweep.num_samples={trials}"], budget_env_steps, home)
        warm_extra = [
            *common,
            f"sweep.num_samples={max(2, trials // 2)}",
            f"sweep.warm_start={earlier['name']}",
        ]
        warm = _sweep(WARM, 1, warm_extra, budget_env_steps, home)
    return {
        "setup": {"trials": trials, "budget_env_steps": budget_env_steps},
        "rows": [earlier, cold, warm],
        "wall_ratio": warm["sweep_wall_s"] / cold["sweep_wall_s"],
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    rows = results["rows"]
    cold, warm = rows[1], rows[2]
    steps_ratio = warm["search_env_steps"] / max(cold["search_env_steps"], 1)
    warm_per_trial = warm["search_env_steps"] / max(warm["search_trials"], 1)
    cold_per_trial = cold["search_env_steps"] / max(cold["search_trials"], 1)
    lines = [
        f"`sweep=default` at {setup['budget_env_steps']:,} env steps per trial. `earlier`: "
        f"{setup['trials']} trials, sampler seed 0. `cold`: {setup['trials']} trials, seed 1, "
        f"from nothing. `warm`: {warm['search_trials']} trials, seed 1, "
        "`sweep.warm_start=` the earlier sweep. Each verifies its finalists on fresh seeds; "
        "the champion's mean is over those seeds.",
        "",
        table(
            [
                "sweep",
                "trials",
                "search env steps",
                "best search objective",
                "champion (verified mean)",
                "champion settings",
                "wall s",
            ],
            [
                [
                    r["arm"],
                    r["search_trials"],
                    f"{r['search_env_steps']:,}",
                    _fmt(r["search_best"]),
                    _fmt(r["champion_mean"]),
                    ", ".join(f"{k}={v}" for k, v in sorted(r["settings"].items())),
                    f"{r['sweep_wall_s']:.0f}",
                ]
                for r in rows
            ],
        ),
        "",
        f"The warm-started half sweep took {results['wall_ratio']:.2f}x the cold full sweep's "
        f"wall time; its champion scored {_fmt(warm['champion_mean'])} against "
        f"{_fmt(cold['champion_mean'])} for the cold sweep's. Its search spent "
        f"{steps_ratio:.2f}x the cold search's env steps with "
        f"{warm['search_trials'] / max(cold['search_trials'], 1):.2f}x its trials: "
        f"{warm_per_trial:,.0f} env steps per trial against {cold_per_trial:,.0f}: ASHA "
        "stopped fewer of the warm sweep's trials early (it lets trials that rank well at a "
        "rung go on). Both sweeps then retrain the same number of finalists on the same "
        "fresh seeds, a cost that does not shrink with the search.",
    ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure()
    left, right = figure.subplots(1, 2)
    rows = results["rows"]
    names = [r["arm"] for r in rows]
    colors = ["tab:gray", "tab:blue", "tab:orange"]
    left.bar(names, [r["champion_mean"] or 0 for r in rows], color=colors)
    left.set_ylabel("champion objective (verified mean)")
    scores = [r["champion_mean"] for r in rows if r["champion_mean"] is not None]
    if scores:
        left.set_ylim(min(scores) - 0.05, max(scores) + 0.02)
    right.bar(names, [r["sweep_wall_s"] for r in rows], color=colors)
    right.set_ylabel("sweep wall time (s)")
    figure.suptitle("Warm start: half a sweep from an earlier study vs a full cold one")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sweeps: a check that it runs")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
