"""An RLlib Algorithm's checkpoint marker, and what its remote actors ask Ray for."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
