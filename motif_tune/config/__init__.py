"""Composed Hydra config -> frozen, validated ``Settings`` (no Ray or RLlib here)."""

from motif_tune.config.loading import apply_overrides, load_settings
from motif_tune.config.schema import ParamSpec, Settings

__all__ = ["ParamSpec", "Settings", "apply_overrides", "load_settings"]
