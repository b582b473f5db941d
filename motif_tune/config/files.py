"""Where the config files live, and the choices of each config group.

``conf/`` holds Hydra's primary config and its groups; ``sweeps/`` sits beside it
(the design card puts sweeps at the top level) and is registered as the
``sweep`` group.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from motif_tune.config.schema import BUDGET_UNITS, is_setting
from motif_tune.errors import ConfigError

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


def with_free_form_keys(overrides: Sequence[str]) -> list[str]:
    """Overrides as Hydra needs them to mean what a user means.

    Keys the schema knows are set or added (Hydra's ``++``), so
    ``stop.time_total_s=60`` (any result key is a stop rule), a key a sweep file
    leaves at its default (``sweep.verify.seeds=2``) or a free-form
    ``env.env_config`` key need no ``+``; unknown keys still reach the schema's
    one-sentence refusal. A budget given on the command line replaces the sweep
    file's, by its unit (``sweep.budget.time_s=60`` on a sweep budgeted in env
    steps) or whole (``sweep.budget={time_s: 60}``, which Hydra alone would merge
    into the file's budget).
    """
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    unit_nulls = (
        [f"++{key}=null" for key in sorted(_BUDGET_KEYS - keys)] if keys & _BUDGET_KEYS else []
    )
    result: list[str] = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in _BUDGET_KEYS:  # the units not given cleared, before the first one given
            result, unit_nulls = result + unit_nulls, []
        # A whole budget: every unit cleared, then the user's (Hydra would merge it).
        if key == "sweep.budget" and not override.startswith("~"):
            result += [f"++{unit}=null" for unit in sorted(_BUDGET_KEYS)]
        plain = _is_plain_override(override) and is_setting(key)
        result.append(f"++{override}" if plain else override)
    return result


_BUDGET_KEYS = {f"sweep.budget.{unit}" for unit in BUDGET_UNITS}


def _is_plain_override(override: str) -> bool:
    """``a.b=value``: no Hydra prefix, no package, and not a config group choice."""
    key = override.split("=", 1)[0]
    return "=" in override and "." in key and not override.startswith(("+", "~", "-", "hydra"))


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
