"""Environments by name: the motif task or any installed Gymnasium id.

RLlib builds envs in every EnvRunner from a registered env creator (a picklable
callable ``creator(env_config) -> Env``), never from an env instance; this
module makes those creators and checks names and ``env_config`` keys before
Ray starts. It also answers what the generic pipeline asks of an env: its task
metrics, the RLlib callback that reports them, and the run-specific
``env_config`` it wants (the motif env's log folder).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec, load_env_creator

from motif_tune.envs.motif import (
    DEFAULT_LOG_FOLDER,
    MOTIF_TASK_METRICS,
    MotifEnv,
    MotifEnvConfig,
)
from motif_tune.envs.task_metric import TaskMetric
from motif_tune.errors import ConfigError

MOTIF_ENV_NAME = "motif"
MOTIF_GYM_ID = "motif_tune/Motif-v0"
_MOTIF_NAMES = frozenset({MOTIF_ENV_NAME, MOTIF_GYM_ID})
_EXAMPLE_IDS = "CartPole-v1, Acrobot-v1, MountainCar-v0, Pendulum-v1 or motif"
# Keyword arguments ``gymnasium.make`` takes itself, whatever the env.
_MAKE_KWARGS = ("max_episode_steps", "disable_env_checker")


def is_motif(name: str) -> bool:
    return name in _MOTIF_NAMES


def same_env(a: str, b: str) -> bool:
    """Two env names that build the same env (``motif`` is ``motif_tune/Motif-v0``)."""
    return a == b or (is_motif(a) and is_motif(b))


def compose_hint(name: str) -> str:
    """The command-line overrides that compose env ``name``."""
    return "env=motif" if is_motif(name) else f"env=gym env.id={name}"


def task_metrics(name: str) -> tuple[TaskMetric, ...]:
    """The task metrics env ``name`` reports (none for a plain Gymnasium env)."""
    return MOTIF_TASK_METRICS if is_motif(name) else ()


def all_task_metrics() -> tuple[TaskMetric, ...]:
    """Every task metric a known env reports."""
    return MOTIF_TASK_METRICS


def callbacks_for(name: str, end_episode_on_fault: bool = True) -> list[type]:
    """The RLlib callback classes that report env ``name``'s task metrics and faults."""
    callbacks: list[type] = []
    if end_episode_on_fault:
        from motif_tune.envs.faults import EnvFaultCallback

        callbacks.append(EnvFaultCallback)
    if is_motif(name):
        from motif_tune.envs.motif_metrics import MotifMetricsCallback

        callbacks.append(MotifMetricsCallback)
    return callbacks


def env_config_for_run(name: str, env_config: Mapping[str, Any], run_folder: Path) -> dict:
    """``env_config`` with what the env wants of this run (the motif env's log folder)."""
    config = dict(env_config)
    if is_motif(name) and not config.get("log_dir"):
        config["log_dir"] = str(run_folder / DEFAULT_LOG_FOLDER)
    return config


def make_env(name: str, env_config: Mapping[str, Any] | None = None) -> gym.Env:
    """Build ``motif`` (or ``motif_tune/Motif-v0``) or any Gymnasium id with ``env_config``."""
    if is_motif(name):
        return MotifEnv(env_config)
    return gym.make(name, **_gym_kwargs(name, _gym_spec(name), env_config))


def validate_env(name: str, env_config: Mapping[str, Any] | None = None) -> None:
    """Raise ``ConfigError`` for an unknown env or bad ``env_config``, without building the env."""
    if is_motif(name):
        MotifEnvConfig.from_mapping(env_config)
        return
    _gym_kwargs(name, _gym_spec(name), env_config)


@dataclass(frozen=True)
class EnvCreator:
    """Picklable ``creator(env_config) -> Env`` for ``ray.tune.registry.register_env``."""

    name: str
    end_episode_on_fault: bool = False

    def __call__(self, env_config: Mapping[str, Any] | None = None) -> gym.Env:
        env = make_env(self.name, env_config)
        if self.end_episode_on_fault:
            from motif_tune.envs.faults import EndEpisodeOnFault

            env = EndEpisodeOnFault(env)
        return env


def env_creator(name: str, end_episode_on_fault: bool = False) -> EnvCreator:
    if not is_motif(name):
        _gym_spec(name)
    return EnvCreator(name, end_episode_on_fault)


def register_with_ray(name: str, end_episode_on_fault: bool = False) -> str:
    """Register ``name``'s env creator with Ray Tune/RLlib; returns the name to pass to RLlib.

    With ``end_episode_on_fault`` an exception in the env's ``step()`` ends the episode
    and one in ``reset()`` is retried (:mod:`motif_tune.envs.faults`).
    """
    from ray.tune.registry import register_env

    register_env(name, env_creator(name, end_episode_on_fault))
    return name


def gym_entry_point(**env_config: Any) -> MotifEnv:
    """Entry point of ``motif_tune/Motif-v0``; ``gym.make`` keywords are env_config keys."""
    return MotifEnv(env_config)


def register_gymnasium() -> None:
    """Make ``gymnasium.make("motif_tune/Motif-v0", **env_config)`` work (idempotent)."""
    if MOTIF_GYM_ID not in gym.registry:
        gym.register(id=MOTIF_GYM_ID, entry_point=f"{__name__}:gym_entry_point")


def _gym_spec(name: Any) -> EnvSpec:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"env.id must be a Gymnasium environment id such as {_EXAMPLE_IDS}, got {name!r}."
        )
    module, _, env_id = name.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(
                f"env.id '{name}' needs the Python module '{module}', which is not installed; "
                f"install it or use an id such as {_EXAMPLE_IDS}."
            ) from None
    try:
        return gym.spec(env_id)
    except gym.error.Error:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(
            f"env.id '{name}' is not a registered Gymnasium environment{hint}; e.g. {_EXAMPLE_IDS}."
        ) from None


def _gym_kwargs(name: str, spec: EnvSpec, env_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env_config`` as ``gym.make`` keyword arguments, refusing keys the env does not take."""
    kwargs = {str(k): v for k, v in dict(env_config or {}).items()}
    if not kwargs:
        return kwargs
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = load_env_creator(creator)
    try:
        params = inspect.signature(creator).parameters
    except (TypeError, ValueError):  # builtins without a signature: let the env decide
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    valid = sorted({*params, *_MAKE_KWARGS} - {"self"})
    for key in kwargs:
        if key not in valid:
            raise ConfigError(
                f"env_config.{key} is not accepted by {name}; valid keys are {', '.join(valid)}."
            )
    return kwargs
