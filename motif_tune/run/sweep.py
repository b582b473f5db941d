"""The sweep: ``tune.Tuner`` with Optuna over the search space, recorded in MLflow."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from motif_tune.config import Settings, load_settings
from motif_tune.errors import ConfigError, SweepFailed, SweepInterrupted
from motif_tune.results import OBJECTIVE, one_line, relative
from motif_tune.run.background import Background
from motif_tune.run.console import SweepConsole
from motif_tune.run.preload import RAY_STOP_MODULES, SHARED_WITH_RAY_INIT, import_modules
from motif_tune.run.ranking import (
    champion_of,
    choose_finalists,
    record_verification,
    trial_scores,
    verification_points,
    verification_seeds,
)
from motif_tune.run.ray_session import (
    check_reachable,
    local_cpus,
    ray_address,
    start_ray,
    stop_ray,
)
from motif_tune.run.resources import check_sweep_fits, local_cluster
from motif_tune.run.trainable import make_trainable
from motif_tune.search import SearchSpace
from motif_tune.search.budget import budget_notices, trial_budget
from motif_tune.search.params import baseline_values
from motif_tune.search.schedulers import make_scheduler, make_searcher
from motif_tune.search.study import open_storage, settle_unfinished, study_names

if TYPE_CHECKING:
    from motif_tune.run.summary import SweepSummary
    from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)


SETTINGS_FILE = "motif_tune.yaml"
# The verification trials' Tune experiment is the sweep's name with this suffix.
VERIFY_SUFFIX = "-verify"


def run_sweep(settings: Settings, overrides: list[str] | tuple[str, ...] = ()) -> SweepSummary:
    """Run one sweep end to end; bad input raises ``ConfigError`` before anything starts."""
    space = SearchSpace(settings)
    experiment = settings.experiment_dir
    if settings.storage_is_local and experiment.exists():
        raise ConfigError(
            f"run_name '{settings.run_name}' already names a sweep in {experiment}; continue it "
            f"with `motif-tune resume run_name={settings.run_name}` or choose another run_name."
        )

    def new_tuner(concurrency: int, sweep_run: SweepRun):
        if settings.storage_is_local:
            experiment.mkdir(parents=True)
            (experiment / SETTINGS_FILE).write_text(_settings_yaml(settings))
        return _search_tuner(settings, space, concurrency, sweep_run)

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
    settings: Settings, overrides: list[str] | tuple[str, ...], search_tuner: Any
) -> SweepSummary:
    """Check resources, start Ray and the MLflow parent run, search, verify, summarise.

    Two serial stretches overlap: MLflow is imported and its store (and the Optuna
    storage) opened while Ray starts, and Ray stops while the outcome is recorded.
    """
    address = ray_address(settings)
    if address is None:
        check_sweep_fits(settings, local_cluster(settings, local_cpus(settings)))
    else:
        check_reachable(address)
    if urlparse(settings.tracking.uri).scheme in ("http", "https"):
        from motif_tune.tracking.store import check_tracking_server

        check_tracking_server(settings.tracking.uri)  # an absent server stops us before Ray
    import_modules(SHARED_WITH_RAY_INIT)
    tracking = Background("tracking", _open_tracking, settings)
    try:
        cluster, largest_node = start_ray(settings)
    except BaseException:
        tracking.wait_quietly()
        raise
    stopping: Background[None] | None = None
    try:
        sweep_run = tracking.result()  # a study storage that cannot open is refused here
        need, concurrency = check_sweep_fits(settings, cluster, largest_node)
        _announce(settings, cluster, need, concurrency)
        sweep_run.start(overrides)
        status = "FAILED"
        try:
            results = search_tuner(concurrency, sweep_run).fit()
            _raise_if_interrupted(settings, results, settings.sweep.num_samples)
            _close_study(settings)
            _raise_if_all_failed(settings, results)
            mode, budget = settings.sweep.mode, trial_budget(settings)
            ranking = trial_scores(results, budget, mode, baseline=_baseline(settings))
            finalists, champion = choose_finalists(ranking, settings), None
            if finalists:
                points = verification_points(finalists, verification_seeds(settings))
                verified = _verification_tuner(settings, points, concurrency, sweep_run).fit()
                _raise_if_interrupted(settings, verified, len(points))
                record_verification(finalists, verified, budget, mode)
                champion = champion_of(finalists, mode)
            # Every trial is over: Ray's processes wind down while MLflow gets the outcome.
            import_modules(RAY_STOP_MODULES)
            stopping = Background("ray-stop", stop_ray, settings)
            from motif_tune.run.summary import summarise

            summary = summarise(settings, results, ranking, finalists, champion, sweep_run)
            status = "FINISHED"
            return summary
        except (SweepInterrupted, KeyboardInterrupt):
            status = "KILLED"
            raise
        finally:
            sweep_run.finish(status)
    finally:
        if stopping is None:
            stop_ray(settings)
        else:
            stopping.result()


def _open_tracking(settings: Settings) -> SweepRun:
    """MLflow and this module's users of it imported, the MLflow store and experiment
    (created and migrated on first use), and the Optuna storage opened: its error reaches
    the main thread before the sweep's run is recorded."""
    import motif_tune.run.summary  # noqa: F401  (MLflow, for the summary later)
    import motif_tune.tracking.callback  # noqa: F401
    from motif_tune.tracking.sweep_run import SweepRun

    sweep_run = SweepRun(settings)
    open_storage(settings.study_storage)
    return sweep_run


