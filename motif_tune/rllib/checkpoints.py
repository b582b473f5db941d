"""Locate, check, save, restore and prune RLlib checkpoints.

A checkpoint is a folder (a ``checkpoint_*`` folder, or a folder holding
some: the latest is taken; MLflow's ``runs:/`` and ``models:/`` URIs are
downloaded to one by :mod:`motif_tune.tracking.artifacts`). Reading what a
checkpoint recorded (its algorithm, env, network and iteration) and refusing
one that does not fit the composed config needs no Ray. Every checkpoint saved
here has a ``motif_tune.json`` file beside RLlib's files that carries Tune's
``time_total_s`` (RLlib does not save it) and the MLflow run that wrote it.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motif_tune.compat.ray import continue_clock
from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.rllib.algorithm import RLLIB_METADATA
from motif_tune.text import one_line

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm

CHECKPOINT_PREFIX = "checkpoint_"
# Written beside RLlib's files in every checkpoint this module saves.
STATE_FILE = "motif_tune.json"
# The folder of an MLflow pyfunc model that holds its artifacts (the checkpoint).
MODEL_ARTIFACTS = "artifacts"


# --------------------------------------------------------------------------- locating and checking


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


def checkpoint_folder(path: Path, source: str) -> Path:
    """``path`` itself if it is a checkpoint, else its latest ``checkpoint*`` subfolder.

    A registered model version is an MLflow pyfunc model that carries the
    checkpoint among its artifacts (``artifacts/checkpoint``).
    """
    if (path / RLLIB_METADATA).is_file():
        return path
    candidates = [*path.glob("checkpoint*"), *path.glob(f"{MODEL_ARTIFACTS}/checkpoint*")]
    nested = [p for p in candidates if (p / RLLIB_METADATA).is_file()]
    if path.is_dir() and nested:
        return max(nested, key=checkpoint_number)
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
            f"checkpoint '{source}' has an unreadable {RLLIB_METADATA} ({one_line(err)}); "
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
    source = settings.checkpoint or str(path)
    info = read_checkpoint_info(path, source)
    if info.algo.upper() != settings.algo.name.upper():
        raise ConfigError(
            f"checkpoint '{source}' was trained with {info.algo}, but algo is "
            f"{settings.algo.name}; add algo={info.algo.lower()} to use it."
        )
    if info.env != settings.env.id:
        raise ConfigError(
            f"checkpoint '{source}' was trained on env '{info.env}', but env.id is "
            f"'{settings.env.id}'; compose that env (env.id={info.env}, or the env group "
            "whose id it is)."
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
            f"checkpoint '{source}' cannot be read by this installation ({one_line(err)}); "
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


# --------------------------------------------------------------------------- saving and restoring


def save_checkpoint(
    algo: Algorithm, run_dir: Path, settings: Settings, run_id: str, time_total_s: float
) -> Path:
    """Save to ``run_dir/checkpoint_<iteration>`` with this project's state file beside it."""
    path = run_dir / f"{CHECKPOINT_PREFIX}{algo.iteration:06d}"
    algo.save_to_path(str(path))
    state = {
        "training_iteration": algo.iteration,
        "time_total_s": float(time_total_s),
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
            f"checkpoint '{source.source}' does not fit the composed config ({one_line(err)}); "
            "compose the env.env_config and algo.model_config it was trained with."
        ) from None
    continue_clock(algo, info.training_iteration, info.time_total_s)


def checkpoints_in(folder: Path) -> list[Path]:
    """The ``checkpoint_*`` folders in ``folder`` (none if it does not exist)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir()]


def checkpoint_number(path: Path) -> int:
    """The number a checkpoint folder's name ends with (-1 if none)."""
    found = re.search(r"(\d+)$", path.name)
    return int(found.group(1)) if found else -1


def prune_checkpoints(saved: list[Path], keep: int) -> None:
    """Delete this run's oldest checkpoints beyond ``keep``."""
    while len(saved) > keep:
        shutil.rmtree(saved.pop(0), ignore_errors=True)


# --------------------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """Tuples and lists compare equal (configs round-trip through YAML and pickle)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
