"""Typed, validated settings from the composed Hydra config.

This is the one place that reads raw config. Everything downstream receives a
frozen ``Settings`` object; a mistake surfaces here as a ``ConfigError`` with
one sentence, before Ray or MLflow start.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from motif_tune.errors import ConfigError

COMMANDS = ("sweep", "train", "evaluate", "resume")

# Searched names with a meaning of their own; any other name is a config path.
ROLLOUT_FRAGMENT_LENGTH = "rollout_fragment_length"
TRAIN_BATCH_SIZE = "train_batch_size"
WORKERS_PER_GPU = "workers_per_gpu"
PARAM_ALIASES = {
    ROLLOUT_FRAGMENT_LENGTH: "scaling.env_runners.rollout_fragment_length",
    TRAIN_BATCH_SIZE: "algo.training.train_batch_size_per_learner",
    "num_envs_per_env_runner": "scaling.env_runners.num_envs_per_env_runner",
    "num_env_runners": "scaling.env_runners.num_env_runners",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(_Model):
    root: Path


class EnvSettings(_Model):
    name: str
    id: str
    env_config: dict[str, Any] = Field(default_factory=dict)
    normalize_actions: bool = True
    clip_actions: bool = False


class AlgoSettings(_Model):
    name: str
    training: dict[str, Any] = Field(default_factory=dict)
    model_config_: dict[str, Any] = Field(default_factory=dict, alias="model_config")


class RayInitSettings(_Model):
    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)
    num_gpus: float | None = Field(default=None, ge=0)


class ScalingSettings(_Model):
    name: str
    ray: RayInitSettings = Field(default_factory=RayInitSettings)
    env_runners: dict[str, Any] = Field(default_factory=dict)
    learners: dict[str, Any] = Field(default_factory=dict)


class TrackingSettings(_Model):
    uri: str
    artifact_location: str | None = None
    experiment_name: str = "motif_tune"


class ParamSpec(_Model):
    """One searched dimension: a range (int/float, optionally log) or choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} parameter needs 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low}) must not exceed 'high' ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs 'low' > 0, got {self.low}")
        return self


class SchedulerSettings(_Model):
    type: Literal["fifo", "asha"] = "fifo"
    grace_period: int = Field(default=1, ge=1)
    reduction_factor: float = Field(default=2, gt=1)


class CheckpointSettings(_Model):
    frequency: int = Field(default=0, ge=0)
    num_to_keep: int = Field(default=1, ge=1)


class SweepSettings(_Model):
    name: str
    metric: str
    mode: Literal["max", "min"]
    num_samples: int = Field(ge=1)
    max_concurrent_trials: int | None = Field(default=None, ge=1)
    seed: int = 0
    searcher: Literal["optuna", "random"] = "optuna"
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    space: dict[str, ParamSpec] = Field(default_factory=dict)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    max_failures: int = Field(default=0, ge=-1)

    def param_path(self, name: str) -> str:
        """The config path a searched name sets (aliases first, then the name itself)."""
        spec = self.space[name]
        return spec.path or PARAM_ALIASES.get(name, name)


