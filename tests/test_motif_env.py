"""MotifEnv: Gymnasium API, spaces, scaling, reward, seeding, config, faults, log folder."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from motif_tune.envs.motif import (
    MotifEnv,
    MotifEnvConfig,
    MotifEnvFault,
    MotifManager,
    scale_scores,
)
from motif_tune.errors import ConfigError

RANDOM_STEPS = 20_000


def _check(env: MotifEnv) -> None:
    with warnings.catch_warnings():
        # Unbounded raw scores are the point of the scores mode (normalize_actions=False).
        warnings.filterwarnings("ignore", message=".*Box action space.*")
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space.*")
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("mode", ["scores", "choose"])
def test_gymnasium_env_checker_passes(mode: str) -> None:
    _check(MotifEnv({"action_mode": mode}))
    _check(MotifEnv({"action_mode": mode, "episode_length": 3, "noise": 0.0}))


def test_spaces_follow_the_config() -> None:
    env = MotifEnv({"num_motifs": 4, "motif_length": 5, "alphabet_size": 7})
    assert env.observation_space == spaces.MultiDiscrete([7] * 5)
    assert env.action_space == spaces.Box(-np.inf, np.inf, (4,), np.float32)
    choose = MotifEnv({"num_motifs": 4, "action_mode": "choose"})
    assert choose.action_space == spaces.Discrete(4)


def test_library_templates_are_distinct_and_named() -> None:
    for k, length, alphabet in [(6, 8, 5), (19, 8, 5), (40, 8, 5), (9, 2, 3), (3, 1, 3)]:
        manager = MotifManager(
            MotifEnvConfig(num_motifs=k, motif_length=length, alphabet_size=alphabet)
        )
        assert manager.templates.shape == (k, length)
        assert len({row.tobytes() for row in manager.templates}) == k
        assert len(set(manager.names)) == k
        assert manager.templates.min() >= 0 and manager.templates.max() < alphabet
    default = MotifManager(MotifEnvConfig())
    assert default.names[:3] == ("rising", "falling", "peak")
    assert default.templates[0].tolist() == [4] * 8  # strong up throughout
    assert default.templates[4].tolist() == [2] * 8  # flat is the middle symbol


def test_library_seed_picks_another_library_deterministically() -> None:
    a = MotifManager(MotifEnvConfig(library_seed=3))
    b = MotifManager(MotifEnvConfig(library_seed=3))
    assert a.names == b.names and np.array_equal(a.templates, b.templates)
    assert a.names != MotifManager(MotifEnvConfig()).names


def test_observe_applies_noise() -> None:
    rng = np.random.default_rng(0)
    clean = MotifManager(MotifEnvConfig(noise=0.0))
    assert np.array_equal(clean.observe(2, rng), clean.templates[2])
    noisy = MotifManager(MotifEnvConfig(noise=0.5, motif_length=64))
    changed = np.mean([np.mean(noisy.observe(0, rng) != noisy.templates[0]) for _ in range(200)])
    # A replaced symbol differs with probability (A - 1) / A: 0.5 * 4 / 5 = 0.4.
    assert changed == pytest.approx(0.4, abs=0.02)


def test_scale_scores_maps_any_real_number_into_range() -> None:
    raw = np.array([0.0, 1e300, -1e300, np.inf, -np.inf, np.nan, 3.0, -3.0])
    scores = scale_scores(raw)
    assert np.all(np.isfinite(scores)) and np.all(np.abs(scores) <= 1.0)
    assert scores.tolist()[:6] == [0.0, 1.0, -1.0, 1.0, -1.0, -1.0]  # NaN is the worst
    assert scores[6] == pytest.approx(math.tanh(3.0))
    assert np.all(np.diff(scale_scores(np.linspace(-5, 5, 11))) > 0)  # order kept


def test_extreme_and_nan_actions_do_not_crash_the_step() -> None:
    env = MotifEnv({"seed": 0})
    env.reset()
    for action in ([np.nan] * 6, [np.inf] * 6, [-1e38] * 6, [3.4e38, np.nan, 0, 0, 0, 0]):
        _, reward, _, _, info = env.step(np.asarray(action, dtype=np.float32))
        env.reset()
        assert math.isfinite(reward) and -2.0 <= info["margin"] <= 2.0
    _, _, _, _, info = env.step(np.full(6, np.nan, dtype=np.float32))
    assert info["match"] == 0.0  # all-NaN (all worst) is a tie, not a match


def _winning_scores(k: int, true: int) -> np.ndarray:
    raw = np.full(k, -1e6, dtype=np.float32)
    raw[true] = 1e6
    return raw


def test_true_motif_ranked_first_with_full_margin_earns_one() -> None:
    env = MotifEnv({"seed": 5})
    env.reset()
    true = env.current_motif
    _, reward, terminated, truncated, info = env.step(_winning_scores(6, true))
    assert reward == pytest.approx(1.0)
    assert info == {"match": 1.0, "margin": pytest.approx(2.0), "true_motif": true}
    assert terminated and not truncated
    env.reset()
    true = env.current_motif
    _, reward, _, _, info = env.step(-_winning_scores(6, true))
    assert reward < -0.5 and info["match"] == 0.0 and info["margin"] == pytest.approx(-2.0)


def test_reward_grows_with_the_true_motifs_lead() -> None:
    """The scores reward is smooth: raising the true score raises the reward."""
    env = MotifEnv({"seed": 1})
    rewards = []
    for lead in np.linspace(-2.0, 2.0, 9):
        env.reset(seed=1)
        raw = np.zeros(6, dtype=np.float32)
        raw[env.current_motif] = lead
        rewards.append(env.step(raw)[1])
    assert np.all(np.diff(rewards) > 0)


def test_choose_mode_rewards() -> None:
    env = MotifEnv({"action_mode": "choose", "seed": 2})
    env.reset()
    true = env.current_motif
    _, reward, _, _, info = env.step(true)
    assert (reward, info["match"], info["margin"]) == (1.0, 1.0, 1.0)
    env.reset()
    wrong = (env.current_motif + 1) % 6
    _, reward, _, _, info = env.step(wrong)
    assert reward == pytest.approx(-1 / 5) and (info["match"], info["margin"]) == (0.0, -1.0)


def _random_rollout(mode: str, k: int = 6, steps: int = RANDOM_STEPS) -> tuple[np.ndarray, ...]:
    env = MotifEnv({"action_mode": mode, "num_motifs": k, "seed": 11})
    env.reset()
    env.action_space.seed(12)
    rewards, matches, margins = np.empty(steps), np.empty(steps), np.empty(steps)
    for i in range(steps):
        _, rewards[i], terminated, _, info = env.step(env.action_space.sample())
        matches[i], margins[i] = info["match"], info["margin"]
        if terminated:
            env.reset()
    return rewards, matches, margins


@pytest.mark.parametrize("mode", ["scores", "choose"])
def test_random_policy_earns_about_zero_and_matches_one_in_k(mode: str) -> None:
    """The expectation is exactly 0 and 1/K; the tolerance is 4 standard errors.

    Steps are independent, so the standard error of a mean of n steps is
    std / sqrt(n) (about 0.003 for the reward at n = 20,000, K = 6); a
    correct env fails this check with probability below 1e-4.
    """
    k = 6
    rewards, matches, _ = _random_rollout(mode, k)
    n = len(rewards)
    assert abs(rewards.mean()) < 4 * rewards.std() / math.sqrt(n)
    p = 1 / k
    assert abs(matches.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert rewards.max() <= 1.0


def test_seeded_episodes_are_exactly_reproducible() -> None:
    def rollout(env: MotifEnv, seed: int | None) -> list:
        out = [env.reset(seed=seed)[0].tolist()]
        for _ in range(50):
            obs, reward, terminated, _, info = env.step(np.linspace(-1, 1, 6, dtype=np.float32))
            out.append((obs.tolist(), reward, info["true_motif"]))
            if terminated:
                out.append(env.reset()[0].tolist())
        return out

    first = rollout(MotifEnv(), seed=42)
    assert rollout(MotifEnv(), seed=42) == first
    assert rollout(MotifEnv(), seed=43) != first
    # config.seed seeds the first reset; reset(seed=...) overrides it.
    assert rollout(MotifEnv({"seed": 42}), seed=None) == first
    assert rollout(MotifEnv({"seed": 7}), seed=42) == first


@pytest.mark.parametrize("length", [1, 4])
def test_episode_ends_after_episode_length_comparisons(length: int) -> None:
    env = MotifEnv({"episode_length": length, "seed": 0})
    env.reset()
    flags = [env.step(env.action_space.sample())[2] for _ in range(length)]
    assert flags == [False] * (length - 1) + [True]


def test_settings_fall_back_to_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIF_NUM_MOTIFS", "4")
    monkeypatch.setenv("MOTIF_NOISE", "0.1")
    monkeypatch.setenv("MOTIF_ACTION_MODE", "choose")
    monkeypatch.setenv("MOTIF_SEED", "9")
    config = MotifEnvConfig.from_mapping(None)
    assert (config.num_motifs, config.noise) == (4, 0.1)
    assert (config.action_mode, config.seed) == ("choose", 9)
    assert MotifEnv().action_space == spaces.Discrete(4)


def test_mapping_beats_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIF_NUM_MOTIFS", "4")
    monkeypatch.setenv("MOTIF_NOISE", "0.1")
    config = MotifEnvConfig.from_mapping({"num_motifs": 8})
    assert (config.num_motifs, config.noise) == (8, 0.1)


def _observations(env: MotifEnv, steps: int = 5) -> list[list[int]]:
    seen = []
    for _ in range(steps):
        seen.append(env.reset()[0].tolist())
    return seen


def test_rllib_env_context_is_read_as_a_mapping() -> None:
    from ray.rllib.env.env_context import EnvContext

    settings = {"num_motifs": 3, "seed": 1}
    remote = MotifEnv(EnvContext(settings, worker_index=2, num_workers=2))
    local = MotifEnv(EnvContext(settings, worker_index=0))
    assert remote.config == local.config == MotifEnvConfig(num_motifs=3, seed=1)
    # The local runner reproduces a plain env; remote runners sharing one
    # env_config.seed still sample streams of their own.
    assert _observations(local) == _observations(MotifEnv(settings))
    assert _observations(remote) != _observations(MotifEnv(settings))


BAD_SETTINGS = [
    ("num_motifs", 1),
    ("num_motifs", 2.5),
    ("num_motifs", True),
    ("num_motifs", 10),  # with motif_length 1 and alphabet 3 only 3 distinct motifs exist
    ("motif_length", 0),
    ("alphabet_size", 2),
    ("noise", 1.0),
    ("noise", -0.1),
    ("noise", float("nan")),
    ("noise", "a lot"),
    ("episode_length", 0),
    ("action_mode", "rank"),
    ("action_mode", 3),
    ("library_seed", -1),
    ("seed", "x"),
    ("fault_step_probability", 1.5),
    ("fault_reset_probability", -0.5),
    ("log_dir", 5),
]


@pytest.mark.parametrize(("key", "value"), BAD_SETTINGS)
def test_bad_setting_is_refused_naming_the_key(key: str, value: object) -> None:
    mapping = {key: value}
    if key == "num_motifs" and value == 10:
        mapping |= {"motif_length": 1, "alphabet_size": 3}
    with pytest.raises(ConfigError, match=rf"^env_config\.{key}\b") as err:
        MotifEnvConfig.from_mapping(mapping)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")  # one sentence


def test_unknown_key_is_refused_listing_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"env_config\.num_motif\b.*valid keys.*num_motifs"):
        MotifEnv({"num_motif": 4})


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ConfigError, match=r"env_config\.num_motifs"):
        MotifEnvConfig(num_motifs=1)


@pytest.mark.parametrize(
    ("var", "value"),
    [("MOTIF_NUM_MOTIFS", "four"), ("MOTIF_NOISE", "high"), ("MOTIF_EPISODE_LENGTH", "1.5")],
)
def test_non_numeric_environment_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    key = var.removeprefix("MOTIF_").lower()
    with pytest.raises(ConfigError, match=rf"^env_config\.{key} \(from {var}\) must be"):
        MotifEnv()


def test_fault_injection_at_probability_one_and_zero() -> None:
    with pytest.raises(MotifEnvFault):
        MotifEnv({"fault_reset_probability": 1.0}).reset()
    env = MotifEnv({"fault_step_probability": 1.0})
    env.reset()
    with pytest.raises(MotifEnvFault):
        env.step(np.zeros(6))
    assert issubclass(MotifEnvFault, RuntimeError)
    safe = MotifEnv({"fault_step_probability": 0.0, "fault_reset_probability": 0.0, "seed": 0})
    for _ in range(2_000):
        safe.reset()
        safe.step(np.zeros(6))


def test_log_dir_defaults_under_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manager = MotifEnv().manager
    assert manager.log_dir == tmp_path / "motif_logs"
    assert not manager.log_dir.exists()  # created only when written to
    saved = manager.save_library()
    assert saved.parent == tmp_path / "motif_logs" and saved.is_file()


def test_log_dir_from_config_beats_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTIF_LOG_DIR", str(tmp_path / "from_env"))
    assert MotifEnv().manager.log_dir == tmp_path / "from_env"
    configured = MotifEnv({"log_dir": str(tmp_path / "from_config")}).manager
    assert configured.log_dir == tmp_path / "from_config"
