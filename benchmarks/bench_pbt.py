"""PBT against TPE + ASHA at equal total env steps on the motif env.

    python benchmarks/bench_pbt.py [--quick]

For each sweep seed, two TPE + ASHA sweeps run first: ``sweep=default`` over
fragment length and batch size alone (``BATCH_SPACE``) and the same over the
``pbt`` sweep's space (lr and entropy coefficient, each fixed for a trial's
life). ``sweep=pbt`` then gets a population as large as the env steps the two
searches spent on average allow at the same per-trial budget (ASHA stops trials
early, so the population is smaller than a search's trial count). Every sweep
verifies its best finalist and the baseline on the same fresh seeds (the
verification seeds follow ``seed``, which all keep) over the same fixed
evaluation episodes (``sweep.objective``, as in the sweep-value benchmark), PBT
replaying its champion's schedule. Per arm: each sweep's verified champion mean
and spread over the seeds, the mean over sweep seeds with a 95% t-interval, the
search's env steps and CPU seconds, and the sweep's wall time.

Everything runs in this one process through motif_tune's Python API, on one
local Ray started first, under a temporary ``MOTIF_TUNE_HOME``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_sweep_value import _fmt, _home, _interval, _ray, _trial_progress
from benchlib import REPO_DIR, log, new_figure, save_figure, scratch, table

TPE, TPE_SAME, PBT = "tpe+asha", "tpe+asha lr+entropy", "pbt"
ARMS = (TPE, TPE_SAME, PBT)
# TPE + ASHA over what PBT mutates (the default sweep searches the batch instead): the
# default sweep with the pbt sweep's space, not mutable, in a project folder of its own.
SAME_SPACE = "pbt_space"
# The TPE + ASHA arm searches what the default sweep's space held when PBT was compared
# with it: fragment length and batch size (the default space now also has PPO's
# minibatch size and epochs).
BATCH_SPACE = [
    "~sweep.space",
    "+sweep.space={rollout_fragment_length: {type: int, low: 16, high: 256, log: true}, "
    "train_batch_size: {type: int, low: 256, high: 2048, log: true}}",
]
FULL = {
    "sweep_seeds": [0, 1],
    "budget_env_steps": 4000,
    "num_samples": 6,
    "sweep_overrides": [
        "sweep.verify.top_k=1",
        "sweep.verify.seeds=2",
        "sweep.verify.extra_seeds=0",  # every finalist on the same two seeds, in every arm
        "sweep.objective.episodes=30",
    ],
}
QUICK = {
    "sweep_seeds": [0],
    "budget_env_steps": 2048,
    "num_samples": 3,
    "sweep_overrides": [
        "sweep.verify.top_k=1",
        "sweep.verify.seeds=1",
        "sweep.objective.episodes=10",
    ],
}


@dataclass
class ArmRun:
    """One arm's sweep for one sweep seed."""

    arm: str
    sweep_seed: int
    trials: int = 0
    search_env_steps: float = 0.0
    search_cpu_s: float = 0.0
    wall_s: float = 0.0
    champion: str = ""
    scores: list[float] = field(default_factory=list)  # verified, one per fresh seed
    seeds: list[int] = field(default_factory=list)
    baseline_scores: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else math.nan


def same_space_project(folder: Path) -> Path:
    """A project folder whose sweep ``pbt_space`` is the default sweep (TPE + ASHA) over
    the pbt sweep's space."""
    from omegaconf import OmegaConf

    sweeps = REPO_DIR / "sweeps"
    default, pbt = OmegaConf.load(sweeps / "default.yaml"), OmegaConf.load(sweeps / "pbt.yaml")
    space = {
        name: {k: v for k, v in spec.items() if k != "mutable"}
        for name, spec in OmegaConf.to_container(pbt.sweep.space).items()
    }
    default.sweep.name = SAME_SPACE
    default.sweep.space = space
    project = folder / "project"
    (project / "sweeps").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(default, project / "sweeps" / f"{SAME_SPACE}.yaml")
    return project


