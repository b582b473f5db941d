"""Which result keys become MLflow metric curves, once per training iteration."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from motif_tune.results import OBJECTIVE, flatten, is_number

# Result keys logged each iteration (besides every key under these prefixes).
RESULT_KEYS = (
    OBJECTIVE,
    "num_env_steps_sampled_lifetime",
    "training_iteration",
    "time_this_iter_s",
    "time_total_s",
    "env_steps_per_s",
)
RESULT_PREFIXES = ("env_runners/", "evaluation/env_runners/", "learners/default_policy/")
# Per-connector timers: dozens of curves nobody compares across trials.
RESULT_SKIP = ("connector/", "/timers/")


def iteration_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric metrics worth a curve, from a (nested or flat) Tune result."""
    flat = flatten(result)
    steps = flat.get("env_runners/num_env_steps_sampled")
    seconds = flat.get("time_this_iter_s")
    if is_number(steps) and is_number(seconds) and seconds > 0:
        flat["env_steps_per_s"] = steps / seconds
    return {
        key: float(value)
        for key, value in flat.items()
        if (key in RESULT_KEYS or key.startswith(RESULT_PREFIXES))
        and not any(part in key for part in RESULT_SKIP)
        and is_number(value)
        and math.isfinite(value)
    }
