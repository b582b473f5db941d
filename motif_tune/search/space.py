"""Sweep file -> Optuna define-by-run search space, with RLlib's batch rule built in.

Every trial the space yields is one RLlib accepts: the train batch size is a
whole number of rollout fragments across all runners and envs, and a fragment
never exceeds the batch. Optuna sees the requested batch size; the trial gets
(and records) the consistent value it was snapped to.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from motif_tune.config import ParamSpec, Settings
from motif_tune.errors import ConfigError
from motif_tune.search.params import (
    NUM_ENV_RUNNERS,
    NUM_ENVS_PER_ENV_RUNNER,
    ROLLOUT_FRAGMENT_LENGTH,
    TRAIN_BATCH_SIZE,
)


class SearchSpace:
    """A picklable define-by-run function: ``space(optuna_trial) -> {name: value}``."""

    def __init__(self, settings: Settings) -> None:
        self.specs: dict[str, ParamSpec] = dict(settings.sweep.space)
        scaling = settings.scaling
        self.fixed_envs = scaling.num_envs_per_env_runner
        self.fixed_runners = scaling.num_env_runners
        self.fixed_fragment = scaling.rollout_fragment_length
        self.fixed_batch = settings.algo.train_batch_size
        check_space(self)

    def __call__(self, trial: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.specs.items():
            if name not in (ROLLOUT_FRAGMENT_LENGTH, TRAIN_BATCH_SIZE):
                values[name] = suggest(trial, name, spec)
        envs = int(values.get(NUM_ENVS_PER_ENV_RUNNER, self.fixed_envs))
        runners = int(values.get(NUM_ENV_RUNNERS, self.fixed_runners))
        fragment, batch = self._batch_pair(trial, envs * max(runners, 1))
        if fragment is not None:
            values[ROLLOUT_FRAGMENT_LENGTH] = fragment
        if batch is not None:
            values[TRAIN_BATCH_SIZE] = batch
        return values

    def resolve(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """What a trial proposed with ``values`` runs with (batch snapped to whole
        fragments); None when ``values`` does not name every searched dimension."""
        import optuna

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # values outside the ranges
                return self(optuna.trial.FixedTrial(values))
        except ValueError:
            return None

    def _batch_pair(self, trial: Any, parallel: int) -> tuple[int | None, int | None]:
        fragment_spec = self.specs.get(ROLLOUT_FRAGMENT_LENGTH)
        batch_spec = self.specs.get(TRAIN_BATCH_SIZE)
        if batch_spec is None and fragment_spec is None:
            return None, None
        requested = int(
            suggest(trial, TRAIN_BATCH_SIZE, batch_spec) if batch_spec else self.fixed_batch
        )
        if fragment_spec is None:
            if self.fixed_fragment == "auto":
                return None, requested
            fragment = int(self.fixed_fragment)
        else:
            low = int(fragment_spec.low)
            high = min(int(fragment_spec.high), max(requested // parallel, low))
            bounded = fragment_spec.model_copy(update={"high": high})
            fragment = int(suggest(trial, ROLLOUT_FRAGMENT_LENGTH, bounded))
        if batch_spec is None:
            return fragment_for_batch(requested, fragment, parallel), None
        low, high = int(batch_spec.low), int(batch_spec.high)
        return fragment, snap_batch(requested, fragment * parallel, low, high)


def suggest(trial: Any, name: str, spec: ParamSpec) -> Any:
    """Ask Optuna for one value of ``spec``."""
    if spec.type == "categorical":
        return trial.suggest_categorical(name, list(spec.choices or []))
    if spec.type == "int":
        step = int(spec.step) if spec.step and not spec.log else 1
        return trial.suggest_int(name, int(spec.low), int(spec.high), step=step, log=spec.log)
    if spec.step and not spec.log:
        return trial.suggest_float(name, spec.low, spec.high, step=spec.step)
    return trial.suggest_float(name, spec.low, spec.high, log=spec.log)


def snap_batch(requested: int, unit: int, low: int, high: int) -> int:
    """The multiple of ``unit`` nearest ``requested``, inside [low, high] when one exists."""
    first = max(math.ceil(low / unit), 1)
    last = max(high // unit, 1)
    if first > last:
        return max(round(requested / unit), 1) * unit
    rounds = min(max(round(requested / unit), first), last)
    return rounds * unit


def fragment_for_batch(batch: int, fragment: int, parallel: int) -> int:
    """A fragment length near ``fragment`` whose rounds fill a fixed ``batch`` (within 10%)."""
    rounds = max(round(batch / (fragment * parallel)), 1)
    return max(batch // (rounds * parallel), 1)


def check_space(space: SearchSpace) -> None:
    """Refuse a space in which no (or not every) trial fits RLlib's batch rule."""
    fragment = space.specs.get(ROLLOUT_FRAGMENT_LENGTH)
    batch = space.specs.get(TRAIN_BATCH_SIZE)
    for name, spec in ((ROLLOUT_FRAGMENT_LENGTH, fragment), (TRAIN_BATCH_SIZE, batch)):
        if spec is not None and (spec.type != "int" or spec.low is None or spec.low < 1):
            raise ConfigError(
                f"sweep.space.{name} must be an int range with low >= 1 "
                "(e.g. {type: int, low: 16, high: 256, log: true})."
            )
    if fragment is None or batch is None:
        return

    def largest(name: str, fixed: int) -> int:
        spec = space.specs.get(name)
        if spec is None:
            return fixed
        if spec.type == "categorical":
            return max(int(c) for c in spec.choices or [fixed])
        return int(spec.high)

    envs = largest(NUM_ENVS_PER_ENV_RUNNER, space.fixed_envs)
    most_parallel = envs * max(largest(NUM_ENV_RUNNERS, space.fixed_runners), 1)
    if fragment.low * most_parallel > batch.high:
        raise ConfigError(
            f"sweep.space.rollout_fragment_length low ({int(fragment.low)}) x envs x runners "
            f"({most_parallel}) exceeds sweep.space.train_batch_size high ({int(batch.high)}): "
            "no trial can fill a batch with whole fragments; lower the fragment range or raise "
            "the batch range."
        )
