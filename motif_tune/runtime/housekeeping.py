"""Nothing outside the run's folders by surprise: what the libraries would write into
the user's home goes under ``paths.root``, and their telemetry stays off.

Ray's usage statistics and MLflow's telemetry (which also writes an id into
``~/.config/mlflow``) are off unless the user turns them on
(``RAY_USAGE_STATS_ENABLED=1``, ``MLFLOW_DISABLE_TELEMETRY=false``); matplotlib's
font cache and config live in ``<paths.root>/.cache/matplotlib`` unless
``MPLCONFIGDIR`` says otherwise. Ray's own session files stay in ``/tmp/ray``,
where Ray insists on them.
"""

from __future__ import annotations

import os
from pathlib import Path

# Telemetry, off unless the environment already says otherwise.
TELEMETRY_OFF = {"RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true"}
CACHE_FOLDER = ".cache"


def telemetry_off() -> None:
    """Ray's usage statistics and MLflow's telemetry off, unless the user set them."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def caches_under(root: Path) -> None:
    """Library caches that would go into the home folder go under ``root`` instead."""
    os.environ.setdefault("MPLCONFIGDIR", str(Path(root) / CACHE_FOLDER / "matplotlib"))
