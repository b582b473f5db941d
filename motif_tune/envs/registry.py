"""Environments by name: the motif task or any installed Gymnasium id.

RLlib builds envs in every EnvRunner from a registered env creator (a picklable
callable ``creator(env_config) -> Env``), never from an env instance; this
module makes those creators and checks names and ``env_config`` keys before
Ray starts.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec, load_env_creator

from motif_tune.envs.motif import MotifEnv, MotifEnvConfig
from motif_tune.errors import ConfigError

MOTIF_ENV_NAME = "motif"
MOTIF_GYM_ID = "motif_tune/Motif-v0"
_MOTIF_NAMES = frozenset({MOTIF_ENV_NAME, MOTIF_GYM_ID})
_EXAMPLE_IDS = "CartPole-v1, Acrobot-v1, MountainCar-v0, Pendulum-v1 or motif"
# Keyword arguments ``gymnasium.make`` takes itself, whatever the env.
_MAKE_KWARGS = ("max_episode_steps", "disable_env_checker")


def is_motif(name: str) -> bool:
    return name in _MOTIF_NAMES


def make_env(name: str, env_config: Mapping[str, Any] | None = None) -> gym.Env:
    """Build ``motif`` (or ``motif_tune/Motif-v0``) or any Gymnasium id with ``env_config``."""
    if is_motif(name):
        return MotifEnv(env_config)
    spec = _gym_spec(name)
    return gym.make(name, **_gym_kwargs(name, spec, env_config))


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

    def __call__(self, env_config: Mapping[str, Any] | None = None) -> gym.Env:
        return make_env(self.name, env_config)


def env_creator(name: str) -> EnvCreator:
    if not is_motif(name):
        _gym_spec(name)
    return EnvCreator(name)


def register_with_ray(name: str) -> str:
    """Register ``name``'s env creator with Ray Tune/RLlib; returns the name to pass to RLlib."""
    from ray.tune.registry import register_env

    register_env(name, env_creator(name))
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
