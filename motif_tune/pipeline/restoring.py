"""Which checkpoint a restored trial reads (the one Tune names, or the newest beside it
when a killed driver's saved state names one since deleted), whether it was taken at
the end of the trial's budget, and how a trainable takes Tune's next trial in its
process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from motif_tune.rllib.algorithm import RLLIB_METADATA
from motif_tune.search.budget import Budget

log = logging.getLogger(__name__)


def existing_checkpoint(saved: Any) -> Any:
    """``saved`` (a Tune training result), or the newest complete checkpoint beside it
    when its own folder is gone from local storage."""
    checkpoint = getattr(saved, "checkpoint", None)
    path = Path(getattr(checkpoint, "path", "") or "")
    if checkpoint is None or checkpoint.filesystem.type_name != "local" or path.exists():
        return saved
    newest = max(
        (p for p in path.parent.glob("checkpoint_*") if (p / RLLIB_METADATA).is_file()),
        default=None,
    )
    if newest is None:
        return saved
    log.warning("Checkpoint %s is gone; restoring from %s instead.", path.name, newest.name)
    from ray.tune import Checkpoint

    return type(saved)(checkpoint=Checkpoint.from_directory(str(newest)), metrics=saved.metrics)


def spent_its_budget(saved: Any, budget: Budget) -> bool:
    """Whether ``saved`` (a Tune training result) is the trial's last: a driver killed
    after a trial's final result but before Tune recorded it as finished leaves the trial
    to be restored from its final checkpoint, and it must not train past its budget."""
    spent = (getattr(saved, "metrics", None) or {}).get(budget.result_key)
    return isinstance(spent, int | float) and spent >= budget.amount


class SetUpAgainOnReset:
    """Mixin for a Tune ``Trainable`` whose ``setup`` builds all it trains: it takes
    Tune's next trial in its process (``reuse_actors``) by cleaning up and setting up
    again from the new config, as a new process would."""

    def reset_config(self, new_config: dict) -> bool:
        self.cleanup()  # type: ignore[attr-defined]
        self.setup(new_config)  # type: ignore[attr-defined]
        return True


def ended_on_restore() -> dict:
    """What ``train()`` answers for a trial restored at the end of its budget: Tune's
    "no new result" marker, on which Tune ends the trial with its restored last result
    (and tells no callback of a new one)."""
    from ray.tune.result import RESULT_DUPLICATE

    return {RESULT_DUPLICATE: True}
