"""What one trial needs, what the cluster has, and how many trials fit at once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from motif_tune.errors import ConfigError


@dataclass(frozen=True)
class TrialResources:
    """The summed resources of a trial's placement group (driver + runners + learners)."""

    amounts: dict[str, float]

    def describe(self) -> str:
        return (
            ", ".join(f"{_fmt(v)} {k}" for k, v in sorted(self.amounts.items()) if v) or "nothing"
        )


def trial_resources(placement_group_factory) -> TrialResources:
    """Sum the bundles of a Tune ``PlacementGroupFactory``."""
    return TrialResources(dict(placement_group_factory.required_resources))


def concurrent_trials(
    need: TrialResources, cluster: Mapping[str, float], requested: int | None, num_samples: int
) -> int:
    """How many trials run at once: the cluster's fit, capped by the sweep's own limit."""
    fits = [
        math.floor(cluster.get(name, 0.0) / amount + 1e-9)
        for name, amount in need.amounts.items()
        if amount > 0
    ]
    fit = min(fits) if fits else num_samples
    if fit < 1:
        missing = [
            f"{_fmt(amount)} {name} (the cluster has {_fmt(cluster.get(name, 0.0))})"
            for name, amount in sorted(need.amounts.items())
            if amount > cluster.get(name, 0.0)
        ]
        raise ConfigError(
            f"One trial needs {', '.join(missing)}: it can never be scheduled; lower "
            "scaling.env_runners / scaling.learners or use a scaling profile that fits."
        )
    limit = min(fit, num_samples)
    return min(limit, requested) if requested else limit


def _fmt(value: float) -> str:
    return f"{value:g}"
