"""The search space only yields trials RLlib accepts."""

from __future__ import annotations

import optuna
import pytest

from motif_tune.algorithm import batch_is_consistent
from motif_tune.errors import ConfigError
from motif_tune.search import SearchSpace, snap_batch
from tests.conftest import settings_for

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sample(space: SearchSpace, n: int, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trials = []
    for _ in range(n):
        trial = study.ask()
        trials.append(space(trial))
        study.tell(trial, 0.0)
    return trials


@pytest.mark.parametrize("sweep", ["default", "smoke"])
def test_thousands_of_samples_respect_the_batch_rule(sweep):
    settings = settings_for([f"sweep={sweep}"])
    space = SearchSpace(settings)
    spec = settings.sweep.space
    envs = settings.scaling.env_runners["num_envs_per_env_runner"]
    runners = max(settings.scaling.env_runners["num_env_runners"], 1)
    for values in _sample(space, 2000):
        fragment, batch = values["rollout_fragment_length"], values["train_batch_size"]
        assert (
            spec["rollout_fragment_length"].low <= fragment <= spec["rollout_fragment_length"].high
        )
        assert spec["train_batch_size"].low <= batch <= spec["train_batch_size"].high
        assert batch % (fragment * envs * runners) == 0
        assert batch_is_consistent(batch, fragment * envs * runners)


def test_same_seed_same_trials():
    space = SearchSpace(settings_for(["sweep=default"]))
    assert _sample(space, 20, seed=3) == _sample(space, 20, seed=3)
    assert _sample(space, 20, seed=3) != _sample(space, 20, seed=4)


def test_a_fragment_range_above_the_batch_range_is_refused():
    with pytest.raises(ConfigError, match="rollout_fragment_length low .* exceeds"):
        SearchSpace(
            settings_for(
                [
                    "sweep=smoke",
                    "sweep.space.rollout_fragment_length.low=512",
                    "sweep.space.rollout_fragment_length.high=1024",
                ]
            )
        )


@pytest.mark.parametrize(
    "requested,unit,low,high,expected",
    [
        (300, 64, 256, 512, 320),
        (1000, 256, 256, 2048, 1024),
        (200, 64, 128, 256, 192),
        (10, 64, 1, 50, 64),
    ],
)
def test_snap_batch(requested, unit, low, high, expected):
    assert snap_batch(requested, unit, low, high) == expected
