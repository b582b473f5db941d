"""Sampling throughput of one PPO trial on the motif env, across sampling settings.

    python benchmarks/bench_throughput.py [--quick]

For each combination of rollout_fragment_length, num_envs_per_env_runner and
num_env_runners, the trial's ``AlgorithmConfig`` is built the way motif-tune
builds it (Hydra composition -> ``motif_tune.config`` ->
``motif_tune.rllib.builder.build_algorithm_config``) and measured two ways:

- sampling: env steps per second of RLlib's own sampling call
  (``synchronous_parallel_sample``, as PPO's ``training_step`` calls it) for one
  train batch, timed around the call, after one warm-up batch;
- training: ``env_runners/num_env_steps_sampled / time_this_iter_s`` of whole
  ``Algorithm.train()`` iterations (sampling + learner update), after a warm-up
  iteration (full mode).

The Algorithm lives in this process with torch limited to one thread, as in a
Tune trial of 1 CPU (Ray sets ``OMP_NUM_THREADS=1`` there); remote env runners
are Ray actors as usual. RLlib's
``env_runners/num_env_steps_sampled_lifetime_throughput`` is recorded
beside them; its timers (``timers/env_runner_sampling_timer``) are EMA-smoothed
from the first, cold iteration, so they are not used.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import ensure_ray_token, log, new_figure, save_figure, scratch, table

from motif_tune.compat.ray import build_algorithm_in
from motif_tune.results import flatten as flatten_result

BATCH = 1024
# Cells: (fragments, envs per runner, runner counts) blocks; a block is every combination.
FULL_CELLS = [
    ([16, 64, 256], [1, 4, 8], [0]),
    ([16, 64, 256], [1, 4], [1]),
    ([64], [1, 4], [2]),
]
QUICK_CELLS = [([64], [1, 4], [0, 1])]
FULL = {"blocks": FULL_CELLS, "rounds": 2, "iterations": 1, "warmup": True}
QUICK = {"blocks": QUICK_CELLS, "rounds": 1, "iterations": 1, "warmup": False}
CPUS = 2

Block = tuple[list[int], list[int], list[int]]


def grid(blocks: list[Block]) -> list[tuple[int, int, int]]:
    """(fragment, envs, runners) cells whose sampling round fits in one train batch."""
    cells = []
    for fragments, envs, runners in blocks:
        for runner, env, fragment in itertools.product(runners, envs, fragments):
            if fragment * env * max(runner, 1) <= BATCH:
                cells.append((fragment, env, runner))
    return cells


def settings_for(fragment: int, envs: int, runners: int) -> Any:
    """The composed, validated settings of one cell (as the CLI composes them)."""
    from motif_tune import compose_settings

    overrides = [
        f"scaling.env_runners.num_env_runners={runners}",
        f"scaling.env_runners.num_envs_per_env_runner={envs}",
        f"scaling.env_runners.rollout_fragment_length={fragment}",
        f"algo.training.train_batch_size_per_learner={BATCH}",
    ]
    return compose_settings(overrides)


def _sample_rate(algo: Any, rounds: int) -> tuple[float, float]:
    """Env steps per second of RLlib's sampling of a train batch; and sample calls per batch."""
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    def one_batch() -> tuple[int, int]:
        episodes, stats = synchronous_parallel_sample(
            worker_set=algo.env_runner_group,
            max_env_steps=BATCH,
            sample_timeout_s=algo.config.sample_timeout_s,
            _uses_new_env_runners=True,
            _return_metrics=True,
        )
        return sum(len(e) for e in episodes), len(stats)

    one_batch()  # warm-up
    steps = calls = 0
    start = time.perf_counter()
    for _ in range(rounds):
        got, n = one_batch()
        steps, calls = steps + got, calls + n
    return steps / (time.perf_counter() - start), calls / rounds


