"""Settings -> RLlib ``AlgorithmConfig`` (new API stack).

The YAML groups use RLlib's own builder argument names, so each group is handed
to its builder method as is: ``env`` -> ``.environment()``, ``scaling.env_runners``
-> ``.env_runners()``, ``scaling.learners`` -> ``.learners()``, ``algo.training``
-> ``.training()``. Unknown keys are refused here, by the builder's signature,
with the list of valid ones.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from motif_tune.errors import ConfigError

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

    from motif_tune.settings import Settings

# Algorithms whose new-stack default RLModule trains on this project's envs.
SUPPORTED_ALGORITHMS = ("PPO", "APPO", "IMPALA", "DQN", "SAC")
# Keys the framework sets itself; a group must not set them a second time.
_RESERVED = {"env", "env_config", "env_to_module_connector", "callbacks"}


def algorithm_class(name: str) -> type[Algorithm]:
    """The RLlib Algorithm class registered under ``name`` (e.g. ``PPO``)."""
    if name.upper() not in SUPPORTED_ALGORITHMS:
        raise ConfigError(
            f"algo.name '{name}' is not supported; choose one of {', '.join(SUPPORTED_ALGORITHMS)} "
            "(A2C is no longer part of RLlib: PPO is its successor)."
        )
    from ray.rllib.algorithms.registry import ALGORITHMS

    algo_cls, _ = ALGORITHMS[name.upper()]()
    return algo_cls


def flatten_observations_connector(env: Any = None, spaces: Any = None, device: Any = None):
    """One-hot/flatten observations the default RLModule cannot encode (MultiDiscrete, Dict…)."""
    from ray.rllib.connectors.env_to_module import FlattenObservations

    return FlattenObservations()


def needs_flattening(space: gym.Space) -> bool:
    """True for observation spaces that RLlib's default encoders refuse."""
    if isinstance(space, gym.spaces.Box):
        return len(space.shape) != 1
    return True


def observation_space_of(env_id: str, env_config: Mapping[str, Any]) -> gym.Space:
    """The env's observation space (built once per env and config, then remembered)."""
    return _observation_space(env_id, json.dumps(dict(env_config), sort_keys=True, default=str))


@functools.lru_cache(maxsize=64)
def _observation_space(env_id: str, env_config_json: str) -> gym.Space:
    from motif_tune.envs import make_env

    env = make_env(env_id, json.loads(env_config_json))
    try:
        return env.observation_space
    finally:
        env.close()


def env_config_for_run(settings: Settings) -> dict[str, Any]:
    """The env's config; the motif env's log folder defaults to the run's output folder."""
    from motif_tune.envs.registry import is_motif

    env_config = dict(settings.env.env_config)
    if is_motif(settings.env.id) and not env_config.get("log_dir"):
        env_config["log_dir"] = str(settings.log_file.parent / "motif_logs")
    return env_config


def build_algorithm_config(settings: Settings) -> AlgorithmConfig:
    """The complete, validated ``AlgorithmConfig`` for one run or trial."""
    from motif_tune.callbacks import MotifMetricsCallback
    from motif_tune.envs import register_with_ray

    algo_cls = algorithm_class(settings.algo.name)
    env_name = register_with_ray(settings.env.id)
    observation_space = observation_space_of(settings.env.id, settings.env.env_config)

    env_runners, learners, main_process = gpu_requests(settings)
    if needs_flattening(observation_space):
        env_runners["env_to_module_connector"] = flatten_observations_connector
    training = dict(settings.algo.training)
    config = (
        algo_cls.get_default_config()
        .environment(
            env_name,
            env_config=env_config_for_run(settings),
            normalize_actions=settings.env.normalize_actions,
            clip_actions=settings.env.clip_actions,
        )
        .env_runners(**env_runners)
        .learners(**learners)
        .resources(custom_resources_for_main_process=main_process)
        .training(**training)
        .rl_module(model_config=dict(settings.algo.model_config_))
        .fault_tolerance(**dict(settings.fault_tolerance))
        .callbacks(MotifMetricsCallback)
        .debugging(seed=settings.seed, log_level=settings.logging.rllib_level)
    )
    return config


def gpu_requests(settings: Settings) -> tuple[dict, dict, dict]:
    """env_runners and learners kwargs, and the main process's custom resources.

    With logical GPUs (``scaling.gpu_resource`` other than "GPU"), every GPU
    request is moved to that custom resource: Ray schedules and packs runners
    and learners as if on GPUs while all compute stays on the CPU.
    """
    env_runners = dict(settings.scaling.env_runners)
    learners = dict(settings.scaling.learners)
    main_process: dict[str, float] = {}
    if not settings.scaling.logical_gpus:
        return env_runners, learners, main_process
    resource = settings.scaling.gpu_resource
    runner_gpus = float(env_runners.pop("num_gpus_per_env_runner", 0) or 0)
    env_runners["num_gpus_per_env_runner"] = 0
    if runner_gpus:
        custom = dict(env_runners.get("custom_resources_per_env_runner") or {})
        env_runners["custom_resources_per_env_runner"] = {**custom, resource: runner_gpus}
    learner_gpus = float(learners.pop("num_gpus_per_learner", 0) or 0)
    learners["num_gpus_per_learner"] = 0
    if learner_gpus and learners.get("num_learners", 0):
        custom = dict(learners.get("custom_resources_per_learner") or {})
        learners["custom_resources_per_learner"] = {**custom, resource: learner_gpus}
    elif learner_gpus:
        main_process[resource] = learner_gpus  # the local learner lives in the main process
    return env_runners, learners, main_process


