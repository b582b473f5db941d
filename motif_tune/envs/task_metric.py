"""What an env tells the generic pipeline about its own metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskMetric:
    """A per-episode metric an env's callback reports beside the episode return."""

    key: str  # the result key under env_runners/ (and evaluation/env_runners/)
    label: str  # short name in one-line progress output
    info_key: str  # the step-info key whose episode mean it is
