"""Where config files come from: the files motif_tune ships, and a team's own project.

motif_tune ships a ``conf/`` folder (Hydra's primary config and its groups:
``env/``, ``algo/``, ``scaling/``, ``tracking/``, ``paths/``) and a ``sweeps/``
folder (the ``sweep`` group); an installed wheel carries both inside the
package, a checkout has them at its top. A project folder (the current one,
``project_dir=`` on the command line, or ``MOTIF_TUNE_PROJECT_DIR``) may hold a
``conf/<group>/*.yaml`` and a ``sweeps/*.yaml`` of its own: they add choices,
and replace shipped files of the same name (a ``conf/config.yaml`` there
replaces the primary config).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CONFIG_GROUPS = ("env", "algo", "scaling", "tracking", "paths", "sweep")
PROJECT_VAR = "MOTIF_TUNE_PROJECT_DIR"
PRIMARY = "config"


def shipped_dir() -> Path:
    """The folder holding the shipped ``conf/`` and ``sweeps/``: the package itself when
    installed from a wheel, the checkout's top otherwise."""
    package = Path(__file__).resolve().parents[1]
    return package if (package / "conf").is_dir() else package.parent


def project_dir() -> Path:
    """The project folder: ``MOTIF_TUNE_PROJECT_DIR`` (the command line's ``project_dir=``
    sets it), else the current folder."""
    return Path(os.environ.get(PROJECT_VAR) or Path.cwd()).resolve()


@dataclass(frozen=True)
class ConfigSources:
    """The shipped config and a project's, in the order a name is looked up."""

    shipped: Path
    project: Path

    @property
    def shipped_conf(self) -> Path:
        return self.shipped / "conf"

    @property
    def project_conf(self) -> Path | None:
        """The project's ``conf/``, when it has one that is not the shipped one."""
        conf = self.project / "conf"
        return conf if conf.is_dir() and conf.resolve() != self.shipped_conf.resolve() else None

    @property
    def main_dir(self) -> Path:
        """Hydra's primary config folder: the project's ``conf/`` first, when it has one."""
        return self.project_conf or self.shipped_conf

    @property
    def hydra_overrides(self) -> list[str]:
        """The shipped ``conf/`` behind the project's in Hydra's search path."""
        if self.project_conf is None:
            return []
        return [f"hydra.searchpath=[file://{self.shipped_conf}]"]

    def group_dirs(self, group: str) -> list[Path]:
        """The folders of a group's files, shipped first (later ones replace names)."""
        if group == "sweep":
            dirs = [self.shipped / "sweeps", self.project / "sweeps"]
        else:
            dirs = [self.shipped_conf / group]
            if self.project_conf is not None:
                dirs.append(self.project_conf / group)
        unique: list[Path] = []
        for folder in dirs:
            if folder.is_dir() and all(folder.resolve() != u.resolve() for u in unique):
                unique.append(folder)
        return unique

    def group_files(self, group: str) -> dict[str, Path]:
        """choice -> file of a config group; a project's file replaces a shipped one."""
        files: dict[str, Path] = {}
        for folder in self.group_dirs(group):
            files |= {path.stem: path for path in sorted(folder.glob("*.yaml"))}
        return files

    def primary_file(self) -> Path:
        own = self.project_conf / f"{PRIMARY}.yaml" if self.project_conf else None
        return own if own is not None and own.is_file() else self.shipped_conf / f"{PRIMARY}.yaml"


def sources() -> ConfigSources:
    """The config sources of this process's project."""
    return _sources(shipped_dir(), project_dir())


@cache
def _sources(shipped: Path, project: Path) -> ConfigSources:
    return ConfigSources(shipped, project)


def group_choices(group: str) -> list[str]:
    """The choices of a config group, shipped and the project's."""
    return sorted(sources().group_files(group))


def register_with_hydra(config_sources: ConfigSources | None = None) -> None:
    """Every sweep file a choice of the ``sweep`` group (a project's replacing the
    shipped one of its name), and the shipped primary config findable by name when the
    project's ``conf/`` is Hydra's primary folder but holds no ``config.yaml``."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    config_sources = config_sources or sources()
    store = ConfigStore.instance()
    store.repo.pop("sweep", None)  # another project's sweeps, composed earlier in this process
    for name, path in config_sources.group_files("sweep").items():
        store.store(group="sweep", name=name, node=OmegaConf.load(path), package="_global_")
    store.repo.pop(f"{PRIMARY}.yaml", None)
    own_primary = config_sources.main_dir / f"{PRIMARY}.yaml"
    if config_sources.main_dir != config_sources.shipped_conf and not own_primary.is_file():
        primary = config_sources.shipped_conf / f"{PRIMARY}.yaml"
        store.store(name=PRIMARY, node=OmegaConf.load(primary))
