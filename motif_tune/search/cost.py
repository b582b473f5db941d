"""What a trial cost, in four figures defined once here and read by every report
(Tune's results, MLflow, the stored study, ``trials.csv``, the summary).

- ``cost/wall_s``: training wall seconds (Tune's ``time_total_s``: sampling and
  updates, the scoring evaluations not counted);
- ``cost/cpu_s``: the CPUs the trial holds (its placement group) times its wall
  seconds;
- ``cost/gpu_s``: the same for GPUs (the scaling profile's ``gpu_resource``:
  logical GPUs on a CPU machine);
- ``cost/env_steps_per_s``: env steps sampled per training wall second.

CPU- and GPU-seconds count what a trial holds, not what it keeps busy: what a
cluster is billed for, and what other trials cannot use meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WALL_S = "cost/wall_s"
CPU_S = "cost/cpu_s"
GPU_S = "cost/gpu_s"
STEPS_PER_S = "cost/env_steps_per_s"


@dataclass(frozen=True)
class CostFigure:
    key: str  # the result key, and the MLflow metric
    name: str  # the short name a sweep file and the summary use
    label: str  # a column or axis heading
    lower_is_cheaper: bool = True


FIGURES = (
    CostFigure(WALL_S, "wall_s", "wall s"),
    CostFigure(CPU_S, "cpu_s", "CPU s"),
    CostFigure(GPU_S, "gpu_s", "GPU s"),
    CostFigure(STEPS_PER_S, "env_steps_per_s", "env steps/s", lower_is_cheaper=False),
)
BY_NAME = {figure.name: figure for figure in FIGURES}
COST_KEYS = tuple(figure.key for figure in FIGURES)


@dataclass(frozen=True)
class Held:
    """The resources one trial holds (its placement group's bundles, summed)."""

    cpus: float
    gpus: float

    @classmethod
    def of(cls, resources: Mapping[str, float], gpu_resource: str = "GPU") -> Held:
        return cls(float(resources.get("CPU", 0.0)), float(resources.get(gpu_resource, 0.0)))


def trial_cost(wall_s: float, env_steps: float, held: Held) -> dict[str, float]:
    """The four figures of a trial that trained ``wall_s`` seconds for ``env_steps``."""
    return {
        WALL_S: wall_s,
        CPU_S: held.cpus * wall_s,
        GPU_S: held.gpus * wall_s,
        STEPS_PER_S: env_steps / wall_s if wall_s > 0 else math.nan,
    }


def costs_of(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The cost figures a result holds (flattened or nested), NaN where one is missing."""
    from motif_tune.results import is_number, nested_get

    out = {}
    for key in COST_KEYS:
        value = metrics.get(key, nested_get(metrics, key))
        out[key] = float(value) if is_number(value) else math.nan
    return out
