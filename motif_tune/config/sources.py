"""Where the config files live, and the choices of each config group.

``conf/`` holds Hydra's primary config and its groups; ``sweeps/`` sits beside it
(the design card puts sweeps at the top level) and is registered as the
``sweep`` group.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_GROUPS = ("env", "algo", "scaling", "tracking", "paths", "sweep")


def project_dir() -> Path:
    """Where ``conf/`` and ``sweeps/`` live: MOTIF_TUNE_PROJECT_DIR, else the checkout."""
    if env := os.environ.get("MOTIF_TUNE_PROJECT_DIR"):
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    return here if (here / "conf").is_dir() else Path.cwd()


def config_dir() -> Path:
    return project_dir() / "conf"


def sweeps_dir() -> Path:
    return project_dir() / "sweeps"


def register_sweeps(directory: Path | None = None) -> None:
    """Make every ``sweeps/*.yaml`` a choice of the ``sweep`` config group."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for path in sorted((directory or sweeps_dir()).glob("*.yaml")):
        store.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_")


def group_dir(group: str) -> Path:
    """The folder of a config group's files (``sweep`` reads ``sweeps/``)."""
    return sweeps_dir() if group == "sweep" else config_dir() / group


def group_choices(group: str) -> list[str]:
    """The files of a config group."""
    return sorted(p.stem for p in group_dir(group).glob("*.yaml"))
