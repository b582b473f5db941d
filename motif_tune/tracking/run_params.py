"""What runs record as MLflow params.

A trial (or a ``train`` run) records the settings that define it, as RLlib names
them (``lr``, ``num_envs_per_env_runner``, ``rollout_fragment_length``, …), with
its searched values already applied, so the compare view shows why two trials
differ. A sweep's parent records its choices, budget, scoring and searched space;
the searched settings appear only on the trials, never with the base value the
search replaced. The full composed config is the parent's ``config.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motif_tune.config import ParamSpec, Settings
from motif_tune.results import flatten
from motif_tune.search.params import SEED, param_path
from motif_tune.text import fmt


def trial_params(settings: Settings, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A run's defining settings (``settings`` already carry its values) and its searched
    ``values`` under their sweep names."""
    scaling, algo = settings.scaling, settings.algo
    params: dict[str, Any] = {"algo": algo.name, "env": settings.env.name, SEED: settings.seed}
    for group in (algo.training, algo.model_config_, scaling.env_runners, scaling.learners):
        params |= flatten(group, ".")
    for name, value in (values or {}).items():
        leaf = param_path(name).rsplit(".", 1)[-1]
        if leaf != name and params.get(leaf) == value:
            del params[leaf]  # the searched name says it (train_batch_size_per_learner)
    return params | dict(values or {})


def sweep_params(settings: Settings) -> dict[str, Any]:
    """A sweep's choices, budget, scoring and searched space (one param per dimension)."""
    sweep = settings.sweep
    params: dict[str, Any] = {
        "env": settings.env.name,
        "env.id": settings.env.id,
        "algo": settings.algo.name,
        "scaling": settings.scaling.name,
        "sweep": sweep.name,
        "seed": settings.seed,
    }
    searched = {param_path(name, spec) for name, spec in sweep.space.items()}
    env_config = flatten({"env.env_config": settings.env.env_config}, ".")
    params |= {key: value for key, value in env_config.items() if key not in searched}
    # Settings the sweep does not use (the other scoring's, FIFO's rungs) are left out.
    skip: dict[str, Any] = {"name": True, "space": True}
    by_evaluation = sweep.objective.by == "evaluation"
    skip["objective"] = {"window"} if by_evaluation else {"episodes", "num_envs", "seed"}
    population = {"perturbation_interval", "quantile_fraction", "resample_probability"}
    if sweep.scheduler.type != "asha":
        skip["scheduler"] = {"grace_fraction", "reduction_factor"}
    if not sweep.scheduler.population_based:
        skip["scheduler"] = skip.get("scheduler", set()) | population
    elif sweep.scheduler.type == "pb2":
        skip["scheduler"] |= {"resample_probability"}
    described = sweep.model_dump(exclude=skip, exclude_none=True)
    params |= {f"sweep.{key}": value for key, value in flatten(described, ".").items()}
    for name, spec in sweep.space.items():
        params[f"sweep.space.{name}"] = describe_spec(spec)
        if spec.path:
            params[f"sweep.space.{name}.path"] = spec.path
    return params


def describe_spec(spec: ParamSpec) -> str:
    """``int 16..256 log``, ``categorical [1, 2, 4]``."""
    if spec.type == "categorical":
        return f"categorical {spec.choices}"
    text = f"{spec.type} {fmt(spec.low)}..{fmt(spec.high)}"
    if spec.log:
        text += " log"
    if spec.step:
        text += f" step {fmt(spec.step)}"
    if spec.mutable:
        text += " mutable"
    return text