def measure_cell(
    cell: tuple[int, int, int], rounds: int, iterations: int, warmup: bool, logdir: Path
) -> dict[str, Any]:
    """Build one cell's Algorithm, time its sampling and its training iterations."""
    from motif_tune.rllib.builder import build_algorithm_config

    fragment, envs, runners = cell
    config = build_algorithm_config(settings_for(fragment, envs, runners))
    start = time.perf_counter()
    algo = build_algorithm_in(config, logdir)
    build_s = time.perf_counter() - start
    try:
        sample_rate, calls = _sample_rate(algo, rounds)
        results = [flatten_result(algo.train()) for _ in range(iterations + warmup)]
    finally:
        algo.stop()
    measured = results[1:] if warmup else results
    steps = sum(r["env_runners/num_env_steps_sampled"] for r in measured)
    seconds = sum(r["time_this_iter_s"] for r in measured)
    rllib = measured[-1].get(
        "env_runners/num_env_steps_sampled_lifetime_throughput/throughput_since_last_reduce"
    )
    return {
        "rollout_fragment_length": fragment,
        "num_envs_per_env_runner": envs,
        "num_env_runners": runners,
        "sample_calls_per_batch": calls,
        "sampling_steps_per_s": sample_rate,
        "training_steps_per_s": steps / seconds if seconds else float("nan"),
        "rllib_lifetime_throughput": rllib,
        "iteration_s": seconds / len(measured),
        "build_s": build_s,
        "cpus_per_trial": 1 + runners,
    }