def _close_study(settings: Settings) -> None:
    """The search is over: trials a killed driver left running in the study (asked for,
    never continued) are marked failed."""
    if settings.run_name in study_names(settings.study_storage):  # else: begun before studies
        settle_unfinished(settings.study_storage, settings.run_name)


def _baseline(settings: Settings) -> dict[str, Any] | None:
    """The searched values of the sweep's first trial: the composed config's own."""
    values = baseline_values(settings)
    return SearchSpace(settings).resolve(values) if values else None


def _announce(settings: Settings, cluster: dict, need: Any, concurrency: int) -> None:
    from motif_tune.run.summary import objective_description

    if settings.scaling.logical_gpus:
        log.warning(
            "scaling=%s: %g logical GPUs are declared to Ray as the resource '%s'; env runners "
            "and learners are scheduled and packed as on GPUs, but all compute runs on the CPU "
            "(this proves scheduling and packing, not CUDA).",
            settings.scaling.name,
            cluster.get(settings.scaling.gpu_resource, 0),
            settings.scaling.gpu_resource,
        )
    for notice in budget_notices(settings):
        log.warning(notice)
    verify = settings.sweep.verify
    finalists = f"then the top {verify.top_k} and the baseline on {verify.seeds} fresh seeds; "
    print(
        f"Sweep '{settings.run_name}': {settings.sweep.num_samples} trials of "
        f"{settings.algo.name} on {settings.env.name} ({settings.scaling.name}), "
        f"{trial_budget(settings).describe()} each, {concurrency} at a time; "
        f"{finalists if verify.top_k else ''}scored by {objective_description(settings)}. "
        f"A trial needs {need.describe()}.",
        flush=True,
    )


def _raise_if_interrupted(settings: Settings, results: Any, planned: int) -> None:
    from motif_tune.run.summary import tune_trials

    trials = tune_trials(results)
    done = [t for t in trials if t.status in ("TERMINATED", "ERROR")]
    if trials and len(done) >= planned:
        return
    raise SweepInterrupted(
        f"Sweep '{settings.run_name}' stopped with {len(done)} of {planned} "
        f"{'trials' if planned == settings.sweep.num_samples else 'verification trials'} "
        f"finished; continue it with: motif-tune resume run_name={settings.run_name}"
    )


def _raise_if_all_failed(settings: Settings, results: Any) -> None:
    """A sweep none of whose trials finished has nothing to rank: say why, in one line."""
    if len(results) == 0 or results.num_errors < len(results):
        return
    first = next(r.error for r in results if r.error is not None)
    lines = [line.strip() for line in str(first).splitlines() if line.strip()]
    cause = next((line for line in reversed(lines) if ": " in line), lines[-1] if lines else "")
    raise SweepFailed(
        f"All {len(results)} trials of sweep '{settings.run_name}' failed, the first with "
        f"{one_line(cause, 240)}; the log file {relative(settings.log_file)} has the details."
    )


