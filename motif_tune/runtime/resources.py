"""What one trial needs, what the cluster has, and how many trials fit at once.

A trial's needs come from RLlib itself (the Algorithm's placement group:
driver + learner bundle, one bundle per remote env runner). Before a sweep
starts, every corner of the search space that changes those needs (workers per
GPU, runner counts, …) is checked against the cluster, so no trial is sampled
that could never be scheduled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motif_tune.config import ParamSpec, Settings
from motif_tune.errors import ConfigError
from motif_tune.rllib.algorithm import actor_needs, trial_resources
from motif_tune.rllib.builder import algorithm_class, build_algorithm_config
from motif_tune.runtime.ray_session import local_cpus, ray_address
from motif_tune.search.params import NUM_ENV_RUNNERS, WORKERS_PER_GPU, param_path, trial_settings

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

# Searched names and config paths that change what a trial asks Ray for.
_RESOURCE_NAMES = {WORKERS_PER_GPU, NUM_ENV_RUNNERS}
_RESOURCE_PATH_PARTS = ("num_env_runners", "num_cpus_per", "num_gpus_per", "num_learners")


@dataclass(frozen=True)
class TrialResources:
    """The summed resources of a trial's placement group."""

    amounts: dict[str, float]
    largest_bundle: dict[str, float]

    def describe(self) -> str:
        parts = [f"{v:g} {k}" for k, v in sorted(self.amounts.items()) if v]
        return ", ".join(parts) or "nothing"


def needs_of(settings: Settings, values: Mapping[str, Any] | None = None) -> TrialResources:
    """What one trial with these searched ``values`` asks Ray for: the sum (and the
    largest) of the bundles of its Tune ``PlacementGroupFactory``."""
    trial = trial_settings(settings, dict(values or {}))
    algo_cls = algorithm_class(settings.algo.name)
    seeds = settings.sweep.seeds_per_trial
    return TrialResources(*trial_resources(algo_cls, build_algorithm_config(trial), seeds))


def resource_corners(settings: Settings) -> list[dict[str, Any]]:
    """The searched values that bound a trial's needs (every choice, or a range's ends)."""
    axes = [
        (name, _corner_values(spec))
        for name, spec in settings.sweep.space.items()
        if _bounds_resources(name, param_path(name, spec))
    ]
    if not axes:
        return [{}]
    names = [name for name, _ in axes]
    grid = itertools.product(*(values for _, values in axes))
    return [dict(zip(names, combo, strict=True)) for combo in grid]


def _bounds_resources(name: str, path: str) -> bool:
    return name in _RESOURCE_NAMES or any(part in path for part in _RESOURCE_PATH_PARTS)


def _corner_values(spec: ParamSpec) -> list[Any]:
    if spec.type == "categorical":
        return list(spec.choices or [])
    cast = int if spec.type == "int" else float
    return sorted({cast(spec.low), cast(spec.high)})


def fits(need: TrialResources, cluster: Mapping[str, float], node: Mapping[str, float]) -> bool:
    total_ok = all(cluster.get(k, 0.0) + 1e-9 >= v for k, v in need.amounts.items() if v)
    bundle_ok = all(node.get(k, 0.0) + 1e-9 >= v for k, v in need.largest_bundle.items() if v)
    return total_ok and bundle_ok


Corner = tuple[dict[str, Any], TrialResources]


def corner_needs(settings: Settings) -> tuple[Corner, ...]:
    """What a trial at each resource corner of the space asks Ray for."""
    corners = resource_corners(settings)
    return tuple((corner, needs_of(settings, corner)) for corner in corners)


def check_fits(
    settings: Settings,
    needs: tuple[Corner, ...],
    cluster: Mapping[str, float],
    largest_node: Mapping[str, float] | None = None,
) -> tuple[TrialResources, int]:
    """Refuse a sweep any of whose trials could never run; return the smallest need and
    how many trials run at once."""
    node = largest_node or cluster
    misfits = [(corner, need) for corner, need in needs if not fits(need, cluster, node)]
    if misfits:
        corner, need = misfits[0]
        sentence = _misfit_sentence(settings, corner, need, cluster, len(misfits), len(needs))
        raise ConfigError(sentence)
    smallest = min((need for _, need in needs), key=lambda n: sum(n.amounts.values()))
    return smallest, concurrent_trials(smallest, cluster, settings)


def concurrent_trials(
    need: TrialResources, cluster: Mapping[str, float], settings: Settings
) -> int:
    """How many trials of ``need`` run at once: the cluster's fit, capped by the sweep."""
    sweep = settings.sweep
    per_resource = [
        math.floor(cluster.get(name, 0.0) / amount + 1e-9)
        for name, amount in need.amounts.items()
        if amount > 0
    ]
    fit = min(per_resource, default=sweep.num_samples)
    limit = max(min(fit, sweep.num_samples), 1)
    return min(limit, sweep.max_concurrent_trials) if sweep.max_concurrent_trials else limit


def _misfit_sentence(
    settings: Settings,
    corner: Mapping[str, Any],
    need: TrialResources,
    cluster: Mapping[str, float],
    bad: int,
    total: int,
) -> str:
    short = _shortfalls(need.amounts, cluster, "the cluster") or [
        f"a bundle of {need.largest_bundle} larger than any node"
    ]
    where = ", ".join(f"{k}={v}" for k, v in corner.items())
    scope = "No trial" if bad == total else f"{bad} of {total} corners of the search space"
    subject = f"A trial with {where}" if where else "One trial"
    hint = ""
    if any(name == "GPU" for name in need.amounts) and not cluster.get("GPU"):
        hint = " This cluster has no GPU: use scaling=logical_gpus to test GPU packing on CPUs."
    return (
        f"{subject} needs {', '.join(short)}: {scope} can be scheduled with scaling="
        f"{settings.scaling.name}; narrow the sweep's space or use a scaling profile that fits."
        f"{hint}"
    )


def check_fits_locally(settings: Settings, config: AlgorithmConfig, setting: str) -> None:
    """Refuse env runners and learners a local Ray could never place (it would wait forever)."""
    if ray_address(settings) is not None:
        return
    have = local_cluster(settings, local_cpus(settings))
    short = _shortfalls(actor_needs(config), have, "the local Ray")
    if short:
        raise ConfigError(
            f"{setting}: the env runners and learners ask Ray for {', '.join(short)}; use fewer "
            "env runners or less per runner, or give Ray more with scaling.ray.num_cpus."
        )


def _shortfalls(need: Mapping[str, float], have: Mapping[str, float], who: str) -> list[str]:
    """``"<amount> <resource> (<who> has <n>)"`` for each resource ``have`` lacks."""
    return [
        f"{amount:g} {name} ({who} has {have.get(name, 0.0):g})"
        for name, amount in sorted(need.items())
        if amount > have.get(name, 0.0) + 1e-9
    ]


def local_cluster(settings: Settings, cpus: int) -> dict[str, float]:
    """The resources a local Ray will have, known before it starts."""
    gpus = settings.scaling.ray.num_gpus
    if gpus is None:
        gpus = detected_gpus()
    return {"CPU": float(cpus), "GPU": float(gpus), **settings.scaling.ray.resources}


def detected_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # a torch without CUDA support
        return 0
