"""New training values in a running Algorithm, as population-based training needs them.

Population-based training restores one trial's checkpoint into an Algorithm built
with other values. RLlib builds its loss settings, schedules and connectors from
the new config, but restoring the Learner's optimizer puts back the saved
learning rate (a torch optimizer's state holds it), so the first updates would
run with the old one. :func:`sync_learning_rate` gives every optimizer the lr its
config names at the current env step; :func:`trained_values` reads back what the
Algorithm really trains with (the lr from the optimizer, not the config).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm

LR = "lr"
TRAINING_PREFIX = "algo.training."


def env_steps(algo: Algorithm) -> int:
    """Env steps the Algorithm has sampled in its life (restored with its state)."""
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

    return int(algo.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))


def sync_learning_rate(algo: Algorithm) -> list[float]:
    """Every Learner's optimizers at the lr of the Algorithm's config (a schedule's value
    at the current env step); the lrs they hold afterwards, one per Learner."""
    return _each_learner(algo, partial(_set_lr, timestep=env_steps(algo)))


def optimizer_lrs(algo: Algorithm) -> list[float]:
    """The lr each Learner's first optimizer updates with, read from the optimizer."""
    return _each_learner(algo, _first_lr)


def trained_values(algo: Algorithm, names: Iterable[str]) -> dict[str, Any]:
    """The values of the ``algo.training.*`` names the Algorithm trains with: ``lr`` read
    from its optimizer, the others from its config."""
    values: dict[str, Any] = {}
    for name in names:
        if not name.startswith(TRAINING_PREFIX):
            continue
        key = name.removeprefix(TRAINING_PREFIX)
        if key == LR:
            values[name] = optimizer_lrs(algo)[0]
        elif hasattr(algo.config, key):
            values[name] = getattr(algo.config, key)
    return values


def _each_learner(algo: Algorithm, func: Any) -> list[Any]:
    """``func(learner)`` on every Learner (local or remote); an error is raised here."""
    return [call.get() for call in algo.learner_group.foreach_learner(func)]


def _set_lr(learner: Any, timestep: int) -> float:
    from ray.rllib.utils.schedules.scheduler import Scheduler

    lr = None
    module_ids = list(learner.module.keys())
    for module_id in module_ids:
        configured = learner.config.get_config_for_module(module_id).lr
        lr = Scheduler(configured).update(timestep=timestep)
        for _name, optimizer in learner.get_optimizers_for_module(module_id):
            for group in optimizer.param_groups:
                group["lr"] = lr
    return float(lr) if lr is not None else float("nan")


def _first_lr(learner: Any) -> float:
    module_ids = list(learner.module.keys())
    for module_id in module_ids:
        for _name, optimizer in learner.get_optimizers_for_module(module_id):
            return float(optimizer.param_groups[0]["lr"])
    return float("nan")
