"""Envs by name: Gymnasium ids, classes and creators by code path, env creators for Ray,
the Gymnasium registration of the motif task."""

from __future__ import annotations

import pickle

import cloudpickle
import gymnasium as gym
import pytest

from motif_tune.envs import MotifEnv
from motif_tune.envs.registry import (
    checked_env,
    env_creator,
    make_env,
    register_with_ray,
)
from motif_tune.errors import ConfigError

MOTIF_ENV_NAME = "motif_tune.envs:MotifEnv"  # conf/env/motif.yaml's id: a class path


def test_make_motif_env_with_config() -> None:
    env = make_env(MOTIF_ENV_NAME, {"num_motifs": 4})
    assert isinstance(env, MotifEnv)
    assert env.action_space.shape == (4,)


def test_make_gymnasium_env_by_id() -> None:
    env = make_env("CartPole-v1")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.unwrapped.spec.id == "CartPole-v1"
    env.close()


def test_gymnasium_env_config_becomes_make_kwargs() -> None:
    env = make_env("CartPole-v1", {"max_episode_steps": 7})
    assert env.spec.max_episode_steps == 7
    with pytest.raises(ConfigError, match=r"^env_config\.gravity is not accepted by CartPole-v1"):
        checked_env("CartPole-v1", {"gravity": 3.0})


@pytest.mark.parametrize("name", ["Foo-v0", "CartPole-v9", ""])
def test_unknown_id_is_refused_with_examples(name: str) -> None:
    with pytest.raises(ConfigError, match=r"^env\.id .*CartPole-v1, Acrobot-v1") as err:
        make_env(name)
    if name == "Foo-v0":
        assert str(err.value).startswith(
            "env.id 'Foo-v0' is not a registered Gymnasium environment; "
            "e.g. CartPole-v1, Acrobot-v1"
        )
    with pytest.raises(ConfigError):
        checked_env(name, None)


def test_close_misspelling_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"did you mean CartPole-v1"):
        checked_env("Cartpole-v1", None)


def test_checked_env_checks_motif_settings() -> None:
    checked_env(MOTIF_ENV_NAME, {"num_motifs": 3}).close()
    with pytest.raises(ConfigError, match=r"^env_config\.noise"):
        checked_env(MOTIF_ENV_NAME, {"noise": 2})


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("name", [MOTIF_ENV_NAME, "CartPole-v1"])
def test_env_creator_is_picklable_and_builds_the_env(dumps, name: str) -> None:
    creator = pickle.loads(dumps(env_creator(name)))
    env = creator({"max_episode_steps": 5} if name == "CartPole-v1" else {"num_motifs": 3})
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.close()


def test_register_with_ray_registers_the_creator() -> None:
    from ray.tune.registry import ENV_CREATOR, _global_registry

    assert register_with_ray(MOTIF_ENV_NAME) == MOTIF_ENV_NAME
    creator = _global_registry.get(ENV_CREATOR, MOTIF_ENV_NAME)
    assert isinstance(creator({"num_motifs": 5}), MotifEnv)
    with pytest.raises(ConfigError):
        register_with_ray("Foo-v0")


def test_gymnasium_make_knows_the_motif_id() -> None:
    env = gym.make("motif_tune/Motif-v0", num_motifs=3, action_mode="choose")
    assert isinstance(env.unwrapped, MotifEnv)
    assert env.action_space == gym.spaces.Discrete(3)
    obs, _ = env.reset(seed=0)
    _, reward, terminated, _, info = env.step(0)
    assert env.observation_space.contains(obs) and terminated and "match" in info
    with pytest.raises(ConfigError, match=r"env_config\.colour"):
        gym.make("motif_tune/Motif-v0", colour="red")


def test_an_env_class_gets_rllibs_env_context_with_its_worker_index() -> None:
    """A remote env runner's env knows which runner it is on (MotifEnv seeds by it)."""
    from ray.rllib.env.env_context import EnvContext

    context = EnvContext({}, worker_index=3, vector_index=1)
    env = env_creator(MOTIF_ENV_NAME)(context)
    assert env._worker_index == 3
