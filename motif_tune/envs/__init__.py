"""Environments: the motif task, and name-based creation of any Gymnasium env.

Importing this package registers ``motif_tune/Motif-v0`` with Gymnasium.
"""

from motif_tune.envs.motif import (
    MotifEnv,
    MotifEnvConfig,
    MotifEnvFault,
    MotifManager,
    scale_scores,
)
from motif_tune.envs.registry import (
    MOTIF_ENV_NAME,
    MOTIF_GYM_ID,
    env_creator,
    make_env,
    register_gymnasium,
    register_with_ray,
    validate_env,
)

register_gymnasium()

__all__ = [
    "MOTIF_ENV_NAME",
    "MOTIF_GYM_ID",
    "MotifEnv",
    "MotifEnvConfig",
    "MotifEnvFault",
    "MotifManager",
    "env_creator",
    "make_env",
    "register_with_ray",
    "scale_scores",
    "validate_env",
]