def run_arm(
    arm: str, seed: int, samples: int, budget: int, extra: list[str], project: Path
) -> ArmRun:
    import motif_tune

    sweep = {TPE: "default", TPE_SAME: SAME_SPACE, PBT: "pbt"}[arm]
    overrides = [
        "env=motif",
        f"sweep={sweep}",
        f"sweep.seed={seed}",
        f"run_name=pbt-bench-{arm.replace('+', '-').replace(' ', '-')}-{seed}",
        f"sweep.budget.env_steps={budget}",
        f"sweep.num_samples={samples}",
        *extra,
    ]
    if arm == TPE:
        overrides += BATCH_SPACE
    if arm == PBT:
        overrides.append("sweep.scheduler.perturbation_interval=null")  # a fifth of the budget
    start = time.perf_counter()
    summary = motif_tune.sweep(overrides, project_dir=project)
    wall = time.perf_counter() - start
    champion, baseline = summary.selection.champion, summary.selection.baseline
    if champion is None:
        raise RuntimeError(f"{arm} sweep seed {seed} verified no champion")
    _, steps, cpu, trials = _trial_progress(summary, budget)
    from motif_tune.search.ranking import champion_schedule, describe_score

    described = describe_score(champion.search)
    schedule = champion_schedule(champion.search, "env steps")
    row = ArmRun(
        arm,
        seed,
        trials=trials,
        search_env_steps=steps,
        search_cpu_s=cpu,
        wall_s=wall,
        champion=described + (f"; schedule: {schedule}" if schedule else ""),
        scores=list(champion.scores),
        seeds=list(champion.seeds),
        baseline_scores=list(baseline.scores) if baseline else [],
    )
    log(
        f"  {arm} seed {seed}: {trials} trials, {steps:,.0f} env steps, {cpu:,.0f} CPU s, "
        f"{wall:.0f} s; champion {row.mean:.3f} on seeds {row.seeds}"
    )
    return row


def run(
    sweep_seeds: list[int] = FULL["sweep_seeds"],
    budget_env_steps: int = FULL["budget_env_steps"],
    num_samples: int = FULL["num_samples"],
    sweep_overrides: list[str] = FULL["sweep_overrides"],
) -> dict[str, Any]:
    rows: list[ArmRun] = []
    with scratch("pbt") as folder, _home(folder), _ray():
        project = same_space_project(folder)
        extra = list(sweep_overrides)
        for seed in sweep_seeds:
            log(f"pbt: sweep seed {seed}")
            tpe = run_arm(TPE, seed, num_samples, budget_env_steps, extra, project)
            same = run_arm(TPE_SAME, seed, num_samples, budget_env_steps, extra, project)
            spent = (tpe.search_env_steps + same.search_env_steps) / 2
            population = max(2, round(spent / budget_env_steps))
            rows += [tpe, same, run_arm(PBT, seed, population, budget_env_steps, extra, project)]
    arms = {}
    for arm in ARMS:
        mine = [r for r in rows if r.arm == arm]
        means = [r.mean for r in mine]
        low, high = _interval(means)
        arms[arm] = {
            "mean": statistics.fmean(means),
            "ci_low": low,
            "ci_high": high,
            "search_env_steps": statistics.fmean(r.search_env_steps for r in mine),
            "search_cpu_s": statistics.fmean(r.search_cpu_s for r in mine),
            "wall_s": statistics.fmean(r.wall_s for r in mine),
            "sweeps": len(mine),
        }
    by_seed = {(r.arm, r.sweep_seed): r.mean for r in rows}
    wins = {
        arm: sum(by_seed[(PBT, s)] > by_seed[(arm, s)] for s in sweep_seeds)
        for arm in (TPE, TPE_SAME)
    }
    return {
        "setup": {
            "sweep_seeds": list(sweep_seeds),
            "budget_env_steps": budget_env_steps,
            "num_samples": num_samples,
            "sweep_overrides": list(sweep_overrides),
        },
        "rows": [asdict(r) for r in rows],
        "arms": arms,
        "pbt_wins": wins,
    }


