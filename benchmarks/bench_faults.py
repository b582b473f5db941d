"""Training throughput of one trial with a flaky env, against the same env without faults.

    python benchmarks/bench_faults.py [--quick]

The default scaling profile (env runners sample inside the trial's process, 4
envs), the default PPO settings, the motif env with
``fault_step_probability`` 0 and 0.05: every failed ``step()`` ends its
episode (``env.end_episode_on_fault``) and is counted in
``env_runners/env_faults``. Each case is a fresh Algorithm; the cases alternate
over the rounds so both see the same machine, and the rate is env steps
sampled over ``time_this_iter_s`` of whole training iterations after one
warm-up iteration.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from benchlib import ensure_ray_token, log, new_figure, save_figure, scratch, table

from motif_tune.compat.ray import build_algorithm_in
from motif_tune.results import flatten as flatten_result

RATES = (0.0, 0.05)
FULL = {"rounds": 3, "iterations": 4}
QUICK = {"rounds": 1, "iterations": 1}
CPUS = 2


def settings_for(probability: float) -> Any:
    from motif_tune import compose_settings

    return compose_settings([f"env.env_config.fault_step_probability={probability}"])


def measure(probability: float, iterations: int, logdir: Path) -> dict[str, float]:
    from motif_tune.rllib.builder import build_algorithm_config

    algo = build_algorithm_in(build_algorithm_config(settings_for(probability)), logdir)
    try:
        results = [flatten_result(algo.train()) for _ in range(iterations + 1)][1:]
    finally:
        algo.stop()
    steps = sum(r["env_runners/num_env_steps_sampled"] for r in results)
    seconds = sum(r["time_this_iter_s"] for r in results)
    faults = sum(float(r.get("env_runners/env_faults", 0)) for r in results)
    return {"steps_per_s": steps / seconds, "faults": faults, "steps": steps}


def run(rounds: int = 3, iterations: int = 4) -> dict[str, Any]:
    import torch

    saved_home, saved_threads = os.environ.get("MOTIF_TUNE_HOME"), torch.get_num_threads()
    torch.set_num_threads(1)  # as in a trial of 1 CPU
    samples: dict[float, list[dict[str, float]]] = {rate: [] for rate in RATES}
    with scratch("faults") as root:
        os.environ["MOTIF_TUNE_HOME"] = str(root)
        ensure_ray_token()
        import ray

        ray.init(address="local", num_cpus=CPUS, include_dashboard=False, log_to_driver=False)
        try:
            for round_ in range(rounds):
                order = RATES if round_ % 2 == 0 else tuple(reversed(RATES))
                for rate in order:
                    row = measure(rate, iterations, root / f"r{round_}-{rate}")
                    samples[rate].append(row)
                    log(
                        f"faults round {round_ + 1}/{rounds}, p={rate}: "
                        f"{row['steps_per_s']:,.0f} env steps/s, {row['faults']:.0f} faults"
                    )
        finally:
            ray.shutdown()
            torch.set_num_threads(saved_threads)
            if saved_home is None:
                os.environ.pop("MOTIF_TUNE_HOME", None)
            else:
                os.environ["MOTIF_TUNE_HOME"] = saved_home
    rows = [
        {
            "fault_step_probability": rate,
            "median_steps_per_s": statistics.median(s["steps_per_s"] for s in runs),
            "faults_per_1000_steps": 1000
            * sum(s["faults"] for s in runs)
            / sum(s["steps"] for s in runs),
            "runs": len(runs),
        }
        for rate, runs in samples.items()
    ]
    ratio = rows[1]["median_steps_per_s"] / rows[0]["median_steps_per_s"]
    return {"setup": {"rounds": rounds, "iterations": iterations}, "rows": rows, "ratio": ratio}


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        "Default local profile (4 envs in the trial's process), default PPO settings; "
        f"{setup['rounds']} alternating rounds of {setup['iterations']} training iterations "
        "after a warm-up iteration, medians.",
        "",
        table(
            ["fault_step_probability", "env steps/s (median)", "faults per 1,000 env steps"],
            [
                [
                    f"{r['fault_step_probability']:g}",
                    f"{r['median_steps_per_s']:,.0f}",
                    f"{r['faults_per_1000_steps']:.1f}",
                ]
                for r in results["rows"]
            ],
        ),
        "",
        f"With 5% of steps failing, training runs at {results['ratio']:.2f}x the fault-free "
        "rate (measured side by side).",
    ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure()
    ax = figure.subplots()
    rows = results["rows"]
    ax.bar(
        [f"p={r['fault_step_probability']:g}" for r in rows],
        [r["median_steps_per_s"] for r in rows],
        color=["tab:blue", "tab:orange"],
    )
    ax.set_ylabel("env steps/s (training)")
    ax.set_title("One trial's throughput with a flaky env")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of one iteration")
    args = parser.parse_args(argv)
    print(markdown(run(**(QUICK if args.quick else FULL))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
