"""A fresh evaluation of this sweep's winner and the registered champion, when the
champion answers the same question but was scored another way: both play this sweep's
scoring episodes (greedy, the same seeds) while Ray still runs."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from motif_tune.errors import ConfigError
from motif_tune.pipeline.plan import SweepPlan
from motif_tune.rllib.checkpoints import CheckpointSource, checkpoint_folder
from motif_tune.rllib.evaluation import evaluate_checkpoint, evaluation_config, evaluation_metrics
from motif_tune.search.ranking import Selection
from motif_tune.search.standing import needs_fresh_evaluation, standing_of

if TYPE_CHECKING:
    from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)


def contest_afresh(
    plan: SweepPlan, sweep_run: SweepRun, selection: Selection
) -> tuple[float, float] | None:
    """(winner, champion) scored on this sweep's evaluation, when only that compares
    them; None otherwise (or when either cannot be scored: then the champion stays)."""
    from motif_tune.tracking.artifacts import download_model_version
    from motif_tune.tracking.registry import champion_standing

    settings = plan.settings
    model = settings.tracking.registered_model
    standing = standing_of(settings, selection)
    checkpoint = selection.best_checkpoint
    if not model or standing is None or checkpoint is None:
        return None
    held = champion_standing(sweep_run.client, model)
    if held is None or not needs_fresh_evaluation(standing, held[1]):
        return None
    version, _ = held
    try:
        theirs = download_model_version(settings, model, version)
        mine = CheckpointSource(checkpoint, checkpoint_folder(Path(checkpoint), checkpoint))
        scores = (_score(plan, mine), _score(plan, theirs))
    except (ConfigError, RuntimeError, ValueError, KeyError) as err:
        log.warning("Version %s of %s could not be evaluated afresh: %s", version, model, err)
        return None
    log.info(
        "Fresh evaluation: this sweep's winner %s, version %s %s.", scores[0], version, scores[1]
    )
    return scores


def _score(plan: SweepPlan, source: CheckpointSource) -> float:
    settings = plan.settings
    objective = settings.sweep.objective
    config = evaluation_config(
        settings, objective.episodes, num_envs=objective.num_envs, seed=objective.seed
    )
    run_dir = Path(settings.storage_path) / f"{settings.run_name}-contest"
    results = evaluate_checkpoint(config, source, run_dir)
    names = tuple(m.name for m in settings.env.metrics)
    metric = settings.sweep.metric.removeprefix("env_runners/")
    return evaluation_metrics(results, names).get(metric, math.nan)
