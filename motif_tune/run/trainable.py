"""The Tune trainable: the chosen RLlib Algorithm, fed a trial's searched values.

Tune's config for a trial holds only the searched values under readable names
(``rollout_fragment_length``, ``train_batch_size``, …). The trainable applies
them to the composed settings, validates once more, and builds the full
``AlgorithmConfig``. So Tune, Optuna and MLflow see a handful of meaningful
parameters instead of RLlib's 300 keys, and no RLlib-internal names
(``_train_batch_size_per_learner``) leak into results.
"""

from __future__ import annotations

import math
from typing import Any

from motif_tune.config import Settings
from motif_tune.results import nested_get, nested_set
from motif_tune.rllib.builder import algorithm_class, build_algorithm_config
from motif_tune.search.params import trial_settings


def make_trainable(base: Settings) -> type:
    """A subclass of the configured RLlib Algorithm that builds its config from ``base``."""
    algo_cls = algorithm_class(base.algo.name)
    metric = base.sweep.metric

    class MotifTrial(algo_cls):  # type: ignore[misc, valid-type]
        @classmethod
        def default_resource_request(cls, config: Any):
            try:
                values = {k: v for k, v in dict(config or {}).items() if not k.startswith("__")}
                algo_config = build_algorithm_config(trial_settings(base, values))
            except Exception:  # the trial itself reports the error, not Tune's controller
                algo_config = build_algorithm_config(base)
            return algo_cls.default_resource_request(algo_config.to_dict())

        def __init__(self, config: Any = None, **kwargs: Any) -> None:
            self._searched = {k: v for k, v in dict(config or {}).items() if not k.startswith("__")}
            algo_config = build_algorithm_config(trial_settings(base, self._searched))
            super().__init__(config=algo_config, **kwargs)

        def train(self) -> dict:
            """One iteration; the objective is always present (carried forward, else NaN).

            An iteration in which no episode finished (an env runner crashed and was
            restarted, say) reports no episode return. Tune would treat that as a
            misspelled metric and end the whole sweep; the last value stands in instead.
            """
            result = super().train()
            result["node_id"] = _node_id()  # which node of the cluster ran this trial
            value = nested_get(result, metric)
            if value is None:
                nested_set(result, metric, getattr(self, "_last_objective", math.nan))
            else:
                self._last_objective = value
            return result

        def get_auto_filled_metrics(self, *args: Any, **kwargs: Any) -> dict:
            """Report the searched values as the trial's config, not RLlib's 300 keys."""
            from ray.tune.trainable import Trainable

            filled = Trainable.get_auto_filled_metrics(self, *args, **kwargs)
            filled["config"] = dict(self._searched)
            return filled

    MotifTrial.__name__ = MotifTrial.__qualname__ = algo_cls.__name__
    return MotifTrial


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()
