"""motif_tune: hyperparameter sweeps for RLlib, composed with Hydra, searched with
Optuna through Ray Tune, recorded in MLflow.

The public surface (everything else may change between versions)::

    motif_tune.sweep(overrides, project_dir=None)     -> SweepSummary
    motif_tune.resume(overrides, project_dir=None)    -> SweepSummary
    motif_tune.train(overrides, project_dir=None)     -> TrainSummary
    motif_tune.evaluate(overrides, project_dir=None)  -> EvalSummary
    motif_tune.compose_settings(overrides, command="sweep", project_dir=None) -> Settings
    motif_tune.MotifEnv, motif_tune.MotifEnvConfig    the motif task (a Gymnasium env)
    motif_tune.ConfigError                            bad input, one sentence

Names are imported when first used, so ``import motif_tune`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "sweep": "motif_tune.api",
    "resume": "motif_tune.api",
    "train": "motif_tune.api",
    "evaluate": "motif_tune.api",
    "compose_settings": "motif_tune.config.composition",
    "Settings": "motif_tune.config.schema",
    "SweepSummary": "motif_tune.pipeline.summary",
    "MotifEnv": "motif_tune.envs.motif",
    "MotifEnvConfig": "motif_tune.envs.motif",
    "ConfigError": "motif_tune.errors",
    "SweepFailed": "motif_tune.errors",
    "SweepInterrupted": "motif_tune.errors",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'motif_tune' has no attribute '{name}'")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
