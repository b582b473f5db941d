"""A sweep's plan: every fact the sweep needs, computed once from its checked settings.

Planning is where a sweep's bad input stops (a space that cannot fill a batch, a
run name taken, a warm start that asks another question, a trial the machine
could never run), before Ray or MLflow start. The plan is frozen and passed
down; once Ray runs, :func:`fit_to_cluster` adds what the cluster decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from motif_tune.config import Settings
from motif_tune.errors import ConfigError
from motif_tune.runtime.ray_session import local_cpus, ray_address
from motif_tune.runtime.resources import (
    Corner,
    TrialResources,
    check_fits,
    corner_needs,
    local_cluster,
)
from motif_tune.search.budget import Budget
from motif_tune.search.plan import SearchPlan, plan_search

if TYPE_CHECKING:
    from omegaconf import DictConfig

SETTINGS_FILE = "motif_tune.yaml"
# The verification trials' Tune experiment is the sweep's name with this suffix.
VERIFY_SUFFIX = "-verify"


@dataclass(frozen=True)
class SweepPlan:
    """What one sweep does, decided before it starts."""

    settings: Settings
    search: SearchPlan
    corners: tuple[Corner, ...]  # what a trial at each resource corner of the space needs
    resuming: bool = False
    # Known once Ray runs (a local Ray's beforehand): the smallest trial, trials at once.
    need: TrialResources | None = None
    concurrency: int = 1
    cluster: Mapping[str, float] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return self.settings.run_name

    @property
    def mode(self) -> str:
        return self.settings.sweep.mode

    @property
    def budget(self) -> Budget:
        """Per seed: a verification trial's budget."""
        return self.search.budget

    @property
    def search_budget(self) -> Budget:
        """A search trial's: ``budget`` times its seeds (``sweep.seeds_per_trial``)."""
        return self.search.search_budget

    def verify_experiment(self, round_: int = 1) -> str:
        """The Tune experiment (storage path) of the verification trials (of a race's
        later round: the first's name with ``-<round>``)."""
        name = f"{self.run_name}{VERIFY_SUFFIX}" + (f"-{round_}" if round_ > 1 else "")
        return f"{self.settings.storage_path.rstrip('/')}/{name}"


def plan_sweep(settings: Settings, resuming: bool = False) -> SweepPlan:
    """The sweep's plan; every check of its settings that needs no Ray happens here."""
    if not resuming:
        _check_new_experiment(settings)
    search = plan_search(settings, new_study=not resuming)
    return SweepPlan(settings, search, corner_needs(settings), resuming)


def fit_to_local_ray(plan: SweepPlan) -> SweepPlan:
    """A local Ray's resources are known before it starts: a sweep that cannot run on
    them is refused before anything starts (a cluster's are checked once joined)."""
    if ray_address(plan.settings) is not None:
        return plan
    return fit_to_cluster(plan, local_cluster(plan.settings, local_cpus(plan.settings)))


def fit_to_cluster(
    plan: SweepPlan, cluster: Mapping[str, float], largest_node: Mapping[str, float] | None = None
) -> SweepPlan:
    """The plan with the cluster's resources: a sweep any of whose trials could never be
    scheduled is refused; the smallest trial's needs decide how many run at once."""
    need, concurrency = check_fits(plan.settings, plan.corners, cluster, largest_node)
    return replace(plan, need=need, concurrency=concurrency, cluster=dict(cluster))


def _check_new_experiment(settings: Settings) -> None:
    experiment = settings.experiment_dir
    if settings.storage_is_local and experiment.exists():
        raise ConfigError(
            f"run_name '{settings.run_name}' already names a sweep in {experiment}; continue it "
            f"with `motif-tune resume run_name={settings.run_name}` or choose another run_name."
        )


def keep_settings(plan: SweepPlan) -> None:
    """The sweep's settings beside its Tune experiment, for ``motif-tune resume``."""
    from omegaconf import OmegaConf

    settings = plan.settings
    if settings.storage_is_local and not plan.resuming:
        settings.experiment_dir.mkdir(parents=True)
        saved = OmegaConf.to_yaml(settings.recorded_config)
        (settings.experiment_dir / SETTINGS_FILE).write_text(saved)


def kept_settings(experiment: Path, output_dir: str | None) -> DictConfig:
    """The composed config a sweep kept beside its Tune experiment."""
    from omegaconf import OmegaConf

    saved = OmegaConf.load(experiment / SETTINGS_FILE)
    saved.output_dir = output_dir
    return saved


def find_experiment(storage: Path, run_name: str | None) -> Path:
    """The Tune experiment of sweep ``run_name`` (the latest sweep's when None)."""
    sweeps = sorted(
        (p.parent for p in storage.glob(f"*/{SETTINGS_FILE}")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if run_name is None:
        if not sweeps:
            raise ConfigError(f"There is no sweep to resume under storage_path {storage}.")
        return sweeps[0]
    if (storage / run_name / SETTINGS_FILE).is_file():
        return storage / run_name
    known = ", ".join(p.name for p in sweeps[:5]) or "none"
    raise ConfigError(
        f"run_name '{run_name}' names no sweep under storage_path {storage}; "
        f"the most recent are: {known}."
    )
