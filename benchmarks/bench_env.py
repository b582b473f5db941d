"""Environment step throughput: MotifEnv against CartPole-v1.

    python benchmarks/bench_env.py [--steps N]

Measures env steps per second with pre-drawn random actions (so the policy
costs nothing): MotifEnv single-env in both action modes, MotifEnv through
``gymnasium.make`` (with Gymnasium's checker wrappers), 8 MotifEnvs in a
``gymnasium.vector.SyncVectorEnv`` (counting every sub-env step), and
CartPole-v1 single-env through ``gymnasium.make`` as a reference. Prints a
markdown table; ``run(steps)`` returns the figures for other scripts.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from motif_tune.envs import MOTIF_GYM_ID
from motif_tune.envs.motif import MotifEnv

VECTOR_ENVS = 8


def _single_env_rate(env: gym.Env, actions: np.ndarray) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def _vector_env_rate(env: gym.vector.VectorEnv, actions: np.ndarray) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        env.step(action)  # sub-envs reset themselves (autoreset)
    return actions.shape[0] * env.num_envs / (time.perf_counter() - start)


def _scores(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _cases(steps: int) -> dict[str, Callable[[], float]]:
    rng = np.random.default_rng(0)
    k = MotifEnv().config.num_motifs
    vector_steps = max(1, steps // VECTOR_ENVS)

    def vector() -> float:
        env = gym.vector.SyncVectorEnv([MotifEnv for _ in range(VECTOR_ENVS)])
        try:
            return _vector_env_rate(env, _scores(rng, (vector_steps, VECTOR_ENVS, k)))
        finally:
            env.close()

    return {
        "motif, scores": lambda: _single_env_rate(MotifEnv(), _scores(rng, (steps, k))),
        "motif, choose": lambda: _single_env_rate(
            MotifEnv({"action_mode": "choose"}), rng.integers(0, k, steps)
        ),
        "motif, scores, gymnasium.make": lambda: _single_env_rate(
            gym.make(MOTIF_GYM_ID), _scores(rng, (steps, k))
        ),
        f"motif, scores, SyncVectorEnv x{VECTOR_ENVS}": vector,
        "CartPole-v1, gymnasium.make": lambda: _single_env_rate(
            gym.make("CartPole-v1"), rng.integers(0, 2, steps)
        ),
    }


def run(steps: int = 50_000) -> dict[str, float]:
    """Env steps per second for each case, by case name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checker's notes on unbounded Box actions
        return {name: measure() for name, measure in _cases(steps).items()}


def markdown(results: dict[str, Any]) -> str:
    lines = ["| env | env steps/s |", "|---|---:|"]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per case")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    print(markdown(run(args.steps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
