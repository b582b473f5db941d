"""Checks of the settings that need RLlib: builder keys, the batch rule, ``validate()``.

Unknown keys are refused by the builder's signature, with the list of valid
ones and hints for old API stack names; then RLlib's own validation runs on the
built config, so its refusal surfaces as one sentence before Ray starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from motif_tune.compat.ray import deprecated_marker
from motif_tune.config import Settings
from motif_tune.envs.faults import ENV_FAULTS
from motif_tune.errors import ConfigError
from motif_tune.rllib.builder import algorithm_class, build_algorithm_config
from motif_tune.text import one_line

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

ENV_RUNNERS = "env_runners/"
# Keys the framework sets itself; a group must not set them a second time.
_RESERVED = {"env", "env_config", "env_to_module_connector", "callbacks"}


def check_settings(settings: Settings) -> None:
    """Every check of a command's settings that needs more than the schema: the
    objective's metric, then the RLlib settings and, as the config is built, the env with
    its config and callbacks (before Ray starts)."""
    if settings.is_sweep:
        check_metric(settings)
    check_algorithm_settings(settings)


def check_metric(settings: Settings) -> None:
    """``sweep.metric`` under ``env_runners/`` names a metric the env declares or RLlib
    reports (anything else would rank nothing)."""
    metric = settings.sweep.metric
    if not metric.startswith(ENV_RUNNERS):
        return
    name = metric.removeprefix(ENV_RUNNERS)
    declared = [m.name for m in settings.env.metrics]
    if name in declared or name in rllib_metric_names():
        return
    own = f"env.metrics declares {', '.join(declared)}" if declared else "env.metrics is empty"
    raise ConfigError(
        f"sweep.metric ({metric}) is no metric of this env: {own}, and RLlib reports "
        "episode_return_mean, episode_len_mean and the like; declare it under metrics in "
        f"the env's conf/env/{settings.env.name}.yaml, with the callback that reports it."
    )


@cache
def rllib_metric_names() -> frozenset[str]:
    """The metric names RLlib's results use (its constants), and the env faults count."""
    from ray.rllib.utils import metrics

    names = {v for k, v in vars(metrics).items() if k.isupper() and isinstance(v, str)}
    return frozenset({name for name in names if "/" not in name} | {ENV_FAULTS})


def check_algorithm_settings(settings: Settings) -> None:
    """Refuse unknown builder keys and anything RLlib's own validation rejects."""
    defaults = algorithm_class(settings.algo.name).get_default_config()
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
        raise ConfigError(f"RLlib refuses these settings: {one_line(err, 400)}") from None


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
    names: set[str] = set()
    deprecated = deprecated_marker()
    for klass in type(config).__mro__:
        builder = klass.__dict__.get(method)
        if builder is None:
            continue
        for name, param in inspect.signature(builder).parameters.items():
            if param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is not deprecated:
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
