"""MotifMetricsCallback: episode metrics from step infos, in a real (tiny) PPO run."""

from __future__ import annotations

import numpy as np
import pytest
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.postprocessing.episodes import add_one_ts_to_episodes_and_truncate

from motif_tune.envs.motif_metrics import MATCH_ACCURACY, SCORE_MARGIN, episode_means
from tests.conftest import settings_for


def _episode(infos: list[dict]) -> SingleAgentEpisode:
    episode = SingleAgentEpisode()
    episode.add_env_reset(observation=np.zeros(2), infos={})
    for info in infos:
        episode.add_env_step(observation=np.zeros(2), action=0, reward=0.0, infos=info)
    return episode


def _chunks() -> list[SingleAgentEpisode]:
    """One episode of 3 steps, sampled as two chunks (cut after 2 steps)."""
    first = _episode([{"match": 1.0, "margin": 0.5}, {"match": 0.0, "margin": -0.5}])
    rest = first.cut(len_lookback_buffer=1)
    rest.add_env_step(
        observation=np.zeros(2),
        action=0,
        reward=0.0,
        infos={"match": 1.0, "margin": 1.0},
        terminated=True,
    )
    return [rest, first]


def test_episode_means_count_each_step_once_across_chunks() -> None:
    means = episode_means(_chunks())
    assert means[MATCH_ACCURACY] == pytest.approx(2 / 3)
    assert means[SCORE_MARGIN] == pytest.approx(1 / 3)


def test_bootstrap_step_added_by_a_learner_is_not_counted() -> None:
    """PPO's learner connector appends a copy of a chunk's last step in place;
    with num_env_runners=0 the runner still holds that chunk."""
    rest, first = _chunks()
    add_one_ts_to_episodes_and_truncate([first])
    assert len(first) == 3
    means = episode_means([rest, first])
    assert means[MATCH_ACCURACY] == pytest.approx(2 / 3)


def test_envs_without_motif_infos_log_nothing() -> None:
    assert episode_means([_episode([{}, {"other": 1}])]) == {}


def _tiny_ppo(env_config: dict):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import FlattenObservations

    from motif_tune.envs.motif_metrics import MotifMetricsCallback
    from motif_tune.envs.registry import register_with_ray

    name = register_with_ray(settings_for().env.id)
    return (
        PPOConfig()
        .environment(name, env_config=env_config, normalize_actions=False, clip_actions=False)
        .env_runners(
            num_env_runners=0,
            rollout_fragment_length=64,
            # MultiDiscrete observations -> one-hot; the default RLModule refuses them.
            env_to_module_connector=lambda env, spaces=None, device=None: FlattenObservations(),
        )
        .training(train_batch_size_per_learner=128, minibatch_size=64, num_epochs=1)
        .callbacks(MotifMetricsCallback)
        .debugging(seed=0)
        .build_algo()
    )


@pytest.mark.slow
@pytest.mark.parametrize("episode_length", [1, 100])
def test_ppo_reports_match_accuracy_and_score_margin(
    ray_local, tmp_path, monkeypatch, episode_length
) -> None:
    """Episodes longer than a fragment are logged once they end, over all their chunks."""
    # A standalone Algorithm writes its logdir under ~/ray_results; keep it in tmp_path.
    monkeypatch.setattr("ray.tune.trainable.trainable.DEFAULT_STORAGE_PATH", str(tmp_path))
    algo = _tiny_ppo({"num_motifs": 4, "episode_length": episode_length, "log_dir": str(tmp_path)})
    try:
        for _ in range(2):
            result = algo.train()
    finally:
        algo.stop()
    runners = result["env_runners"]
    assert 0.0 <= runners[MATCH_ACCURACY] <= 1.0
    assert -2.0 <= runners[SCORE_MARGIN] <= 2.0
