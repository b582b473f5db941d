"""Settings -> RLlib ``AlgorithmConfig`` (new API stack).

The YAML groups use RLlib's own builder argument names, so each group is handed
to its builder method as is: ``env`` -> ``.environment()``, ``scaling.env_runners``
-> ``.env_runners()``, ``scaling.learners`` -> ``.learners()``, ``algo.training``
-> ``.training()``. The config is a pure function of the settings, so it is
built once per distinct settings and copied from then on.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from motif_tune.config import Settings
from motif_tune.config.schema import SUPPORTED_ALGORITHMS
from motif_tune.envs.registry import checked_env, env_callbacks, register_with_ray
from motif_tune.errors import ConfigError

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig


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
    return not isinstance(space, gym.spaces.Box) or len(space.shape) != 1


def observation_space_of(env_id: str, env_config: Mapping[str, Any]) -> gym.Space:
    """The env's observation space (built once per env and config, then remembered); an
    env that cannot be built with its config is refused in one sentence."""
    return _observation_space(env_id, json.dumps(dict(env_config), sort_keys=True, default=str))


@functools.lru_cache(maxsize=64)
def _observation_space(env_id: str, env_config_json: str) -> gym.Space:
    with checked_env(env_id, json.loads(env_config_json)) as env:
        return env.observation_space


# Built configs by the settings they came from (settings are frozen; configs are copied out).
_BUILT: dict[str, AlgorithmConfig] = {}
_MAX_BUILT = 32


def build_algorithm_config(settings: Settings) -> AlgorithmConfig:
    """The complete ``AlgorithmConfig`` for one run or trial (a fresh copy each call)."""
    key = settings.model_dump_json(by_alias=True)
    if key not in _BUILT:
        if len(_BUILT) >= _MAX_BUILT:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[key] = _build(settings)
    return _BUILT[key].copy(copy_frozen=False)


def _build(settings: Settings) -> AlgorithmConfig:
    # What this layer decides comes first, then what the env's registry answers.
    algo_cls = algorithm_class(settings.algo.name)
    env_runners, learners, main_process = gpu_requests(settings)
    if env_runners.get("explore") is False:  # greedy actions that on-policy learners take
        from motif_tune.rllib.greedy import greedy_training

        env_runners |= greedy_training(settings.env.normalize_actions, settings.env.clip_actions)
    env_config = env_config_for_run(settings)
    if needs_flattening(observation_space_of(settings.env.id, settings.env.env_config)):
        env_runners["env_to_module_connector"] = flatten_observations_connector
    tolerant = settings.env.end_episode_on_fault
    env_name = register_with_ray(settings.env.id, tolerant)
    callbacks = env_callbacks(settings.env.callbacks, tolerant)
    config = (
        algo_cls.get_default_config()
        .environment(
            env_name,
            env_config=env_config,
            normalize_actions=settings.env.normalize_actions,
            clip_actions=settings.env.clip_actions,
        )
        .env_runners(**env_runners)
        .learners(**learners)
        .resources(custom_resources_for_main_process=main_process)
        .training(**dict(settings.algo.training))
        .rl_module(model_config=dict(settings.algo.model_config_))
        .fault_tolerance(**dict(settings.fault_tolerance))
        .debugging(
            seed=settings.seed,
            log_level=settings.logging.rllib_level,
            log_sys_usage=False,  # a CPU/GPU poller thread per trial whose figures go unused
        )
        # One training step per iteration, so a budget holds within one train batch:
        # APPO and IMPALA otherwise iterate for at least 10 s (RLlib's default for them).
        .reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=0)
    )
    if callbacks:
        config.callbacks(callbacks)
    return config


def env_config_for_run(settings: Settings) -> dict[str, Any]:
    """``env.env_config`` with the env's log folder (``env.log_dir_key``) in this run's
    folder when the config names none."""
    env = settings.env
    config = dict(env.env_config)
    if env.log_dir_key and not config.get(env.log_dir_key):
        config[env.log_dir_key] = str(settings.log_file.parent / f"{env.name}_logs")
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


def evaluate_on_demand(
    config: AlgorithmConfig,
    episodes: int,
    *,
    explore: bool = False,
    num_env_runners: int = 0,
    num_envs: int | None = None,
    seed: int | None = None,
) -> AlgorithmConfig:
    """Give ``config`` an evaluation runner group that plays ``episodes`` episodes per
    ``Algorithm.evaluate()`` call and never runs on its own.

    The interval only makes RLlib build the group; evaluations happen when asked.
    With a ``seed``, every evaluation replays the same episodes (RLlib resets the
    evaluation envs with their seed at each episode-based evaluation).
    """
    overrides: dict[str, Any] = {
        "explore": explore,
        # RLlib's episode means cover this many episodes; by default only the last 100.
        "metrics_num_episodes_for_smoothing": episodes,
        # An env that raises costs its episode, not the evaluation (nor the trial).
        "restart_failed_sub_environments": True,
    }
    if num_envs is not None:
        overrides["num_envs_per_env_runner"] = num_envs
    if seed is not None:
        overrides["seed"] = seed
    return config.evaluation(
        evaluation_interval=_ON_DEMAND,
        evaluation_num_env_runners=num_env_runners,
        evaluation_duration=episodes,
        evaluation_duration_unit="episodes",
        evaluation_config=overrides,
    )


_ON_DEMAND = 10**9
