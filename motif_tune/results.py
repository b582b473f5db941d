"""Small helpers on nested results and numbers, shared by every layer.

Tune results are nested dicts whose flattened keys use ``/``
(``env_runners/episode_return_mean``); config paths use ``.``
(``algo.training.lr``). One flattener serves both.
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
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


def fmt(value: Any) -> str:
    """A value as the program prints it: ``-`` for none, 4 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{value:.0f}"
        return f"{value:.4g}" if abs(value) >= 1 else f"{value:.3f}"
    return str(value)


def text_table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as aligned lines, indented by two spaces (the first row: headers)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def one_line(err: BaseException | str, limit: int = 200) -> str:
    """A message on one line, cut to ``limit`` characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def relative(path: str | Path) -> str:
    """``path`` relative to the working folder when it lies below it, else as it is."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# The result key every trial of a sweep reports its score under (Tune, Optuna, ASHA, MLflow).
OBJECTIVE = "objective"


# ``scheme://user:password@host`` and ``?token=…``-like query values in URIs.
_URI_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@'\"]*):[^/\s@'\"]+@")
_QUERY_SECRET = re.compile(
    r"([?&](?:token|access_token|password|secret|sig|signature|key)=)[^&\s'\"]+", re.IGNORECASE
)
# Environment variables whose values are secrets wherever they appear.
SECRET_VARS = (
    "RAY_AUTH_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
)


def mask_secrets(text: str) -> str:
    """``text`` with passwords in URIs, secret query values and the values of known
    secret environment variables replaced by ``***``."""
    text = _URI_PASSWORD.sub(r"\1:***@", text)
    text = _QUERY_SECRET.sub(r"\1***", text)
    for name in SECRET_VARS:
        value = os.environ.get(name, "")
        if len(value) >= 8:
            text = text.replace(value, "***")
    return text
