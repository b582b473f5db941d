"""Sweep value: what the default sweep's champion is worth, per env, at equal compute.

    python benchmarks/bench_sweep_value.py [--quick]

For each env (motif at 4,000 env steps a trial, and CartPole at 2,000: a Gymnasium
task whose return at that budget depends on the gradient steps each env step buys,
the default space's minibatch size and epochs, more than on the training seed; at
4,000 it does not, and the composed config is as good as any) and each sweep seed,
four arms spend about the same env steps:

- ``tpe+asha``: ``sweep=default`` (TPE + ASHA, one seed per trial; on CartPole the
  budget is less than one batch of the space's largest train batch, 2,048, so ASHA
  has no rung that every trial meets and the sweep runs without early stopping);
- ``tpe+asha k=2``: the same with seed groups (``sweep.seeds_per_trial=2``),
  half the trials, each twice the env steps;
- ``random+fifo``: random search without early stopping, as many full-length
  trials as the env steps ``tpe+asha`` spent (ASHA stops trials early, so it
  gets fewer);
- ``defaults``: the composed config untouched (no search).

Sweep seed ``s`` seeds the sampler (``sweep.seed=s``) and the training
(``seed=10*s``): the search and verification seeds differ from one sweep seed to the
next, so one lucky draw of a config on one verification seed cannot decide every
sweep. Every sweep verifies its finalists as the default sweep does (the best two
and the baseline on three seeds, three more for those the first three cannot tell
from the leader) and picks its champion its own way. Each champion, and the
defaults, is then trained again on the same five fresh seeds no sweep used
(``motif-tune train``) and its final checkpoint scored over the same greedy episodes
(``motif-tune evaluate seed=0``). Per arm and env: the mean of those scores and a
95% t-interval over the sweep seeds' means, how often the champion beats the
defaults, how often the search winner survived verification, and the compute at
which the arm's search first held a full-budget trial at least as good as random
search's verified champion.

Everything runs in this one process through motif_tune's Python API, on one
local Ray started first (each command finds it running and leaves it so), under
a temporary ``MOTIF_TUNE_HOME``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchlib import ensure_ray_token, log, matplotlib_dir, new_figure, save_figure, scratch, table

ENVS = {"motif": ["env=motif"], "cartpole": ["env=cartpole"]}
TPE, GROUPS, RANDOM, DEFAULTS = "tpe+asha", "tpe+asha k=2", "random+fifo", "defaults"
SEARCH_ARMS = (TPE, GROUPS, RANDOM)
ARM_OVERRIDES = {
    TPE: [],
    GROUPS: ["sweep.seeds_per_trial=2"],
    RANDOM: ["sweep.searcher=random", "sweep.scheduler.type=fifo"],
}
# Searched name -> the config path `motif-tune train` takes it as.
CONFIG_PATHS = {
    "rollout_fragment_length": "scaling.env_runners.rollout_fragment_length",
    "train_batch_size": "algo.training.train_batch_size_per_learner",
}
FULL = {
    "envs": ["motif", "cartpole"],
    "sweep_seeds": [0, 1, 2],
    "retrain_seeds": [100, 101, 102, 103, 104],
    # CartPole at 2,000 env steps: where the space's settings move the return more
    # than the training seed does (at 4,000 the composed config is as good as any).
    "budget_env_steps": {"motif": 4000, "cartpole": 2000},
    "num_samples": 10,  # as sweeps/default.yaml
    "eval_episodes": 50,
    # Verification as sweeps/default.yaml has it: the top 2 and the baseline on 3 seeds,
    # 3 more for those the first 3 cannot tell from the leader.
    "sweep_overrides": ["sweep.objective.episodes=30"],
}
QUICK = {
    "envs": ["motif", "cartpole"],
    "sweep_seeds": [0],
    "retrain_seeds": [100],
    "budget_env_steps": {"motif": 2048, "cartpole": 1024},
    "num_samples": 4,
    "eval_episodes": 20,
    "sweep_overrides": [
        "sweep.verify.top_k=1",
        "sweep.verify.seeds=1",
        "sweep.verify.extra_seeds=0",
        "sweep.objective.episodes=20",
    ],
}
# Sweep seed s trains on seeds SEED_STRIDE*s, SEED_STRIDE*s + 1, ... (search, then
# verification): apart for every sweep seed, and below the re-train seeds.
SEED_STRIDE = 10
STEPS = "num_env_steps_sampled_lifetime"
CPU_S = "cost/cpu_s"
RETURN = "episode_return_mean"


@dataclass
class SweepRun:
    """One arm's sweep for one env and sweep seed, and its champion re-trained."""

    env: str
    arm: str
    sweep_seed: int | None
    settings: dict[str, Any] = field(default_factory=dict)
    search_env_steps: float = 0.0
    search_cpu_s: float = 0.0
    search_trials: int = 0
    sweep_wall_s: float = 0.0
    survived: bool | None = None
    kendall_tau: float | None = None
    verified_mean: float = math.nan  # the champion's mean on the sweep's own fresh seeds
    # (env steps, CPU s, search score) of the full-budget trials, in the order they finished
    progress: list[tuple[float, float, float]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # re-trained, one per seed

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else math.nan


@contextmanager
def _home(folder: Path):
    """motif_tune's files under ``folder``, Ray with a token, matplotlib out of $HOME."""
    saved = {k: os.environ.get(k) for k in ("MOTIF_TUNE_HOME", "MPLCONFIGDIR")}
    os.environ["MOTIF_TUNE_HOME"] = str(folder)
    os.environ["MPLCONFIGDIR"] = matplotlib_dir()
    ensure_ray_token()
    try:
        yield folder
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _ray():
    """One local Ray for every command of the benchmark (each command uses a running
    Ray and leaves it running), so none pays Ray's start-up."""
    import ray

    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _trial_progress(summary: Any, per_trial: float) -> tuple[list, float, float, int]:
    """The sweep's search trials from MLflow: the full-budget ones' (cumulative env steps,
    cumulative CPU s, score) in the order they finished, and the search's totals."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(summary.tracking_uri)
    query = (
        f"tags.`mlflow.parentRunId` = '{summary.mlflow_run_id}' "
        "and tags.`motif_tune.role` = 'trial'"
    )
    trials = client.search_runs([summary.mlflow_experiment_id], query, max_results=1000)
    trials.sort(key=lambda run: run.info.end_time or 0)
    steps = cpu = 0.0
    progress = []
    for run in trials:
        metrics = run.data.metrics
        steps += metrics.get(STEPS, 0.0)
        cpu += metrics.get(CPU_S, 0.0)
        score = metrics.get("objective", math.nan)
        if metrics.get(STEPS, 0.0) >= per_trial and math.isfinite(score):
            progress.append((steps, cpu, score))
    return progress, steps, cpu, len(trials)


def run_sweep(
    env: str, arm: str, sweep_seed: int, samples: int, budget: int, extra: Sequence[str]
) -> SweepRun:
    """One sweep: its champion's searched values, compute, and how its ranking held."""
    import time

    import motif_tune

    name = f"value-{env}-{arm.replace('+', '-').replace(' ', '').replace('=', '')}-{sweep_seed}"
    overrides = [
        *ENVS[env],
        "sweep=default",
        f"sweep.seed={sweep_seed}",
        f"seed={SEED_STRIDE * sweep_seed}",
        f"run_name={name}",
        f"sweep.budget.env_steps={budget}",
        f"sweep.num_samples={samples}",
        *extra,
        *ARM_OVERRIDES[arm],
    ]
    start = time.perf_counter()
    summary = motif_tune.sweep(overrides)
    wall = time.perf_counter() - start
    selection = summary.selection
    champion = selection.champion
    if champion is None:
        raise RuntimeError(f"sweep {name} verified no champion")
    k = 2 if arm == GROUPS else 1
    progress, steps, cpu, trials = _trial_progress(summary, k * budget)
    held = selection.held
    row = SweepRun(
        env,
        arm,
        sweep_seed,
        settings=dict(champion.values),
        search_env_steps=steps,
        search_cpu_s=cpu,
        search_trials=trials,
        sweep_wall_s=wall,
        survived=held.survived if held else None,
        kendall_tau=held.tau if held else None,
        verified_mean=champion.mean,
        progress=progress,
    )
    log(
        f"  {name}: champion {row.settings}, {trials} trials, {steps:,.0f} env steps, "
        f"{cpu:,.0f} CPU s, {wall:.0f} s"
    )
    return row


def retrain(row: SweepRun, seed: int, budget: int, episodes: int) -> float:
    """Train the row's settings from scratch on ``seed``; its final checkpoint's greedy
    return over the fixed evaluation episodes."""
    import motif_tune

    label = f"{row.env}-{row.arm}-{row.sweep_seed}".replace("+", "-").replace(" ", "")
    label = label.replace("=", "")
    values = [f"{CONFIG_PATHS.get(k, k)}={v}" for k, v in row.settings.items()]
    trained = motif_tune.train(
        [
            *ENVS[row.env],
            f"run_name={label}-r{seed}",
            f"seed={seed}",
            f"sweep.budget.env_steps={budget}",
            *values,
        ]
    )
    scored = motif_tune.evaluate(
        [
            *ENVS[row.env],
            f"checkpoint={trained.checkpoint}",
            f"run_name=eval-{label}-r{seed}",
            f"evaluate.episodes={episodes}",
            "seed=0",
        ]
    )
    score = scored.metrics[RETURN]
    log(f"  {label} seed {seed}: return {score:.3f}")
    return score


def run(
    envs: Sequence[str] = FULL["envs"],
    sweep_seeds: Sequence[int] = FULL["sweep_seeds"],
    retrain_seeds: Sequence[int] = FULL["retrain_seeds"],
    budget_env_steps: dict[str, int] = FULL["budget_env_steps"],
    num_samples: int = FULL["num_samples"],
    eval_episodes: int = FULL["eval_episodes"],
    sweep_overrides: Sequence[str] = FULL["sweep_overrides"],
) -> dict[str, Any]:
    """Every arm per env and sweep seed, then every champion and the defaults re-trained."""
    rows: list[SweepRun] = []
    with scratch("sweep-value") as folder, _home(folder), _ray():
        for env in envs:
            budget = budget_env_steps[env]
            for seed in sweep_seeds:
                log(f"sweep value: {env}, sweep seed {seed}")
                tpe = run_sweep(env, TPE, seed, num_samples, budget, sweep_overrides)
                groups = max(2, num_samples // 2)
                random_trials = max(2, round(tpe.search_env_steps / budget))
                rows += [
                    tpe,
                    run_sweep(env, GROUPS, seed, groups, budget, sweep_overrides),
                    run_sweep(env, RANDOM, seed, random_trials, budget, sweep_overrides),
                ]
            rows.append(SweepRun(env, DEFAULTS, None))
        for row in rows:
            budget = budget_env_steps[row.env]
            row.scores = [retrain(row, s, budget, eval_episodes) for s in retrain_seeds]
        without_rungs = [env for env in envs if not _early_stopping(env, budget_env_steps[env])]
    setup = {
        "envs": list(envs),
        "sweep_seeds": list(sweep_seeds),
        "retrain_seeds": list(retrain_seeds),
        "budget_env_steps": {env: budget_env_steps[env] for env in envs},
        "num_samples": num_samples,
        "eval_episodes": eval_episodes,
        "sweep_overrides": list(sweep_overrides),
        "without_early_stopping": without_rungs,
    }
    return {
        "setup": setup,
        "rows": [asdict(r) for r in rows],
        "arms": arm_summaries(rows),
    }


def _no_rungs(envs: list[str]) -> str:
    if not envs:
        return ""
    return (
        f" On {', '.join(envs)} the budget is less than one batch of the space's largest "
        f"train batch, so ASHA has no rung that every trial meets: `{TPE}` and `{GROUPS}` "
        "ran there without early stopping (the sweep says so)."
    )


def _early_stopping(env: str, budget: int) -> bool:
    """Whether ``sweep=default`` at ``budget`` env steps has an ASHA rung that every trial
    meets (none when one batch of the space's largest is more than the budget)."""
    from motif_tune.config.composition import compose_settings
    from motif_tune.search.plan import plan_search

    settings = compose_settings([*ENVS[env], "sweep=default", f"sweep.budget.env_steps={budget}"])
    return plan_search(settings, new_study=False).budget.early_stopping


def _budgets(budgets: dict[str, int] | int) -> str:
    """Env steps per trial in words, per env (one figure in results of older runs)."""
    if isinstance(budgets, int):
        return f"{budgets:,}"
    return ", ".join(f"{steps:,} ({env})" for env, steps in budgets.items())


def _interval(means: list[float]) -> tuple[float, float]:
    """A 95% t-interval of the mean of ``means`` (NaN with fewer than two)."""
    if len(means) < 2:
        return math.nan, math.nan
    from scipy.stats import t

    half = t.ppf(0.975, len(means) - 1) * statistics.stdev(means) / math.sqrt(len(means))
    centre = statistics.fmean(means)
    return centre - half, centre + half


def _reach(row: SweepRun, target: float) -> tuple[float, float] | None:
    """(env steps, CPU s) the row's search had spent when a full-budget trial first
    scored at least ``target``; None if none did."""
    for steps, cpu, score in row.progress:
        if score >= target:
            return steps, cpu
    return None


def arm_summaries(rows: list[SweepRun]) -> dict[str, dict[str, Any]]:
    """Per env and arm: mean and 95% interval of the re-trained champions, how often they
    beat the defaults, how often the search winner survived, and compute to reach random
    search's verified quality (as a share of random search's whole search)."""
    out: dict[str, dict[str, Any]] = {}
    for env in dict.fromkeys(r.env for r in rows):
        defaults = next(r for r in rows if r.env == env and r.arm == DEFAULTS)
        randoms = {r.sweep_seed: r for r in rows if r.env == env and r.arm == RANDOM}
        for arm in (*SEARCH_ARMS, DEFAULTS):
            mine = [r for r in rows if r.env == env and r.arm == arm]
            means = [r.mean for r in mine]
            low, high = _interval(means if arm != DEFAULTS else defaults.scores)
            entry: dict[str, Any] = {
                "mean": statistics.fmean(means if arm != DEFAULTS else defaults.scores),
                "ci_low": low,
                "ci_high": high,
            }
            if arm != DEFAULTS:
                reach = [_reach(r, randoms[r.sweep_seed].verified_mean) for r in mine]
                shares = [
                    got[0] / randoms[r.sweep_seed].search_env_steps
                    for r, got in zip(mine, reach, strict=True)
                    if got is not None
                ]
                entry |= {
                    "beats_defaults": sum(r.mean > defaults.mean for r in mine),
                    "sweeps": len(mine),
                    "survived": sum(bool(r.survived) for r in mine),
                    "tau": _mean_defined([r.kendall_tau for r in mine]),
                    "reached": len(shares),
                    "reach_env_steps": _mean_defined([got[0] for got in reach if got is not None]),
                    "reach_cpu_s": _mean_defined([got[1] for got in reach if got is not None]),
                    "reach_share": statistics.median(shares) if shares else None,
                    "search_env_steps": statistics.fmean(r.search_env_steps for r in mine),
                    "search_cpu_s": statistics.fmean(r.search_cpu_s for r in mine),
                }
            out[f"{env}/{arm}"] = entry
    return out


def _mean_defined(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(defined) if defined else None


def headline(results: dict[str, Any]) -> str:
    """One line: the default sweep's champion against the defaults and random search."""
    parts = []
    for key, arm in results["arms"].items():
        env, name = key.split("/")
        if name != TPE:
            continue
        defaults = results["arms"][f"{env}/{DEFAULTS}"]["mean"]
        share = arm["reach_share"]
        parts.append(
            f"{env}: {arm['mean']:.3f} against the defaults' {defaults:.3f}, beats them "
            f"{arm['beats_defaults']}/{arm['sweeps']}, reaches random search's verified "
            f"quality in {arm['reached']}/{arm['sweeps']} sweeps"
            + (f" at {share:.0%} of its env steps (median)" if share is not None else "")
        )
    return "- Sweep value (TPE + ASHA champion, re-trained): " + "; ".join(parts) + "."


def _settings(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={values[k]}" for k in sorted(values)) or "(composed config)"


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    runs = [
        [
            r["env"],
            r["arm"],
            r["sweep_seed"],
            _settings(r["settings"]),
            ", ".join(f"{s:.3f}" for s in r["scores"]),
            _fmt(statistics.fmean(r["scores"]) if r["scores"] else None),
            f"{r['search_env_steps']:,.0f}" if r["arm"] != DEFAULTS else "",
            f"{r['search_cpu_s']:,.0f}" if r["arm"] != DEFAULTS else "",
            f"{r['sweep_wall_s']:.0f}" if r["arm"] != DEFAULTS else "",
            {True: "yes", False: "no", None: ""}[r["survived"]],
            _fmt(r["kendall_tau"], "+.2f") if r["arm"] != DEFAULTS else "",
        ]
        for r in results["rows"]
    ]
    arms = []
    for key, a in results["arms"].items():
        env, arm = key.split("/")
        searched = arm != DEFAULTS
        arms.append(
            [
                env,
                arm,
                _fmt(a["mean"]),
                f"[{_fmt(a['ci_low'])}, {_fmt(a['ci_high'])}]",
                f"{a['beats_defaults']}/{a['sweeps']}" if searched else "",
                f"{a['survived']}/{a['sweeps']}" if searched else "",
                _fmt(a.get("tau"), "+.2f") if searched else "",
                f"{a['search_env_steps']:,.0f}" if searched else "",
                f"{a['search_cpu_s']:,.0f}" if searched else "",
                f"{a['reached']}/{a['sweeps']}" if searched else "",
                _fmt(a.get("reach_env_steps"), ",.0f") if searched else "",
                _fmt(a.get("reach_cpu_s"), ",.0f") if searched else "",
                _fmt(a.get("reach_share"), ".0%") if searched else "",
            ]
        )
    overrides = " ".join(setup["sweep_overrides"])
    return "\n".join(
        [
            f"Envs {', '.join(setup['envs'])}; sweep seeds {setup['sweep_seeds']} (sweep "
            f"seed s: `sweep.seed=s seed={SEED_STRIDE}*s`, so each sweep searches and "
            "verifies on training seeds of its own); "
            f"`sweep=default` at {_budgets(setup['budget_env_steps'])} env steps per "
            f"trial and seed, {setup['num_samples']} trials for `{TPE}` (half as many seed "
            f"groups of two for `{GROUPS}`; as many full trials as `{TPE}` spent for `{RANDOM}`), "
            f"also `{overrides}`. Each champion and the defaults are trained again on seeds "
            f"{setup['retrain_seeds']} and scored over {setup['eval_episodes']} greedy "
            "episodes (`evaluate seed=0`, the same for every checkpoint)."
            + _no_rungs(setup.get("without_early_stopping") or []),
            "",
            "Per arm and env: mean re-trained return, its 95% t-interval over the sweep "
            "seeds' means (the defaults: over their re-train seeds), how often the champion "
            "beats the defaults and the search winner survived verification, Kendall's tau "
            "of search scores and verified means (mean over sweeps), the search's compute, "
            "and the compute at which a full-budget search trial first scored at least "
            "random search's verified champion mean (sweeps that did; mean env steps and "
            "CPU s; median share of random search's env steps).",
            "",
            table(
                [
                    "env",
                    "arm",
                    "return",
                    "95% interval",
                    "beats defaults",
                    "winner survived",
                    "tau",
                    "search env steps",
                    "search CPU s",
                    "reached random's",
                    "at env steps",
                    "at CPU s",
                    "share of random's",
                ],
                arms,
                align="llrlrrrrrrrrr",
            ),
            "",
            "Every sweep:",
            "",
            table(
                [
                    "env",
                    "arm",
                    "sweep seed",
                    "champion",
                    "re-trained returns",
                    "mean",
                    "search env steps",
                    "search CPU s",
                    "sweep wall s",
                    "winner survived",
                    "tau",
                ],
                runs,
                align="llrlllrrrrr",
            ),
        ]
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    """One panel per env: each sweep's re-trained champion mean per arm, the arm's mean
    and 95% interval, and the defaults' mean."""
    envs = results["setup"]["envs"]
    figure = new_figure(5.0 * len(envs), 4.0)
    panels = figure.subplots(1, len(envs), squeeze=False)[0]
    arms = (*SEARCH_ARMS, DEFAULTS)
    for axes, env in zip(panels, envs, strict=True):
        for x, arm in enumerate(arms):
            summary = results["arms"][f"{env}/{arm}"]
            mine = [r for r in results["rows"] if r["env"] == env and r["arm"] == arm]
            points = [
                p
                for r in mine
                for p in ([statistics.fmean(r["scores"])] if arm != DEFAULTS else r["scores"])
            ]
            axes.scatter([x] * len(points), points, color=f"C{x}", alpha=0.6, zorder=3)
            low, high = summary["ci_low"], summary["ci_high"]
            if math.isfinite(low):
                axes.errorbar(
                    x,
                    summary["mean"],
                    yerr=[[summary["mean"] - low], [high - summary["mean"]]],
                    color="black",
                    capsize=6,
                    zorder=4,
                )
        defaults = results["arms"][f"{env}/{DEFAULTS}"]["mean"]
        axes.axhline(defaults, color="grey", linestyle="--", linewidth=0.8)
        axes.set_xticks(range(len(arms)), arms, fontsize=8)
        axes.set_title(env)
        axes.set_ylabel("greedy return, re-trained")
    figure.suptitle(
        "dots: each sweep's champion (defaults: each seed); bars: mean and 95% interval",
        fontsize=9,
    )
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one sweep seed, tiny sweeps")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
