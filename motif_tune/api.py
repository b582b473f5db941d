"""motif_tune from Python: the commands of ``motif-tune``, run in this process.

Each function composes the config from Hydra overrides exactly as the command
line does (the project folder's ``conf/`` and ``sweeps/`` included), checks it
(bad input raises :class:`motif_tune.errors.ConfigError` before anything
starts) and returns what the command found, for notebooks and scripts::

    import motif_tune

    outcome = motif_tune.sweep(["sweep=smoke", "run_name=first-look"])
    outcome.champion, outcome.best_checkpoint, outcome.registered_model
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from motif_tune.commands import run_command
from motif_tune.config.composition import compose_settings

if TYPE_CHECKING:
    from motif_tune.commands.evaluate import EvalSummary
    from motif_tune.commands.train import TrainSummary
    from motif_tune.pipeline.summary import SweepSummary


def sweep(overrides: Sequence[str] = (), project_dir: str | Path | None = None) -> SweepSummary:
    """Run a sweep (``motif-tune sweep overrides…``); returns its summary: the ranking, the
    verified finalists and the champion (``champion``, ``best_checkpoint``), its MLflow
    parent run (``mlflow_run_id``) and registered model version (``registered_model``)."""
    return _run("sweep", overrides, project_dir)  # type: ignore[return-value]


def resume(overrides: Sequence[str] = (), project_dir: str | Path | None = None) -> SweepSummary:
    """Continue an interrupted sweep (``run_name=…``, else the latest)."""
    return _run("resume", overrides, project_dir)  # type: ignore[return-value]


def train(overrides: Sequence[str] = (), project_dir: str | Path | None = None) -> TrainSummary:
    """Train one composed config (``motif-tune train overrides…``)."""
    return _run("train", overrides, project_dir)  # type: ignore[return-value]


def evaluate(overrides: Sequence[str] = (), project_dir: str | Path | None = None) -> EvalSummary:
    """Score a checkpoint (``motif-tune evaluate checkpoint=… overrides…``)."""
    return _run("evaluate", overrides, project_dir)  # type: ignore[return-value]


def _run(name: str, overrides: Sequence[str], project_dir: str | Path | None):
    settings = compose_settings(overrides, name, project_dir)
    return run_command(name, settings, list(overrides))
