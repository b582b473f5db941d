"""Environments: the motif task, env creation from a Gymnasium id or a code path, and
the fault tolerance every env gets.

Importing this package registers ``motif_tune/Motif-v0`` with Gymnasium.
"""

import gymnasium as gym

from motif_tune.envs.motif import MotifEnv, MotifEnvConfig, MotifManager

MOTIF_GYM_ID = "motif_tune/Motif-v0"
if MOTIF_GYM_ID not in gym.registry:
    gym.register(id=MOTIF_GYM_ID, entry_point="motif_tune.envs.motif:gym_entry_point")

__all__ = ["MOTIF_GYM_ID", "MotifEnv", "MotifEnvConfig", "MotifManager"]
