"""What every trial reports besides its score: the env's declared metrics checked
once, the faults the env absorbed, the node that ran it, and its cost so far."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from motif_tune.config import Settings
from motif_tune.config.schema import TaskMetric
from motif_tune.envs.faults import ENV_FAULTS
from motif_tune.results import is_number, nested_get
from motif_tune.search.budget import RESULT_KEYS
from motif_tune.search.cost import Held, trial_cost

log = logging.getLogger(__name__)

ENV_STEPS = RESULT_KEYS["env_steps"]
# Keys of an Algorithm's result that are Tune's counters of the trial holding it (a seed
# group's, a scheduled trial's): that trial reports its own.
TRIAL_COUNTERS = (
    "training_iteration",
    "time_this_iter_s",
    "time_total_s",
    "time_since_restore",
    "iterations_since_restore",
    "timesteps_total",
    "episodes_total",
    "done",
)


class Reporter:
    """What every trial's result gets besides its score: the env's declared metrics
    checked once, faults logged, the node that ran it, and its cost so far."""

    def __init__(self, base: Settings) -> None:
        self.base = base
        self.metrics_seen = not base.env.metrics
        self.held: Held | None = None

    def checked(self, result: dict) -> dict:
        """``result`` of one training iteration, checked; a stale evaluation dropped
        (RLlib repeats the last one's numbers in later results)."""
        if not self.metrics_seen:
            self.metrics_seen = check_declared_metrics(self.base.env.metrics, result)
        _log_env_faults(result)
        result.pop("evaluation", None)
        result["node_id"] = _node_id()  # which node of the cluster ran this trial
        return result

    def cost(self, result: dict, resources: Any, trainable: type, config: Any) -> dict:
        """The cost figures of the trial so far: what it holds (its placement group, or
        the one it would ask for outside Tune) over its training time."""
        if self.held is None:
            request = resources or trainable.default_resource_request(config)
            self.held = Held.of(request.required_resources, self.base.scaling.gpu_resource)
        wall = float(result.get("time_total_s") or 0.0)
        return trial_cost(wall, float(result.get(ENV_STEPS) or 0.0), self.held)


class DeclaredMetricMissing(RuntimeError):
    """An env's declared metric is not in its results: its callback does not report it."""


def check_declared_metrics(declared: Sequence[TaskMetric], result: Mapping[str, Any]) -> bool:
    """True once a result with finished episodes holds every declared metric; raises when
    such a result lacks one (False: no episode finished yet, nothing to tell)."""
    runners = result.get("env_runners") or {}
    if "episode_return_mean" not in runners:
        return False
    missing = [m.name for m in declared if m.name not in runners]
    if missing:
        reported = ", ".join(sorted(k for k in runners if not k.startswith("num_"))[:20])
        raise DeclaredMetricMissing(
            f"env.metrics declares {', '.join(missing)}, which the env runners' first result "
            f"lacks; they reported {reported}: check that the env's callbacks log "
            f"{', '.join(missing)} on the metrics_logger."
        )
    return True


def _log_env_faults(result: dict) -> None:
    """One log line per iteration with faults the env absorbed (not one per fault)."""
    faults = nested_get(result, f"env_runners/{ENV_FAULTS}")
    if is_number(faults) and faults > 0:
        log.info(
            "Iteration %s: the env raised %d times; each cost its episode (env_faults).",
            result.get("training_iteration"),
            faults,
        )


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()
