"""Starting (or joining) Ray the way this project needs it, and cleaning up after it."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from motif_tune.compat.ray import (
    gcs_accepts_token,
    local_ray_pids,
    reload_auth_settings,
    token_exists,
)
from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.runtime.logs import route_ray_logs, runtime_env
from motif_tune.runtime.project_code import code_runtime_env
from motif_tune.stores import probe

log = logging.getLogger(__name__)
AUTH_MODE = "RAY_AUTH_MODE"
# A local Ray starts one idle worker per CPU before any driver connects. None of them
# can serve this project's work: every task and actor here runs in a runtime_env (the
# logging setup; Tune adds its own to each trial), and a worker serves only the
# runtime_env it started with. Not starting them leaves their CPU seconds to the
# start-up that matters (Ray's own processes, the trials' workers) and their memory free.
LOCAL_SYSTEM_CONFIG = {"prestart_worker_first_driver": False}


def ray_address(settings: Settings) -> str | None:
    """The cluster to join: ``scaling.ray.address``, else ``RAY_ADDRESS``, else None (local)."""
    return settings.scaling.ray.address or os.environ.get("RAY_ADDRESS") or None


def local_cpus(settings: Settings) -> int:
    return settings.scaling.ray.num_cpus or os.cpu_count() or 1


def ray_is_running() -> bool:
    """Ray is initialised in this process (by a script, or an earlier command)."""
    import ray

    return ray.is_initialized()


def start_ray(settings: Settings) -> tuple[dict[str, float], dict[str, float]]:
    """``ray.init`` for this run; returns the cluster's resources and its largest node's."""
    import ray

    if ray.is_initialized():
        return _resources()
    address = ray_address(settings)
    kwargs: dict = {
        "include_dashboard": False,
        "log_to_driver": True,
        "configure_logging": False,
        "runtime_env": runtime_env(
            settings.logging.level,
            settings.logging.format,
            settings.log_file,
            settings.logging.console,
        )
        | code_runtime_env(settings),
    }
    if address is None:
        _keep_token_out_of_home()
        kwargs.update(
            address="local",  # a new local Ray, even where `ray start` left a cluster file
            num_cpus=local_cpus(settings),
            num_gpus=settings.scaling.ray.num_gpus,
            resources=dict(settings.scaling.ray.resources) or None,
            _system_config=dict(LOCAL_SYSTEM_CONFIG),
        )
    else:
        use_cluster_token()
        check_reachable(address)
        kwargs["address"] = address
    log.info("Starting Ray %s", f"(joining {address})" if address else "locally")
    if address is None:
        stop_orphaned_ray(settings.paths.root)
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        raise ConfigError(
            f"scaling.ray.address '{address}': no Ray cluster answers ({err}); start one with "
            "`ray start --head` or set RAY_ADDRESS / scaling.ray.address to a running head."
        ) from None
    if address is None:
        _remember_local_ray(settings.paths.root)
    route_ray_logs()
    return _resources()


def _resources() -> tuple[dict[str, float], dict[str, float]]:
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    largest: dict[str, float] = {}
    for node in nodes:
        for name, amount in node.items():
            largest[name] = max(largest.get(name, 0.0), float(amount))
    return dict(ray.cluster_resources()), largest


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail fast (seconds, not minutes) when no Ray head listens at ``host:port``."""
    if address == "auto" or address.startswith("local"):
        return  # ray.init finds (or quickly fails to find) a cluster on this machine
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"scaling.ray.address '{address}' is not HOST:PORT, ray://HOST:PORT or 'auto'."
        )
    try:
        probe(host, int(port), timeout_s)
    except OSError as err:
        raise ConfigError(
            f"scaling.ray.address '{address}': no Ray cluster answers there "
            f"({err.strerror or err}); start one with `ray start --head` or point RAY_ADDRESS "
            "at a running head."
        ) from None
    if "://" not in address:
        use_cluster_token()
        _check_token_accepted(address)


