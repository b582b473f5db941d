"""Shared helpers: compose configs the way the CLI does, in an isolated runs folder."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from omegaconf import DictConfig

from motif_tune.config import Settings, load_settings
from motif_tune.config.composition import compose
from motif_tune.config.sources import PROJECT_VAR
from motif_tune.pipeline.plan import plan_sweep
from motif_tune.rllib.checks import check_settings

CHECKOUT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> list[str]:
    """The ``motif-tune`` program, as a subprocess command line."""
    return [sys.executable, "-m", "motif_tune", *args]


def runs_by_role(store: Path, role: str) -> list:
    """The runs of ``role`` in the local store under ``store`` (none before it exists)."""
    from motif_tune.tracking.client import open_store

    if not (store / "mlflow.db").exists():
        return []
    client = open_store(f"sqlite:///{store}/mlflow.db")  # safe while a sweep creates it
    experiment = client.get_experiment_by_name("motif_tune")
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`motif_tune.role` = '{role}'"
    )


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The config composed as the command line composes it."""
    return compose(overrides)


def settings_for(overrides: Sequence[str] = (), command: str = "sweep") -> Settings:
    """Settings as the command line makes them: loaded, then checked whole (a sweep's
    as its plan checks them)."""
    settings = load_settings(compose_config(overrides), command)
    check_settings(settings)
    if command == "sweep":
        plan_sweep(settings)
    return settings


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Every test writes under its own folder, never into the checkout or $HOME."""
    monkeypatch.setenv("MOTIF_TUNE_HOME", str(tmp_path / "runs"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key in [
        k for k in __import__("os").environ if k.startswith("MOTIF_") and k != "MOTIF_TUNE_HOME"
    ]:
        monkeypatch.delenv(key, raising=False)
    # The checkout is the project (its conf/ and sweeps/ are the shipped ones); a test
    # that points the CLI at a project of its own gets this back afterwards.
    monkeypatch.setenv(PROJECT_VAR, str(CHECKOUT))
    return tmp_path / "runs"
