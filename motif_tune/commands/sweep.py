"""``motif-tune sweep`` and ``motif-tune resume``: a sweep planned (or an interrupted one
found again) before anything starts; :mod:`motif_tune.pipeline.sweep` runs it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from motif_tune.config import Settings, load_settings
from motif_tune.pipeline.plan import (
    SweepPlan,
    find_experiment,
    fit_to_local_ray,
    kept_settings,
    plan_sweep,
)
from motif_tune.rllib.checks import check_settings
from motif_tune.runtime.ray_session import check_reachable, ray_address
from motif_tune.stores import check_tracking_server

log = logging.getLogger(__name__)


def prepare_sweep(settings: Settings, overrides: Sequence[str] = ()) -> SweepPlan:
    """Every check before Ray starts; the sweep's plan."""
    check_settings(settings)
    return _planned(settings)


def _planned(settings: Settings, resuming: bool = False) -> SweepPlan:
    """The plan, on a machine that can run it: a local Ray's resources fit its trials,
    a cluster's address answers, a tracking server answers."""
    check_tracking_server(settings.tracking.uri)
    address = ray_address(settings)
    if address is not None:
        check_reachable(address)
    return fit_to_local_ray(plan_sweep(settings, resuming))


def prepare_resume(settings: Settings, overrides: Sequence[str] = ()) -> SweepPlan:
    """The plan of an interrupted sweep (``run_name=`` on the command line, else the
    latest), from the settings it kept beside its Tune experiment."""
    named = [o.split("=", 1)[1] for o in overrides if o.startswith("run_name=")]
    run_name = named[-1] if named else None
    experiment = find_experiment(Path(settings.storage_path), run_name)
    original = load_settings(kept_settings(experiment, settings.output_dir), "resume")
    check_settings(original)
    log.info("Resuming sweep '%s' from %s.", original.run_name, experiment)
    return _planned(original, resuming=True)
