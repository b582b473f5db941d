"""A stand-in for the RLlib trainable, for driving the control plane at scale.

Each iteration sleeps for the given interval and reports a result shaped like
one of PPO on the motif env (``rllib_result.json``: a real result, its keys and
nesting, without the auto-filled and config keys) with the numbers the
project reads filled in: ``objective``, the episode returns and task metrics,
the lifetime env steps and the learner's losses. Its score is a smooth
function of the searched values plus noise, so TPE and ASHA have something to
work with. It checkpoints like a trainable (its iteration and step count) and
can be reused for the next trial, so a few hundred fit on two cores when each
asks for a hundredth of a CPU.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("rllib_result.json")
REPORTED_AT = "standin_reported_at"
# Where the stand-in's score peaks (the motif task's best sweeps land near these).
BEST_FRAGMENT, BEST_BATCH = 24.0, 300.0


def quality(values: dict[str, Any]) -> float:
    """How good a trial's searched values are, in [0, 1]."""
    fragment = float(values.get("rollout_fragment_length", BEST_FRAGMENT))
    batch = float(values.get("train_batch_size", BEST_BATCH))
    distance = math.log(fragment / BEST_FRAGMENT) ** 2 + math.log(batch / BEST_BATCH) ** 2
    return math.exp(-distance / 2)


def make_standin(
    interval_s: float,
    steps_per_iteration: int,
    cpus: float = 0.01,
    gate: Path | None = None,
    gate_timeout_s: float = 600.0,
) -> Any:
    """A Tune trainable (with its resource request) that reports every ``interval_s``.

    With a ``gate`` file, a trial's first iteration also waits until the file exists
    (at most ``gate_timeout_s``): the driver makes it once all its trials run, so a
    sweep starts its measured part with every slot's actor started.
    """
    import ray.cloudpickle
    from ray import tune
    from ray.tune import Trainable

    # Workers unpickle the class by value: they need not find this folder on their path.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    template = json.loads(TEMPLATE.read_text())

    class StandInTrial(Trainable):
        def setup(self, config: dict) -> None:
            self._quality = quality(config)
            self._random = random.Random(f"{self.trial_id}")
            self._steps = 0

        def step(self) -> dict:
            if gate is not None and self.iteration == 0:
                _wait_for(gate, gate_timeout_s)
            time.sleep(interval_s)
            self._steps += steps_per_iteration
            return standin_result(
                template, self._quality, self.iteration + 1, self._steps, self._random
            )

        def save_checkpoint(self, checkpoint_dir: str) -> dict:
            return {"steps": self._steps}

        def load_checkpoint(self, checkpoint: dict) -> None:
            self._steps = int(checkpoint["steps"])

        def reset_config(self, new_config: dict) -> bool:
            self.setup(new_config)
            return True

    return tune.with_resources(StandInTrial, {"cpu": cpus})


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def standin_result(
    template: dict, quality_: float, iteration: int, steps: int, rng: random.Random
) -> dict:
    """One iteration's result: the template with the numbers the project reads."""
    result = copy.deepcopy(template)
    learned = 0.8 * quality_ * (1 - math.exp(-iteration / 3))
    mean = learned + rng.gauss(0, 0.02)
    runners = result["env_runners"]
    runners.update(
        episode_return_mean=mean,
        episode_return_min=mean - 0.5,
        episode_return_max=min(mean + 0.4, 1.0),
        match_accuracy=min(max(0.2 + mean, 0.0), 1.0),
        score_margin=mean - 0.3,
        num_env_steps_sampled_lifetime=float(steps),
        env_faults=0.0,
    )
    learner = result["learners"]["default_policy"]
    loss = 1.0 / (1 + iteration) + rng.random() * 0.01
    learner.update(total_loss=loss, policy_loss=-loss / 10, vf_loss=loss, entropy=1.0 - mean)
    result["num_env_steps_sampled_lifetime"] = float(steps)
    result["objective"] = mean
    result["node_id"] = os.uname().nodename
    result[REPORTED_AT] = time.time()  # the driver's lag behind its trials starts here
    return result
