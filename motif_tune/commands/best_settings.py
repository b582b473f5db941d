"""``train.from_sweep=NAME``: a sweep's champion settings, read back from MLflow.

The sweep's MLflow run (role ``sweep``) records the best trial's values as
``best.<name>`` params and, for each searched name, the config path it set;
those values are applied to the composed settings, and values named on the
command line win over the sweep's.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from motif_tune.config import Settings, apply_overrides
from motif_tune.errors import ConfigError
from motif_tune.search.params import WORKERS_PER_GPU, config_value, param_path
from motif_tune.tracking.readback import recorded_sweep_params

log = logging.getLogger(__name__)
# ``best.*`` params that describe the champion rather than set a value.
_NOT_VALUES = ("best.trial_id", "best.verified", "best.schedule_changes")


def settings_from_sweep(
    settings: Settings, overrides: Sequence[str] = ()
) -> tuple[Settings, dict[str, Any]]:
    """``settings`` with the best values of sweep ``train.from_sweep`` applied.

    Values named on the command line win over the sweep's.
    """
    name = settings.train.from_sweep or ""
    params = recorded_sweep_params(settings, name)
    check_fixed_values(name, params)
    params.setdefault("algo", params.get("algo.name", settings.algo.name))  # older sweeps
    for key, composed in (("algo", settings.algo.name), ("env.id", settings.env.id)):
        if params.get(key, composed) != composed:
            log.warning(
                "Sweep '%s' searched with %s=%s, this run has %s=%s: its best values may not "
                "carry over.",
                name,
                key,
                params[key],
                key,
                composed,
            )
    best = {
        key.removeprefix("best."): parse_param(value)
        for key, value in params.items()
        if key.startswith("best.") and key not in _NOT_VALUES
    }
    if not best:
        raise ConfigError(
            f"train.from_sweep '{name}' has no best trial recorded (the sweep did not finish "
            "or no trial reported its metric); give a finished sweep's run_name."
        )
    explicit = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    values: dict[str, Any] = {}
    for param, value in best.items():
        path, config_value = _sweep_param_path(settings, params, param, value)
        if path is None:
            continue
        if path in explicit:
            log.info("Keeping %s from the command line over the sweep's %s", path, value)
            continue
        values[path] = config_value
    log.info("Settings from sweep '%s': %s", name, values)
    try:
        return apply_overrides(settings, values), best
    except ConfigError as err:
        raise ConfigError(
            f"train.from_sweep '{name}' settings do not fit the composed config: {err}"
        ) from None


def check_fixed_values(name: str, params: Mapping[str, str]) -> None:
    """Refuse a champion whose values changed as it trained (population-based training):
    train applies fixed values, and its last ones alone are not what made it."""
    changes = int(parse_param(params.get("best.schedule_changes", "0")) or 0)
    if changes:
        raise ConfigError(
            f"train.from_sweep '{name}' names a {params.get('sweep.scheduler.type', 'pbt')} "
            f"sweep whose champion changed its values {changes} time(s) as it trained (its "
            "schedule is the sweep run's lineage/champion.json); train applies fixed values "
            "only: evaluate or serve the champion's registered checkpoint, or train chosen "
            "values with overrides such as algo.training.lr=…"
        )


def parse_param(text: str) -> Any:
    """An MLflow param string back to the number (or bool, list, None) it was."""
    for convert in (int, float, ast.literal_eval):
        try:
            return convert(text)
        except (ValueError, SyntaxError):
            pass
    return text


def _sweep_param_path(
    settings: Settings, params: Mapping[str, str], name: str, value: Any
) -> tuple[str | None, Any]:
    """The config path a searched name sets, as the sweep recorded it, and its value."""
    recorded = params.get(f"sweep.space.{name}.path")
    if name == WORKERS_PER_GPU and not settings.scaling.runners_get_gpus:
        log.warning(
            "The sweep's best workers_per_gpu=%s is not used: scaling=%s gives env runners no GPU.",
            value,
            settings.scaling.name,
        )
        return None, value
    path = recorded if recorded and recorded != "None" else param_path(name)
    return path, config_value(name, value)
