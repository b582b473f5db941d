"""MLflow: one parent run per sweep, one nested child run per trial.

Writes go through ``MlflowClient`` in batches: one ``log_batch`` per training
iteration with a chosen set of metrics, params once per trial. Child runs are
found again by the trial id tag, so a resumed sweep continues its runs instead
of duplicating them.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from ray.tune import Callback

from motif_tune.errors import ConfigError
from motif_tune.settings import Settings

log = logging.getLogger(__name__)

TAG_SWEEP = "motif_tune.sweep"
TAG_ROLE = "motif_tune.role"
TAG_TRIAL_ID = "motif_tune.trial_id"
TAG_TRIAL_STATUS = "motif_tune.trial_status"
TAG_CHECKPOINT_RANK = "motif_tune.checkpoint_rank"
TAG_CHECKPOINT_SOURCE = "motif_tune.checkpoint_source"
# Result keys logged each iteration (besides every key under these prefixes).
RESULT_KEYS = (
    "training_iteration",
    "time_this_iter_s",
    "time_total_s",
    "env_steps_per_s",
)
RESULT_PREFIXES = ("env_runners/", "learners/default_policy/")
# Per-connector timers: dozens of curves nobody compares across trials.
RESULT_SKIP = ("connector/", "/timers/")
_MAX_BATCH = 900


def check_tracking_server(uri: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when no server answers."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
            return
    except OSError as err:
        raise ConfigError(
            f"tracking.uri '{uri}': no MLflow tracking server answers there "
            f"({err.strerror or err}); start it (mlflow server --host …) or fix tracking.uri."
        ) from None


def mlflow_client(settings: Settings) -> MlflowClient:
    """A client for ``tracking.uri``; a local SQLite store gets its folder created."""
    uri = settings.tracking.uri
    check_tracking_server(uri)
    if uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(uri.removeprefix("sqlite:///")) or ".", exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def experiment_id(client: MlflowClient, settings: Settings) -> str:
    """Get or create the experiment; a new local one keeps artifacts under paths.root."""
    name = settings.tracking.experiment_name
    try:
        existing = client.get_experiment_by_name(name)
    except Exception as err:  # an unreachable server, a bad URI
        raise ConfigError(
            f"tracking.uri '{settings.tracking.uri}' cannot be reached ({_short(err)}); "
            "start the tracking server or point tracking.uri at a reachable one."
        ) from None
    if existing is not None:
        return existing.experiment_id
    location = settings.tracking.artifact_location
    is_local = settings.tracking.uri.startswith(("sqlite:", "file:", "/"))
    if location and is_local:
        os.makedirs(location, exist_ok=True)
        return client.create_experiment(name, artifact_location=_as_uri(location))
    return client.create_experiment(name)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def iteration_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric metrics worth a curve, from a flattened Tune result."""
    flat = flatten_result(result)
    steps = flat.get("env_runners/num_env_steps_sampled")
    seconds = flat.get("time_this_iter_s")
    if isinstance(steps, int | float) and isinstance(seconds, int | float) and seconds > 0:
        flat["env_steps_per_s"] = steps / seconds
    return {
        key: float(value)
        for key, value in flat.items()
        if (key in RESULT_KEYS or key.startswith(RESULT_PREFIXES))
        and not any(part in key for part in RESULT_SKIP)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


def flatten_result(result: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, Mapping):
            for sub, inner in flatten_result(value).items():
                flat[f"{key}/{sub}"] = inner
        else:
            flat[key] = value
    return flat


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    items = [Param(k, _param_value(v)) for k, v in params.items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start : start + 100])


def log_metrics(client: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int) -> None:
    now = int(time.time() * 1000)
    items = [Metric(k, v, now, step) for k, v in metrics.items()]
    for start in range(0, len(items), _MAX_BATCH):
        client.log_batch(run_id, metrics=items[start : start + _MAX_BATCH])


