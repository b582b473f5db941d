"""``scaling.env_runners.explore``: on-policy algorithms train with it off (greedy actions
with their probabilities under the policy) and with it on (sampled actions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from motif_tune.rllib.greedy import GreedyActions
from tests.conftest import settings_for

QUIET = ["logging.level=WARNING"]


class _Gaussian:
    """The distribution lookup of an RLModule with a diagonal-Gaussian policy."""

    def get_exploration_action_dist_cls(self):
        from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian

        return TorchDiagGaussian


def test_greedy_actions_are_the_mode_with_its_log_probability():
    from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian

    inputs = torch.tensor([[0.5, -1.0, 0.0, 0.0], [2.0, 0.3, -0.5, 0.1]])  # means, log stds
    batch = GreedyActions()(
        rl_module=_Gaussian(),
        batch={Columns.ACTION_DIST_INPUTS: inputs},
        episodes=[],
        explore=False,
    )
    assert torch.equal(batch[Columns.ACTIONS], inputs[:, :2])
    expected = TorchDiagGaussian.from_logits(inputs).logp(inputs[:, :2])
    assert batch[Columns.ACTION_LOGP].shape == (2,)  # one per action, as the learner needs
    assert torch.allclose(batch[Columns.ACTION_LOGP], expected)


def test_exploring_runners_are_left_to_rllib():
    batch = {Columns.ACTION_DIST_INPUTS: torch.zeros(3, 4)}
    out = GreedyActions()(rl_module=_Gaussian(), batch=dict(batch), episodes=[], explore=True)
    assert Columns.ACTIONS not in out


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "appo"])
def test_on_policy_algorithms_train_with_explore_off_and_on(algo, isolated_runs):
    from motif_tune.compat.ray import build_algorithm_in
    from motif_tune.results import flatten
    from motif_tune.rllib.builder import build_algorithm_config
    from motif_tune.runtime.ray_session import start_ray

    losses = {}
    for explore in (False, True):
        overrides = [f"algo={algo}", f"scaling.env_runners.explore={str(explore).lower()}"]
        settings = settings_for([*overrides, "algo.training.train_batch_size_per_learner=256"])
        start_ray(settings)
        algo_run = build_algorithm_in(
            build_algorithm_config(settings), isolated_runs / f"{algo}-{explore}"
        )
        try:
            results = [flatten(algo_run.train()) for _ in range(2)]
            episodes = algo_run.env_runner.sample(num_timesteps=64, explore=explore)
        finally:
            algo_run.stop()
        loss = results[-1]["learners/default_policy/policy_loss"]
        assert math.isfinite(loss), results[-1]
        assert results[-1]["env_runners/num_env_steps_sampled_lifetime"] >= 256
        logp = np.concatenate([e.get_extra_model_outputs(Columns.ACTION_LOGP) for e in episodes])
        assert np.all(np.isfinite(logp)) and np.all(logp < 0)  # true log-probabilities
        losses[explore] = loss
    assert set(losses) == {False, True}