def use_cluster_token() -> None:
    """Joining a cluster: token auth as Ray's CLI leaves it.

    ``ray start --head`` turns token auth on when a token exists (``RAY_AUTH_TOKEN``,
    the file ``RAY_AUTH_TOKEN_PATH`` names, or ``~/.ray/auth_token``); a driver must
    then send it, which Ray's own ``ray.init(address=…)`` does only with
    ``RAY_AUTH_MODE=token``. An explicit ``RAY_AUTH_MODE`` is left as it is.
    """
    if os.environ.get(AUTH_MODE):
        return
    if token_exists():
        _use_auth()


def _check_token_accepted(address: str) -> None:
    """Tell a refused token from an unreachable head, in a second, not after ray.init's
    retries (one GCS call with the token this driver would send)."""
    from ray.exceptions import AuthenticationError

    try:
        with _native_stderr_silenced():  # the GCS client logs its own line on refusal
            gcs_accepts_token(address)
    except AuthenticationError:
        sent = os.environ.get(AUTH_MODE) == "token"
        problem = "refused this driver's token" if sent else "needs a token this driver lacks"
        raise ConfigError(
            f"scaling.ray.address '{address}': the Ray cluster answers but {problem}; set "
            "RAY_AUTH_TOKEN to the cluster's token (or RAY_AUTH_TOKEN_PATH to a file holding "
            "it, or put it in ~/.ray/auth_token) and RAY_AUTH_MODE=token."
        ) from None
    except Exception as err:  # not reachable as a GCS: ray.init gives the full story
        log.debug("GCS probe of %s: %s", address, err)


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 to /dev/null while native code that writes to it runs."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _keep_token_out_of_home() -> None:
    """A local Ray turns on token auth and writes ~/.ray/auth_token; give it a token instead."""
    if any(os.environ.get(k) for k in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", AUTH_MODE)):
        return
    _use_auth(RAY_AUTH_TOKEN=secrets.token_hex(32))


def _use_auth(**token: str) -> None:
    """Token auth on for this process (and ``token``'s variables set): Ray's auth
    settings re-read and any token read before forgotten, as Ray's own setup does."""
    os.environ.update({AUTH_MODE: "token", **token})
    reload_auth_settings()


@contextmanager
def ray_session(settings: Settings) -> Iterator[None]:
    """Ray for one command: started here unless already running, and then stopped here."""
    started = not ray_is_running()
    start_ray(settings)
    try:
        yield
    finally:
        if started:
            stop_ray(settings)


def stop_ray(settings: Settings) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    (_sessions_dir(settings.paths.root) / f"{os.getpid()}.json").unlink(missing_ok=True)


def _sessions_dir(root: Path) -> Path:
    return Path(root) / "ray_sessions"


def _remember_local_ray(root: Path) -> None:
    """Note which processes make up the local Ray this driver started."""
    pids = local_ray_pids()
    if not pids:
        return
    folder = _sessions_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"driver_pid": os.getpid(), "ray_pids": pids}
    (folder / f"{os.getpid()}.json").write_text(json.dumps(record))


def stop_orphaned_ray(root: Path) -> int:
    """Stop the Ray processes of local clusters whose driver was killed; returns how many.

    A driver killed with SIGKILL cannot shut its local Ray down, and its GCS and
    raylet keep holding memory and CPUs. Only processes this project started,
    whose driver is gone, are touched.
    """
    stopped = 0
    for record_file in sorted(_sessions_dir(root).glob("*.json")):
        try:
            record = json.loads(record_file.read_text())
        except (OSError, ValueError):
            record_file.unlink(missing_ok=True)
            continue
        if _alive(record.get("driver_pid", -1)):
            continue
        for pid in record.get("ray_pids", []):
            if _alive(pid) and _is_ray_process(pid):
                os.kill(pid, signal.SIGKILL)
                stopped += 1
        record_file.unlink(missing_ok=True)
    if stopped:
        log.warning("Stopped %d Ray processes left behind by a killed motif-tune run.", stopped)
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_ray_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "ray" in cmdline
