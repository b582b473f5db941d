"""A hand-written Tune + RLlib + MLflow sweep: the baseline ``bench_overhead`` times.

    python benchmarks/plain_tune.py --storage DIR [--trials 2] [--iterations 8]
        [--fragment 64] [--batch 1024]

What a user writes without motif-tune: the motif env registered with
``register_env``, a ``PPOConfig`` with the ``FlattenObservations`` connector,
``tune.Tuner(PPO, param_space=config.to_dict())`` with the rollout fragment
length and train batch size fixed for every trial, and ``MLflowLoggerCallback``
on its own SQLite store. The PPO settings, the env config and the task metrics
callback are those of motif-tune's defaults (``conf/algo/ppo.yaml``,
``conf/env/motif.yaml``), so both run the same trials. Everything goes under
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", type=Path, required=True, help="folder for all files")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--fragment", type=int, default=64, help="rollout_fragment_length")
    parser.add_argument("--batch", type=int, default=1024, help="train_batch_size_per_learner")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    storage = args.storage.resolve()
    storage.mkdir(parents=True, exist_ok=True)

    import mlflow
    import ray
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.rllib.algorithms.ppo import PPO, PPOConfig
    from ray.tune.registry import register_env

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

    tracking_uri = f"sqlite:///{storage / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name("plain_tune") is None:
        mlflow.create_experiment("plain_tune", artifact_location=(storage / "mlruns").as_uri())

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False)
    tuner = tune.Tuner(
        PPO,
        param_space=config.to_dict(),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            num_samples=args.trials,
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
        ),
        run_config=tune.RunConfig(
            name="plain",
            storage_path=str(storage / "ray_results"),
            stop={"training_iteration": args.iterations},
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_at_end=True),
            callbacks=[
                MLflowLoggerCallback(
                    tracking_uri=tracking_uri, experiment_name="plain_tune", save_artifact=False
                )
            ],
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