def _search_tuner(settings: Settings, space: SearchSpace, concurrency: int, sweep_run: SweepRun):
    from ray import tune

    from motif_tune.tracking.callback import MLflowTrialCallback

    first = _baseline(settings)
    if first is None:
        log.info("The composed config's values are not in the search space: no baseline trial.")
    return _tuner(
        settings,
        settings.run_name,
        tune.TuneConfig(
            search_alg=make_searcher(settings, space, first, sweep_run.run_id),
            scheduler=make_scheduler(settings),
            num_samples=settings.sweep.num_samples,
            max_concurrent_trials=concurrency,
        ),
        [MLflowTrialCallback(sweep_run, role="trial"), _console(settings, "search")],
    )


def _verification_tuner(
    settings: Settings, points: list[dict[str, Any]], concurrency: int, sweep_run: SweepRun
):
    """Each finalist from scratch on each fresh seed, as trials of their own experiment."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    from motif_tune.tracking.callback import MLflowTrialCallback

    callbacks = [
        MLflowTrialCallback(sweep_run, role="verify"),
        _console(settings, "verification", len(points)),
    ]
    name = f"{settings.run_name}{VERIFY_SUFFIX}"
    path = f"{settings.storage_path.rstrip('/')}/{name}"
    if tune.Tuner.can_restore(path):
        log.info("Continuing the verification in %s.", path)
        return tune.Tuner.restore(
            path,
            trainable=make_trainable(settings),
            resume_unfinished=True,
            resume_errored=True,
            param_space=_keys_of(points),
        )
    log.info("Verifying %d configurations on fresh seeds: %d trials.", len(points), len(points))
    return _tuner(
        settings,
        name,
        tune.TuneConfig(
            search_alg=BasicVariantGenerator(points_to_evaluate=points, max_concurrent=concurrency),
            num_samples=len(points),
        ),
        callbacks,
        param_space=_keys_of(points),
    )


def _keys_of(points: list[dict[str, Any]]) -> dict[str, Any]:
    """A param space with the keys the points fill in, trial by trial (Tune needs them)."""
    from ray import tune

    return {key: tune.choice(sorted({p[key] for p in points})) for key in points[0]}


def _tuner(
    settings: Settings,
    name: str,
    tune_config: Any,
    callbacks: list[Any],
    param_space: dict[str, Any] | None = None,
):
    """A Tuner of this sweep's trainable: stop at the budget, checkpoints by objective.

    Tune's result files are kept (``result.json``, ``progress.csv``); its TensorBoard
    logger and, unless ``logging.console=verbose``, its trial tables are left out.
    """
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    sweep = settings.sweep
    if settings.storage_is_local:
        Path(settings.storage_path).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # the loggers come below
    if settings.logging.console == "normal":  # the console shows progress, not Ray's reporter
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    tune_config.metric, tune_config.mode = OBJECTIVE, sweep.mode
    tune_config.trial_name_creator = tune_config.trial_dirname_creator = _trial_name
    run_config = tune.RunConfig(
        name=name,
        storage_path=settings.storage_path,
        stop={**settings.stop, **trial_budget(settings).stop_rule()},
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=sweep.checkpoint.num_to_keep,
            checkpoint_score_attribute=OBJECTIVE,
            checkpoint_score_order=sweep.mode,
            checkpoint_frequency=sweep.checkpoint.frequency,
            checkpoint_at_end=True,
        ),
        failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
        callbacks=[*callbacks, JsonLoggerCallback(), CSVLoggerCallback()],
        verbose=settings.logging.tune_verbose if settings.logging.console == "verbose" else 0,
    )
    return tune.Tuner(
        make_trainable(settings),
        param_space=param_space or {},
        tune_config=tune_config,
        run_config=run_config,
    )


def _console(settings: Settings, title: str, planned: int | None = None) -> SweepConsole:
    """Progress on the terminal: a live table (not beside Ray's own, in verbose mode)."""
    live = None if settings.logging.console == "normal" else False
    planned = planned or settings.sweep.num_samples
    return SweepConsole(title, planned, trial_budget(settings), settings.sweep.mode, live=live)


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
