"""The model registry: a sweep's winner as a new version of a registered model, aliased
``challenger``, and ``champion`` only when it beats the current one
(:mod:`motif_tune.search.standing` holds the rule).

A version is a pyfunc model (``policy``, logged into the champion trial's run)
that wraps the RLlib checkpoint and answers observations with greedy actions
(:mod:`motif_tune.tracking.policy_model`). An env whose observations or actions
are not rows of numbers gets its raw ``checkpoint/`` upload registered instead.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from motif_tune.compat.mlflow import tracking_uri_set
from motif_tune.errors import UnsupportedPolicyError
from motif_tune.rllib.algorithm import RLLIB_METADATA
from motif_tune.search.standing import CHALLENGER, CHAMPION, Standing, verdict
from motif_tune.tracking.policy_model import CHECKPOINT_ARTIFACT, log_policy_model
from motif_tune.tracking.runs import TAG_CHECKPOINT_SOURCE, TAG_SWEEP
from motif_tune.tracking.sweep_run import SweepRun

log = logging.getLogger(__name__)
TAG_QUESTION = "motif_tune.question"
TAG_MEASURE = "motif_tune.measure"
TAG_SOURCE_RUN = "motif_tune.source_run"  # the run whose checkpoint a version wraps


@dataclass(frozen=True)
class Registration:
    """A sweep's winner in the registry: its version, and who holds ``champion``."""

    model: str
    version: str
    promoted: bool
    reason: str
    repeated: bool = False  # this checkpoint was registered before (a resumed sweep)

    def render(self) -> str:
        alias = f"@{CHAMPION}" if self.promoted else f"@{CHALLENGER}"
        return f"models:/{self.model}/{self.version} (alias {alias}): {self.reason}"


def champion_standing(client: MlflowClient, model_name: str) -> tuple[str, Standing] | None:
    """The version that holds ``champion`` and what it claims (None: no champion yet)."""
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    tags = version.tags
    standing = Standing(
        question=tags.get(TAG_QUESTION, ""),
        measure=tags.get(TAG_MEASURE, ""),
        mean=float(tags.get("objective_mean", tags.get("objective", "nan"))),
        std=float(tags.get("objective_std", 0.0)),
        mode=tags.get("mode", "max"),
    )
    return str(version.version), standing


def register_winner(
    sweep_run: SweepRun,
    trial_id: str,
    model_name: str,
    standing: Standing,
    tags: Mapping[str, str],
    fresh: tuple[float, float] | None = None,
) -> Registration:
    """Register a trial's checkpoint as a version of ``model_name`` aliased ``challenger``;
    it takes ``champion`` when it beats the current one (:mod:`motif_tune.search.standing`).
    The same checkpoint registered again (a resumed sweep) adds no version."""
    client, settings = sweep_run.client, sweep_run.settings
    run_id = sweep_run.child_runs()[trial_id]
    ensure_registered_model(client, model_name)
    earlier = [
        v
        for v in client.search_model_versions(f"name = '{model_name}'")
        if v.tags.get(TAG_SOURCE_RUN) == run_id
    ]
    held = champion_standing(client, model_name)
    if earlier:
        version = str(earlier[0].version)
        promoted = held is not None and held[0] == version
        reason = "registered before, no new version" + (
            "" if promoted else f"; @champion is version {held[0] if held else 'none'}"
        )
        return Registration(model_name, version, promoted, reason, repeated=True)
    source, model_id = _policy_model(sweep_run, trial_id, run_id)
    claims = {
        TAG_QUESTION: standing.question,
        TAG_MEASURE: standing.measure,
        TAG_SOURCE_RUN: run_id,
        "mode": standing.mode,
    }
    # A SQLite registry resolves a ``models:/m-...`` source with the global tracking URI.
    with tracking_uri_set(sweep_run.tracking_uri):
        created = client.create_model_version(
            model_name,
            source=source,
            run_id=run_id,
            tags={
                TAG_SWEEP: settings.run_name,
                "algo": settings.algo.name,
                "env": settings.env.name,
                "env_id": settings.env.id,
                **claims,
                **tags,
            },
            description=f"Winner of sweep {settings.run_name}.",
            model_id=model_id,
        )
    version = str(created.version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    decision = verdict(standing, held[1] if held else None, held[0] if held else "", fresh)
    if decision.promoted:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    client.set_tag(sweep_run.run_id, "registered_model", f"{model_name}/{version}")
    return Registration(model_name, version, decision.promoted, decision.reason)


def ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    """The registered model, created unless it exists; sweeps ending at once may both
    find it missing, and the one that creates it second is not an error."""
    try:
        client.get_registered_model(model_name)
        return
    except MlflowException:
        pass
    try:
        client.create_registered_model(
            model_name, description="Best RLlib checkpoints of motif-tune sweeps."
        )
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _policy_model(sweep_run: SweepRun, trial_id: str, run_id: str) -> tuple[str, str | None]:
    """(model source, logged model id) of the pyfunc model of a trial's checkpoint."""
    import mlflow.artifacts

    run = sweep_run.client.get_run(run_id)
    env = sweep_run.settings.env
    with tempfile.TemporaryDirectory() as folder:
        local = run.data.tags.get(TAG_CHECKPOINT_SOURCE)
        if not local or not (Path(local) / RLLIB_METADATA).is_file():  # not on this machine
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=CHECKPOINT_ARTIFACT,
                dst_path=folder,
                tracking_uri=sweep_run.tracking_uri,
            )
        try:
            info = log_policy_model(
                sweep_run.tracking_uri,
                run_id,
                local,
                env.id,
                env.env_config,
                normalize_actions=env.normalize_actions,
                clip_actions=env.clip_actions,
            )
        except UnsupportedPolicyError as err:
            log.warning("Registering trial %s's raw checkpoint, no pyfunc model: %s", trial_id, err)
            return f"{run.info.artifact_uri}/{CHECKPOINT_ARTIFACT}", None
    return info.model_uri, info.model_id
