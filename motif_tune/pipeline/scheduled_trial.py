"""A trial whose training values change as it trains: a member of a population-based
sweep, or the replay of a member's schedule on a fresh seed.

The trial holds one RLlib Algorithm. Its values change the one way population-based
training changes them: the Algorithm is checkpointed, built again with the new
values and restored, and its optimizers are given the new learning rate (RLlib's
restore puts the saved one back). Tune does the first two for a member when it
copies another's checkpoint (a new trial process with the perturbed config);
a replay does them itself at each step its schedule names.

Each checkpoint is the Algorithm's own, with the trial's schedule beside it
(``schedule.json``: who wrote it, at which step), so a member that copies another
knows what it copied, and every report says which values it trains with
(``values/<name>``, read back from RLlib: the lr from the optimizer), its
schedule so far, and, in the first report after an exploit, the trial it copied
and the step.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from motif_tune.compat.ray import build_algorithm_in
from motif_tune.config import Settings
from motif_tune.pipeline.reporting import TRIAL_COUNTERS, Reporter
from motif_tune.pipeline.restoring import existing_checkpoint
from motif_tune.results import OBJECTIVE
from motif_tune.rllib.builder import algorithm_class
from motif_tune.rllib.mutation import sync_learning_rate, trained_values
from motif_tune.search.budget import Budget
from motif_tune.search.params import SEED, searched_values
from motif_tune.search.schedule import (
    EXPLOIT_SOURCE,
    EXPLOIT_STEP,
    SCHEDULE,
    VALUES_PREFIX,
    Schedule,
)
from motif_tune.search.trial import Scorer, trial_config, trial_placement

log = logging.getLogger(__name__)

SCHEDULE_FILE = "schedule.json"
ALGO_FOLDER = "algo"


def make_scheduled_trial(base: Settings, budget: Budget) -> type:
    """The Tune trainable of a population member or a schedule replay (its config holds
    ``schedule``, a JSON :class:`Schedule`, and its ``seed``)."""
    from ray.tune import Trainable

    algo_cls = algorithm_class(base.algo.name)

    class ScheduledTrial(Trainable):
        @classmethod
        def default_resource_request(cls, config: Any):
            return trial_placement(base, algo_cls, _first_values(config))

        def setup(self, config: dict) -> None:
            searched = searched_values(config)
            self._replay = Schedule.from_json(searched[SCHEDULE]) if SCHEDULE in searched else None
            self._seed = searched.get(SEED)
            self._values = self._replay.initial if self._replay else _without_seed(searched)
            self._schedule = Schedule.starting(self._values)
            self._names = [n for n, spec in base.sweep.space.items() if spec.mutable]
            self._report = Reporter(base)
            self._scorer = Scorer(base.sweep.metric, base.sweep.objective, budget)
            self._progress = 0.0
            self._exploit: tuple[str, float] | None = None
            self._algo = self._build(self._values)

        def _build(self, values: dict[str, Any]) -> Any:
            config_values = dict(values) | ({SEED: self._seed} if self._seed is not None else {})
            return build_algorithm_in(
                trial_config(base, config_values), Path(self.logdir) / ALGO_FOLDER
            )

        def step(self) -> dict:
            # What this iteration trains with, read before it trains: after a restore the
            # optimizer's lr is the one it updates with first.
            values = trained_values(self._algo, self._names)
            result = {k: v for k, v in self._algo.train().items() if k not in TRIAL_COUNTERS}
            result[VALUES_PREFIX.rstrip("/")] = values
            result = self._report.checked(result)
            result[OBJECTIVE] = self._scorer.score(result, self._algo.evaluate)
            self._progress = float(result.get(budget.result_key) or 0.0)
            return result

        def train(self) -> dict:
            result = super().train()
            self._progress = float(result.get(budget.result_key) or self._progress)
            result.update(self._report.cost(result, self.trial_resources, type(self), self.config))
            result[SCHEDULE] = self._schedule.to_json()
            if self._exploit is not None:
                result[EXPLOIT_SOURCE], result[EXPLOIT_STEP] = self._exploit
                self._exploit = None
            if self._replay is not None:
                self._follow_replay()
            return result

        def _follow_replay(self) -> None:
            """Past a step the replayed schedule names: train on with its values there."""
            wanted = self._replay.values_at(self._progress)
            if wanted != self._values:
                with tempfile.TemporaryDirectory(prefix="replay-") as folder:
                    self._algo.save_to_path(folder)
                    self._restart(wanted, folder)
                self._schedule = self._schedule.copied(self._progress, wanted, self.trial_id)

        def _restart(self, values: dict[str, Any], checkpoint: str) -> None:
            """The Algorithm built again with ``values``, its state from ``checkpoint``."""
            self._algo.stop()
            self._values = dict(values)
            self._algo = self._build(self._values)
            self._algo.restore_from_path(checkpoint)
            sync_learning_rate(self._algo)
            # Scored afresh at the first report after a change (as after any restore).
            self._scorer = Scorer(base.sweep.metric, base.sweep.objective, budget)

        def restore(self, checkpoint_path: Any) -> None:
            """Restore, from the newest checkpoint on disk when Tune's saved state names
            one it has since deleted (as the search's trials do)."""
            super().restore(existing_checkpoint(checkpoint_path))

        def save_checkpoint(self, checkpoint_dir: str) -> None:
            self._algo.save_to_path(checkpoint_dir)
            kept = {"trial": self.trial_id, "step": self._progress, "schedule": None}
            kept["schedule"] = self._schedule.to_json()
            (Path(checkpoint_dir) / SCHEDULE_FILE).write_text(json.dumps(kept))

        def load_checkpoint(self, checkpoint_dir: str) -> None:
            kept = _kept_schedule(checkpoint_dir)
            step = float(kept.get("step") or 0.0)
            theirs = Schedule.from_json(kept["schedule"]) if kept.get("schedule") else None
            writer = kept.get("trial")
            # A replay's values at that step; a member's: what Tune configured (perturbed,
            # after an exploit).
            wanted = self._replay.values_at(step) if self._replay is not None else self._values
            if wanted != self._values:
                self._restart(wanted, checkpoint_dir)
            else:
                self._algo.restore_from_path(checkpoint_dir)
                sync_learning_rate(self._algo)
                self._scorer = Scorer(base.sweep.metric, base.sweep.objective, budget)
            self._progress = step
            if theirs is None:
                return
            if writer and writer != self.trial_id and self._replay is None:
                # An exploit: this member copied ``writer``'s checkpoint at ``step``.
                self._schedule = theirs.copied(step, self._values, writer)
                self._exploit = (writer, step)
                log.info("Copied %s at %s; training with %s.", writer, step, self._values)
            else:
                self._schedule = theirs

        def cleanup(self) -> None:
            self._algo.stop()

        def get_auto_filled_metrics(self, *args: Any, **kwargs: Any) -> dict:
            filled = super().get_auto_filled_metrics(*args, **kwargs)
            filled["config"] = searched_values(self.config)
            return filled

    ScheduledTrial.__name__ = ScheduledTrial.__qualname__ = f"{algo_cls.__name__}Scheduled"
    return ScheduledTrial


def _first_values(config: Any) -> dict[str, Any]:
    """The values a trial with Tune's ``config`` starts with (a replay: its schedule's
    first), with its seed."""
    searched = searched_values(config)
    if SCHEDULE in searched:
        values = Schedule.from_json(searched.pop(SCHEDULE)).initial
        return values | ({SEED: searched[SEED]} if SEED in searched else {})
    return searched


def _kept_schedule(checkpoint_dir: str) -> dict[str, Any]:
    path = Path(checkpoint_dir) / SCHEDULE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _without_seed(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != SEED}
