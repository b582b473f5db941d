"""Sweep value: the default sweep's champion against the defaults and random search.

    python benchmarks/bench_sweep_value.py [--quick]

At equal total compute, does the champion of ``sweep=default`` (TPE + ASHA)
beat the untouched default config, and does it beat random search + FIFO?

1. For each sweep seed, ``motif-tune sweep sweep=default`` runs; the env steps
   its search trials spent (each trial's last ``num_env_steps_sampled_lifetime``,
   read from MLflow) set the trial count of a random search + FIFO sweep
   (``sweep.searcher=random sweep.scheduler.type=fifo``) that spends about as
   much. Both verify their finalists the same way; each champion's values are
   the parent run's ``best.*`` params.
2. Each champion, and the default config once, is trained again with
   ``motif-tune train`` on fresh seeds no sweep used, every run at the same
   budget, and its final checkpoint scored by ``motif-tune evaluate`` over the
   same greedy episodes (``seed=0``).
"""

from __future__ import annotations

import argparse
import re
import statistics
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

QUICK_SWEEP = [
    "sweep.num_samples=3",
    "sweep.verify.top_k=1",
    "sweep.verify.seeds=1",
    "sweep.objective.episodes=50",
]
FULL = {
    "sweep_seeds": [0, 1],
    "retrain_seeds": [100, 101, 102],
    "budget_env_steps": 20_000,
    "eval_episodes": 500,
    "sweep_overrides": [],
}
QUICK = {
    "sweep_seeds": [0],
    "retrain_seeds": [100],
    "budget_env_steps": 2048,
    "eval_episodes": 100,
    "sweep_overrides": QUICK_SWEEP,
}
ARMS = {
    "tpe+asha": [],
    "random+fifo": ["sweep.searcher=random", "sweep.scheduler.type=fifo"],
}
DEFAULTS = "defaults"
# The composed config's own values of the searched parameters (scaling=local,
# algo=ppo): "auto" is the batch over 4 envs of the one local runner, 256.
DEFAULT_SETTINGS = {"rollout_fragment_length": "auto (256)", "train_batch_size": 1024}
# Searched name -> the config path `motif-tune train` takes it as.
CONFIG_PATHS = {
    "rollout_fragment_length": "scaling.env_runners.rollout_fragment_length",
    "train_batch_size": "algo.training.train_batch_size_per_learner",
}
SWEEP_TIMEOUT_S = 3600.0
TRAIN_TIMEOUT_S = 1800.0
EVALUATE_TIMEOUT_S = 900.0
MLFLOW_RUN_LINE = re.compile(r"MLflow run:\s+(\w+) at ")


