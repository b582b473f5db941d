"""Starting (or joining) Ray the way this project needs it."""

from __future__ import annotations

import logging
import os
import secrets

from motif_tune.settings import Settings
from motif_tune.worker_logging import add_file_handler, runtime_env

log = logging.getLogger(__name__)


def ray_address(settings: Settings) -> str | None:
    """The cluster to join: ``scaling.ray.address``, else ``RAY_ADDRESS``, else None (local)."""
    return settings.scaling.ray.address or os.environ.get("RAY_ADDRESS") or None


def local_cpus(settings: Settings) -> int:
    return settings.scaling.ray.num_cpus or os.cpu_count() or 1


def start_ray(settings: Settings) -> tuple[dict[str, float], dict[str, float]]:
    """``ray.init`` for this run; returns the cluster's resources and its largest node's."""
    import ray

    if ray.is_initialized():
        return _resources()
    address = ray_address(settings)
    log_file = settings.log_file
    add_file_handler(log_file, settings.logging.level, settings.logging.format)
    kwargs: dict = {
        "include_dashboard": False,
        "log_to_driver": True,
        "configure_logging": False,
        "runtime_env": runtime_env(settings.logging.level, settings.logging.format, log_file),
    }
    if address is None:
        _keep_token_out_of_home()
        kwargs.update(
            num_cpus=local_cpus(settings),
            num_gpus=settings.scaling.ray.num_gpus,
            resources=dict(settings.scaling.ray.resources) or None,
        )
    else:
        kwargs["address"] = address
    log.info("Starting Ray %s", f"(joining {address})" if address else "locally")
    ray.init(**kwargs)
    return _resources()


def _resources() -> tuple[dict[str, float], dict[str, float]]:
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    largest: dict[str, float] = {}
    for node in nodes:
        for name, amount in node.items():
            largest[name] = max(largest.get(name, 0.0), float(amount))
    return dict(ray.cluster_resources()), largest


def _keep_token_out_of_home() -> None:
    """A local Ray turns on token auth and writes ~/.ray/auth_token; give it a token instead."""
    if not any(
        os.environ.get(k) for k in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")
    ):
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        from ray._raylet import Config  # re-read the auth settings, as Ray's own setup does

        Config.initialize("")


def stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
