"""Where the config files live, and the choices of each config group.

``conf/`` holds Hydra's primary config and its groups; ``sweeps/`` sits beside it
(the design card puts sweeps at the top level) and is registered as the
``sweep`` group.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from motif_tune.errors import ConfigError

CONFIG_GROUPS = ("env", "algo", "scaling", "tracking", "paths", "sweep")


def project_dir() -> Path:
    """Where ``conf/`` and ``sweeps/`` live: MOTIF_TUNE_PROJECT_DIR, else the checkout."""
    env = os.environ.get("MOTIF_TUNE_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    return here if (here / "conf").is_dir() else Path.cwd()


def config_dir() -> Path:
    return project_dir() / "conf"


def sweeps_dir() -> Path:
    return project_dir() / "sweeps"


def register_sweeps(directory: Path | None = None) -> list[str]:
    """Make every ``sweeps/*.yaml`` a choice of the ``sweep`` config group."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    names = []
    for path in sorted((directory or sweeps_dir()).glob("*.yaml")):
        store.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_")
        names.append(path.stem)
    return names


def group_choices(group: str) -> list[str]:
    """The files of a config group (``sweep`` reads ``sweeps/``)."""
    folder = sweeps_dir() if group == "sweep" else config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


def check_group_overrides(overrides: Sequence[str]) -> None:
    """Refuse ``group=name`` overrides naming no file, before Hydra prints its own report."""
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if not sep or key not in CONFIG_GROUPS or any(c in value for c in "()[]{}*$"):
            continue
        valid = group_choices(key)
        for name in (v.strip() for v in value.split(",")):
            if name and name not in valid:
                raise ConfigError(f"Unknown {key} '{name}'; valid choices: {', '.join(valid)}.")
