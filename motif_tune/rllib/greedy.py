"""Training with ``scaling.env_runners.explore=false``: env runners act greedily.

On RLlib's new API stack a runner that does not explore takes the greedy action
of a deterministic distribution whose log-probability is a placeholder (zeros, of
the action's shape for continuous actions). On-policy learners (PPO, APPO,
IMPALA) need the probability of the action taken under the policy, and fail
mid-update. Here a greedy action keeps its log-probability under the policy's own
distribution, as RLlib's old API stack did: the runner plays the mode, the
learner sees how likely the policy found it.

The piece must run before RLlib's ``GetActions``, so the module-to-env pipeline
is given whole: this piece, then RLlib's default pieces in RLlib's order
(single-agent).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.module_to_env import (
    GetActions,
    ListifyDataForVectorEnv,
    NormalizeAndClipActions,
    RemoveSingleTsTimeRankFromBatch,
    TensorToNumpy,
    UnBatchToIndividualItems,
)
from ray.rllib.core.columns import Columns


class GreedyActions(ConnectorV2):
    """When not exploring: the mode of the policy's distribution as the action, with its
    log-probability under that distribution. Exploring: untouched (``GetActions``
    samples)."""

    def __call__(
        self,
        *,
        rl_module: Any,
        batch: dict[str, Any],
        episodes: list[Any],
        explore: bool | None = None,
        shared_data: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        if explore or Columns.ACTIONS in batch or Columns.ACTION_DIST_INPUTS not in batch:
            return batch
        dist = rl_module.get_exploration_action_dist_cls().from_logits(
            batch[Columns.ACTION_DIST_INPUTS]
        )
        actions = dist.to_deterministic().sample()
        batch[Columns.ACTIONS] = actions
        batch[Columns.ACTION_LOGP] = dist.logp(actions)
        return batch


class GreedyPipeline:
    """``module_to_env_connector`` for greedy training: ``GreedyActions`` first, then
    RLlib's default pieces (picklable, for remote env runners)."""

    def __init__(self, normalize_actions: bool, clip_actions: bool) -> None:
        self.normalize_actions = normalize_actions
        self.clip_actions = clip_actions

    def __call__(self, env: Any = None, spaces: Any = None, device: Any = None) -> list:
        return [
            GreedyActions(),
            GetActions(),
            TensorToNumpy(),
            UnBatchToIndividualItems(),
            RemoveSingleTsTimeRankFromBatch(),
            NormalizeAndClipActions(
                normalize_actions=self.normalize_actions, clip_actions=self.clip_actions
            ),
            ListifyDataForVectorEnv(),
        ]


def greedy_training(normalize_actions: bool, clip_actions: bool) -> dict[str, Any]:
    """The ``.env_runners()`` arguments that train on greedy actions."""
    return {
        "explore": False,
        "module_to_env_connector": GreedyPipeline(normalize_actions, clip_actions),
        "add_default_connectors_to_module_to_env_pipeline": False,
    }
