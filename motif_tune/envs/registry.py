"""Environments by name: a Gymnasium id, or an env class or creator named by its code path.

``env.id`` is one of:

- a Gymnasium id (``CartPole-v1``, ``motif_tune/Motif-v0``, or ``module:Name-v0``
  for an id that importing ``module`` registers); ``env_config`` keys are
  ``gymnasium.make`` keyword arguments;
- ``module:attr`` or ``module.attr``, where ``attr`` is a ``gymnasium.Env``
  subclass or a creator ``f(env_config) -> Env`` (RLlib's own ``env="pkg.Class"``
  and Tune's ``register_env`` forms). A class whose ``__init__`` takes one
  argument (``config``, ``env_config`` or any single positional one) gets the
  ``env_config`` mapping, as RLlib passes it; one with keyword arguments gets
  them, checked against its signature. Modules are imported from the project
  folder (on ``sys.path`` in the driver; Ray's ``runtime_env`` carries it to
  every worker) or from what is installed.

RLlib builds envs in every EnvRunner from a registered creator (a picklable
callable ``creator(env_config) -> Env``), never from an env instance; this
module makes those creators, imports an env's RLlib callbacks, and checks names
and ``env_config`` keys before Ray starts.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec, load_env_creator

from motif_tune.errors import ConfigError
from motif_tune.text import one_line

_EXAMPLE_IDS = "CartPole-v1, Acrobot-v1, a Gymnasium id, or my_env:MyEnv (a class or creator)"
# Keyword arguments ``gymnasium.make`` takes itself, whatever the env.
_MAKE_KWARGS = ("max_episode_steps", "disable_env_checker")
# Names a class's single argument takes when it is RLlib's env_config mapping.
_MAPPING_NAMES = ("config", "env_config", "env_context")
_VERSIONED = re.compile(r"-v\d+$")


@dataclass(frozen=True)
class EnvEntry:
    """What ``env.id`` names: a Gymnasium id, or an env class or creator in code."""

    id: str
    kind: Literal["gym", "class", "creator"]
    factory: Callable[..., Any] | None = None  # the class or the creator
    takes: Literal["mapping", "keywords"] = "keywords"

    def build(self, env_config: Mapping[str, Any] | None = None) -> gym.Env:
        config = env_config if env_config is not None else {}
        if self.kind == "gym":
            return gym.make(self.id.rpartition(":")[2], **_gym_kwargs(self.id, dict(config)))
        assert self.factory is not None
        if self.takes == "mapping":  # as given: RLlib's EnvContext carries worker_index
            return self.factory(config)
        return self.factory(**config)


def env_entry(env_id: Any) -> EnvEntry:
    """Resolve ``env.id``; one sentence when it names nothing that makes an env."""
    if not isinstance(env_id, str) or not env_id.strip():
        raise ConfigError(f"env.id must be {_EXAMPLE_IDS}, got {env_id!r}.")
    module, attr = _code_path(env_id)
    if module is None:
        _gym_spec(env_id)
        return EnvEntry(env_id, "gym")
    found = _import(env_id, module)
    if not hasattr(found, attr):
        if _VERSIONED.search(attr):  # module:Name-v0, a Gymnasium id the module registers
            _gym_spec(env_id)
            return EnvEntry(env_id, "gym")
        names = [n for n in dir(found) if not n.startswith("_")]
        near = difflib.get_close_matches(attr, names, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ConfigError(
            f"env.id '{env_id}': module '{module}' has no '{attr}'{hint}; it has "
            f"{', '.join(names[:12]) or 'no public names'}."
        )
    target = getattr(found, attr)
    if inspect.isclass(target):
        if not issubclass(target, gym.Env):
            raise ConfigError(
                f"env.id '{env_id}' is a class that is not a gymnasium.Env; give an Env "
                "subclass or a creator function f(env_config) -> Env."
            )
        return EnvEntry(env_id, "class", target, _takes(target))
    if callable(target):
        return EnvEntry(env_id, "creator", target, "mapping")
    raise ConfigError(
        f"env.id '{env_id}' is a {type(target).__name__}, neither a gymnasium.Env subclass "
        "nor a creator function f(env_config) -> Env."
    )


def make_env(env_id: str, env_config: Mapping[str, Any] | None = None) -> gym.Env:
    """Build the env ``env.id`` names, with ``env_config``."""
    return env_entry(env_id).build(env_config)


def checked_env(env_id: str, env_config: Mapping[str, Any] | None = None) -> gym.Env:
    """The env built as :func:`make_env` builds it, for a check: an unknown env,
    ``env_config`` keys it does not take, or an env that cannot be built with them is
    refused in one sentence (:class:`ConfigError`) naming ``env.id``."""
    entry = env_entry(env_id)
    config = dict(env_config or {})
    if entry.kind == "class" and entry.takes == "keywords":
        _check_keywords(env_id, inspect.signature(entry.factory), config)
    try:
        env = entry.build(config)
    except ConfigError:
        raise
    except Exception as err:
        what = "the creator" if entry.kind == "creator" else "building it"
        raise ConfigError(
            f"env.id '{env_id}': {what} with env_config {config} raised "
            f"{type(err).__name__}: {one_line(err, 200)}"
        ) from None
    if not isinstance(getattr(env, "unwrapped", None), gym.Env):
        raise ConfigError(
            f"env.id '{env_id}': the creator returned {type(env).__name__}, not an Env."
        )
    return env


def config_keys(entry: EnvEntry, env_config: Mapping[str, Any]) -> set[str]:
    """The ``env_config`` keys an env takes: its class's ``config_keys``, its keyword
    arguments, else those its config file names."""
    declared = getattr(entry.factory, "config_keys", None)
    if declared:
        return set(declared)
    if entry.kind == "class" and entry.takes == "keywords":
        params = inspect.signature(entry.factory).parameters
        return {n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return set(env_config)


def environment_values(
    env_id: str, env_config: Mapping[str, Any], prefix: str | None, explicit: Sequence[str] = ()
) -> dict[str, Any]:
    """``env_config`` keys set by ``<PREFIX><KEY>`` environment variables, for keys the env
    takes and the command line did not set (``explicit``); values read as YAML scalars."""
    import yaml

    if not prefix:
        return {}
    values = {}
    for key in sorted(config_keys(env_entry(env_id), env_config) - set(explicit)):
        raw = os.environ.get(f"{prefix}{key.upper()}")
        if raw is not None:
            try:
                values[key] = yaml.safe_load(raw)
            except yaml.YAMLError:
                values[key] = raw
    return values


@dataclass(frozen=True)
class EnvCreator:
    """Picklable ``creator(env_config) -> Env`` for ``ray.tune.registry.register_env``."""

    env_id: str
    end_episode_on_fault: bool = False

    def __call__(self, env_config: Mapping[str, Any] | None = None) -> gym.Env:
        env = make_env(self.env_id, env_config)
        if self.end_episode_on_fault:
            from motif_tune.envs.faults import EndEpisodeOnFault

            env = EndEpisodeOnFault(env)
        return env


def env_creator(env_id: str, end_episode_on_fault: bool = False) -> EnvCreator:
    env_entry(env_id)
    return EnvCreator(env_id, end_episode_on_fault)


def register_with_ray(env_id: str, end_episode_on_fault: bool = False) -> str:
    """Register ``env_id``'s creator with Ray Tune/RLlib; returns the name to pass to RLlib.

    With ``end_episode_on_fault`` an exception in the env's ``step()`` ends the episode
    and one in ``reset()`` is retried (:mod:`motif_tune.envs.faults`).
    """
    from ray.tune.registry import register_env

    register_env(env_id, env_creator(env_id, end_episode_on_fault))
    return env_id


def env_callbacks(paths: Sequence[str], end_episode_on_fault: bool = True) -> list[type]:
    """The RLlib callback classes of an env (``module:Class`` each), after the one that
    counts the faults episodes absorbed."""
    from ray.rllib.callbacks.callbacks import RLlibCallback

    callbacks: list[type] = []
    if end_episode_on_fault:
        from motif_tune.envs.faults import EnvFaultCallback

        callbacks.append(EnvFaultCallback)
    for path in paths:
        module, attr = _code_path(path)
        where = f"env.callbacks entry '{path}'"
        if module is None:
            raise ConfigError(f"{where} must be module:Class (an RLlibCallback subclass).")
        found = getattr(_import(path, module, where), attr, None)
        if not (inspect.isclass(found) and issubclass(found, RLlibCallback)):
            what = "missing" if found is None else getattr(found, "__name__", type(found).__name__)
            raise ConfigError(
                f"{where} is {what}, not an RLlibCallback subclass "
                "(ray.rllib.callbacks.callbacks.RLlibCallback)."
            )
        callbacks.append(found)
    return callbacks


def code_modules(env_id: str, callbacks: Sequence[str] = ()) -> list[str]:
    """The modules ``env.id`` and the env's callbacks are imported from."""
    modules = [_code_path(name)[0] for name in (env_id, *callbacks)]
    return [module for module in modules if module]


