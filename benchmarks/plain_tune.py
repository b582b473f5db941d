"""A hand-written Tune + RLlib + MLflow sweep: the baseline ``bench_overhead`` and
``bench_startup`` time.

    python benchmarks/plain_tune.py --storage DIR [--trials 2] [--iterations 8]
        [--fragment 64] [--batch 1024] [--trial FRAGMENT:BATCH ...] [--env-steps N]
        [--eval-episodes N] [--no-tracking]

What a user writes without motif-tune: the motif env registered with
``register_env``, a ``PPOConfig`` with the ``FlattenObservations`` connector,
``tune.Tuner(PPO, param_space=config.to_dict())`` and ``MLflowLoggerCallback``
on its own SQLite store. The PPO settings, the env config and the task metrics
callback are those of motif-tune's defaults (``conf/algo/ppo.yaml``,
``conf/env/motif.yaml``), so both run the same trials. Every trial gets the same
rollout fragment length and train batch size (``--fragment``, ``--batch``), or
``--trial FRAGMENT:BATCH`` names each trial's pair. Trials stop after
``--iterations`` or, with ``--env-steps``, once they sampled that many env steps;
``--eval-episodes`` adds a greedy evaluation of that many episodes to every
iteration, ``--no-tracking`` leaves MLflow out. Everything goes under
``--storage``; Ray gets its token from the environment (set here when missing).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

ENV_CONFIG = {
    "num_motifs": 6,
    "motif_length": 8,
    "alphabet_size": 5,
    "noise": 0.3,
    "episode_length": 1,
    "action_mode": "scores",
}
METRIC = "env_runners/episode_return_mean"


def flatten_observations(env: Any = None, spaces: Any = None, device: Any = None) -> Any:
    """The env-to-module connector that one-hot encodes the MultiDiscrete observations."""
    from ray.rllib.connectors.env_to_module import FlattenObservations

    return FlattenObservations()


def make_motif_env(env_config: dict) -> Any:
    from motif_tune.envs.motif import MotifEnv

    return MotifEnv(env_config)


def _pair(text: str) -> tuple[int, int]:
    fragment, _, batch = text.partition(":")
    return int(fragment), int(batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", type=Path, required=True, help="folder for all files")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--fragment", type=int, default=64, help="rollout_fragment_length")
    parser.add_argument("--batch", type=int, default=1024, help="train_batch_size_per_learner")
    parser.add_argument(
        "--trial",
        type=_pair,
        action="append",
        metavar="FRAGMENT:BATCH",
        help="one trial's rollout fragment length and batch (repeat; replaces --trials)",
    )
    parser.add_argument("--env-steps", type=int, help="stop a trial at this many env steps")
    parser.add_argument("--eval-episodes", type=int, help="greedy evaluation each iteration")
    parser.add_argument("--no-tracking", action="store_true", help="no MLflow")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    storage = args.storage.resolve()
    storage.mkdir(parents=True, exist_ok=True)

    import ray
    from ray import tune
    from ray.rllib.algorithms.ppo import PPO, PPOConfig
    from ray.tune.registry import register_env
    from ray.tune.search import BasicVariantGenerator

    from motif_tune.envs.motif_metrics import MotifMetricsCallback

    register_env("motif", make_motif_env)
    config = (
        PPOConfig()
        .environment("motif", env_config=ENV_CONFIG, normalize_actions=False, clip_actions=False)
        .env_runners(
            num_env_runners=0,
            num_envs_per_env_runner=4,
            rollout_fragment_length=args.fragment,
            env_to_module_connector=flatten_observations,
        )
        .training(
            lr=0.0003,
            gamma=0.99,
            train_batch_size_per_learner=args.batch,
            minibatch_size=128,
            num_epochs=6,
            entropy_coeff=0.0,
            clip_param=0.2,
            vf_loss_coeff=0.5,
        )
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
        .callbacks(MotifMetricsCallback)
        .debugging(seed=0, log_level="WARN")
    )
    if args.eval_episodes:
        config.evaluation(
            evaluation_interval=1,
            evaluation_duration=args.eval_episodes,
            evaluation_duration_unit="episodes",
            evaluation_config={"explore": False},
        )

    param_space = config.to_dict()
    search_alg = None
    trials = args.trials
    if args.trial:  # each trial its own pair: Tune's points to evaluate, in order
        points = [
            {"rollout_fragment_length": f, "_train_batch_size_per_learner": b}
            for f, b in args.trial
        ]
        for key in points[0]:
            param_space[key] = tune.choice(sorted({p[key] for p in points}))
        search_alg = BasicVariantGenerator(points_to_evaluate=points)
        trials = len(points)

    callbacks = []
    if not args.no_tracking:
        import mlflow
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        tracking_uri = f"sqlite:///{storage / 'mlflow.db'}"
        mlflow.set_tracking_uri(tracking_uri)
        if mlflow.get_experiment_by_name("plain_tune") is None:
            mlflow.create_experiment("plain_tune", artifact_location=(storage / "mlruns").as_uri())
        callbacks.append(
            MLflowLoggerCallback(
                tracking_uri=tracking_uri, experiment_name="plain_tune", save_artifact=False
            )
        )

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False)
    stop = (
        {"num_env_steps_sampled_lifetime": args.env_steps}
        if args.env_steps
        else {"training_iteration": args.iterations}
    )
    tuner = tune.Tuner(
        PPO,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            num_samples=trials,
            search_alg=search_alg,
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
        ),
        run_config=tune.RunConfig(
            name="plain",
            storage_path=str(storage / "ray_results"),
            stop=stop,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_at_end=True),
            callbacks=callbacks,
            verbose=1,
        ),
    )
    results = tuner.fit()
    best = results.get_best_result()
    value = best.metrics.get("env_runners", {}).get("episode_return_mean")
    print(
        f"Plain sweep: {len(results)} trials, {results.num_errors} errored; best {METRIC} = {value}"
    )
    ray.shutdown()
    return 1 if results.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