def headline(results: dict[str, Any]) -> str:
    arms, wins = results["arms"], results["pbt_wins"]
    pbt, n = arms[PBT], arms[PBT]["sweeps"]
    return (
        f"- PBT vs TPE + ASHA (motif, equal env steps): verified champions PBT "
        f"{pbt['mean']:.3f}, TPE + ASHA over the batch {arms[TPE]['mean']:.3f} (PBT ahead "
        f"{wins[TPE]}/{n}), over lr and entropy {arms[TPE_SAME]['mean']:.3f} (PBT ahead "
        f"{wins[TPE_SAME]}/{n}); wall time per sweep {pbt['wall_s']:.0f} s, "
        f"{arms[TPE]['wall_s']:.0f} s and {arms[TPE_SAME]['wall_s']:.0f} s."
    )


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    runs = [
        [
            r["arm"],
            r["sweep_seed"],
            r["trials"],
            f"{r['search_env_steps']:,.0f}",
            f"{r['search_cpu_s']:,.0f}",
            f"{r['wall_s']:.0f}",
            r["champion"],
            ", ".join(f"{s:.3f}" for s in r["scores"]),
            _fmt(statistics.fmean(r["scores"]) if r["scores"] else None),
            _fmt(statistics.stdev(r["scores"]) if len(r["scores"]) > 1 else None),
        ]
        for r in results["rows"]
    ]
    arms = [
        [
            arm,
            _fmt(a["mean"]),
            f"[{_fmt(a['ci_low'])}, {_fmt(a['ci_high'])}]",
            f"{a['search_env_steps']:,.0f}",
            f"{a['search_cpu_s']:,.0f}",
            f"{a['wall_s']:.0f}",
        ]
        for arm, a in results["arms"].items()
    ]
    return "\n".join(
        [
            f"Motif env, sweep seeds {setup['sweep_seeds']}, {setup['budget_env_steps']:,} env "
            f"steps per trial. `{TPE}`: `sweep=default` with {setup['num_samples']} trials "
            f"(fragment length and batch size); `{TPE_SAME}`: the same over the `pbt` sweep's "
            "space (lr and entropy coefficient, fixed per trial); `pbt`: `sweep=pbt` with a "
            "population as large as the env steps the two searches spent on average allow "
            "(its perturbation interval a fifth of the budget). All verify their best "
            f"finalist and the baseline with {' '.join(setup['sweep_overrides'])}, on the "
            "same fresh seeds and evaluation episodes (PBT replaying its champion's schedule).",
            "",
            table(
                [
                    "arm",
                    "sweep seed",
                    "trials",
                    "search env steps",
                    "search CPU s",
                    "wall s",
                    "champion",
                    "verified scores",
                    "mean",
                    "std",
                ],
                runs,
            ),
            "",
            table(
                ["arm", "mean of champions", "95% interval", "env steps", "CPU s", "wall s"], arms
            ),
            "",
            f"PBT's champion beat `{TPE}`'s in {results['pbt_wins'][TPE]} and `{TPE_SAME}`'s in "
            f"{results['pbt_wins'][TPE_SAME]} of {len(setup['sweep_seeds'])} sweep seeds.",
        ]
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    """Each sweep's verified champion scores per arm, with the arm's mean."""
    figure = new_figure(6.0, 4.0)
    axes = figure.subplots()
    for x, arm in enumerate(ARMS):
        rows = [r for r in results["rows"] if r["arm"] == arm]
        points = [s for r in rows for s in r["scores"]]
        axes.scatter([x] * len(points), points, color=f"C{x}", alpha=0.6, zorder=3)
        axes.scatter([x], [results["arms"][arm]["mean"]], marker="D", color="black", zorder=4)
    axes.set_xticks(range(len(ARMS)), ARMS, fontsize=8)
    axes.set_ylabel("verified greedy return (fresh seeds)")
    axes.set_title("PBT vs TPE + ASHA at equal env steps (motif)", fontsize=9)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one sweep seed, tiny sweeps")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
