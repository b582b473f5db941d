"""A team's own code on every Ray worker: the project folder through Ray's ``runtime_env``.

When the env (``env.id``) or its callbacks come from modules in the project
folder, the folder goes to every worker as Ray's ``working_dir``: Ray packs it
once and each node unpacks its own copy, so a worker node started from any
folder imports the team's env from that copy. What a run writes (``runs/``,
Tune's storage) and virtual environments are left out.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from motif_tune.config import Settings
from motif_tune.envs.registry import code_modules

# Never shipped to workers: virtual environments, VCS data, caches.
_RAY_DEFAULT_EXCLUDES_VAR = "RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES"
EXCLUDES = (
    ".venv/",
    "venv/",
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".ipynb_checkpoints/",
)


def project_code_dir(settings: Settings) -> Path | None:
    """The project folder, when a module the env needs lies in it (else None)."""
    project = settings.project_dir
    for name in code_modules(settings.env.id, settings.env.callbacks):
        module = sys.modules.get(name)
        path = Path(getattr(module, "__file__", "") or "")
        if path.is_absolute() and path.resolve().is_relative_to(project):
            return project
    return None


def code_runtime_env(settings: Settings) -> dict[str, Any]:
    """``working_dir`` and ``excludes`` for the project's code (none when not needed)."""
    project = project_code_dir(settings)
    if project is None:
        return {}
    excludes = list(EXCLUDES)
    for written in (settings.paths.root, Path(settings.storage_path)):
        if written.is_absolute() and written.resolve().is_relative_to(project):
            excludes.append(f"{written.resolve().relative_to(project).as_posix()}/")
    # EXCLUDES names Ray's default excludes (.git, .venv, venv, __pycache__) itself; with
    # Ray's own list in force it warns about each of them a repository holds.
    os.environ.setdefault(_RAY_DEFAULT_EXCLUDES_VAR, "")
    return {"working_dir": str(project), "excludes": excludes}