def _client(home: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{home / 'mlflow.db'}")


def _runs_tagged(home: Path, sweep: str, role: str) -> list[Any]:
    """The MLflow runs of sweep ``sweep`` with role ``role`` (sweep, trial, verify)."""
    client = _client(home)
    experiments = [e.experiment_id for e in client.search_experiments()]
    query = f"tags.`motif_tune.sweep` = '{sweep}' and tags.`motif_tune.role` = '{role}'"
    return client.search_runs(experiments, filter_string=query, max_results=1000)


def _parse(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _run(command: list[str], home: Path, timeout_s: float, what: str) -> Any:
    run = run_process(
        command,
        env=child_env(home, ray_token=False),
        cwd=home,
        timeout_s=timeout_s,
        log_file=home / "logs" / f"{what}.log",
    )
    require_ok(run, what)
    return run


def run_sweep(
    arm: str, sweep_seed: int, extra: list[str], budget: int, home: Path
) -> dict[str, Any]:
    """One sweep: its champion's values, wall time and the env steps its search spent."""
    name = f"value-{arm.replace('+', '-')}-{sweep_seed}"
    command = [
        MOTIF_TUNE,
        "sweep",
        "sweep=default",
        f"sweep.seed={sweep_seed}",
        f"run_name={name}",
        f"sweep.budget.env_steps={budget}",
        *extra,
    ]
    run = _run(command, home, SWEEP_TIMEOUT_S, name)
    (parent,) = _runs_tagged(home, name, "sweep")
    champion = {
        key.removeprefix("best."): _parse(value)
        for key, value in parent.data.params.items()
        if key.startswith("best.") and key not in ("best.trial_id", "best.verified")
    }
    trials = _runs_tagged(home, name, "trial")
    steps = sum(t.data.metrics.get("num_env_steps_sampled_lifetime", 0) for t in trials)
    log(f"  {name}: champion {champion}, {len(trials)} trials, {steps:,.0f} env steps")
    return {
        "arm": arm,
        "sweep_seed": sweep_seed,
        "settings": champion,
        "sweep_wall_s": run.wall_s,
        "search_env_steps": int(steps),
        "search_trials": len(trials),
    }


def retrain(
    label: str, overrides: list[str], seed: int, budget: int, episodes: int, home: Path
) -> dict[str, float]:
    """Train with ``overrides`` from scratch on ``seed``, then score its final checkpoint."""
    name = f"{label}-r{seed}"
    train = [MOTIF_TUNE, "train", f"run_name={name}", f"seed={seed}"]
    train += [f"sweep.budget.env_steps={budget}", *overrides]
    _run(train, home, TRAIN_TIMEOUT_S, f"train-{name}")
    evaluate = [
        MOTIF_TUNE,
        "evaluate",
        f"checkpoint={home / 'ray_results' / name}",
        f"run_name=eval-{name}",
        f"evaluate.episodes={episodes}",
        "seed=0",
    ]
    run = _run(evaluate, home, EVALUATE_TIMEOUT_S, f"evaluate-{name}")
    match = MLFLOW_RUN_LINE.search(run.output)
    if match is None:
        raise RuntimeError(f"evaluate {name} printed no MLflow run:\n{run.tail()}")
    metrics = _client(home).get_run(match.group(1)).data.metrics
    score = {
        "seed": seed,
        "return": metrics["episode_return_mean"],
        "match_accuracy": metrics.get("match_accuracy", float("nan")),
    }
    log(f"  {name}: return {score['return']:.3f}, match {score['match_accuracy']:.3f}")
    return score


def _spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def _summarise(row: dict[str, Any]) -> None:
    returns = [s["return"] for s in row["scores"]]
    accuracies = [s["match_accuracy"] for s in row["scores"]]
    row |= {
        "return_mean": mean(returns),
        "return_std": _spread(returns),
        "match_mean": mean(accuracies),
        "match_std": _spread(accuracies),
    }


def run(
    sweep_seeds: list[int] = FULL["sweep_seeds"],
    retrain_seeds: list[int] = FULL["retrain_seeds"],
    budget_env_steps: int = FULL["budget_env_steps"],
    eval_episodes: int = FULL["eval_episodes"],
    sweep_overrides: list[str] = FULL["sweep_overrides"],
) -> dict[str, Any]:
    """Both arms per sweep seed, then every champion and the defaults re-trained and scored."""
    rows = []
    with scratch("sweep-value") as home:
        for sweep_seed in sweep_seeds:
            log(f"sweep value: sweep seed {sweep_seed}")
            tpe = run_sweep("tpe+asha", sweep_seed, sweep_overrides, budget_env_steps, home)
            trials = max(2, round(tpe["search_env_steps"] / budget_env_steps))
            same_sweep = [o for o in sweep_overrides if not o.startswith("sweep.num_samples=")]
            extra = [*ARMS["random+fifo"], *same_sweep, f"sweep.num_samples={trials}"]
            rows += [tpe, run_sweep("random+fifo", sweep_seed, extra, budget_env_steps, home)]
        rows.append({"arm": DEFAULTS, "sweep_seed": None, "settings": DEFAULT_SETTINGS})
        for row in rows:
            label, overrides = row["arm"].replace("+", "-"), []
            if row["arm"] != DEFAULTS:
                label += f"-s{row['sweep_seed']}"
                overrides = [f"{CONFIG_PATHS.get(k, k)}={v}" for k, v in row["settings"].items()]
            row["scores"] = [
                retrain(label, overrides, seed, budget_env_steps, eval_episodes, home)
                for seed in retrain_seeds
            ]
            _summarise(row)
    baseline = rows[-1]["return_mean"]
    summary = {}
    for arm in ARMS:
        mine = [r for r in rows if r["arm"] == arm]
        summary[arm] = {
            "beats_defaults": sum(r["return_mean"] > baseline for r in mine),
            "sweeps": len(mine),
            "mean_return": mean([r["return_mean"] for r in mine]),
        }
    returns = {(r["arm"], r["sweep_seed"]): r["return_mean"] for r in rows}
    tpe_wins = sum(returns["tpe+asha", s] > returns["random+fifo", s] for s in sweep_seeds)
    ties = sum(returns["tpe+asha", s] == returns["random+fifo", s] for s in sweep_seeds)
    return {
        "setup": {
            "sweep_seeds": sweep_seeds,
            "retrain_seeds": retrain_seeds,
            "budget_env_steps": budget_env_steps,
            "eval_episodes": eval_episodes,
            "sweep_overrides": sweep_overrides,
        },
        "rows": rows,
        "summary": summary,
        "defaults_return": baseline,
        "tpe_beats_random": tpe_wins,
        "tpe_ties_random": ties,
    }


def _settings(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={values[k]}" for k in sorted(values))


def _startup_trials(num_samples: int) -> int:
    """TPE's random start-up trials, as ``SweepSettings.startup_trials`` sets them."""
    return min(10, max(3, num_samples // 3))


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    headers = [
        "arm",
        "sweep seed",
        "champion settings",
        "return mean",
        "return std",
        "match acc. mean",
        "match acc. std",
        "sweep wall s",
        "search env steps",
        "search trials",
    ]
    rows = [
        [
            r["arm"],
            r["sweep_seed"],
            _settings(r["settings"]),
            r["return_mean"],
            r["return_std"],
            r["match_mean"],
            r["match_std"],
            r.get("sweep_wall_s"),
            f"{r['search_env_steps']:,}" if "search_env_steps" in r else None,
            r.get("search_trials"),
        ]
        for r in results["rows"]
    ]
    extra = f" (also {' '.join(setup['sweep_overrides'])})" if setup["sweep_overrides"] else ""
    beats = ", ".join(
        f"{arm} {s['beats_defaults']}/{s['sweeps']}" for arm, s in results["summary"].items()
    )
    seeds = len(setup["sweep_seeds"])
    tpe_trials = max(r["search_trials"] for r in results["rows"] if r["arm"] == "tpe+asha")
    startup = _startup_trials(tpe_trials)
    notes = []
    if tpe_trials <= startup:
        notes.append("")
        notes.append(
            f"With {tpe_trials} trials TPE never leaves its {startup} random start-up trials, "
            "seeded like random search (so both arms can propose the same settings): the arms "
            "differ mainly in ASHA's early stopping and their trial counts."
        )
    return "\n".join(
        [
            f"Per sweep seed {setup['sweep_seeds']}: `motif-tune sweep sweep=default`{extra}, "
            f"then random search + FIFO with as many trials as spend the same search env steps "
            f"({setup['budget_env_steps']:,} env steps per trial). Each champion and the default "
            f"config are trained again on seeds {setup['retrain_seeds']} at "
            f"{setup['budget_env_steps']:,} env steps, and each final checkpoint is scored over "
            f"{setup['eval_episodes']} greedy episodes (`motif-tune evaluate seed=0`: the same "
            "episodes for every checkpoint). Mean and sample std are over the re-train seeds; "
            "sweep wall time is the whole sweep (search and verification), env steps and "
            "trials its search.",
            "",
            table(headers, rows, align="lrlrrrrrrr"),
            "",
            "How often each arm's champion beats the default config (mean return over the "
            f"re-train seeds, {results['defaults_return']:.3f} for the defaults): {beats}.",
            "",
            f"TPE + ASHA's champion beats random + FIFO's: {results['tpe_beats_random']}/{seeds} "
            f"sweep seeds ({results['tpe_ties_random']} tied).",
            *notes,
        ]
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    rows = results["rows"]
    figure = new_figure(1.2 * len(rows) + 2, 3.8)
    axes = figure.subplots()
    colours = {arm: f"C{i}" for i, arm in enumerate(ARMS)} | {DEFAULTS: "grey"}
    for x, row in enumerate(rows):
        returns = [s["return"] for s in row["scores"]]
        axes.scatter([x] * len(returns), returns, color=colours[row["arm"]], zorder=3)
        axes.hlines(row["return_mean"], x - 0.3, x + 0.3, color="black", linewidth=1)
    axes.axhline(results["defaults_return"], color="grey", linestyle="--", linewidth=0.8)
    labels = [
        r["arm"] if r["sweep_seed"] is None else f"{r['arm']}\nsweep seed {r['sweep_seed']}"
        for r in rows
    ]
    axes.set_xticks(range(len(rows)), labels, fontsize=8)
    axes.set_ylabel("greedy return mean per re-train seed")
    axes.set_title("dots: re-train seeds; black: their mean; dashed: defaults' mean", fontsize=9)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one sweep seed, tiny sweeps")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
