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
    MINIBATCH_SIZE,
    NUM_ENV_RUNNERS,
    NUM_ENVS_PER_ENV_RUNNER,
    ROLLOUT_FRAGMENT_LENGTH,
    TRAIN_BATCH_SIZE,
    param_path,
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
        self.fixed_minibatch = settings.algo.training.get("minibatch_size")
        self.learners = max(scaling.num_learners, 1)
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
        order = [*self.specs, *values]  # the sweep file's order, for tables and progress lines
        return {name: values[name] for name in dict.fromkeys(order) if name in values}

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

    def largest_iteration(self) -> int | None:
        """The most env steps one training iteration of a trial in this space samples
        (None: the batch is the algorithm's own default)."""
        if TRAIN_BATCH_SIZE not in self.specs and self.fixed_batch is None:
            return None
        return _extreme(self, TRAIN_BATCH_SIZE, self.fixed_batch, max) * self.learners

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
    _check_minibatch(space)
    if fragment is None or batch is None:
        return
    envs = _extreme(space, NUM_ENVS_PER_ENV_RUNNER, space.fixed_envs, max)
    most_parallel = envs * max(_extreme(space, NUM_ENV_RUNNERS, space.fixed_runners, max), 1)
    if fragment.low * most_parallel > batch.high:
        raise ConfigError(
            f"sweep.space.rollout_fragment_length low ({int(fragment.low)}) x envs x runners "
            f"({most_parallel}) exceeds sweep.space.train_batch_size high ({int(batch.high)}): "
            "no trial can fill a batch with whole fragments; lower the fragment range or raise "
            "the batch range."
        )


def _check_minibatch(space: SearchSpace) -> None:
    """RLlib splits each train batch into minibatches: none may be larger than a batch."""
    searched = MINIBATCH_SIZE in space.specs
    if not searched and (TRAIN_BATCH_SIZE not in space.specs or space.fixed_minibatch is None):
        return  # nothing searched touches the rule: RLlib checks the composed config itself
    largest = _extreme(space, MINIBATCH_SIZE, space.fixed_minibatch, max)
    smallest = _extreme(space, TRAIN_BATCH_SIZE, space.fixed_batch, min)
    if largest > smallest:
        minibatch = f"sweep.space.{MINIBATCH_SIZE}" if searched else MINIBATCH_SIZE
        batch = param_path(TRAIN_BATCH_SIZE)
        if TRAIN_BATCH_SIZE in space.specs:
            batch = f"sweep.space.{TRAIN_BATCH_SIZE} low"
        raise ConfigError(
            f"{minibatch} (up to {largest}) exceeds {batch} ({smallest}): RLlib splits each "
            "train batch into minibatches, so every minibatch must fit in the smallest batch; "
            "lower the minibatch size or raise the batch."
        )


def _extreme(space: SearchSpace, name: str, fixed: Any, pick: Any) -> int:
    """The largest (``pick=max``) or smallest (``min``) value ``name`` takes in the space."""
    spec = space.specs.get(name)
    if spec is None:
        return int(fixed)
    if spec.type == "categorical":
        return int(pick(int(c) for c in spec.choices or [fixed]))
    return int(spec.high if pick is max else spec.low)
