"""An RLlib Algorithm outside Tune (the ``train`` and ``evaluate`` commands), and what
its remote actors ask Ray for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from motif_tune.results import is_number

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig


# The file RLlib writes into every checkpoint folder (its presence marks one).
RLLIB_METADATA = "rllib_checkpoint.json"


def build_algorithm(config: AlgorithmConfig, run_dir: Path) -> Algorithm:
    """``config.build_algo()`` with the Algorithm's log folder at ``run_dir``.

    Ray 2.60's ``build_algo`` takes no ``logger_creator``; outside Tune a
    Trainable makes its log folder under ``~/ray_results``. The instance's
    ``_setup_logdir`` is replaced before ``__init__`` runs, so the folder is
    ``run_dir`` and the class stays RLlib's own (checkpoints record it).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    algo_cls = config.algo_class
    algo = algo_cls.__new__(algo_cls)
    algo._setup_logdir = lambda: setattr(algo, "_logdir", str(run_dir))
    algo.__init__(config=config)
    return algo


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
