"""The Tune trainable: the chosen RLlib Algorithm, fed a trial's searched values,
scored by one ``objective`` in every result.

Tune's config for a trial holds only the searched values under readable names
(``rollout_fragment_length``, ``train_batch_size``, …; ``seed`` for
verification). The trainable applies them to the composed settings and builds
the full ``AlgorithmConfig``. So Tune, Optuna and MLflow see a handful of
meaningful parameters instead of RLlib's 300 keys, and no RLlib-internal names
(``_train_batch_size_per_learner``) leak into results.

Each result carries the trial's score under ``objective``
(:class:`motif_tune.search.trial.Scorer`) and what it cost so far
(:mod:`motif_tune.search.cost`). A search trial of a seed group
(``sweep.seeds_per_trial``) is a :class:`motif_tune.pipeline.seed_group` trial.
"""

from __future__ import annotations

from typing import Any

from motif_tune.config import Settings
from motif_tune.pipeline.restoring import (
    ended_on_restore,
    existing_checkpoint,
    spent_its_budget,
)
from motif_tune.results import OBJECTIVE
from motif_tune.rllib.builder import algorithm_class
from motif_tune.search.budget import Budget
from motif_tune.search.params import searched_values
from motif_tune.search.reporting import Reporter
from motif_tune.search.trial import Scorer, trial_config, trial_placement


def make_trainable(base: Settings, budget: Budget, seeds: int = 1) -> type:
    """A subclass of the configured RLlib Algorithm that builds its config from ``base``
    and stops being scored at ``budget`` (per seed); with ``seeds`` > 1 a trial that
    trains that many seeds of its configuration (a seed group)."""
    if seeds > 1:
        from motif_tune.pipeline.seed_group import make_seed_group

        return make_seed_group(base, budget, seeds)
    if base.sweep.scheduler.population_based:
        from motif_tune.pipeline.scheduled_trial import make_scheduled_trial

        return make_scheduled_trial(base, budget)
    algo_cls = algorithm_class(base.algo.name)

    class MotifTrial(algo_cls):  # type: ignore[misc, valid-type]
        @classmethod
        def default_resource_request(cls, config: Any):
            return trial_placement(base, algo_cls, config)

        def __init__(self, config: Any = None, **kwargs: Any) -> None:
            self._spent = False  # restored from the checkpoint that ended its budget
            self._searched = searched_values(config)
            self._scorer = Scorer(base.sweep.metric, base.sweep.objective, budget)
            self._report = Reporter(base)
            super().__init__(config=trial_config(base, self._searched), **kwargs)

        def train(self) -> dict:
            """One iteration, its score under ``objective`` (and the evaluation, when one ran).

            RLlib repeats the last evaluation's numbers in later results; they are
            dropped, so an ``evaluation/`` key always means an evaluation of this
            iteration. Evaluation time is not counted in ``time_total_s``.
            """
            if self._spent:  # restored at the end of its budget
                return ended_on_restore()
            result = self._report.checked(super().train())
            result[OBJECTIVE] = self._scorer.score(result, self.evaluate)
            result.update(
                self._report.cost(result, self.trial_resources, type(self), self._searched)
            )
            return result

        def restore(self, checkpoint_path: Any) -> None:
            """Restore, from the newest checkpoint on disk when Tune's saved state names
            one it has since deleted (a driver killed between Tune keeping a newer
            checkpoint and saving its state); RLlib's state restores the iteration. A
            trial restored at the end of its budget trains no further."""
            saved = existing_checkpoint(checkpoint_path)
            self._spent = spent_its_budget(saved, budget)
            super().restore(saved)

        def reset_config(self, new_config: dict) -> bool:
            """Take Tune's next trial in this process: RLlib cannot change an Algorithm's
            config in place, so this one is stopped and built again, as a new process
            would build it; what the reuse saves is the process and its imports."""
            storage = self._storage
            self.cleanup()
            type(self).__init__(self, config=new_config, storage=storage)
            return True

        def get_auto_filled_metrics(self, *args: Any, **kwargs: Any) -> dict:
            """Report the searched values as the trial's config, not RLlib's 300 keys."""
            from ray.tune.trainable import Trainable

            filled = Trainable.get_auto_filled_metrics(self, *args, **kwargs)
            filled["config"] = dict(self._searched)
            return filled

    MotifTrial.__name__ = MotifTrial.__qualname__ = algo_cls.__name__
    return MotifTrial
