"""Env faults cost an episode, not a trial.

An env that raises in ``step()`` or ``reset()`` now and then (a flaky simulator,
a lost connection) would otherwise fail the whole trial when env runners sample
in the trial's own process (RLlib restarts only remote runners), and RLlib's
``restart_failed_sub_environments`` rebuilds the vector env and logs a full
traceback per fault. :class:`EndEpisodeOnFault` ends the affected episode
instead: a failed ``step()`` returns the last observation, reward 0 and
``truncated=True``; a failed ``reset()`` is retried. Each fault is marked in
the step's info, :class:`EnvFaultCallback` sums them per iteration into
``env_runners/env_faults``, and the trainable writes that count to the log once
per iteration. An env that keeps failing (``max_consecutive`` faults in a row)
is broken, not flaky: the error is raised.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
from ray.rllib.callbacks.callbacks import RLlibCallback

log = logging.getLogger(__name__)

FAULT_INFO = "env_faults"  # in a step's (or reset's) info: faults it absorbed
ENV_FAULTS = "env_faults"  # the metric: faults per training iteration


class EndEpisodeOnFault(gym.Wrapper):
    """Ends the episode when ``step()`` raises; retries ``reset()`` when it raises."""

    def __init__(self, env: gym.Env, max_consecutive: int = 20) -> None:
        super().__init__(env)
        self.max_consecutive = max_consecutive
        self._consecutive = 0
        self._last_obs: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        faults = 0
        while True:
            try:
                obs, info = self.env.reset(**kwargs)
                break
            except Exception as err:
                faults += 1
                self._absorb(err, "reset")
                kwargs.pop("seed", None)  # the same seed would fail the same way
        self._last_obs = obs  # (faults count on until a step succeeds)
        return obs, {**info, FAULT_INFO: faults} if faults else info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as err:
            self._absorb(err, "step")
            return self._last_obs, 0.0, False, True, {FAULT_INFO: 1}
        self._consecutive = 0
        self._last_obs = obs
        return obs, reward, terminated, truncated, info

    def _absorb(self, err: Exception, where: str) -> None:
        self._consecutive += 1
        if self._consecutive >= self.max_consecutive:
            raise RuntimeError(
                f"The env failed {self._consecutive} times in a row (last in {where}(): "
                f"{type(err).__name__}: {err}); it is broken, not flaky."
            ) from err
        log.debug("Env fault in %s() absorbed: %s: %s", where, type(err).__name__, err)


def episode_faults(chunks: list[Any]) -> int:
    """Faults an episode absorbed: at its reset and at its last step."""
    faults = 0
    for chunk in chunks:
        infos = chunk.get_infos() if hasattr(chunk, "get_infos") else None
        if not isinstance(infos, list) or not infos:
            continue
        if getattr(chunk, "t_started", 0) == 0 and isinstance(infos[0], dict):
            faults += int(infos[0].get(FAULT_INFO, 0))
        if chunk is chunks[0] and len(infos) > 1 and isinstance(infos[-1], dict):
            faults += int(infos[-1].get(FAULT_INFO, 0))
    return faults


class EnvFaultCallback(RLlibCallback):
    """Sums the faults episodes absorbed into ``env_runners/env_faults`` (per iteration)."""

    def on_episode_end(
        self,
        *,
        episode: Any,
        prev_episode_chunks: list[Any] | None = None,
        metrics_logger: Any = None,
        **kwargs: Any,
    ) -> None:
        if metrics_logger is not None:
            faults = episode_faults([episode, *(prev_episode_chunks or [])])
            metrics_logger.log_value(ENV_FAULTS, faults, reduce="sum")
