"""Every check of a command's settings that needs more than the schema, before Ray starts."""

from __future__ import annotations

from motif_tune.config import Settings
from motif_tune.envs.registry import validate_env
from motif_tune.rllib.checks import check_algorithm_settings
from motif_tune.search import check_sweep


def check_settings(settings: Settings) -> None:
    """The env and its config, the RLlib settings, and (for sweeps) the space and scheduler."""
    validate_env(settings.env.id, settings.env.env_config)
    check_algorithm_settings(settings)
    if settings.is_sweep:
        check_sweep(settings)
