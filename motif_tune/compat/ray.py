"""Ray internals: the cluster token, the local Ray's processes, RLlib's builder defaults,
and an Algorithm outside Tune that writes where the project says."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.compat import PrivateName

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

PRIVATE_NAMES = (
    PrivateName(
        "ray._raylet",
        "AuthenticationTokenLoader",
        "whether a cluster token exists (env, file or ~/.ray/auth_token), and forgetting one "
        "read before the auth settings changed",
        "none in Ray 2.60: ray.init sends the token only with RAY_AUTH_MODE=token set",
    ),
    PrivateName(
        "ray._raylet",
        "Config",
        "re-reads Ray's auth settings after RAY_AUTH_MODE is set in this process",
        "none: Ray reads them once, at import",
    ),
    PrivateName(
        "ray._raylet",
        "GcsClient",
        "one call to a head with this driver's token: a refused token told in a second",
        "ray.init(address=...), which retries for about a minute before it says why",
    ),
    PrivateName(
        "ray._private.worker",
        "_global_node",
        "the process ids of the local Ray this driver started, to stop them after a kill",
        "none: ray.nodes() names nodes, not processes",
    ),
    PrivateName(
        "ray._common.deprecation",
        "DEPRECATED_VALUE",
        "tells the deprecated keyword arguments of RLlib's builder methods from live ones",
        "none: deprecated arguments keep their place in the signatures",
    ),
    PrivateName(
        "ray.tune.trainable.trainable.Trainable",
        "_setup_logdir",
        "an Algorithm built outside Tune makes its log folder under ~/ray_results; the "
        "project's run folder is used instead",
        "none in Ray 2.60: build_algo() takes no logger_creator",
    ),
    PrivateName(
        "ray.tune.trainable.trainable.Trainable",
        "_iteration",
        "a restored Algorithm continues the iteration count of its checkpoint",
        "Algorithm.restore_from_path restores it from the algorithm state on Ray 2.60",
        instance=True,
    ),
    PrivateName(
        "ray.tune.trainable.trainable.Trainable",
        "_time_total",
        "a restored Algorithm continues the total training time of its checkpoint",
        "none: Tune's own restore() sets it, RLlib's restore_from_path() does not",
        instance=True,
    ),
)


def token_exists() -> bool:
    """A cluster token is there to send (``RAY_AUTH_TOKEN``, its file, ~/.ray/auth_token)."""
    from ray._raylet import AuthenticationTokenLoader

    return AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True)


def reload_auth_settings() -> None:
    """Ray's auth settings read again from the environment, any token read before forgotten."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def gcs_accepts_token(address: str) -> None:
    """One call to the head's GCS with this driver's token; ``ray.exceptions.
    AuthenticationError`` when it is refused, another error when no GCS answers."""
    from ray._raylet import GcsClient

    GcsClient(address=address)


def local_ray_pids() -> list[int]:
    """The processes of the local Ray this driver started (none when it joined one)."""
    import ray

    node = ray._private.worker._global_node
    if node is None:
        return []
    return [p.process.pid for plist in node.all_processes.values() for p in plist if p.process]


def deprecated_marker() -> Any:
    """RLlib's default value that marks a deprecated builder argument."""
    from ray._common.deprecation import DEPRECATED_VALUE

    return DEPRECATED_VALUE


def build_algorithm_in(config: AlgorithmConfig, run_dir: Path) -> Algorithm:
    """``config.build_algo()`` with the Algorithm's log folder at ``run_dir``.

    The instance's ``_setup_logdir`` is replaced before ``__init__`` runs, so the
    folder is ``run_dir`` and the class stays RLlib's own (checkpoints record it).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    algo_cls = config.algo_class
    algo = algo_cls.__new__(algo_cls)
    algo._setup_logdir = lambda: setattr(algo, "_logdir", str(run_dir))
    algo.__init__(config=config)
    return algo


def continue_clock(algo: Algorithm, iteration: int, time_total_s: float) -> None:
    """A restored Algorithm counts on from ``iteration`` and ``time_total_s``."""
    if algo.iteration != iteration:  # RLlib versions that do not restore it
        algo._iteration = iteration
    algo._time_total = time_total_s
