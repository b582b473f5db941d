"""The search space only yields trials RLlib accepts."""

from __future__ import annotations

import optuna
import pytest

from motif_tune.errors import ConfigError
from motif_tune.pipeline.plan import fit_to_cluster, plan_sweep
from motif_tune.rllib.builder import build_algorithm_config
from motif_tune.rllib.checks import batch_is_consistent
from motif_tune.runtime.ray_session import local_cpus
from motif_tune.runtime.resources import fits, local_cluster, needs_of
from motif_tune.search.params import MINIBATCH_SIZE, searched_values, trial_settings
from motif_tune.search.space import SearchSpace, snap_batch
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


SHIPPED = [
    (sweep, scaling)
    for sweep in ("default", "smoke", "algo", "gpu_packing")
    for scaling in ("local", "logical_gpus")
    if not (sweep == "gpu_packing" and scaling == "local")
]


@pytest.mark.parametrize("sweep,scaling", SHIPPED)
def test_every_sampled_trial_passes_rllib_validation_and_fits(sweep, scaling):
    """Thousands of trials from each shipped sweep: RLlib validates each, each fits the cluster.

    What RLlib validates here is a trial's fragment, envs per runner, batch and minibatch;
    distinct combination among the samples (56 to about 1,200 of the 2,000) is
    validated once (the minibatch size too, where a sweep searches it)."""
    settings = settings_for([f"sweep={sweep}", f"scaling={scaling}"])
    space = SearchSpace(settings)
    base = build_algorithm_config(settings)
    cluster = local_cluster(settings, local_cpus(settings))
    samples = _sample(space, 2000)
    validated: set[tuple[int, int, int, int]] = set()
    for values in samples:
        fragment, batch = values["rollout_fragment_length"], values["train_batch_size"]
        envs = values.get("num_envs_per_env_runner", base.num_envs_per_env_runner)
        minibatch = values.get(MINIBATCH_SIZE, base.minibatch_size)
        if (fragment, envs, batch, minibatch) in validated:
            continue
        config = base.copy(copy_frozen=False)
        config.env_runners(rollout_fragment_length=fragment, num_envs_per_env_runner=envs)
        config.training(train_batch_size_per_learner=batch, minibatch_size=minibatch)
        config.validate()  # RLlib's own checks, the batch and minibatch rules among them
        validated.add((fragment, envs, batch, minibatch))
    # The full path a trial takes (settings -> AlgorithmConfig -> resources), on a subset.
    unique = {tuple(sorted(v.items())) for v in samples}
    for key in sorted(unique)[:: max(len(unique) // 40, 1)]:
        values = dict(key)
        build_algorithm_config(trial_settings(settings, values)).validate()
        assert fits(needs_of(settings, values), cluster, cluster), values


def test_workers_per_gpu_sets_gpus_per_runner_and_packs_on_logical_gpus():
    settings = settings_for(["sweep=gpu_packing", "scaling=logical_gpus"])
    for workers, expected in ((1, 1.0), (2, 0.5), (4, 0.25)):
        config = build_algorithm_config(trial_settings(settings, {"workers_per_gpu": workers}))
        assert config.num_gpus_per_env_runner == 0
        assert config.custom_resources_per_env_runner == {"logical_gpu": expected}
        need = needs_of(settings, {"workers_per_gpu": workers})
        # two runners at 1/workers logical GPU each, plus the learner's one
        assert need.amounts["logical_gpu"] == pytest.approx(1 + 2 * expected)


def test_a_sweep_that_cannot_be_scheduled_is_refused():
    settings = settings_for(["sweep=gpu_packing", "scaling=logical_gpus"])
    cluster = {"CPU": 4.0, "logical_gpu": 2.0}
    with pytest.raises(ConfigError, match=r"workers_per_gpu=1.* needs 3 logical_gpu"):
        fit_to_cluster(plan_sweep(settings), cluster)
    gpu_box = settings_for(["sweep=default", "scaling=local_gpu"])
    with pytest.raises(ConfigError, match="This cluster has no GPU"):
        fit_to_cluster(plan_sweep(gpu_box), {"CPU": 2.0, "GPU": 0.0})


def test_the_default_sweep_searches_minibatch_and_epochs_for_ppo_only():
    """PPO's minibatch size and epochs set its gradient steps per env step; APPO rejects a
    minibatch that is not a multiple of the (searched) fragment, so it keeps its own."""
    epochs = "algo.training.num_epochs"
    assert {MINIBATCH_SIZE, epochs} <= set(settings_for(["sweep=default"]).sweep.space)
    appo = settings_for(["sweep=default", "algo=appo"]).sweep.space
    assert set(appo) == {"rollout_fragment_length", "train_batch_size"}
    for values in _sample(SearchSpace(settings_for(["sweep=default"])), 200):
        assert values[MINIBATCH_SIZE] in (32, 64, 128) and 2 <= values[epochs] <= 10
        assert values[MINIBATCH_SIZE] <= values["train_batch_size"]


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["sweep.space.train_batch_size.low=64"],
            r"sweep.space.algo.training.minibatch_size \(up to 128\) exceeds "
            r"sweep.space.train_batch_size low \(64\)",
        ),
        (
            ["sweep=smoke", "algo.training.minibatch_size=512"],
            r"^algo.training.minibatch_size \(up to 512\) exceeds "
            r"sweep.space.train_batch_size low \(128\)",
        ),
    ],
)
def test_a_minibatch_larger_than_a_batch_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace(settings_for(overrides))


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


def test_a_trials_searched_values_leave_out_the_keys_tune_adds():
    config = {"train_batch_size": 512, "seed": 2, "__trial_index__": 3}
    assert searched_values(config) == {"train_batch_size": 512, "seed": 2}
    assert searched_values(None) == {}
