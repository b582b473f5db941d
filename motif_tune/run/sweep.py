"""The sweep: ``tune.Tuner`` with Optuna over the search space, recorded in MLflow."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from motif_tune.config import Settings, load_settings
from motif_tune.errors import ConfigError, SweepInterrupted
from motif_tune.run.ray_session import (
    check_reachable,
    local_cpus,
    ray_address,
    start_ray,
    stop_ray,
)
from motif_tune.run.resources import check_sweep_fits, local_cluster
from motif_tune.run.summary import SweepSummary, summarise
from motif_tune.run.trainable import make_trainable
from motif_tune.search import SearchSpace
from motif_tune.search.schedulers import make_scheduler, make_searcher
from motif_tune.tracking.callback import MLflowTrialCallback
from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)


SETTINGS_FILE = "motif_tune.yaml"


def is_local(storage_path: str) -> bool:
    """A folder on this machine (shared or not), as opposed to an object store URI."""
    return "://" not in storage_path or storage_path.startswith("file://")


def experiment_dir(settings: Settings) -> Path:
    return Path(settings.storage_path) / settings.run_name


def run_sweep(settings: Settings, overrides: list[str] | tuple[str, ...] = ()) -> SweepSummary:
    """Run one sweep end to end; bad input raises ``ConfigError`` before anything starts."""
    space = SearchSpace(settings)
    experiment = experiment_dir(settings)
    if is_local(settings.storage_path) and experiment.exists():
        raise ConfigError(
            f"run_name '{settings.run_name}' already names a sweep in {experiment}; continue it "
            f"with `motif-tune resume run_name={settings.run_name}` or choose another run_name."
        )

    def new_tuner(concurrency: int, sweep_run: SweepRun):
        if is_local(settings.storage_path):
            experiment.mkdir(parents=True)
            (experiment / SETTINGS_FILE).write_text(_settings_yaml(settings))
        return _tuner(settings, space, concurrency, sweep_run)

    return _execute(settings, overrides, new_tuner)


def resume_sweep(settings: Settings, run_name: str | None) -> SweepSummary:
    """Continue an interrupted sweep (the latest one when ``run_name`` is None)."""
    from omegaconf import OmegaConf
    from ray import tune

    experiment = _find_experiment(Path(settings.storage_path), run_name)
    saved = OmegaConf.load(experiment / SETTINGS_FILE)
    saved.output_dir = settings.output_dir
    original = load_settings(saved, "resume")
    log.info("Resuming sweep '%s' from %s.", original.run_name, experiment)

    def restored_tuner(concurrency: int, sweep_run: SweepRun):
        return tune.Tuner.restore(
            str(experiment),
            trainable=make_trainable(original),
            resume_unfinished=True,
            resume_errored=True,
        )

    return _execute(original, [], restored_tuner)


def _find_experiment(storage: Path, run_name: str | None) -> Path:
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


def _settings_yaml(settings: Settings) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(settings.recorded_config)


def _execute(
    settings: Settings, overrides: list[str] | tuple[str, ...], make_tuner: Any
) -> SweepSummary:
    """Check resources, start Ray and the MLflow parent run, fit, summarise."""
    address = ray_address(settings)
    if address is None:
        check_sweep_fits(settings, local_cluster(settings, local_cpus(settings)))
    else:
        check_reachable(address)
    sweep_run = SweepRun(settings)
    cluster, largest_node = start_ray(settings)
    try:
        need, concurrency = check_sweep_fits(settings, cluster, largest_node)
        _announce(settings, cluster, need, concurrency)
        sweep_run.start(overrides)
        status = "FAILED"
        try:
            results = make_tuner(concurrency, sweep_run).fit()
            _raise_if_interrupted(settings, results)
            summary = summarise(settings, results, sweep_run)
            status = "FINISHED"
            return summary
        except (SweepInterrupted, KeyboardInterrupt):
            status = "KILLED"
            raise
        finally:
            sweep_run.finish(status)
    finally:
        stop_ray(settings)


def _announce(settings: Settings, cluster: dict, need: Any, concurrency: int) -> None:
    if settings.scaling.logical_gpus:
        log.warning(
            "scaling=%s: %g logical GPUs are declared to Ray as the resource '%s'; env runners "
            "and learners are scheduled and packed as on GPUs, but all compute runs on the CPU "
            "(this proves scheduling and packing, not CUDA).",
            settings.scaling.name,
            cluster.get(settings.scaling.gpu_resource, 0),
            settings.scaling.gpu_resource,
        )
    log.info(
        "Sweep '%s': %d trials of %s %s on %s; the smallest trial needs %s; %d at a time.",
        settings.run_name,
        settings.sweep.num_samples,
        settings.algo.name,
        settings.env.name,
        settings.scaling.name,
        need.describe(),
        concurrency,
    )


def _raise_if_interrupted(settings: Settings, results: Any) -> None:
    analysis = getattr(results, "_experiment_analysis", None)
    trials = list(getattr(analysis, "trials", []) or [])
    done = [t for t in trials if t.status in ("TERMINATED", "ERROR")]
    if trials and len(done) >= settings.sweep.num_samples:
        return
    raise SweepInterrupted(
        f"Sweep '{settings.run_name}' stopped with {len(done)} of {settings.sweep.num_samples} "
        f"trials finished; continue it with: motif-tune resume run_name={settings.run_name}"
    )


def _tuner(settings: Settings, space: SearchSpace, concurrency: int, sweep_run: SweepRun):
    from ray import tune

    sweep = settings.sweep
    if is_local(settings.storage_path):
        Path(settings.storage_path).mkdir(parents=True, exist_ok=True)
    tune_config = tune.TuneConfig(
        metric=sweep.metric,
        mode=sweep.mode,
        search_alg=make_searcher(settings, space),
        scheduler=make_scheduler(settings),
        num_samples=sweep.num_samples,
        max_concurrent_trials=concurrency,
        trial_name_creator=_trial_name,
        trial_dirname_creator=_trial_name,
    )
    run_config = tune.RunConfig(
        name=settings.run_name,
        storage_path=settings.storage_path,
        stop=dict(settings.stop),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=sweep.checkpoint.num_to_keep,
            checkpoint_score_attribute=sweep.metric,
            checkpoint_score_order=sweep.mode,
            checkpoint_frequency=sweep.checkpoint.frequency,
            checkpoint_at_end=True,
        ),
        failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
        callbacks=[MLflowTrialCallback(sweep_run)],
        verbose=settings.logging.tune_verbose,
    )
    return tune.Tuner(
        make_trainable(settings), param_space={}, tune_config=tune_config, run_config=run_config
    )


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
