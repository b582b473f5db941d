"""Searched names, the config paths they set and the values they put there.

The one place that maps a name in a sweep's ``space`` to the composed config:
a few names have a meaning of their own (``rollout_fragment_length``,
``train_batch_size``, ``workers_per_gpu``, …); any other name is a config path
(``algo.training.lr``). The trainable, the resource check and reusing a sweep's
best values all ask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf

from motif_tune.config import ParamSpec, Settings, apply_overrides
from motif_tune.errors import ConfigError
from motif_tune.search.schedule import SCHEDULE, Schedule
from motif_tune.text import fmt, plural

# A trial's seed (verification retrains a configuration on several).
SEED = "seed"
ROLLOUT_FRAGMENT_LENGTH = "rollout_fragment_length"
TRAIN_BATCH_SIZE = "train_batch_size"
WORKERS_PER_GPU = "workers_per_gpu"
NUM_ENVS_PER_ENV_RUNNER = "num_envs_per_env_runner"
NUM_ENV_RUNNERS = "num_env_runners"
# A config path searched as it is (no alias), which the space checks against the batch.
MINIBATCH_SIZE = "algo.training.minibatch_size"
# The config paths of the names with a meaning of their own (``config_value``
# transforms workers per GPU on its way into the config).
PARAM_ALIASES = {
    WORKERS_PER_GPU: "scaling.env_runners.num_gpus_per_env_runner",
    ROLLOUT_FRAGMENT_LENGTH: "scaling.env_runners.rollout_fragment_length",
    TRAIN_BATCH_SIZE: "algo.training.train_batch_size_per_learner",
    NUM_ENVS_PER_ENV_RUNNER: "scaling.env_runners.num_envs_per_env_runner",
    NUM_ENV_RUNNERS: "scaling.env_runners.num_env_runners",
}
# Short names for the searched values everyone knows (tables, run names).
SHORT_NAMES = {
    ROLLOUT_FRAGMENT_LENGTH: "fragment",
    TRAIN_BATCH_SIZE: "batch",
    WORKERS_PER_GPU: "workers/GPU",
    NUM_ENVS_PER_ENV_RUNNER: "envs",
    NUM_ENV_RUNNERS: "runners",
}
# Config path prefixes the RLlib builders accept new keys under.
_BUILDER_PATHS = ("algo.training.", "scaling.env_runners.", "scaling.learners.")


def searched_values(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A trial's searched values (and its seed): its Tune config less the keys Tune
    adds itself, which start with ``__`` (``__trial_index__``)."""
    return {k: v for k, v in dict(config or {}).items() if not k.startswith("__")}


def param_path(name: str, spec: ParamSpec | None = None) -> str:
    """The config path a searched name sets (the spec's own path, an alias, or the name)."""
    if spec is not None and spec.path:
        return spec.path
    return PARAM_ALIASES.get(name, name)


def config_value(name: str, value: Any) -> Any:
    """The value a searched name puts into the config (workers per GPU -> GPUs per runner)."""
    if name == WORKERS_PER_GPU:
        return 1.0 / float(value)
    return value


def trial_settings(base: Settings, values: Mapping[str, Any]) -> Settings:
    """One trial's settings: the base settings with its searched values (and seed) applied."""
    space = base.sweep.space
    overrides = {
        param_path(name, space[name]): config_value(name, value)
        for name, value in values.items()
        if name in space
    }
    if SEED in values:
        overrides[SEED] = int(values[SEED])
    return apply_overrides(base, overrides) if overrides else base


def baseline_values(settings: Settings) -> dict[str, Any]:
    """The composed config's own values of the searched names: the sweep's first trial.

    Names whose composed value the space cannot take (a choice not offered, no value
    at all) are left for the sampler.
    """
    composed = OmegaConf.create(settings.composed)
    scaling, batch = settings.scaling, settings.algo.train_batch_size
    values: dict[str, Any] = {}
    for name, spec in settings.sweep.space.items():
        if name == ROLLOUT_FRAGMENT_LENGTH and scaling.rollout_fragment_length == "auto":
            parallel = scaling.num_envs_per_env_runner * max(scaling.num_env_runners, 1)
            value = batch // parallel if batch else None
        elif name == WORKERS_PER_GPU:
            gpus = scaling.num_gpus_per_env_runner
            value = round(1 / gpus) if gpus else None
        else:
            value = OmegaConf.select(composed, param_path(name, spec))
        if value is None or (spec.type == "categorical" and value not in (spec.choices or [])):
            continue
        values[name] = value
    return values


def short_name(name: str) -> str:
    """``rollout_fragment_length`` -> ``fragment``, ``algo.training.lr`` -> ``lr``."""
    return SHORT_NAMES.get(name, name.rsplit(".", 1)[-1])


def short_values(values: Mapping[str, Any]) -> str:
    """``fragment=29 batch=232`` (searched values in a few characters); a replayed
    schedule as its first values and how many changes follow."""
    if SCHEDULE in values:
        schedule = Schedule.from_json(values[SCHEDULE])
        rest = {k: v for k, v in values.items() if k != SCHEDULE}
        changes = len(schedule.changes) - 1
        first = short_values(schedule.initial | rest)
        return f"{first}, then {plural(changes, 'change')}" if changes else first
    return " ".join(f"{short_name(k)}={fmt(v)}" for k, v in values.items())


def check_space_paths(settings: Settings) -> None:
    """Every searched name sets a path the composed config has (or a builder accepts)."""
    composed = OmegaConf.create(settings.composed)
    for name, spec in settings.sweep.space.items():
        if name == WORKERS_PER_GPU:
            _check_workers_per_gpu(settings, spec)
            continue
        path = param_path(name, spec)
        if OmegaConf.select(composed, path) is None and not path.startswith(_BUILDER_PATHS):
            raise ConfigError(
                f"sweep.space.{name} names the config path '{path}', which the composed config "
                "does not have; use a path such as algo.training.lr or "
                "scaling.env_runners.num_envs_per_env_runner."
            )


def _check_workers_per_gpu(settings: Settings, spec: ParamSpec) -> None:
    values = spec.choices if spec.type == "categorical" else [spec.low, spec.high]
    if any(not isinstance(v, int | float) or v <= 0 for v in values or []):
        raise ConfigError(f"sweep.space.workers_per_gpu values must be > 0, got {values}.")
    if not settings.scaling.runners_get_gpus:
        raise ConfigError(
            f"sweep.space.workers_per_gpu needs env runners with GPUs, but scaling="
            f"{settings.scaling.name} gives them none; use scaling=local_gpu on a GPU machine "
            "or scaling=logical_gpus to test GPU packing on CPUs."
        )