class LoggingSettings(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: str = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    rllib_level: Literal["DEBUG", "INFO", "WARN", "ERROR"] = "WARN"
    tune_verbose: int = Field(default=1, ge=0, le=3)

    @field_validator("level", "rllib_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(_Model):
    """Everything a command needs, typed. Built only by ``load_settings``."""

    command: Literal["sweep", "train", "evaluate", "resume"] = "sweep"
    run_name: str
    storage_path: str
    stop: dict[str, float] = Field(default_factory=dict)
    checkpoint: str | None = None
    seed: int = 0
    debug: bool = False
    paths: PathSettings
    env: EnvSettings
    algo: AlgoSettings
    scaling: ScalingSettings
    tracking: TrackingSettings
    sweep: SweepSettings
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    # The composed config, resolved: what was run, for the record and for trials.
    composed: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @field_validator("run_name")
    @classmethod
    def _run_name_is_a_folder_name(cls, value: str) -> str:
        if not value or any(ch in value for ch in "/\\:") or value in {".", ".."}:
            raise ValueError(f"must be a plain folder name without '/', '\\' or ':', got {value!r}")
        return value

    @field_validator("stop")
    @classmethod
    def _stop_is_positive(cls, value: dict[str, float]) -> dict[str, float]:
        for key, limit in value.items():
            if key in {"training_iteration", "time_total_s"} and not limit > 0:
                raise ValueError(f"stop.{key} must be > 0, got {limit}")
        return value


def load_settings(cfg: DictConfig, command: str = "sweep") -> Settings:
    """Resolve and validate a composed config; raise ``ConfigError`` on any mistake."""
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    cfg.command = command
    try:
        root = Path(str(cfg.paths.root)).expanduser()
        cfg.paths.root = str(root if root.is_absolute() else (Path.cwd() / root).resolve())
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConfigError(f"{_key_of(err)} must be set{_missing_hint(_key_of(err))}.") from None
    except OmegaConfBaseException as err:
        raise ConfigError(f"{_key_of(err)}: {err.msg}") from None
    assert isinstance(data, dict)
    data.pop("hydra", None)
    try:
        settings = Settings.model_validate({**data, "composed": data})
    except ValidationError as err:
        raise ConfigError(_first_error(err)) from None
    _check_semantics(settings)
    return settings


def apply_overrides(settings: Settings, values: dict[str, Any]) -> Settings:
    """A copy of ``settings`` with config paths set (a trial's searched values)."""
    cfg = OmegaConf.create(settings.composed)
    for path, value in values.items():
        OmegaConf.update(cfg, path, value, force_add=True)
    return load_settings(cfg, settings.command)


def _check_semantics(settings: Settings) -> None:
    """Cross-field checks that a schema cannot express."""
    from motif_tune.algorithm import check_algorithm_settings
    from motif_tune.envs import validate_env

    validate_env(settings.env.id, settings.env.env_config)
    check_algorithm_settings(settings)
    for name in settings.sweep.space:
        path = settings.sweep.param_path(name)
        if name == WORKERS_PER_GPU:
            continue
        if OmegaConf.select(OmegaConf.create(settings.composed), path) is None and not (
            path.startswith(("algo.training.", "scaling.env_runners.", "scaling.learners."))
        ):
            raise ConfigError(
                f"sweep.space.{name} names the config path '{path}', which the composed config "
                "does not have; use a path such as algo.training.lr or "
                "scaling.env_runners.num_envs_per_env_runner."
            )
    for key, limit in settings.stop.items():
        if not math.isfinite(limit):
            raise ConfigError(f"stop.{key} must be a finite number, got {limit}.")


def _key_of(err: OmegaConfBaseException) -> str:
    return str(getattr(err, "full_key", "") or getattr(err, "key", "") or "config")


def _missing_hint(key: str) -> str:
    if key == "env.id":
        return ", e.g. env=gym env.id=Acrobot-v1"
    return ""


def _first_error(err: ValidationError) -> str:
    """One sentence from pydantic's first error, naming the setting by its config path."""
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]).replace("model_config_", "model_config")
    kind = first["type"]
    if kind == "extra_forbidden":
        parent, _, key = loc.rpartition(".")
        valid = _valid_keys(parent)
        where = f"'{parent}'" if parent else "the top level"
        return f"Unknown setting '{loc}': {where} accepts {valid}."
    if kind == "missing":
        return f"Setting '{loc}' is required."
    message = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
    return f"Setting '{loc}': {message}{shown}."


def _valid_keys(parent: str) -> str:
    model: type[BaseModel] = Settings
    for part in [p for p in parent.split(".") if p]:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return "its documented keys"
    names = sorted(f.alias or n for n, f in model.model_fields.items() if n != "composed")
    return ", ".join(names)
