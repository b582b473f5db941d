"""Tune results: nested dicts of numbers, and the one score every trial reports.

Tune results are nested dicts whose flattened keys use ``/``
(``env_runners/episode_return_mean``); config paths use ``.``
(``algo.training.lr``). One flattener serves both.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any


def flatten(mapping: Mapping[str, Any], sep: str = "/", prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}`` (or ``a.b`` with ``sep="."``); lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, sep, f"{name}{sep}"))
        else:
            flat[name] = value
    return flat


def nested_get(result: Mapping[str, Any], key: str) -> Any:
    """``result["a"]["b"]`` for ``key="a/b"``, else ``result["a/b"]``, else None."""
    node: Any = result
    for part in key.split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return result.get(key)
        node = node[part]
    return node


def is_number(value: Any) -> bool:
    """A real number (Python's or NumPy's, as RLlib reports counts), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# The result key every trial of a sweep reports its score under (Tune, Optuna, ASHA, MLflow).
OBJECTIVE = "objective"
# A seed group's mean score over its seeds and that mean's standard error.
SEEDS_MEAN = "seeds/objective_mean"
SEEDS_SE = "seeds/objective_se"
