"""Train, restore and evaluate one config outside a sweep.

``motif-tune train`` builds the composed config's RLlib Algorithm, trains it
until the stop rule, checkpoints under ``storage_path/<run_name>/`` and records
one MLflow run. ``checkpoint=…`` (a folder, ``runs:/<id>/checkpoint`` or
``models:/<name>/<version>``) continues from a checkpoint: RLlib restores the
iteration counter and the lifetime metrics with the algorithm state, and the
``motif_tune.json`` file written beside each checkpoint carries Tune's
``time_total_s`` on. ``train.from_sweep=NAME`` reuses a sweep's best settings.
``motif-tune evaluate`` scores a checkpoint over a number of episodes.

Every check that needs no Ray (the checkpoint exists, is an RLlib checkpoint of
the composed algorithm and env, the sweep exists) runs before Ray starts.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.algorithm import build_algorithm_config
from motif_tune.callbacks import MATCH_ACCURACY, SCORE_MARGIN
from motif_tune.errors import ConfigError
from motif_tune.ray_runtime import local_cpus, ray_address, start_ray, stop_ray
from motif_tune.resources import local_cluster
from motif_tune.settings import (
    DERIVED_PARAMS,
    PARAM_ALIASES,
    WORKERS_PER_GPU,
    Settings,
    apply_overrides,
)
from motif_tune.tracking import (
    TAG_ROLE,
    TAG_SWEEP,
    experiment_id,
    flatten,
    flatten_result,
    iteration_metrics,
    log_metrics,
    log_params,
    mlflow_client,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint_"
CHECKPOINT_ARTIFACT = "checkpoint"
# Written beside RLlib's files in every checkpoint this module saves.
STATE_FILE = "motif_tune.json"
RLLIB_METADATA = "rllib_checkpoint.json"
TAG_CHECKPOINT = "motif_tune.checkpoint"
TAG_FROM_SWEEP = "motif_tune.from_sweep"
RETURN_MEAN = "env_runners/episode_return_mean"


# --------------------------------------------------------------------------- summaries


@dataclass
class TrainSummary:
    """What a finished ``train`` run did and where its results are."""

    run_name: str
    algo: str
    env: str
    first_iteration: int
    last_iteration: int
    time_total_s: float
    metrics: dict[str, float]
    checkpoint: str
    run_dir: str
    mlflow_run_id: str
    tracking_uri: str
    restored_from: str | None = None
    from_sweep: str | None = None
    sweep_values: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        ret = self.metrics.get(RETURN_MEAN)
        match = self.metrics.get(f"env_runners/{MATCH_ACCURACY}")
        results = f"episode return mean {_fmt(ret)}"
        if match is not None:
            results += f", match accuracy {_fmt(match)}"
        lines = [
            f"Trained {self.algo} on {self.env}: iterations {self.first_iteration}-"
            f"{self.last_iteration} ({self.time_total_s:.1f} s in all), {results}.",
        ]
        if self.restored_from:
            lines.append(f"  restored from: {self.restored_from}")
        if self.from_sweep:
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.sweep_values.items()))
            lines.append(f"  from sweep:    {self.from_sweep} ({values})")
        lines += [
            f"  checkpoint:    {self.checkpoint}",
            f"  MLflow run:    {self.mlflow_run_id} at {self.tracking_uri}",
            "Evaluate it: motif-tune evaluate "
            f"checkpoint=runs:/{self.mlflow_run_id}/{CHECKPOINT_ARTIFACT}",
        ]
        return "\n".join(lines)


@dataclass
class EvalSummary:
    """The scores of one checkpoint over ``episodes`` episodes."""

    checkpoint: str
    checkpoint_path: str
    algo: str
    env: str
    deterministic: bool
    metrics: dict[str, float]
    mlflow_run_id: str
    tracking_uri: str

    def render(self) -> str:
        m = self.metrics
        rows = [
            ("episodes", _fmt(m.get("num_episodes"))),
            ("return mean", _fmt(m.get("episode_return_mean"))),
            ("return min", _fmt(m.get("episode_return_min"))),
            ("return max", _fmt(m.get("episode_return_max"))),
        ]
        rows += [(name.replace("_", " "), _fmt(m[name])) for name in _TASK_METRICS if name in m]
        actions = "greedy" if self.deterministic else "sampled"
        lines = [f"Evaluated {self.checkpoint} ({self.algo} on {self.env}, {actions} actions):"]
        lines += [f"  {name:<15}{value:>10}" for name, value in rows]
        lines.append(f"MLflow run: {self.mlflow_run_id} at {self.tracking_uri}")
        return "\n".join(lines)


_TASK_METRICS = (MATCH_ACCURACY, SCORE_MARGIN)
_EVAL_METRICS = (
    "num_episodes",
    "episode_return_mean",
    "episode_return_min",
    "episode_return_max",
    "episode_len_mean",
    *_TASK_METRICS,
)


# --------------------------------------------------------------------------- train


def run_train(settings: Settings, overrides: Sequence[str] = ()) -> TrainSummary:
    """Train the composed config (optionally from a checkpoint or a sweep's best settings)."""
    _check_stop_rule(settings)
    sweep_values: dict[str, Any] = {}
    if settings.train.from_sweep:
        settings, sweep_values = settings_from_sweep(settings, None, overrides)
    source = resolve_checkpoint(settings) if settings.checkpoint else None
    info = check_checkpoint(settings, source.path) if source else None
    run_dir = Path(settings.storage_path) / settings.run_name
    start = info.training_iteration if info else 0
    _check_room_for_training(settings, run_dir, start)
    config = build_algorithm_config(settings)
    check_fits_locally(settings, config, "scaling.env_runners")
    client = mlflow_client(settings)
    exp_id = experiment_id(client, settings)

    with ray_session(settings):
        algo = build_algorithm(config, run_dir)
        try:
            if source and info:
                restore(algo, source, info)
            run_id = _start_train_run(client, exp_id, settings, source, info, overrides)
            status = "FAILED"
            try:
                metrics, final = _train_loop(algo, settings, run_dir, client, run_id)
                client.log_artifacts(run_id, str(final), artifact_path=CHECKPOINT_ARTIFACT)
                status = "FINISHED"
            except KeyboardInterrupt:
                status = "KILLED"
                raise
            finally:
                client.set_terminated(run_id, status=status)
        finally:
            algo.stop()
    return TrainSummary(
        run_name=settings.run_name,
        algo=settings.algo.name,
        env=settings.env.id,
        first_iteration=start + 1,
        last_iteration=algo.iteration,
        time_total_s=float(algo._time_total),
        metrics=metrics,
        checkpoint=str(final),
        run_dir=str(run_dir),
        mlflow_run_id=run_id,
        tracking_uri=settings.tracking.uri,
        restored_from=source.source if source else None,
        from_sweep=settings.train.from_sweep,
        sweep_values=sweep_values,
    )


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


def _train_loop(
    algo: Algorithm, settings: Settings, run_dir: Path, client: MlflowClient, run_id: str
) -> tuple[dict[str, float], Path]:
    """Train until the stop rule; returns the last metrics and the final checkpoint."""
    frequency = settings.train.checkpoint_frequency
    keep = settings.train.num_checkpoints_to_keep
    saved: list[Path] = []
    warned = False
    while True:
        result = algo.train()
        iteration = int(result["training_iteration"])
        metrics = iteration_metrics(result)
        log_metrics(client, run_id, metrics, step=iteration)
        print(progress_line(iteration, metrics), flush=True)
        if not warned:
            warned = True
            _warn_unknown_stop_keys(settings.stop, result)
        done = stop_reached(settings.stop, result)
        if done or (frequency and iteration % frequency == 0):
            saved.append(save_checkpoint(algo, run_dir, settings, run_id))
            _prune(saved, keep)
        if done:
            return metrics, saved[-1]


def progress_line(iteration: int, metrics: Mapping[str, float]) -> str:
    """One line per training iteration: return, match accuracy, throughput, elapsed time."""
    parts = [f"iter {iteration:4d}", f"return {_fmt(metrics.get(RETURN_MEAN)):>7}"]
    match = metrics.get(f"env_runners/{MATCH_ACCURACY}")
    if match is not None:
        parts.append(f"match {match:5.3f}")
    steps = metrics.get("env_steps_per_s")
    parts.append(f"{'-' if steps is None else f'{steps:.0f}':>6} env steps/s")
    parts.append(f"{metrics.get('time_total_s', 0):7.1f} s")
    return " | ".join(parts)


def stop_reached(stop: Mapping[str, float], result: Mapping[str, Any]) -> bool:
    """Tune's rule: stop once any key of ``stop`` has reached its value."""
    flat = flatten_result(result)
    return any(_is_number(flat.get(key)) and flat[key] >= limit for key, limit in stop.items())


def _check_stop_rule(settings: Settings) -> None:
    if not settings.stop:
        raise ConfigError(
            "stop names no rule, so training would never end; set e.g. "
            "stop.training_iteration=10 or stop.time_total_s=600."
        )


def _warn_unknown_stop_keys(stop: Mapping[str, float], result: Mapping[str, Any]) -> None:
    import difflib

    flat = flatten_result(result)
    for key in stop:
        if key not in flat:
            close = difflib.get_close_matches(key, list(flat), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            log.warning("stop.%s is not a key of the training results%s", key, hint)


def _check_room_for_training(settings: Settings, run_dir: Path, start: int) -> None:
    """Refuse a stop rule already met, or checkpoints that would be overwritten."""
    limit = settings.stop.get("training_iteration")
    if limit is not None and start >= limit:
        raise ConfigError(
            f"stop.training_iteration ({limit:g}) must exceed the checkpoint's iteration "
            f"({start}) to train further, e.g. stop.training_iteration={start + 10}."
        )
    later = [p.name for p in _checkpoints_in(run_dir) if _checkpoint_number(p) > start]
    if later:
        raise ConfigError(
            f"run_name '{settings.run_name}' already has checkpoints after iteration {start} "
            f"({', '.join(sorted(later))} in {run_dir}); choose another run_name."
        )


def _start_train_run(
    client: MlflowClient,
    exp_id: str,
    settings: Settings,
    source: CheckpointSource | None,
    info: CheckpointInfo | None,
    overrides: Sequence[str],
) -> str:
    tags = _run_tags(settings, "train")
    if overrides:
        tags["hydra_overrides"] = " ".join(overrides)[:5000]
    if source:
        tags[TAG_CHECKPOINT] = source.source
        if info and info.mlflow_run_id:
            tags["motif_tune.continues_run"] = info.mlflow_run_id
    if settings.train.from_sweep:
        tags[TAG_FROM_SWEEP] = settings.train.from_sweep
    run = client.create_run(exp_id, run_name=settings.run_name, tags=tags)
    log_params(client, run.info.run_id, _config_params(settings))
    return run.info.run_id


def _run_tags(settings: Settings, role: str) -> dict[str, str]:
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

    return {
        MLFLOW_RUN_NAME: settings.run_name,
        TAG_ROLE: role,
        "env": settings.env.name,
        "algo": settings.algo.name,
        "scaling": settings.scaling.name,
    }


def _config_params(settings: Settings) -> dict[str, Any]:
    return {k: v for k, v in flatten(settings.composed).items() if not k.startswith("hydra")}


# --------------------------------------------------------------------------- the algorithm


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
        cpus += config.num_learners * (per_learner if _is_number(per_learner) else 1.0)
        gpus += config.num_learners * float(config.num_gpus_per_learner)
    return {"CPU": cpus, "GPU": gpus}


def save_checkpoint(algo: Algorithm, run_dir: Path, settings: Settings, run_id: str) -> Path:
    """Save to ``run_dir/checkpoint_<iteration>`` with this project's state file beside it."""
    path = run_dir / f"{CHECKPOINT_PREFIX}{algo.iteration:06d}"
    algo.save_to_path(str(path))
    state = {
        "training_iteration": algo.iteration,
        "time_total_s": float(algo._time_total),
        "algo": settings.algo.name,
        "env": settings.env.id,
        "run_name": settings.run_name,
        "mlflow_run_id": run_id,
    }
    (path / STATE_FILE).write_text(json.dumps(state, indent=2))
    return path


def restore(algo: Algorithm, source: CheckpointSource, info: CheckpointInfo) -> None:
    """Load the checkpoint's state; the iteration counter and lifetime metrics go on.

    ``restore_from_path`` sets the iteration from the saved algorithm state
    (``Algorithm.set_state``) and the metrics logger's lifetime counters; the
    total training time is Tune bookkeeping RLlib does not save, so it comes
    from this project's state file when the checkpoint has one.
    """
    try:
        algo.restore_from_path(str(source.path))
    except (RuntimeError, ValueError, KeyError) as err:
        raise ConfigError(
            f"checkpoint '{source.source}' does not fit the composed config ({_short(err)}); "
            "compose the env.env_config and algo.model_config it was trained with."
        ) from None
    if algo.iteration != info.training_iteration:  # RLlib versions that do not restore it
        algo._iteration = info.training_iteration
    algo._time_total = info.time_total_s


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class CheckpointSource:
    """A checkpoint as the user named it, and its local folder."""

    source: str
    path: Path


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint recorded about itself."""

    algo: str
    env: str
    model_config: dict[str, Any]
    training_iteration: int
    time_total_s: float = 0.0
    mlflow_run_id: str | None = None


def resolve_checkpoint(settings: Settings) -> CheckpointSource:
    """``settings.checkpoint`` as a local checkpoint folder (MLflow URIs are downloaded)."""
    source = settings.checkpoint
    if not source:
        raise ConfigError(
            "checkpoint must be set, e.g. checkpoint=runs/ray_results/<run>/checkpoint_000010, "
            "checkpoint=runs:/<run_id>/checkpoint or checkpoint=models:/<name>/<version>."
        )
    if source.startswith(("runs:/", "models:/")):
        local = _download(settings, source)
    else:
        local = Path(source).expanduser().resolve()
        if not local.exists():
            raise ConfigError(
                f"checkpoint '{source}' does not exist ({local}); give a checkpoint folder, "
                "a runs:/<run_id>/checkpoint or a models:/<name>/<version> URI."
            )
    return CheckpointSource(source, checkpoint_folder(local, source))


def checkpoint_folder(path: Path, source: str) -> Path:
    """``path`` itself if it is a checkpoint, else its latest ``checkpoint*`` subfolder."""
    if (path / RLLIB_METADATA).is_file():
        return path
    nested = [p for p in path.glob("checkpoint*") if (p / RLLIB_METADATA).is_file()]
    if path.is_dir() and nested:
        return max(nested, key=_checkpoint_number)
    raise ConfigError(
        f"checkpoint '{source}' is not an RLlib checkpoint (no {RLLIB_METADATA} in {path}); "
        "give a checkpoint_* folder of a train run or sweep trial."
    )


def read_checkpoint_info(path: Path, source: str) -> CheckpointInfo:
    """The algorithm, env and iteration a checkpoint recorded (no Ray needed)."""
    from packaging.version import InvalidVersion, Version

    try:
        metadata = json.loads((path / RLLIB_METADATA).read_text())
        version = Version(str(metadata.get("checkpoint_version", "0")))
    except (OSError, ValueError, InvalidVersion) as err:
        raise ConfigError(
            f"checkpoint '{source}' has an unreadable {RLLIB_METADATA} ({_short(err)}); "
            "give a checkpoint_* folder of a train run or sweep trial."
        ) from None
    if version < Version("2.0"):
        raise ConfigError(
            f"checkpoint '{source}' was written by RLlib's old API stack (version {version}); "
            "give a checkpoint written by motif-tune (RLlib's new API stack)."
        )
    ctor_file = path / str(metadata.get("class_and_ctor_args_file", "class_and_ctor_args.pkl"))
    algo_cls, config = _checkpoint_class_and_config(ctor_file, source)
    state = _read_state_file(path)
    iteration = state.get("training_iteration")
    if iteration is None:
        iteration = _saved_iteration(path, str(metadata.get("state_file", "algorithm_state")))
    return CheckpointInfo(
        algo=_rllib_class_name(algo_cls),
        env=str(config.get("env")),
        model_config=dict(config.get("_model_config") or {}),
        training_iteration=int(iteration or 0),
        time_total_s=float(state.get("time_total_s", _tune_time_total(path, iteration))),
        mlflow_run_id=state.get("mlflow_run_id"),
    )


def check_checkpoint(settings: Settings, path: Path) -> CheckpointInfo:
    """Refuse a checkpoint of another algorithm, env or network than the composed config."""
    from motif_tune.envs.registry import is_motif

    source = settings.checkpoint or str(path)
    info = read_checkpoint_info(path, source)
    if info.algo.upper() != settings.algo.name.upper():
        raise ConfigError(
            f"checkpoint '{source}' was trained with {info.algo}, but algo is "
            f"{settings.algo.name}; add algo={info.algo.lower()} to use it."
        )
    same_env = info.env == settings.env.id or (is_motif(info.env) and is_motif(settings.env.id))
    if not same_env:
        hint = "env=motif" if is_motif(info.env) else f"env=gym env.id={info.env}"
        raise ConfigError(
            f"checkpoint '{source}' was trained on env '{info.env}', but env.id is "
            f"'{settings.env.id}'; compose that env ({hint})."
        )
    for key, value in settings.algo.model_config_.items():
        if key in info.model_config and _plain(info.model_config[key]) != _plain(value):
            raise ConfigError(
                f"algo.model_config.{key} is {value!r}, but the checkpoint's network was built "
                f"with {info.model_config[key]!r}; set algo.model_config.{key} to match."
            )
    return info


def _checkpoint_class_and_config(ctor_file: Path, source: str) -> tuple[type, dict[str, Any]]:
    import ray.cloudpickle as pickle

    if not ctor_file.is_file():
        raise ConfigError(
            f"checkpoint '{source}' is not an RLlib Algorithm checkpoint (no {ctor_file.name}); "
            "give a checkpoint_* folder of a train run or sweep trial."
        )
    try:
        with ctor_file.open("rb") as f:
            ctor = pickle.load(f)
        algo_cls = ctor["class"]
        config = ctor["ctor_args_and_kwargs"][0][0]
    except Exception as err:  # another Ray/Python version, a damaged file
        raise ConfigError(
            f"checkpoint '{source}' cannot be read by this installation ({_short(err)}); "
            "give a checkpoint written with the installed Ray version."
        ) from None
    if not isinstance(algo_cls, type) or not isinstance(config, dict):
        raise ConfigError(f"checkpoint '{source}' is not an RLlib Algorithm checkpoint.")
    return algo_cls, config


def _rllib_class_name(algo_cls: type) -> str:
    """The RLlib algorithm a (possibly subclassed) class is, e.g. ``PPO``."""
    for klass in algo_cls.__mro__:
        if klass.__module__.startswith("ray.rllib.algorithms."):
            return klass.__name__
    return algo_cls.__name__


def _read_state_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _tune_time_total(path: Path, iteration: Any) -> float:
    """``time_total_s`` at ``iteration`` from the Tune trial folder a sweep checkpoint is in."""
    try:
        with (path.parent / "result.json").open() as lines:
            for line in lines:
                result = json.loads(line)
                if result.get("training_iteration") == iteration:
                    return float(result.get("time_total_s", 0.0))
    except (OSError, ValueError):
        pass
    return 0.0


def _saved_iteration(path: Path, state_file: str) -> int | None:
    """The iteration RLlib saved in the algorithm state (pickle checkpoints)."""
    import ray.cloudpickle as pickle

    pkl = (path / state_file).with_suffix(".pkl")
    try:
        with pkl.open("rb") as f:
            state = pickle.load(f)
        return int(state.get("training_iteration"))
    except Exception:
        return None


def _checkpoints_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir()]


def _checkpoint_number(path: Path) -> int:
    found = re.search(r"(\d+)$", path.name)
    return int(found.group(1)) if found else -1


def _prune(saved: list[Path], keep: int) -> None:
    """Delete this run's oldest checkpoints beyond ``keep``."""
    while len(saved) > keep:
        shutil.rmtree(saved.pop(0), ignore_errors=True)


# --------------------------------------------------------------------------- MLflow sources


def _download(settings: Settings, uri: str) -> Path:
    """Download a ``runs:/`` or ``models:/`` checkpoint under ``paths.root/downloads``."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    key, artifact_uri = _mlflow_source(settings, uri)
    target = settings.paths.root / "downloads" / key
    shutil.rmtree(target, ignore_errors=True)  # a fresh copy, never a half-finished one
    try:
        with _env_default("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=artifact_uri, dst_path=str(target), tracking_uri=settings.tracking.uri
            )
    except (MlflowException, OSError) as err:
        shutil.rmtree(target, ignore_errors=True)
        raise ConfigError(f"checkpoint '{uri}' cannot be downloaded: {_short(err)}.") from None
    return Path(local)


def _mlflow_source(settings: Settings, uri: str) -> tuple[str, str]:
    """Check that the run or model version exists: a folder name for it and what to download.

    A model version is resolved to its artifact location here, with this
    store's client, so MLflow never falls back to a default registry.
    """
    from mlflow.exceptions import MlflowException

    where = f"in the MLflow store at {settings.tracking.uri}"
    if not _store_exists(settings):
        raise ConfigError(f"checkpoint '{uri}' names nothing: no MLflow store exists yet {where}.")
    client = mlflow_client(settings)
    if uri.startswith("runs:/"):
        run_id, _, artifact = uri.removeprefix("runs:/").partition("/")
        try:
            client.get_run(run_id)
        except MlflowException:
            raise ConfigError(
                f"checkpoint '{uri}' names no MLflow run '{run_id}' {where}; copy the run id "
                "from the MLflow UI or a train summary."
            ) from None
        return f"run-{run_id}-{artifact.strip('/').replace('/', '-') or 'artifacts'}", uri
    name, version = _model_name_and_version(uri)
    try:
        if version.startswith("@"):
            found = client.get_model_version_by_alias(name, version[1:])
        elif version.isdigit():
            found = client.get_model_version(name, version)
        else:
            found = max(client.search_model_versions(f"name = '{name}'"), key=_version_number)
        location = client.get_model_version_download_uri(name, found.version)
    except (MlflowException, ValueError):
        raise ConfigError(
            f"checkpoint '{uri}' names no registered model version {where}; use "
            "models:/<name>/<version> with a name and version from the MLflow UI's Models page."
        ) from None
    return f"model-{name}-{found.version}", location


def _model_name_and_version(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("models:/").strip("/")
    if "@" in rest.split("/", 1)[0]:
        name, alias = rest.split("/", 1)[0].split("@", 1)
        return name, f"@{alias}"
    name, _, version = rest.partition("/")
    return name, version.split("/", 1)[0] or "latest"


def _version_number(version: Any) -> int:
    return int(version.version)


def _store_exists(settings: Settings) -> bool:
    """False for a local SQLite store that was never written (no runs anywhere)."""
    uri = settings.tracking.uri
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()


# --------------------------------------------------------------------------- from a sweep


def settings_from_sweep(
    settings: Settings, client: MlflowClient | None = None, overrides: Sequence[str] = ()
) -> tuple[Settings, dict[str, Any]]:
    """``settings`` with the best values of sweep ``train.from_sweep`` applied.

    Values named on the command line win over the sweep's.
    """
    name = settings.train.from_sweep or ""
    params = _sweep_params(settings, client, name)
    for key, composed in (("algo.name", settings.algo.name), ("env.id", settings.env.id)):
        if params.get(key, composed) != composed:
            log.warning(
                "Sweep '%s' searched with %s=%s, this run has %s=%s: its best values may not "
                "carry over.",
                name,
                key,
                params[key],
                key,
                composed,
            )
    best = {
        key.removeprefix("best."): parse_param(value)
        for key, value in params.items()
        if key.startswith("best.") and key != "best.trial_id"
    }
    if not best:
        raise ConfigError(
            f"train.from_sweep '{name}' has no best trial recorded (the sweep did not finish "
            "or no trial reported its metric); give a finished sweep's run_name."
        )
    explicit = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    values: dict[str, Any] = {}
    for param, value in best.items():
        path, config_value = _sweep_param_path(settings, params, param, value)
        if path is None:
            continue
        if path in explicit:
            log.info("Keeping %s from the command line over the sweep's %s", path, value)
            continue
        values[path] = config_value
    log.info("Settings from sweep '%s': %s", name, values)
    try:
        return apply_overrides(settings, values), best
    except ConfigError as err:
        raise ConfigError(
            f"train.from_sweep '{name}' settings do not fit the composed config: {err}"
        ) from None


def parse_param(text: str) -> Any:
    """An MLflow param string back to the number (or bool, list, None) it was."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _sweep_param_path(
    settings: Settings, params: Mapping[str, str], name: str, value: Any
) -> tuple[str | None, Any]:
    """The config path a searched name sets, as the sweep recorded it, and its value."""
    recorded = params.get(f"sweep.space.{name}.path")
    if name == WORKERS_PER_GPU:
        if not settings.scaling.runners_get_gpus:
            log.warning(
                "The sweep's best workers_per_gpu=%s is not used: scaling=%s gives env runners "
                "no GPU.",
                value,
                settings.scaling.name,
            )
            return None, value
        return DERIVED_PARAMS[name], settings.sweep.config_value(name, value)
    if recorded and recorded != "None":
        return recorded, value
    return PARAM_ALIASES.get(name, name), value


def _sweep_params(settings: Settings, client: MlflowClient | None, name: str) -> dict[str, str]:
    if "'" in name or not _store_exists(settings):
        raise ConfigError(_no_sweep_message(settings, name, []))
    client = client or mlflow_client(settings)
    exp_id = experiment_id(client, settings)
    runs = client.search_runs(
        [exp_id],
        filter_string=f"tags.`{TAG_SWEEP}` = '{name}' and tags.`{TAG_ROLE}` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise ConfigError(_no_sweep_message(settings, name, _recent_sweeps(client, exp_id)))
    return dict(runs[0].data.params)


def _recent_sweeps(client: MlflowClient, exp_id: str, count: int = 5) -> list[str]:
    runs = client.search_runs(
        [exp_id],
        filter_string=f"tags.`{TAG_ROLE}` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=count,
    )
    return [r.data.tags.get(TAG_SWEEP, r.info.run_name) for r in runs]


def _no_sweep_message(settings: Settings, name: str, recent: list[str]) -> str:
    known = f"recent sweeps: {', '.join(recent)}" if recent else "no sweep is recorded there yet"
    return (
        f"train.from_sweep '{name}' names no sweep in MLflow experiment "
        f"'{settings.tracking.experiment_name}' at {settings.tracking.uri}; {known}."
    )


# --------------------------------------------------------------------------- evaluate


def run_evaluate(settings: Settings) -> EvalSummary:
    """Score ``settings.checkpoint`` over ``evaluate.episodes`` episodes; record it in MLflow."""
    source = resolve_checkpoint(settings)
    info = check_checkpoint(settings, source.path)
    config = evaluation_config(settings)
    check_fits_locally(settings, config, "evaluate.num_env_runners")
    client = mlflow_client(settings)
    exp_id = experiment_id(client, settings)
    run_dir = Path(settings.storage_path) / settings.run_name
    with ray_session(settings):
        algo = build_algorithm(config, run_dir)
        try:
            restore(algo, source, info)
            results = algo.evaluate()
        finally:
            algo.stop()
            _remove_if_empty(run_dir)
    metrics = evaluation_metrics(results)
    run_id = _record_evaluation(client, exp_id, settings, source, metrics)
    return EvalSummary(
        checkpoint=source.source,
        checkpoint_path=str(source.path),
        algo=settings.algo.name,
        env=settings.env.id,
        deterministic=settings.evaluate.deterministic,
        metrics=metrics,
        mlflow_run_id=run_id,
        tracking_uri=settings.tracking.uri,
    )


def evaluation_config(settings: Settings) -> AlgorithmConfig:
    """The composed config set up to evaluate: no training runners, an evaluation group."""
    ev = settings.evaluate
    config = build_algorithm_config(settings)
    config.env_runners(num_env_runners=0)
    config.evaluation(
        evaluation_interval=1,  # creates the evaluation runner group (used by evaluate() only)
        evaluation_num_env_runners=ev.num_env_runners,
        evaluation_duration=ev.episodes,
        evaluation_duration_unit="episodes",
        evaluation_config={
            "explore": not ev.deterministic,
            "metrics_num_episodes_for_smoothing": max(ev.episodes, 1),
        },
    )
    return config


def evaluation_metrics(results: Mapping[str, Any]) -> dict[str, float]:
    """Episode count, return statistics and the env's own metrics from ``evaluate()``."""
    runners = results.get("env_runners", results.get("evaluation", {}).get("env_runners", {}))
    metrics = {
        name: float(runners[name])
        for name in _EVAL_METRICS
        if _is_number(runners.get(name)) and math.isfinite(runners[name])
    }
    if "num_episodes" not in metrics and _is_number(runners.get("num_episodes_lifetime")):
        metrics["num_episodes"] = float(runners["num_episodes_lifetime"])
    return metrics


def _record_evaluation(
    client: MlflowClient,
    exp_id: str,
    settings: Settings,
    source: CheckpointSource,
    metrics: Mapping[str, float],
) -> str:
    tags = _run_tags(settings, "evaluate") | {TAG_CHECKPOINT: source.source}
    run = client.create_run(exp_id, run_name=settings.run_name, tags=tags)
    run_id = run.info.run_id
    params = {"checkpoint": source.source, "checkpoint_path": str(source.path)}
    params |= {f"evaluate.{k}": v for k, v in settings.evaluate.model_dump().items()}
    params |= {f"env.{k}": v for k, v in flatten(settings.composed.get("env", {})).items()}
    params["algo.name"] = settings.algo.name
    log_params(client, run_id, params)
    log_metrics(client, run_id, metrics, step=0)
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


# --------------------------------------------------------------------------- helpers


@contextmanager
def _env_default(name: str, value: str) -> Iterator[None]:
    """Set an environment variable the user left unset, for the duration of a block."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """Tuples and lists compare equal (configs round-trip through YAML and pickle)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.3f}"
    return str(value)


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) < 200 else text[:197] + "..."
