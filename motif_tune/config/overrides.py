"""Command-line overrides read before Hydra composes anything: unknown group choices and
setting names refused in one sentence, and the forms Hydra needs written for the user."""

from __future__ import annotations

from collections.abc import Sequence

from motif_tune.config.keys import unknown_setting
from motif_tune.config.schema import BUDGET_UNITS, is_setting
from motif_tune.config.sources import CONFIG_GROUPS, group_choices
from motif_tune.errors import ConfigError


def check_override_keys(overrides: Sequence[str]) -> None:
    """Refuse ``key=value`` overrides whose key is no setting, naming the nearest ones."""
    for override in overrides:
        key, sep, _ = override.partition("=")
        if not sep or override.startswith(("+", "~", "-", "hydra")) or "/" in key:
            continue
        if key not in CONFIG_GROUPS and not is_setting(key):
            raise ConfigError(unknown_setting(key))


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
