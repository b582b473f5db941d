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
import time
from pathlib import Path
from typing import Any

from motif_tune.compat.ray import build_algorithm_in
from motif_tune.config import Settings
from motif_tune.pipeline.restoring import SetUpAgainOnReset, existing_checkpoint
from motif_tune.results import OBJECTIVE
from motif_tune.rllib.builder import algorithm_class
from motif_tune.rllib.mutation import sync_learning_rate, trained_values
from motif_tune.search.budget import RESULT_KEYS, Budget
from motif_tune.search.params import SEED, searched_values
from motif_tune.search.reporting import TRIAL_COUNTERS, Reporter
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

    def new_scorer() -> Scorer:  # at the start, and afresh after every restore
        return Scorer(base.sweep.metric, base.sweep.objective, budget)

    class ScheduledTrial(SetUpAgainOnReset, Trainable):
        @classmethod
        def default_resource_request(cls, config: Any):
            _, values, seed = _starting_point(config)
            return trial_placement(base, algo_cls, values | seed)

        def setup(self, config: dict) -> None:
            self._replay, self._values, self._seed = _starting_point(config)
            self._schedule = Schedule.starting(self._values)
            self._names = [n for n, spec in base.sweep.space.items() if spec.mutable]
            self._report = Reporter(base)
            self._scorer = new_scorer()
            self._progress = 0.0
            self._exploit: tuple[str, float] | None = None
            self._algo = self._build(self._values)

        def _build(self, values: dict[str, Any]) -> Any:
            config = trial_config(base, values | self._seed)
            return build_algorithm_in(config, Path(self.logdir) / ALGO_FOLDER)

        def step(self) -> dict:
            # What this iteration trains with, read before it trains: after a restore the
            # optimizer's lr is the one it updates with first.
            values = trained_values(self._algo, self._names)
            before, started = self.get_state(), time.monotonic()
            result = {k: v for k, v in self._algo.train().items() if k not in TRIAL_COUNTERS}
            result[VALUES_PREFIX.rstrip("/")] = values
            result = self._report.checked(result)
            # Scored at this trial's own counters, as Tune is about to report them (the
            # Algorithm's restart with every rebuild): a budget in iterations or seconds
            # reaches its comparison points and its end here as it does in Tune.
            counters = {
                RESULT_KEYS["iterations"]: before["iteration"] + 1,
                RESULT_KEYS["time_s"]: before["time_total"] + time.monotonic() - started,
            }
            progress = counters.get(budget.result_key)  # env steps: the result holds them
            result[OBJECTIVE] = self._scorer.score(result, self._algo.evaluate, progress)
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
                    self._rebuild(wanted)
                    self._restore_state(folder)
                self._schedule = self._schedule.copied(self._progress, wanted, self.trial_id)

        def _rebuild(self, values: dict[str, Any]) -> None:
            """The Algorithm built again with ``values`` (its state restored next)."""
            self._algo.stop()
            self._values = dict(values)
            self._algo = self._build(self._values)

        def _restore_state(self, checkpoint: str) -> None:
            """The Algorithm's state from ``checkpoint``, its optimizers at the lr of its
            own config (RLlib's restore puts the saved one back), scored afresh."""
            self._algo.restore_from_path(checkpoint)
            sync_learning_rate(self._algo)
            self._scorer = new_scorer()

        def restore(self, checkpoint_path: Any) -> None:
            """Restore, from the newest checkpoint on disk when Tune's saved state names
            one it has since deleted (as the search's trials do)."""
            super().restore(existing_checkpoint(checkpoint_path))

        def save_checkpoint(self, checkpoint_dir: str) -> None:
            self._algo.save_to_path(checkpoint_dir)
            schedule = self._schedule.to_json()
            kept = {"trial": self.trial_id, "step": self._progress, "schedule": schedule}
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
                self._rebuild(wanted)
            self._restore_state(checkpoint_dir)
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

    algo_cls = algorithm_class(base.algo.name)
    ScheduledTrial.__name__ = ScheduledTrial.__qualname__ = f"{algo_cls.__name__}Scheduled"
    return ScheduledTrial


def _starting_point(config: Any) -> tuple[Schedule | None, dict[str, Any], dict[str, Any]]:
    """What a trial with Tune's ``config`` starts from: the schedule it replays (None: a
    population member), the values it starts with, and its seed (``{seed: n}`` or none)."""
    searched = searched_values(config)
    seed = {SEED: searched.pop(SEED)} if SEED in searched else {}
    replay = Schedule.from_json(searched.pop(SCHEDULE)) if SCHEDULE in searched else None
    return replay, replay.initial if replay else searched, seed


def _kept_schedule(checkpoint_dir: str) -> dict[str, Any]:
    path = Path(checkpoint_dir) / SCHEDULE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
