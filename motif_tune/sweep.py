"""The sweep: ``tune.Tuner`` with Optuna over the search space, recorded in MLflow."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motif_tune.errors import ConfigError
from motif_tune.ray_runtime import check_reachable, local_cpus, ray_address, start_ray, stop_ray
from motif_tune.resources import check_sweep_fits, local_cluster
from motif_tune.search import SearchSpace
from motif_tune.settings import Settings
from motif_tune.tracking import MLflowTrialCallback, SweepRun, flatten_result, log_metrics
from motif_tune.trainable import make_trainable

log = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    """What a finished sweep found."""

    run_name: str
    metric: str
    mode: str
    num_trials: int
    num_errored: int
    best_trial_id: str | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_checkpoint: str | None = None
    experiment_path: str = ""
    mlflow_run_id: str | None = None
    tracking_uri: str = ""
    registered_model: str | None = None

    def render(self) -> str:
        lines = [
            f"Sweep '{self.run_name}': {self.num_trials} trials, {self.num_errored} errored.",
        ]
        if self.best_trial_id is None:
            lines.append(f"No trial reported {self.metric}.")
        else:
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.best_params.items()))
            lines += [
                f"Best trial {self.best_trial_id}: {self.metric} = {_fmt(self.best_value)} "
                f"({self.mode})",
                f"  settings:   {params or '(no searched parameters)'}",
                f"  checkpoint: {self.best_checkpoint or '(none saved)'}",
            ]
            if self.registered_model:
                lines.append(f"  registered: {self.registered_model}")
        lines += [
            f"Tune results: {self.experiment_path}",
            f"MLflow run:   {self.mlflow_run_id} at {self.tracking_uri}",
            "Compare trials in the MLflow UI: make ui   (then open http://127.0.0.1:5000)",
        ]
        return "\n".join(lines)


SETTINGS_FILE = "motif_tune.yaml"


class SweepInterrupted(RuntimeError):
    """The sweep stopped before all its trials finished (Ctrl-C); it can be resumed."""


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

    from motif_tune.settings import load_settings

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

    composed = {k: v for k, v in settings.composed.items() if k not in ("hydra", "output_dir")}
    return OmegaConf.to_yaml(composed)


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
            summary = _summarise(settings, results, sweep_run)
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
        search_alg=_searcher(settings, space),
        scheduler=_scheduler(settings),
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


def _searcher(settings: Settings, space: SearchSpace):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sweep = settings.sweep
    if sweep.searcher == "random":
        sampler = optuna.samplers.RandomSampler(seed=sweep.seed)
    else:
        # Optuna's default of 10 random trials first would leave a 10-trial sweep
        # entirely random; constant_liar keeps concurrent trials from piling up.
        sampler = optuna.samplers.TPESampler(
            seed=sweep.seed, n_startup_trials=sweep.startup_trials, constant_liar=True
        )
    return OptunaSearch(space=space, metric=sweep.metric, mode=sweep.mode, sampler=sampler)


def _scheduler(settings: Settings):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    spec = settings.sweep.scheduler
    if spec.type == "fifo":
        return FIFOScheduler()
    max_t = int(settings.stop.get("training_iteration", 100))
    if spec.grace_period >= max_t:
        raise ConfigError(
            f"sweep.scheduler.grace_period ({spec.grace_period}) must be below "
            f"stop.training_iteration ({max_t}) for ASHA to stop anything early."
        )
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=max_t,
        grace_period=spec.grace_period,
        reduction_factor=spec.reduction_factor,
    )


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


@dataclass(frozen=True)
class RankedCheckpoint:
    trial_id: str
    path: str
    value: float
    iteration: int


def ranked_checkpoints(results: Any, metric: str, mode: str) -> list[RankedCheckpoint]:
    """Every kept checkpoint of every trial, best first by the metric it was saved with."""
    ranked = []
    for result in results:
        trial_id = (result.metrics or {}).get("trial_id")
        for checkpoint, metrics in result.best_checkpoints or []:
            metrics = flatten_result(metrics)
            value = metrics.get(metric)
            if trial_id and isinstance(value, int | float) and math.isfinite(value):
                iteration = int(metrics.get("training_iteration", 0))
                ranked.append(RankedCheckpoint(trial_id, checkpoint.path, float(value), iteration))
    return sorted(ranked, key=lambda c: c.value, reverse=(mode == "max"))


def _summarise(settings: Settings, results: Any, sweep_run: SweepRun) -> SweepSummary:
    sweep = settings.sweep
    summary = SweepSummary(
        run_name=settings.run_name,
        metric=sweep.metric,
        mode=sweep.mode,
        num_trials=len(results),
        num_errored=results.num_errors,
        experiment_path=str(results.experiment_path),
        mlflow_run_id=sweep_run.run_id,
        tracking_uri=settings.tracking.uri,
    )
    try:
        # Ranked by each trial's last result: what Optuna and ASHA judged the trial by.
        best = results.get_best_result(metric=sweep.metric, mode=sweep.mode, scope="last")
    except RuntimeError:
        return summary
    value = flatten_result(best.metrics or {}).get(sweep.metric)
    if not isinstance(value, int | float) or not math.isfinite(value):
        return summary
    summary.best_trial_id = best.metrics.get("trial_id")
    summary.best_value = value
    summary.best_params = dict(best.config or {})
    ranked = ranked_checkpoints(results, sweep.metric, sweep.mode)
    # The best trial's best checkpoint first (it is the one registered), then the rest.
    own = [c for c in ranked if c.trial_id == summary.best_trial_id]
    checkpoints = own[:1] + [c for c in ranked if c not in own[:1]]
    summary.best_checkpoint = checkpoints[0].path if checkpoints else None
    _record_outcome(settings, sweep_run, summary, checkpoints)
    return summary


def _record_outcome(
    settings: Settings,
    sweep_run: SweepRun,
    summary: SweepSummary,
    checkpoints: list[RankedCheckpoint],
) -> None:
    """The best trial, the top checkpoints, the registry version and the plots, in MLflow."""
    sweep = settings.sweep
    best_params = {f"best.{k}": v for k, v in summary.best_params.items()}
    sweep_run.log_new_params(best_params | {"best.trial_id": summary.best_trial_id})
    log_metrics(sweep_run.client, sweep_run.run_id, {f"best/{sweep.metric}": summary.best_value}, 0)
    top = checkpoints[: sweep.checkpoint.log_top_k]
    for rank, checkpoint in enumerate(top, start=1):
        sweep_run.log_checkpoint(checkpoint.trial_id, checkpoint.path, rank, checkpoint.value)
    if top and settings.tracking.registered_model:
        version = sweep_run.register_best(top[0].trial_id, settings.tracking.registered_model)
        summary.registered_model = f"models:/{settings.tracking.registered_model}/{version}"
    study = _searcher_study(summary.experiment_path)
    if study is not None:
        sweep_run.log_plots(study)


def _searcher_study(experiment_path: str):
    """The Optuna study as Tune saved it with the experiment (fresh or resumed alike)."""
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch()
    try:
        searcher.restore_from_dir(experiment_path)
    except Exception as err:  # no searcher state: nothing to plot
        log.warning("No Optuna state under %s (%s): no sweep plots.", experiment_path, err)
        return None
    return getattr(searcher, "_ot_study", None)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
