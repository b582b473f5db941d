"""What the ``train`` and ``evaluate`` commands share: an RLlib Algorithm outside Tune.

Ray for one command, the Algorithm built with its log folder in the run's
folder, the check that its env runners and learners fit a local Ray, the tags
of the command's MLflow run, whether the MLflow store exists yet, and the
numbers in the commands' output.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.errors import ConfigError
from motif_tune.ray_runtime import local_cpus, ray_address, start_ray, stop_ray
from motif_tune.resources import local_cluster
from motif_tune.settings import Settings
from motif_tune.tracking import TAG_ROLE

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig


# --------------------------------------------------------------------------- Ray and the algorithm


@contextmanager
def ray_session(settings: Settings) -> Iterator[None]:
    """Ray for one command: started here unless already running, and then stopped here."""
    import ray

    started = not ray.is_initialized()
    start_ray(settings)
    try:
        yield
    finally:
        if started:
            stop_ray(settings)


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

    def setup_logdir() -> None:
        algo._logdir = str(run_dir)

    algo._setup_logdir = setup_logdir
    algo.__init__(config=config)
    return algo


def check_fits_locally(settings: Settings, config: AlgorithmConfig, setting: str) -> None:
    """Refuse env runners and learners a local Ray could never place (it would wait forever)."""
    if ray_address(settings) is not None:
        return
    have = local_cluster(settings, local_cpus(settings))
    short = [
        f"{amount:g} {name} (the local Ray has {have.get(name, 0.0):g})"
        for name, amount in actor_needs(config).items()
        if amount > have.get(name, 0.0) + 1e-9
    ]
    if short:
        raise ConfigError(
            f"{setting}: the env runners and learners ask Ray for {', '.join(short)}; use fewer "
            "env runners or less per runner, or give Ray more with scaling.ray.num_cpus."
        )


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


# --------------------------------------------------------------------------- MLflow


def run_tags(settings: Settings, role: str) -> dict[str, str]:
    """The tags of a command's MLflow run: its name, its role and the composed groups."""
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

    return {
        MLFLOW_RUN_NAME: settings.run_name,
        TAG_ROLE: role,
        "env": settings.env.name,
        "algo": settings.algo.name,
        "scaling": settings.scaling.name,
    }


def store_exists(settings: Settings) -> bool:
    """False for a local SQLite store that was never written (no runs anywhere)."""
    uri = settings.tracking.uri
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()


# --------------------------------------------------------------------------- helpers


def is_number(value: Any) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def fmt(value: Any) -> str:
    """A number as the commands print it: ``-`` for none, whole numbers without decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.3f}"
    return str(value)
