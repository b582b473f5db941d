"""Composed Hydra config -> frozen, validated ``Settings``.

This is the one place that reads raw config. Everything downstream receives a
frozen ``Settings`` object; a mistake surfaces here as a ``ConfigError`` with
one sentence, before Ray or MLflow start. Checks that need RLlib or the env
come after, in :func:`motif_tune.rllib.checks.check_settings`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException
from pydantic import ValidationError

from motif_tune.config.keys import unknown_setting
from motif_tune.config.run_stamp import run_stamp
from motif_tune.config.schema import ParamSpec, Settings
from motif_tune.errors import ConfigError


def as_name(text: str) -> str:
    """``text`` as a name for folders, runs and registered models: ``ALE/Pong-v5`` ->
    ``ALE-Pong-v5``, ``my_env:TrendPick`` -> ``my_env-TrendPick``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")


# ``${as_name:${.id}}`` in the config: a Gymnasium env is named after its id;
# ``${run_stamp:}``: the time in a run's default name.
if not OmegaConf.has_resolver("as_name"):
    OmegaConf.register_new_resolver("as_name", as_name)
if not OmegaConf.has_resolver("run_stamp"):
    OmegaConf.register_new_resolver("run_stamp", run_stamp)


def load_settings(cfg: DictConfig, command: str = "sweep") -> Settings:
    """Resolve and validate a composed config; raise ``ConfigError`` on any mistake."""
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    cfg.command = command
    cfg.setdefault("output_dir", None)
    try:
        root = Path(str(cfg.paths.root)).expanduser()
        cfg.paths.root = str(root if root.is_absolute() else (Path.cwd() / root).resolve())
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        key = _key_of(err)
        hint = ", e.g. env=gym env.id=Acrobot-v1" if key == "env.id" else ""
        raise ConfigError(f"{key} must be set{hint}.") from None
    except OmegaConfBaseException as err:
        raise ConfigError(f"{_key_of(err)}: {err.msg}") from None
    assert isinstance(data, dict)
    data.pop("hydra", None)
    return _validated(data)


def apply_overrides(settings: Settings, values: dict[str, Any]) -> Settings:
    """A copy of ``settings`` with config paths set (a trial's searched values).

    Only the schema is checked again: the composed config was checked whole before.
    """
    cfg = OmegaConf.create(settings.composed)
    for path, value in values.items():
        OmegaConf.update(cfg, path, value, force_add=True)
    data = OmegaConf.to_container(cfg)
    assert isinstance(data, dict)
    return _validated(data)


def _validated(data: dict[str, Any]) -> Settings:
    try:
        settings = Settings.model_validate({**data, "composed": data})
    except ValidationError as err:
        raise ConfigError(_first_error(err)) from None
    settings = _without_inactive_dimensions(settings)
    for key, limit in settings.stop.items():
        if not math.isfinite(limit):
            raise ConfigError(f"stop.{key} must be a finite number, got {limit}.")
    return settings


def _without_inactive_dimensions(settings: Settings) -> Settings:
    """Drop the dimensions this composition does not search: ``only_with_gpus`` ones when
    the scaling profile gives runners no GPU, ``only_for_algos`` ones for other algorithms."""
    gpus = settings.scaling.runners_get_gpus
    algo = settings.algo.name.upper()

    def active(spec: ParamSpec) -> bool:
        if spec.only_with_gpus and not gpus:
            return False
        return spec.only_for_algos is None or algo in {a.upper() for a in spec.only_for_algos}

    space = {k: v for k, v in settings.sweep.space.items() if active(v)}
    if len(space) == len(settings.sweep.space):
        return settings
    return settings.model_copy(update={"sweep": settings.sweep.model_copy(update={"space": space})})


def _key_of(err: OmegaConfBaseException) -> str:
    return str(getattr(err, "full_key", "") or getattr(err, "key", "") or "config")


def _first_error(err: ValidationError) -> str:
    """One sentence from pydantic's first error, naming the setting by its config path."""
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]).replace("model_config_", "model_config")
    kind = first["type"]
    if kind == "extra_forbidden":
        return unknown_setting(loc)
    if kind == "missing":
        return f"Setting '{loc}' is required."
    message = first["msg"].removeprefix("Value error, ")
    if message.startswith((f"{loc}.", f"{loc} ")):  # a check that names its own full key
        return f"{message}."
    if re.match(r"[a-z_]+\.[a-z_.]+ ", message):  # a model check naming its own key
        return f"{loc}.{message}."
    value = first.get("input")
    shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
    return f"Setting '{loc}': {message}{shown}."
