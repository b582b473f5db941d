"""The motif trend-comparison task.

A library of K motif templates, each a sequence of L trend symbols over an
alphabet of A symbols (0 = strong down, A // 2 = flat, A - 1 = strong up). Every
step shows one noisy observed segment of a randomly drawn true motif; the agent
scores all K motifs and is rewarded for ranking the true one first.

Reward (per step, in both action modes):

- ``scores`` mode: ``0.5 * match_term + 0.5 * spread_term`` where
  ``match_term = 1`` when the true motif's score is strictly the highest, else
  ``-1 / (K - 1)``, and ``spread_term = (s_true - mean(s_others)) / 2``. The
  match term is exact for a uniformly random ranking (``1/K * 1 - (K-1)/K *
  1/(K-1) = 0``) and the spread term is zero in expectation for any policy that
  treats the motifs alike, so a random policy earns 0 on average. The best
  reward, 1.0, needs the true score at +1 and the others at -1; the spread term
  is linear in the scores, which gives a Gaussian policy a smooth signal.
- ``choose`` mode: ``1`` for the true motif, ``-1 / (K - 1)`` otherwise.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from motif_tune.errors import ConfigError

log = logging.getLogger(__name__)
ACTION_MODES = ("scores", "choose")
MATCH_WEIGHT = 0.5
DEFAULT_LOG_FOLDER = "motif_logs"
# (process, env runner) pairs whose env has said it is ready.
_ANNOUNCED: set[tuple[int, int]] = set()
# Observations are drawn this many steps at a time: one numpy call per block
# instead of several per step.
_BLOCK_STEPS = 256


class MotifEnvFault(RuntimeError):
    """An injected failure of ``step()`` or ``reset()`` (fault-tolerance tests)."""


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value.strip() if isinstance(value, str) else value)


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value.strip() if isinstance(value, str) else value)


def _as_optional_int(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    return _as_int(value)


def _as_optional_path(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(value)
    return os.fspath(value)


def _as_mode(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value.strip().lower()


def _probability(v: float) -> bool:
    return 0.0 <= v <= 1.0


# name -> (parser, check, what is valid)
_RULES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], bool], str]] = {
    "num_motifs": (_as_int, lambda v: v >= 2, "an integer >= 2"),
    "motif_length": (_as_int, lambda v: v >= 1, "an integer >= 1"),
    "alphabet_size": (_as_int, lambda v: v >= 3, "an integer >= 3"),
    "noise": (_as_float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)"),
    "episode_length": (_as_int, lambda v: v >= 1, "an integer >= 1"),
    "action_mode": (_as_mode, lambda v: v in ACTION_MODES, "one of 'scores', 'choose'"),
    "library_seed": (_as_int, lambda v: v >= 0, "an integer >= 0"),
    "seed": (_as_optional_int, lambda v: v is None or v >= 0, "null or an integer >= 0"),
    "fault_step_probability": (_as_float, _probability, "a number in [0, 1]"),
    "fault_reset_probability": (_as_float, _probability, "a number in [0, 1]"),
    "log_dir": (_as_optional_path, lambda v: True, "null or a folder path"),
}


def _parse_setting(name: str, value: Any, origin: str = "") -> Any:
    """Parse and check one setting; ``origin`` names an environment variable it came from."""
    parse, check, valid = _RULES[name]
    try:
        parsed = parse(value)
        ok = check(parsed)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        source = f" (from {origin})" if origin else ""
        raise ConfigError(f"env_config.{name}{source} must be {valid}, got {value!r}.")
    return parsed


@dataclass(frozen=True)
class MotifEnvConfig:
    """Settings of one ``MotifEnv``; every field is an ``env_config`` key.

    ``seed`` seeds the first ``reset()`` that brings no seed of its own (mixed
    with RLlib's ``worker_index`` on remote runners). Copies in one vector env
    share it; RLlib's ``debugging(seed=...)`` seeds each copy distinctly.
    ``fault_*_probability`` make ``step()``/``reset()`` raise ``MotifEnvFault``.
    """

    num_motifs: int = 6
    motif_length: int = 8
    alphabet_size: int = 5
    noise: float = 0.3
    episode_length: int = 1
    action_mode: str = "scores"
    library_seed: int = 0
    seed: int | None = None
    fault_step_probability: float = 0.0
    fault_reset_probability: float = 0.0
    log_dir: str | None = None

    def __post_init__(self) -> None:
        for name in _RULES:
            object.__setattr__(self, name, _parse_setting(name, getattr(self, name)))
        capacity = self.alphabet_size**self.motif_length
        if self.num_motifs > capacity:
            raise ConfigError(
                f"env_config.num_motifs must be at most alphabet_size ** motif_length "
                f"(= {capacity}) so that every motif is distinct, got {self.num_motifs}."
            )

    @staticmethod
    def env_var(name: str) -> str:
        """The environment variable a setting falls back to, e.g. ``MOTIF_NUM_MOTIFS``."""
        return f"MOTIF_{name.upper()}"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None = None) -> MotifEnvConfig:
        """Build from an RLlib ``env_config`` (dict or ``EnvContext``).

        Keys not given fall back to ``MOTIF_<KEY>`` environment variables, then to
        the defaults. Only the mapping's keys are read, never RLlib's attributes.
        """
        given = dict(mapping or {})
        valid = tuple(f.name for f in fields(cls))
        unknown = sorted(str(k) for k in given if k not in valid)
        if unknown:
            raise ConfigError(
                f"env_config.{unknown[0]} is not a motif env setting; valid keys are "
                f"{', '.join(valid)}."
            )
        values: dict[str, Any] = {}
        for name in valid:
            if name in given:
                values[name] = _parse_setting(name, given[name])
            elif (var := cls.env_var(name)) in os.environ:
                values[name] = _parse_setting(name, os.environ[var], origin=var)
        return cls(**values)


_Profile = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _const(value: float) -> _Profile:
    return lambda t, i, n: np.full(t.shape, value)


def _halves(first: float, second: float) -> _Profile:
    return lambda t, i, n: np.where(t < 0.5, first, second)


def _middle(value: float) -> _Profile:
    return lambda t, i, n: np.where(i == n // 2, value, 0.0)


def _quarters(*values: float) -> _Profile:
    return lambda t, i, n: np.asarray(values)[np.minimum((t * 4).astype(int), 3)]


# Named trend templates as slope profiles in [-1, 1] over t in (0, 1): -1 is a
# strong fall, 0 flat, +1 a strong rise. Order sets which K a library takes.
TEMPLATES: tuple[tuple[str, _Profile], ...] = (
    ("rising", _const(1.0)),
    ("falling", _const(-1.0)),
    ("peak", _halves(1.0, -1.0)),
    ("valley", _halves(-1.0, 1.0)),
    ("flat", _const(0.0)),
    ("step_up", _middle(1.0)),
    ("step_down", _middle(-1.0)),
    ("zigzag", lambda t, i, n: np.where(i % 2 == 0, 1.0, -1.0)),
    ("gentle_rise", _const(0.5)),
    ("gentle_fall", _const(-0.5)),
    ("rise_then_flat", _halves(1.0, 0.0)),
    ("flat_then_rise", _halves(0.0, 1.0)),
    ("fall_then_flat", _halves(-1.0, 0.0)),
    ("flat_then_fall", _halves(0.0, -1.0)),
    ("accelerating_rise", lambda t, i, n: t),
    ("decelerating_fall", lambda t, i, n: t - 1.0),
    ("double_peak", _quarters(1.0, -1.0, 1.0, -1.0)),
    ("double_valley", _quarters(-1.0, 1.0, -1.0, 1.0)),
    ("zagzig", lambda t, i, n: np.where(i % 2 == 0, -1.0, 1.0)),
)


def quantise(profile: np.ndarray, alphabet_size: int) -> np.ndarray:
    """Map slopes in [-1, 1] to symbols 0..A-1 (round half up, so it is deterministic)."""
    levels = (np.clip(profile, -1.0, 1.0) + 1.0) / 2.0 * (alphabet_size - 1)
    return np.floor(levels + 0.5).astype(np.int64)


def _extra_rows(
    count: int, length: int, alphabet_size: int, rng: np.random.Generator, seen: set[bytes]
) -> list[np.ndarray]:
    """``count`` new sequences, distinct from ``seen`` and each other."""
    rows: list[np.ndarray] = []
    if count <= 0:
        return rows
    space = alphabet_size**length
    if space <= 1 << 16:  # small space: walk a permutation of every sequence
        powers = alphabet_size ** np.arange(length - 1, -1, -1)
        for code in rng.permutation(space):
            if len(rows) == count:
                break
            row = (code // powers) % alphabet_size
            if row.tobytes() not in seen:
                seen.add(row.tobytes())
                rows.append(row.astype(np.int64))
        return rows
    while len(rows) < count:  # huge space: rejection sampling rarely rejects
        row = rng.integers(0, alphabet_size, size=length, dtype=np.int64)
        if row.tobytes() not in seen:
            seen.add(row.tobytes())
            rows.append(row)
    return rows


@functools.lru_cache(maxsize=32)
def build_library(
    num_motifs: int, motif_length: int, alphabet_size: int, library_seed: int = 0
) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and a read-only (K, L) array of K distinct motif templates.

    Library seed 0 takes the named templates in their listed order; other seeds
    take them in a seeded order. Templates that coincide with an earlier one at
    this length and alphabet are skipped; if fewer than K remain, distinct
    ``random_<n>`` motifs drawn from the library seed fill the library.
    """
    t = (np.arange(motif_length) + 0.5) / motif_length
    idx = np.arange(motif_length)
    rng = np.random.default_rng(library_seed)
    order = range(len(TEMPLATES)) if library_seed == 0 else rng.permutation(len(TEMPLATES))
    names: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[bytes] = set()
    for k in order:
        if len(rows) == num_motifs:
            break
        name, profile = TEMPLATES[k]
        row = quantise(profile(t, idx, motif_length), alphabet_size)
        if row.tobytes() not in seen:
            seen.add(row.tobytes())
            names.append(name)
            rows.append(row)
    extra = _extra_rows(num_motifs - len(rows), motif_length, alphabet_size, rng, seen)
    names += [f"random_{n}" for n in range(len(extra))]
    library = np.stack(rows + extra).astype(np.int64)
    library.setflags(write=False)
    return tuple(names), library


class MotifManager:
    """Owns the motif library and the env's log directory."""

    def __init__(self, config: MotifEnvConfig) -> None:
        self.config = config
        self.names, self.templates = build_library(
            config.num_motifs, config.motif_length, config.alphabet_size, config.library_seed
        )
        # Where this env writes its files: ``log_dir``, else ``MOTIF_LOG_DIR``, else
        # ``./motif_logs``; fixed here, created only when something is written.
        chosen = config.log_dir or os.environ.get(MotifEnvConfig.env_var("log_dir"))
        path = Path(chosen).expanduser() if chosen else Path.cwd() / DEFAULT_LOG_FOLDER
        self.log_dir = path.absolute()

    def observe_many(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy observations (one row per index): each symbol is replaced by a
        uniformly random symbol with probability ``noise``."""
        clean = self.templates[indices]
        noise = self.config.noise
        if noise <= 0.0:
            return clean.copy()
        replace = rng.random(clean.shape) < noise
        random = rng.integers(0, self.config.alphabet_size, size=clean.shape, dtype=np.int64)
        return np.where(replace, random, clean)

    def observe(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """One noisy observation of template ``index``."""
        return self.observe_many(np.asarray([index]), rng)[0]

    def save_library(self) -> Path:
        """Write the library (names, symbols) as JSON into the log directory."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / "motif_library.json"
        payload = {
            "alphabet_size": self.config.alphabet_size,
            "library_seed": self.config.library_seed,
            "motifs": {n: row.tolist() for n, row in zip(self.names, self.templates, strict=True)},
        }
        path.write_text(json.dumps(payload, indent=2))
        return path


def scale_scores(raw: Any) -> np.ndarray:
    """Map raw network outputs (any real numbers) to scores in [-1, 1].

    ``tanh`` saturates huge values to +/-1; NaN becomes -1, the worst score.
    """
    scores = np.tanh(np.asarray(raw, dtype=np.float64))
    return np.fmax(scores, -1.0)  # fmax picks -1.0 wherever the score is NaN


def _scores_outcome(scores: np.ndarray, true: int) -> tuple[float, float, float]:
    """(reward, match, margin) for scaled ``scores`` (modified in place)."""
    k = scores.shape[0]
    true_score = float(scores[true])
    mean_others = (float(scores.sum()) - true_score) / (k - 1)
    scores[true] = -np.inf
    margin = true_score - float(scores.max())
    match = margin > 0.0
    match_term = 1.0 if match else -1.0 / (k - 1)
    reward = MATCH_WEIGHT * match_term + (1.0 - MATCH_WEIGHT) * (true_score - mean_others) / 2.0
    return reward, float(match), margin


class MotifEnv(gym.Env):
    """Score K motifs against a noisy observed trend segment; see the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}
    # The env_config keys it takes (each may come from a MOTIF_<KEY> variable).
    config_keys: tuple[str, ...] = tuple(f.name for f in fields(MotifEnvConfig))

    def __init__(self, config: Mapping[str, Any] | MotifEnvConfig | None = None) -> None:
        cfg = config if isinstance(config, MotifEnvConfig) else MotifEnvConfig.from_mapping(config)
        self.config = cfg
        self.manager = MotifManager(cfg)
        self._k = cfg.num_motifs
        self._choose = cfg.action_mode == "choose"
        self.observation_space = spaces.MultiDiscrete([cfg.alphabet_size] * cfg.motif_length)
        if self._choose:
            self.action_space = spaces.Discrete(cfg.num_motifs)
        else:
            self.action_space = spaces.Box(-np.inf, np.inf, (cfg.num_motifs,), np.float32)
        # RLlib passes an EnvContext: remote runners get streams of their own.
        self._worker_index = int(getattr(config, "worker_index", 0) or 0)
        self._first_reset = True
        self._block_true = np.empty(0, dtype=np.int64)
        self._block_obs = np.empty((0, cfg.motif_length), dtype=np.int64)
        self._cursor = 0
        self._true = 0
        self._t = 0
        if (os.getpid(), self._worker_index) in _ANNOUNCED:
            return  # one line per env runner, not one per vectorised copy
        _ANNOUNCED.add((os.getpid(), self._worker_index))
        log.info(
            "MotifEnv ready (worker %d): %d motifs %s, length %d, noise %.2f, %s actions",
            self._worker_index,
            self._k,
            list(self.manager.names),
            cfg.motif_length,
            cfg.noise,
            cfg.action_mode,
        )

    @property
    def current_motif(self) -> int:
        """Index of the true motif behind the observation last returned."""
        return self._true

    def _default_seed(self) -> int | None:
        seed = self.config.seed
        if seed is None or self._worker_index == 0:
            return seed
        return int(np.random.SeedSequence([seed, self._worker_index]).generate_state(1)[0])

    def _maybe_fault(self, probability: float, where: str) -> None:
        if probability > 0.0 and self.np_random.random() < probability:
            raise MotifEnvFault(f"injected MotifEnv fault in {where}() (p={probability}).")

    def _next_segment(self) -> np.ndarray:
        if self._cursor >= self._block_true.shape[0]:
            rng = self.np_random
            self._block_true = rng.integers(0, self._k, size=_BLOCK_STEPS, dtype=np.int64)
            self._block_obs = self.manager.observe_many(self._block_true, rng)
            self._cursor = 0
        i = self._cursor
        self._cursor += 1
        self._true = int(self._block_true[i])
        return self._block_obs[i]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None and self._first_reset:
            seed = self._default_seed()
        super().reset(seed=seed)
        self._first_reset = False
        if seed is not None:
            self._cursor = self._block_true.shape[0]  # drop draws of the old stream
        self._maybe_fault(self.config.fault_reset_probability, "reset")
        self._t = 0
        return self._next_segment(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._maybe_fault(self.config.fault_step_probability, "step")
        true = self._true
        if self._choose:
            reward, match, margin = self._choose_outcome(action, true)
        else:
            reward, match, margin = _scores_outcome(self._scale(action), true)
        self._t += 1
        terminated = self._t >= self.config.episode_length
        info = {"match": match, "margin": margin, "true_motif": true}
        return self._next_segment(), reward, terminated, False, info

    def _scale(self, action: Any) -> np.ndarray:
        scores = scale_scores(action).reshape(-1)
        if scores.shape[0] != self._k:
            raise ValueError(f"MotifEnv expects {self._k} scores, got shape {np.shape(action)}.")
        return scores

    def _choose_outcome(self, action: Any, true: int) -> tuple[float, float, float]:
        choice = int(action)
        if not 0 <= choice < self._k:
            raise ValueError(f"MotifEnv expects a motif index in [0, {self._k}), got {action!r}.")
        if choice == true:
            return 1.0, 1.0, 1.0
        return -1.0 / (self._k - 1), 0.0, -1.0


def gym_entry_point(**env_config: Any) -> MotifEnv:
    """Entry point of ``motif_tune/Motif-v0``; ``gym.make`` keywords are env_config keys."""
    return MotifEnv(env_config)
