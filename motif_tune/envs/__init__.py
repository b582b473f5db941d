"""Environments: the motif task, and name-based creation of any Gymnasium env.

Importing this package registers ``motif_tune/Motif-v0`` with Gymnasium.
"""

from motif_tune.envs.registry import register_gymnasium

register_gymnasium()