class SweepRun:
    """The parent run of one sweep."""

    def __init__(self, settings: Settings, client: MlflowClient | None = None) -> None:
        self.settings = settings
        self.client = client or mlflow_client(settings)
        self.experiment_id = experiment_id(self.client, settings)
        self.run_id: str | None = None

    def start(self, overrides: Iterable[str] = ()) -> str:
        """Create the parent run (or continue the one with this run name)."""
        existing = self._find_parent()
        if existing is not None:
            self.run_id = existing
            self.client.update_run(existing, status="RUNNING")
            return existing
        settings = self.settings
        tags = {
            MLFLOW_RUN_NAME: settings.run_name,
            TAG_SWEEP: settings.run_name,
            TAG_ROLE: "sweep",
            "env": settings.env.name,
            "algo": settings.algo.name,
            "scaling": settings.scaling.name,
            "sweep": settings.sweep.name,
            "hydra_overrides": " ".join(overrides)[:5000],
        }
        commit = git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        run = self.client.create_run(self.experiment_id, run_name=settings.run_name, tags=tags)
        self.run_id = run.info.run_id
        config = {k: v for k, v in flatten(settings.composed).items() if not k.startswith("hydra")}
        log_params(self.client, self.run_id, config)
        self.log_config()
        return self.run_id

    def finish(self, status: str = "FINISHED") -> None:
        if self.run_id:
            self.client.set_terminated(self.run_id, status=status)

    def _find_parent(self) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TAG_SWEEP}` = '{self.settings.run_name}' "
            f"and tags.`{TAG_ROLE}` = 'sweep'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def log_new_params(self, params: Mapping[str, Any]) -> None:
        """Log params the run does not hold yet (MLflow params are write-once)."""
        existing = self.client.get_run(self.run_id).data.params
        log_params(self.client, self.run_id, {k: v for k, v in params.items() if k not in existing})

    def log_checkpoint(self, trial_id: str, path: str, rank: int, value: float) -> None:
        """Upload a checkpoint folder to its trial's run (``checkpoint/``) and tag its rank."""
        run_id = self.child_runs().get(trial_id)
        if run_id is None:
            return
        self.client.log_artifacts(run_id, path, artifact_path="checkpoint")
        self.client.log_batch(
            run_id,
            tags=[RunTag(TAG_CHECKPOINT_RANK, str(rank)), RunTag(TAG_CHECKPOINT_SOURCE, path)],
        )
        log.info("Logged checkpoint #%d (%s) of trial %s to MLflow.", rank, _fmt(value), trial_id)

    def register_best(self, trial_id: str, model_name: str) -> str:
        """Register the best trial's uploaded checkpoint as a new model version."""
        run_id = self.child_runs()[trial_id]
        try:
            self.client.get_registered_model(model_name)
        except Exception:
            self.client.create_registered_model(
                model_name, description="Best RLlib checkpoints of motif-tune sweeps."
            )
        source = f"{self.client.get_run(run_id).info.artifact_uri}/checkpoint"
        version = self.client.create_model_version(
            model_name,
            source=source,
            run_id=run_id,
            tags={
                TAG_SWEEP: self.settings.run_name,
                "algo": self.settings.algo.name,
                "env": self.settings.env.id,
            },
            description=f"Best checkpoint of sweep {self.settings.run_name}.",
        )
        self.client.set_tag(self.run_id, "registered_model", f"{model_name}/{version.version}")
        return str(version.version)

    def log_plots(self, study: Any) -> None:
        """Optimisation history, importances and parallel coordinates as parent artifacts."""
        from motif_tune.plots import study_plots, trials_table

        with tempfile.TemporaryDirectory() as folder:
            paths = study_plots(study, Path(folder), self.settings.sweep.metric)
            table = Path(folder) / "trials.csv"
            trials_table(study).to_csv(table, index=False)
            for path in [*paths, table]:
                self.client.log_artifact(self.run_id, str(path), artifact_path="plots")

    def log_config(self) -> None:
        """The composed config as YAML, so a sweep can be re-run from what it recorded."""
        from omegaconf import OmegaConf

        config = {k: v for k, v in self.settings.composed.items() if k != "hydra"}
        self.client.log_text(self.run_id, OmegaConf.to_yaml(config), "config.yaml")

    def child_runs(self) -> dict[str, str]:
        """trial id -> child run id, for the trials this sweep already recorded."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{self.run_id}'",
            max_results=10000,
        )
        return {
            r.data.tags[TAG_TRIAL_ID]: r.info.run_id for r in runs if TAG_TRIAL_ID in r.data.tags
        }


class MLflowTrialCallback(Callback):
    """A Tune callback recording each trial as a child run of the sweep's parent run."""

    def __init__(self, sweep_run: SweepRun) -> None:
        self.sweep_run = sweep_run
        self.client = sweep_run.client
        self.stop_iterations = sweep_run.settings.stop.get("training_iteration")
        self._runs: dict[str, str] = {}
        self._last_step: dict[str, int] = {}

    def setup(self, **info: Any) -> None:
        """On resume: find the trials' runs again and the last iteration each recorded."""
        self._runs = self.sweep_run.child_runs()
        for trial_id, run_id in self._runs.items():
            history = self.client.get_metric_history(run_id, "training_iteration")
            self._last_step[trial_id] = max((int(m.step) for m in history), default=0)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        run_id = self._runs.get(trial.trial_id)
        if run_id is not None:
            self.client.update_run(run_id, status="RUNNING")
            return
        run = self.client.create_run(
            self.sweep_run.experiment_id,
            run_name=trial.trial_id,
            tags={
                MLFLOW_PARENT_RUN_ID: self.sweep_run.run_id,
                TAG_SWEEP: self.sweep_run.settings.run_name,
                TAG_ROLE: "trial",
                TAG_TRIAL_ID: trial.trial_id,
            },
        )
        self._runs[trial.trial_id] = run.info.run_id
        log_params(self.client, run.info.run_id, dict(trial.config))

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        run_id = self._runs.get(trial.trial_id)
        if run_id is None:
            return
        step = int(result.get("training_iteration", 0))
        if step <= self._last_step.get(trial.trial_id, 0):
            return  # a restored trial repeating iterations its run already holds
        self._last_step[trial.trial_id] = step
        log_metrics(self.client, run_id, iteration_metrics(result), step)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        done = last.get("training_iteration", 0)
        stopped_early = bool(self.stop_iterations) and done < self.stop_iterations
        self._end(trial, "FINISHED", "stopped_early" if stopped_early else "finished")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Delete runs of trials Tune itself lost (started just before a driver was killed,
        never saved in its experiment state): the resumed sweep ran them afresh."""
        known = {trial.trial_id for trial in trials}
        for trial_id, run_id in list(self._runs.items()):
            if trial_id not in known and self.client.get_run(run_id).info.status == "RUNNING":
                self.client.delete_run(run_id)
                del self._runs[trial_id]
                log.info("Removed the run of trial %s, which the resumed sweep replaced.", trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, "FAILED", "failed")

    def _end(self, trial: Any, status: str, outcome: str) -> None:
        run_id = self._runs.get(trial.trial_id)
        if run_id is None:
            return
        self.client.log_batch(run_id, tags=[RunTag(TAG_TRIAL_STATUS, outcome)])
        self.client.set_terminated(
            run_id, status=RunStatus.to_string(RunStatus.from_string(status))
        )


def git_commit() -> str | None:
    """The checkout's commit, when the code runs from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def _as_uri(path: str) -> str:
    from pathlib import Path

    return Path(path).resolve().as_uri()


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) < 160 else text[:157] + "..."