def _code_path(name: str) -> tuple[str | None, str]:
    """``module:attr`` or ``module.attr`` -> (module, attr); (None, name) for anything
    else (a Gymnasium id)."""
    if ":" in name:
        module, _, attr = name.rpartition(":")
        return module, attr
    if "." in name and "/" not in name and not _VERSIONED.search(name):
        module, _, attr = name.rpartition(".")
        if module and attr.isidentifier():
            return module, attr
    return None, name


def _import(name: str, module: str, where: str | None = None) -> Any:
    where = where or f"env.id '{name}'"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and not module.startswith(err.name) and module != err.name:
            raise ConfigError(
                f"{where}: module '{module}' imports '{err.name}', which is not installed."
            ) from None
        searched = next((p for p in sys.path if p), ".")
        raise ConfigError(
            f"{where}: no module '{module}' in the project folder {searched} nor among the "
            "installed packages; put it there (or pass project_dir=…) or install it."
        ) from None
    except Exception as err:  # the module itself fails to import
        raise ConfigError(
            f"{where}: importing '{module}' raised {type(err).__name__}: {one_line(err, 200)}"
        ) from None


def _takes(cls: type) -> Literal["mapping", "keywords"]:
    """How a class takes ``env_config``: as one mapping (RLlib's way) or as keywords."""
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return "mapping"
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if len(named) == 1 and (
        named[0].name in _MAPPING_NAMES or named[0].default is inspect.Parameter.empty
    ):
        return "mapping"
    if any(p.name in _MAPPING_NAMES for p in named):
        return "mapping"
    return "keywords"


def _check_keywords(name: str, signature: inspect.Signature, config: Mapping[str, Any]) -> None:
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = sorted(set(params) - {"self"})
    for key in config:
        if key not in valid:
            raise ConfigError(
                f"env_config.{key} is not accepted by {name}; valid keys are "
                f"{', '.join(valid) or 'none'}."
            )


def _gym_spec(name: str) -> EnvSpec:
    module, _, env_id = name.rpartition(":")
    if module:
        _import(name, module)
    try:
        return gym.spec(env_id)
    except gym.error.Error:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(
            f"env.id '{name}' is not a registered Gymnasium environment{hint}; e.g. {_EXAMPLE_IDS}."
        ) from None


def _gym_kwargs(name: str, env_config: Mapping[str, Any]) -> dict[str, Any]:
    """``env_config`` as ``gym.make`` keyword arguments, refusing keys the env does not take."""
    kwargs = {str(k): v for k, v in dict(env_config or {}).items()}
    if not kwargs:
        return kwargs
    creator = _gym_spec(name).entry_point
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