def run(
    blocks: list[Block] = FULL_CELLS, rounds: int = 3, iterations: int = 1, warmup: bool = True
) -> dict[str, Any]:
    """Measure every cell of the grid in one local Ray of 2 CPUs."""
    cells = grid(blocks)
    rows = []
    import torch

    saved_home, saved_threads = os.environ.get("MOTIF_TUNE_HOME"), torch.get_num_threads()
    torch.set_num_threads(1)  # as in a trial of 1 CPU: 2 threads on 2 busy cores thrash
    with scratch("throughput") as root:
        os.environ["MOTIF_TUNE_HOME"] = str(root)  # paths.root of the composed settings
        ensure_ray_token()
        import ray

        ray.init(
            address="local",
            num_cpus=CPUS,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        try:
            for index, cell in enumerate(cells):
                row = measure_cell(cell, rounds, iterations, warmup, root / f"c{index}")
                log(
                    f"throughput {index + 1}/{len(cells)}: fragment {cell[0]}, envs {cell[1]}, "
                    f"runners {cell[2]}: sampling {row['sampling_steps_per_s']:,.0f} steps/s, "
                    f"training {row['training_steps_per_s']:,.0f} steps/s"
                )
                rows.append(row)
        finally:
            ray.shutdown()
            torch.set_num_threads(saved_threads)
            if saved_home is None:
                os.environ.pop("MOTIF_TUNE_HOME", None)
            else:
                os.environ["MOTIF_TUNE_HOME"] = saved_home
    return {
        "setup": {
            "train_batch_size": BATCH,
            "rounds": rounds,
            "iterations": iterations,
            "warmup": warmup,
            "ray_cpus": CPUS,
        },
        "rows": rows,
        "best": _best(rows),
    }


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest cell overall, and among trials that run two at a time on 2 CPUs."""
    best: dict[str, Any] = {}
    for label, subset in (("any", rows), ("local", [r for r in rows if r["num_env_runners"] == 0])):
        for measure in ("sampling_steps_per_s", "training_steps_per_s"):
            if subset:
                top = max(subset, key=lambda r: r[measure])
                best[f"{label}/{measure}"] = {
                    k: top[k]
                    for k in (
                        "rollout_fragment_length",
                        "num_envs_per_env_runner",
                        "num_env_runners",
                        measure,
                    )
                }
    return best


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    warm = " after a warm-up iteration" if setup["warmup"] else ""
    headers = [
        "runners",
        "envs/runner",
        "fragment",
        "sample calls/batch",
        "sampling steps/s",
        "training steps/s",
        "RLlib lifetime throughput",
        "s/iteration",
        "CPUs/trial",
    ]
    rows = [
        [
            r["num_env_runners"],
            r["num_envs_per_env_runner"],
            r["rollout_fragment_length"],
            r["sample_calls_per_batch"],
            r["sampling_steps_per_s"],
            r["training_steps_per_s"],
            r["rllib_lifetime_throughput"],
            r["iteration_s"],
            r["cpus_per_trial"],
        ]
        for r in results["rows"]
    ]
    text = [
        f"PPO, train batch {setup['train_batch_size']}, default learner settings (6 epochs, "
        f"minibatch 128); sampling: {setup['rounds']} batch(es) after a warm-up batch; training: "
        f"{setup['iterations']} iteration(s){warm}; torch on 1 thread as in a trial; Ray with "
        f'{setup["ray_cpus"]} CPUs. "CPUs/trial" is what one Tune trial reserves (driver + '
        "remote runners): on 2 CPUs, two `num_env_runners=0` trials run at once, one with 1 "
        "runner, none with 2.",
        "",
        table(headers, rows, align="rrrrrrrrr"),
        "",
    ]
    text += advice(results["rows"], setup["ray_cpus"])
    return "\n".join(text)


def advice(rows: list[dict[str, Any]], cpus: int) -> list[str]:
    """Which settings a sweep on this machine should prefer, from the measured cells."""
    fitting = [r for r in rows if r["cpus_per_trial"] <= cpus]
    if not fitting:
        return []

    def per_machine(row: dict[str, Any], measure: str) -> float:
        return row[measure] * (cpus // row["cpus_per_trial"])

    lines = []
    for measure, label in (
        ("sampling_steps_per_s", "sampling"),
        ("training_steps_per_s", "training"),
    ):
        top = max(fitting, key=lambda r: per_machine(r, measure))
        lines.append(
            f"- Most env steps/s for the whole machine ({label}; estimated as per trial x "
            f"trials that fit on {cpus} CPUs at once): {top['num_env_runners']} runners, "
            f"{top['num_envs_per_env_runner']} envs, fragment {top['rollout_fragment_length']}: "
            f"{top[measure]:,.0f} x {cpus // top['cpus_per_trial']} = "
            f"{per_machine(top, measure):,.0f} steps/s."
        )
    by_envs: dict[tuple[int, int], float] = {}
    spreads = []
    for runners, envs in sorted(
        {(r["num_env_runners"], r["num_envs_per_env_runner"]) for r in rows}
    ):
        group = [
            r["sampling_steps_per_s"]
            for r in rows
            if (r["num_env_runners"], r["num_envs_per_env_runner"]) == (runners, envs)
        ]
        by_envs[(runners, envs)] = max(group)
        if len(group) > 1:
            spreads.append(max(group) / min(group) - 1)
    local = {e: v for (n, e), v in by_envs.items() if n == 0}
    if len(local) > 1:
        steps = ", ".join(f"{e} envs {v:,.0f}" for e, v in sorted(local.items()))
        lines.append(
            f"- Envs per runner matter most (best sampling steps/s with 0 runners: {steps}): "
            "more envs batch the policy's forward pass."
        )
    if spreads:
        lines.append(
            f"- Rollout fragment length matters less: at a given runner and envs count it moves "
            f"sampling by at most {max(spreads):.0%} across the lengths measured."
        )
    return ["", "What a sweep here should prefer:", "", *lines]


def plot(results: dict[str, Any], path: Path) -> Path:
    rows = results["rows"]
    runner_counts = sorted({r["num_env_runners"] for r in rows})
    figure = new_figure(3.2 * len(runner_counts) + 1, 3.8)
    axes = figure.subplots(1, len(runner_counts), sharey=True, squeeze=False)[0]
    for ax, runners in zip(axes, runner_counts, strict=True):
        mine = [r for r in rows if r["num_env_runners"] == runners]
        for envs in sorted({r["num_envs_per_env_runner"] for r in mine}):
            line = sorted(
                (r for r in mine if r["num_envs_per_env_runner"] == envs),
                key=lambda r: r["rollout_fragment_length"],
            )
            xs = [r["rollout_fragment_length"] for r in line]
            ax.plot(xs, [r["sampling_steps_per_s"] for r in line], "o-", label=f"{envs} envs")
            ax.plot(
                xs, [r["training_steps_per_s"] for r in line], "x:", color=ax.lines[-1].get_color()
            )
        ax.set_xscale("log", base=2)
        ticks = sorted({r["rollout_fragment_length"] for r in mine})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("rollout_fragment_length")
        ax.set_title(f"num_env_runners={runners}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("env steps/s (o- sampling, x: training)")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4-cell grid, one batch each")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
