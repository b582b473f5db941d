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
from typing import TYPE_CHECKING, Any

from motif_tune.config import Settings, apply_overrides
from motif_tune.errors import ConfigError
from motif_tune.search.params import WORKERS_PER_GPU, config_value, param_path
from motif_tune.tracking.store import (
    TAG_SWEEP,
    experiment_id,
    mlflow_client,
    store_exists,
    sweep_runs,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
# ``best.*`` params that describe the champion rather than set a value.
_NOT_VALUES = ("best.trial_id", "best.verified")


def settings_from_sweep(
    settings: Settings, client: MlflowClient | None = None, overrides: Sequence[str] = ()
) -> tuple[Settings, dict[str, Any]]:
    """``settings`` with the best values of sweep ``train.from_sweep`` applied.

    Values named on the command line win over the sweep's.
    """
    name = settings.train.from_sweep or ""
    params = _sweep_params(settings, client, name)
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


def _sweep_params(settings: Settings, client: MlflowClient | None, name: str) -> dict[str, str]:
    if "'" in name or not store_exists(settings):
        raise ConfigError(_no_sweep_message(settings, name, []))
    client = client or mlflow_client(settings)
    exp_id = experiment_id(client, settings)
    runs = sweep_runs(client, [exp_id], name)
    if not runs:
        raise ConfigError(_no_sweep_message(settings, name, _recent_sweeps(client, exp_id)))
    return dict(runs[0].data.params)


def _recent_sweeps(client: MlflowClient, exp_id: str, count: int = 5) -> list[str]:
    runs = sweep_runs(client, [exp_id], limit=count)
    return [r.data.tags.get(TAG_SWEEP, r.info.run_name) for r in runs]


def _no_sweep_message(settings: Settings, name: str, recent: list[str]) -> str:
    known = f"recent sweeps: {', '.join(recent)}" if recent else "no sweep is recorded there yet"
    return (
        f"train.from_sweep '{name}' names no sweep in MLflow experiment "
        f"'{settings.tracking.experiment_name}' at {settings.tracking.uri}; {known}."
    )
