"""An RLlib Algorithm's checkpoint marker, and what its remote actors ask Ray for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motif_tune.results import is_number

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig


# The file RLlib writes into every checkpoint folder (its presence marks one).
RLLIB_METADATA = "rllib_checkpoint.json"


def actor_needs(config: AlgorithmConfig) -> dict[str, float]:
    """CPUs and GPUs the Algorithm's remote env runners and learners ask Ray for."""
    runners = config.num_env_runners + config.evaluation_num_env_runners
    cpus = runners * float(config.num_cpus_per_env_runner)
    gpus = runners * float(config.num_gpus_per_env_runner)
    if config.num_learners:
        per_learner = config.num_cpus_per_learner
        cpus += config.num_learners * (per_learner if is_number(per_learner) else 1.0)
        gpus += config.num_learners * float(config.num_gpus_per_learner)
    return {"CPU": cpus, "GPU": gpus}


def trial_request(algo_cls: type, config: AlgorithmConfig, seeds: int = 1) -> Any:
    """The Tune ``PlacementGroupFactory`` of a trial training ``seeds`` Algorithms of
    ``config`` one after another in its own process: the first bundle (that process: the
    local env runner and learner) once, every remote actor's bundle once per seed."""
    request = algo_cls.default_resource_request(config.to_dict())
    if seeds == 1:
        return request
    from ray.tune import PlacementGroupFactory

    head, *actors = request.bundles
    return PlacementGroupFactory([head, *actors * seeds], strategy=request.strategy)


def trial_resources(
    algo_cls: type, config: AlgorithmConfig, seeds: int = 1
) -> tuple[dict[str, float], dict[str, float]]:
    """What such a trial asks Ray for in all (:func:`trial_request`), and its largest
    bundle's amounts."""
    request = trial_request(algo_cls, config, seeds)
    largest: dict[str, float] = {}
    for bundle in request.bundles:
        for name, amount in bundle.items():
            largest[name] = max(largest.get(name, 0.0), float(amount))
    return dict(request.required_resources), largest
