"""An RLlib policy as an MLflow ``pyfunc`` model: observations in, greedy actions out.

The whole RLlib Algorithm checkpoint rides inside the model as the artifact
``checkpoint`` (``<model>/artifacts/checkpoint/``), so a registered model
version is both a servable MLflow model and a checkpoint ``motif-tune
evaluate`` can restore. Loading the model builds the RLModule from that
checkpoint on the CPU (torch); no Ray cluster starts. Observations are encoded
as training encoded them (RLlib's one-hot/flatten of ``FlattenObservations``)
and actions are the deterministic ones of a greedy evaluation, unsquashed or
clipped to the env's bounds as RLlib's env runner does.

Model input: one row per observation, one column per observation element (a
DataFrame with any column names, a 2-D array or a list of lists); the columns
are positional in the signature so all three are accepted. Model output: a
numpy array of actions, one row per observation.

The pickled model refers to :class:`PolicyModel` in this package, so loading
it needs ``motif_tune`` installed beside Ray and torch (serve it with
``--env-manager local`` from the environment the sweep ran in).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import mlflow.pyfunc
import numpy as np
import pandas as pd

from motif_tune.compat.mlflow import tracking_uri_set
from motif_tune.envs.registry import make_env
from motif_tune.errors import UnsupportedPolicyError
from motif_tune.rllib.algorithm import RLLIB_METADATA

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

log = logging.getLogger(__name__)

POLICY_MODEL_NAME = "policy"
# The key of the checkpoint in the model's artifacts (and its folder under ``artifacts/``).
CHECKPOINT_ARTIFACT = "checkpoint"
# Where an Algorithm checkpoint keeps its RLModules (one per module id).
RL_MODULE_PATH = ("learner_group", "learner", "rl_module")
SIGNATURE_SAMPLES = 8
# (distribution, requirement) of what loading and serving the model imports.
_REQUIREMENTS = (
    ("mlflow", "mlflow"),
    ("ray", "ray[rllib]"),
    ("torch", "torch"),
    ("gymnasium", "gymnasium"),
    ("numpy", "numpy"),
    ("pandas", "pandas"),
    ("dm-tree", "dm-tree"),
    ("cloudpickle", "cloudpickle"),
)
_OBSERVATION_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete)
_ACTION_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete)


class PolicyModel(mlflow.pyfunc.PythonModel):
    """Greedy actions of an RLlib (torch) policy for a batch of observations."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        normalize_actions: bool = False,
        clip_actions: bool = False,
    ) -> None:
        check_spaces(observation_space, action_space)
        self.observation_space = observation_space
        self.action_space = action_space
        self.normalize_actions = normalize_actions
        self.clip_actions = clip_actions
        self._module: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # The network is loaded from the checkpoint artifact, never pickled with the model.
        return {k: v for k, v in self.__dict__.items() if k != "_module"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._module = None

    def unload(self) -> None:
        """Drop the network (it is rebuilt from the checkpoint when the model loads)."""
        self._module = None

    def load_context(self, context: Any) -> None:
        self.load_checkpoint(Path(context.artifacts[CHECKPOINT_ARTIFACT]))

    def load_checkpoint(self, checkpoint: Path) -> None:
        """Build the RLModule from an Algorithm checkpoint folder (CPU)."""
        self._module = load_rl_module(checkpoint)
        expected = flat_size(self.observation_space)
        space = getattr(self._module, "observation_space", None)
        shape = getattr(space, "shape", None)
        if shape is not None and int(np.prod(shape)) != expected:
            raise UnsupportedPolicyError(
                f"the checkpoint's network takes observations of shape {shape}, but the env's "
                f"{self.observation_space} encodes to {expected} values."
            )

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Greedy actions for ``model_input``: one row per observation.

        MLflow hands a DataFrame (the signature is column-based); an array or a
        list of lists is taken too when the model is called directly.
        """
        if self._module is None:
            raise RuntimeError("the policy's checkpoint is not loaded (load_context not run).")
        observations = observation_batch(model_input, self.observation_space)
        return greedy_actions(
            self._module,
            encode_observations(observations, self.observation_space),
            self.action_space,
            normalize_actions=self.normalize_actions,
            clip_actions=self.clip_actions,
        )


# --------------------------------------------------------------------------- spaces and batches


def check_spaces(observation_space: gym.Space, action_space: gym.Space) -> None:
    """Refuse spaces whose values are not flat rows of numbers (Dict, Tuple, Text…)."""
    if not isinstance(observation_space, _OBSERVATION_SPACES):
        raise UnsupportedPolicyError(
            f"observation space {observation_space} cannot be given as rows of numbers; "
            "Box, Discrete and MultiDiscrete observations can."
        )
    if not isinstance(action_space, _ACTION_SPACES):
        raise UnsupportedPolicyError(
            f"action space {action_space} cannot be returned as rows of numbers; "
            "Box, Discrete and MultiDiscrete actions can."
        )


def flat_size(space: gym.Space) -> int:
    """How many numbers one observation of ``space`` is as the network sees it (one-hot)."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    return int(np.prod(space.shape))


def row_size(space: gym.Space) -> int:
    """How many columns one observation of ``space`` takes in the model's input."""
    return 1 if isinstance(space, gym.spaces.Discrete) else int(np.prod(space.shape))


def observation_batch(model_input: Any, space: gym.Space) -> np.ndarray:
    """Rows of numbers (a DataFrame, an array, a list of lists) as observations of ``space``."""
    to_numpy = getattr(model_input, "to_numpy", None)
    rows = to_numpy() if callable(to_numpy) else np.asarray(model_input)
    width = row_size(space)
    if rows.ndim == 1 and width == 1:
        rows = rows[:, None]
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(
            f"expected one row of {width} values per observation of {space}, "
            f"got an input of shape {rows.shape}."
        )
    if isinstance(space, gym.spaces.Box):
        return rows.astype(np.float32).reshape((len(rows), *space.shape))
    if not np.all(np.isfinite(rows)) or not np.array_equal(rows, np.round(rows)):
        raise ValueError(f"observations of {space} are whole numbers.")
    values = rows.astype(np.int64)
    nvec = np.full(1, space.n) if isinstance(space, gym.spaces.Discrete) else space.nvec.ravel()
    if np.any(values < 0) or np.any(values >= nvec):
        raise ValueError(f"observations of {space} lie in [0, n) for each element's n ({nvec}).")
    if isinstance(space, gym.spaces.Discrete):
        return values[:, 0]
    return values.reshape((len(rows), *space.shape))


def encode_observations(observations: np.ndarray, space: gym.Space) -> np.ndarray:
    """The network's input: RLlib's one-hot/flatten encoding, as ``FlattenObservations`` does."""
    from ray.rllib.utils.numpy import flatten_inputs_to_1d_tensor
    from ray.rllib.utils.spaces.space_utils import get_base_struct_from_space

    encoded = flatten_inputs_to_1d_tensor(
        observations, get_base_struct_from_space(space), batch_axis=True
    )
    return np.asarray(encoded, dtype=np.float32).reshape(len(observations), -1)


def sample_rows(space: gym.Space, n: int, seed: int = 0) -> np.ndarray:
    """``n`` observations sampled from ``space``, one row each (the model's input format)."""
    space.seed(seed)
    samples = np.stack([np.asarray(space.sample()) for _ in range(n)])
    return samples.reshape(n, row_size(space))


# --------------------------------------------------------------------------- the network


def load_rl_module(checkpoint: Path) -> Any:
    """The default RLModule of an Algorithm checkpoint (one policy), on the CPU."""
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.core.rl_module.rl_module import RLModule

    modules = checkpoint.joinpath(*RL_MODULE_PATH)
    folder = modules / DEFAULT_MODULE_ID
    if not folder.is_dir():
        found = sorted(p.name for p in modules.iterdir() if p.is_dir()) if modules.is_dir() else []
        raise UnsupportedPolicyError(
            f"{checkpoint} holds no default RLModule ({DEFAULT_MODULE_ID}); found {found}."
        )
    module = RLModule.from_checkpoint(str(folder))
    if getattr(module, "framework", "torch") != "torch":
        raise UnsupportedPolicyError(
            f"{checkpoint} holds a {module.framework} RLModule, not torch."
        )
    return module


def greedy_actions(
    module: Any,
    encoded: np.ndarray,
    action_space: gym.Space,
    normalize_actions: bool = False,
    clip_actions: bool = False,
) -> np.ndarray:
    """The deterministic actions RLlib's env runner takes with ``explore=False``."""
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.spaces.space_utils import clip_action, unsquash_action

    with torch.no_grad():
        output = module.forward_inference({Columns.OBS: torch.from_numpy(encoded)})
        actions = output.get(Columns.ACTIONS)
        if actions is None:
            dist_class = module.get_inference_action_dist_cls()
            dist = dist_class.from_logits(output[Columns.ACTION_DIST_INPUTS])
            actions = dist.to_deterministic().sample()
    actions = actions.cpu().numpy() if isinstance(actions, torch.Tensor) else np.asarray(actions)
    if normalize_actions:
        actions = unsquash_action(actions, action_space)
    elif clip_actions:
        actions = clip_action(actions, action_space)
    return np.asarray(actions)


# --------------------------------------------------------------------------- logging


def log_policy_model(
    tracking_uri: str,
    run_id: str,
    checkpoint: str | Path,
    env_id: str,
    env_config: Mapping[str, Any] | None = None,
    *,
    normalize_actions: bool = False,
    clip_actions: bool = False,
    name: str = POLICY_MODEL_NAME,
) -> ModelInfo:
    """Log the checkpoint as a pyfunc model (``name``) of run ``run_id`` in ``tracking_uri``.

    The signature comes from observations sampled from the env's observation
    space and the model's own actions for them. The run keeps its status and
    end time, and no run is left active.
    """
    from mlflow.models import infer_signature
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    checkpoint = Path(checkpoint)
    if not (checkpoint / RLLIB_METADATA).is_file():
        raise UnsupportedPolicyError(f"{checkpoint} is not an RLlib checkpoint folder.")
    env = make_env(env_id, dict(env_config or {}))
    try:
        model = PolicyModel(
            env.observation_space, env.action_space, normalize_actions, clip_actions
        )
    finally:
        env.close()
    model.load_checkpoint(checkpoint)
    rows = sample_rows(model.observation_space, SIGNATURE_SAMPLES)
    actions = model.predict(None, rows)
    model.unload()
    inferred = infer_signature(rows, actions)
    # Positional columns (no names): arrays, lists and DataFrames with any column names
    # all fit; floats are double so that float32 and float64 observations both do.
    kind = DataType.double if np.issubdtype(rows.dtype, np.floating) else DataType.long
    signature = ModelSignature(
        inputs=Schema([ColSpec(kind) for _ in range(rows.shape[1])]), outputs=inferred.outputs
    )
    with tempfile.TemporaryDirectory() as folder:
        # Staged under the artifact's name, so it lands in ``artifacts/checkpoint``.
        staged = Path(folder) / CHECKPOINT_ARTIFACT
        shutil.copytree(checkpoint, staged)
        with _run_resumed(tracking_uri, run_id), _quiet_logging():
            return mlflow.pyfunc.log_model(
                name=name,
                python_model=model,
                artifacts={CHECKPOINT_ARTIFACT: str(staged)},
                signature=signature,
                input_example=rows[:2],
                pip_requirements=requirements(),
                metadata={"env": env_id, "observation_space": str(model.observation_space)},
            )


def requirements() -> list[str]:
    """Pinned requirements of what loading the model imports (installed versions)."""
    pinned = []
    for dist, requirement in _REQUIREMENTS:
        try:
            pinned.append(f"{requirement}=={version(dist)}")
        except PackageNotFoundError:
            pinned.append(requirement)
    return pinned


@contextmanager
def _quiet_logging() -> Iterator[None]:
    """No artifact progress bars (MLflow reloads the model to check the example) and none
    of ``mlflow.pyfunc``'s notes on pickled models in a sweep's console."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(key)
    os.environ[key] = "false"
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_log.level
    pyfunc_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pyfunc_log.setLevel(level)
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


@contextmanager
def _run_resumed(tracking_uri: str, run_id: str) -> Iterator[None]:
    """Run ``run_id`` active in the fluent API; after, it has its old status and end time."""
    if mlflow.active_run() is not None:
        raise RuntimeError(
            f"cannot log a policy model while MLflow run {mlflow.active_run().info.run_id} "
            "is active in this thread; end it first."
        )
    with tracking_uri_set(tracking_uri):
        client = mlflow.MlflowClient(tracking_uri)
        info = client.get_run(run_id).info
        mlflow.start_run(run_id=run_id)
        try:
            yield
        finally:
            mlflow.end_run()
            if info.end_time is not None:  # as it was, not "finished just now"
                client.set_terminated(run_id, status=info.status, end_time=info.end_time)
            else:
                client.update_run(run_id, status=info.status)
