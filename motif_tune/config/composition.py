"""Composing the config as the command line does: overrides checked, the project's files
in front of the shipped ones, then Hydra's composition and the validated settings.

The command line composes through ``hydra.main`` (:mod:`motif_tune.cli`); scripts,
notebooks and tests compose through :func:`compose_settings`, the same way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from motif_tune.config.loading import load_settings
from motif_tune.config.overrides import (
    check_group_overrides,
    check_override_keys,
    with_free_form_keys,
)
from motif_tune.config.run_stamp import new_run_stamp
from motif_tune.config.schema import Settings
from motif_tune.config.sources import PROJECT_VAR, ConfigSources, register_with_hydra, sources

PROJECT_KEY = "project_dir"


def use_project(
    overrides: Sequence[str] = (), project_dir: str | Path | None = None
) -> ConfigSources:
    """Make a project folder this process's: ``project_dir`` (or a ``project_dir=``
    override, or ``MOTIF_TUNE_PROJECT_DIR``, or the current folder) becomes
    ``MOTIF_TUNE_PROJECT_DIR`` (Ray's workers see it too) and its modules importable."""
    named = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+") == PROJECT_KEY]
    chosen = project_dir or (named[-1] if named else None) or os.environ.get(PROJECT_VAR)
    folder = Path(chosen or Path.cwd()).expanduser().resolve()
    os.environ[PROJECT_VAR] = str(folder)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    config_sources = sources()
    register_with_hydra(config_sources)
    return config_sources


def hydra_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides as Hydra needs them; bad keys and group choices refused first."""
    check_group_overrides(overrides)
    check_override_keys(overrides)
    return with_free_form_keys(overrides)


def compose(overrides: Sequence[str] = (), project_dir: str | Path | None = None) -> DictConfig:
    """The composed config, as ``motif-tune`` composes it from these overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_sources = use_project(overrides, project_dir)
    wanted = hydra_overrides(overrides)
    new_run_stamp()  # a default run name of its own
    with initialize_config_dir(config_dir=str(config_sources.main_dir), version_base="1.3"):
        return hydra_compose(
            config_name="config", overrides=[*wanted, *config_sources.hydra_overrides]
        )


def compose_settings(
    overrides: Sequence[str] = (),
    command: str = "sweep",
    project_dir: str | Path | None = None,
) -> Settings:
    """Validated settings, composed as ``motif-tune COMMAND overrides…`` composes them."""
    return load_settings(compose(overrides, project_dir), command)