def check_algorithm_settings(settings: Settings) -> None:
    """Refuse unknown builder keys and anything RLlib's own validation rejects."""
    algo_cls = algorithm_class(settings.algo.name)
    defaults = algo_cls.get_default_config()
    _check_keys("algo.training", settings.algo.training, defaults, "training")
    _check_keys("scaling.env_runners", settings.scaling.env_runners, defaults, "env_runners")
    _check_keys("scaling.learners", settings.scaling.learners, defaults, "learners")
    _check_keys("fault_tolerance", settings.fault_tolerance, defaults, "fault_tolerance")
    _check_batch_settings(settings)
    try:
        build_algorithm_config(settings).validate()
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"RLlib refuses these settings: {_one_line(err)}") from None


# Old API stack names and what replaced them, for a helpful refusal.
OLD_NAMES = {
    "num_workers": "scaling.env_runners.num_env_runners",
    "num_rollout_workers": "scaling.env_runners.num_env_runners",
    "num_envs_per_worker": "scaling.env_runners.num_envs_per_env_runner",
    "remote_worker_envs": "scaling.env_runners.gym_env_vectorize_mode=ASYNC",
    "num_gpus": "scaling.learners.num_gpus_per_learner",
    "num_gpus_per_worker": "scaling.env_runners.num_gpus_per_env_runner",
    "num_cpus_per_worker": "scaling.env_runners.num_cpus_per_env_runner",
    "train_batch_size": "algo.training.train_batch_size_per_learner",
    "horizon": "the env's own episode length (env.env_config.episode_length for motif)",
    "sgd_minibatch_size": "algo.training.minibatch_size",
    "num_sgd_iter": "algo.training.num_epochs",
}
_OLD_STACK_ONLY = {
    "sample_collector",
    "remote_worker_envs",
    "remote_env_batch_wait_ms",
    "preprocessor_pref",
    "observation_filter",
    "enable_tf1_exec_eagerly",
    "sampler_perf_stats_ema_coef",
    "exploration_config",
    "synchronize_filter",
    "create_env_on_local_worker",
}


def builder_keys(config: AlgorithmConfig, method: str) -> list[str]:
    """The keyword arguments of a builder method, through the config class hierarchy."""
    from ray._common.deprecation import DEPRECATED_VALUE

    names: set[str] = set()
    for klass in type(config).__mro__:
        builder = klass.__dict__.get(method)
        if builder is None:
            continue
        for name, param in inspect.signature(builder).parameters.items():
            if (
                param.kind is inspect.Parameter.KEYWORD_ONLY
                and param.default is not DEPRECATED_VALUE
            ):
                names.add(name)
    return sorted(names - _RESERVED - _OLD_STACK_ONLY)


def _check_keys(
    where: str, values: Mapping[str, Any], config: AlgorithmConfig, method: str
) -> None:
    valid = builder_keys(config, method)
    for key in values:
        if key in _RESERVED:
            raise ConfigError(f"{where}.{key} is set by motif-tune itself; remove it.")
        if key in valid:
            continue
        if key in OLD_NAMES:
            raise ConfigError(
                f"{where}.{key} is an old RLlib API stack name; use {OLD_NAMES[key]} instead."
            )
        raise ConfigError(
            f"{where}.{key} is not an RLlib {type(config).__name__}.{method}() setting; "
            f"valid keys: {', '.join(valid)}."
        )


def _check_batch_settings(settings: Settings) -> None:
    """The batch rule RLlib applies, said in our settings' names."""
    scaling = settings.scaling
    batch, fragment = settings.algo.train_batch_size, scaling.rollout_fragment_length
    if batch is None or fragment == "auto":
        return
    envs, runners = scaling.num_envs_per_env_runner, max(scaling.num_env_runners, 1)
    per_round = fragment * envs * runners
    if not batch_is_consistent(batch, per_round):
        raise ConfigError(
            f"algo.training.train_batch_size_per_learner ({batch}) must be a whole number of "
            f"rollout fragments: rollout_fragment_length ({fragment}) x envs per runner ({envs}) "
            f"x runners ({runners}) = {per_round} steps per round; use a multiple of "
            f"{per_round} or rollout_fragment_length=auto."
        )


def batch_is_consistent(batch: int, per_round: int) -> bool:
    """RLlib's rule: whole rounds of sampling reach the batch within 10% of it."""
    rounds = -(-batch // per_round)
    return rounds * per_round - batch <= 0.1 * batch


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:397] + "..."
