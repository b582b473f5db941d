"""The typed settings schema: one frozen model per config group.

Group keys that RLlib's builders take (``algo.training``, ``scaling.env_runners``,
``scaling.learners``, ``fault_tolerance``) stay dicts here and are checked
against the builders' signatures by :mod:`motif_tune.rllib.checks`; the keys the
framework itself reasons about get typed views.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from motif_tune.results import flatten

# Where an objective metric may come from in a trial's result.
METRIC_PREFIXES = ("env_runners/", "learners/", "evaluation/", "timers/", "perf/")
TOP_LEVEL_METRICS = ("training_iteration", "time_total_s", "num_env_steps_sampled_lifetime")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(_Model):
    root: Path


class TaskMetric(_Model):
    """A per-episode metric an env's callbacks report beside the episode return."""

    name: str  # the result key under env_runners/ (and evaluation/env_runners/)
    mode: Literal["max", "min"] = "max"  # which way is better
    label: str | None = None  # a short name in one-line progress output

    @property
    def key(self) -> str:
        return f"env_runners/{self.name}"

    @property
    def short(self) -> str:
        return self.label or self.name

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value:
            raise ValueError(f"must be a metric name without '/', got {value!r}")
        return value


class EnvSettings(_Model):
    name: str
    # A Gymnasium id, or module:Class / module:make_env (an Env subclass or a creator).
    id: str
    env_config: dict[str, Any] = Field(default_factory=dict)
    normalize_actions: bool = True
    clip_actions: bool = False
    # An exception in step() ends the episode (reset() is retried) instead of the trial.
    end_episode_on_fault: bool = True
    # The env's RLlib callbacks (module:Class, RLlibCallback subclasses) and the
    # metrics they report, which sweep.metric may name as env_runners/<name>.
    callbacks: list[str] = Field(default_factory=list)
    metrics: list[TaskMetric] = Field(default_factory=list)
    # The env_config key of the env's log folder: unset, it is the run's own folder.
    log_dir_key: str | None = None
    # <PREFIX><KEY> environment variables set env_config keys the env takes (over its
    # YAML file; the command line wins over both).
    env_vars_prefix: str | None = None


class AlgoSettings(_Model):
    name: str
    training: dict[str, Any] = Field(default_factory=dict)
    model_config_: dict[str, Any] = Field(default_factory=dict, alias="model_config")

    @property
    def train_batch_size(self) -> int | None:
        """``training.train_batch_size_per_learner`` (None: the algorithm's default)."""
        return self.training.get("train_batch_size_per_learner")

    @model_validator(mode="after")
    def _typed_batch(self) -> AlgoSettings:
        batch = self.train_batch_size
        if batch is not None and (not _whole(batch) or batch < 1):
            raise ValueError(
                f"training.train_batch_size_per_learner must be a whole number >= 1, got {batch!r}"
            )
        return self


class RayInitSettings(_Model):
    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)
    num_gpus: float | None = Field(default=None, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)


class ScalingSettings(_Model):
    name: str
    ray: RayInitSettings = Field(default_factory=RayInitSettings)
    # The Ray resource that stands for a GPU: "GPU", or a custom resource
    # declared in ray.resources (logical GPUs: scheduling without CUDA).
    gpu_resource: str = "GPU"
    env_runners: dict[str, Any] = Field(default_factory=dict)
    learners: dict[str, Any] = Field(default_factory=dict)

    @property
    def logical_gpus(self) -> bool:
        return self.gpu_resource != "GPU"

    # Typed views of the RLlib keys the framework itself reasons about.
    @property
    def num_env_runners(self) -> int:
        return self.env_runners.get("num_env_runners", 0)

    @property
    def num_envs_per_env_runner(self) -> int:
        return self.env_runners.get("num_envs_per_env_runner", 1)

    @property
    def num_learners(self) -> int:
        """Remote learners (0: one local learner in the trial's main process)."""
        return int(self.learners.get("num_learners", 0) or 0)

    @property
    def rollout_fragment_length(self) -> int | Literal["auto"]:
        return self.env_runners.get("rollout_fragment_length", "auto")

    @property
    def num_gpus_per_env_runner(self) -> float:
        return float(self.env_runners.get("num_gpus_per_env_runner", 0) or 0)

    @property
    def runners_get_gpus(self) -> bool:
        return self.num_env_runners > 0 and self.num_gpus_per_env_runner > 0

    @field_validator("env_runners")
    @classmethod
    def _vectorize_mode_in_gymnasiums_case(cls, value: dict[str, Any]) -> dict[str, Any]:
        """``gym_env_vectorize_mode: ASYNC`` (as RLlib's docs write it) or ``async``."""
        mode = value.get("gym_env_vectorize_mode")
        if isinstance(mode, str):
            value = {**value, "gym_env_vectorize_mode": mode.lower()}
        return value

    @model_validator(mode="after")
    def _typed_runner_keys(self) -> ScalingSettings:
        for key, least in (("num_env_runners", 0), ("num_envs_per_env_runner", 1)):
            value = self.env_runners.get(key, least)
            if not _whole(value) or value < least:
                raise ValueError(
                    f"env_runners.{key} must be a whole number >= {least}, got {value!r}"
                )
        fragment = self.rollout_fragment_length
        if fragment != "auto" and (not _whole(fragment) or fragment < 1):
            raise ValueError(
                f"env_runners.rollout_fragment_length must be 'auto' or a whole number >= 1, "
                f"got {fragment!r}"
            )
        gpus = self.env_runners.get("num_gpus_per_env_runner", 0) or 0
        if not isinstance(gpus, int | float) or gpus < 0:
            raise ValueError(f"env_runners.num_gpus_per_env_runner must be >= 0, got {gpus!r}")
        return self

    @model_validator(mode="after")
    def _logical_gpus_are_declared(self) -> ScalingSettings:
        declared = self.gpu_resource in self.ray.resources
        if self.logical_gpus and self.ray.address is None and not declared:
            raise ValueError(
                f"gpu_resource '{self.gpu_resource}' must be declared in scaling.ray.resources"
            )
        return self


class TrackingSettings(_Model):
    uri: str
    artifact_location: str | None = None
    experiment_name: str = "motif_tune"
    # Registry name for the best checkpoint of each sweep (null: don't register).
    registered_model: str | None = None
    # Metric curves per iteration: a curated dozen, or every number of the result.
    metrics: Literal["curated", "all"] = "curated"
    # How long the wrap-up waits for a store that stopped answering before it leaves
    # the records it holds to `motif-tune resume`.
    outage_wait_s: float = Field(default=120.0, ge=0)


# Algorithms whose new-stack default RLModule trains on this project's envs (algo.name).
SUPPORTED_ALGORITHMS = ("PPO", "APPO", "IMPALA", "DQN", "SAC")


class ParamSpec(_Model):
    """One searched dimension: a range (int/float, optionally log) or choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None
    path: str | None = None
    # Search this dimension only when the scaling profile gives env runners GPUs.
    only_with_gpus: bool = False
    # Search this dimension only for these algorithms (algo.name, e.g. [PPO]); null: all.
    only_for_algos: list[str] | None = None
    # Population-based training (scheduler pbt/pb2) changes this value as trials train.
    mutable: bool = False

    @field_validator("only_for_algos")
    @classmethod
    def _known_algos(cls, names: list[str] | None) -> list[str] | None:
        unknown = [n for n in names or [] if n.upper() not in SUPPORTED_ALGORITHMS]
        if unknown:
            raise ValueError(
                f"unknown algorithm {', '.join(map(repr, unknown))}; valid: "
                f"{', '.join(SUPPORTED_ALGORITHMS)}"
            )
        return names

    @model_validator(mode="after")
    def _check_shape(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} parameter needs 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low}) must not exceed 'high' ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs 'low' > 0, got {self.low}")
        return self


def _flatten_space(space: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{algo: {training: {lr: spec}}}`` as ``("algo.training.lr", spec)``: a mapping
    with a ``type`` is a dimension, any other mapping a level of its path."""
    for key, spec in space.items():
        name = f"{prefix}{key}"
        if isinstance(spec, Mapping) and "type" not in spec and spec:
            yield from _flatten_space(spec, f"{name}.")
        else:
            yield name, spec


POPULATION_SCHEDULERS = ("pbt", "pb2")


class SchedulerSettings(_Model):
    type: Literal["fifo", "asha", "pbt", "pb2"] = "fifo"
    # ASHA's first rung as a fraction of the budget; rungs grow by reduction_factor.
    grace_fraction: float = Field(default=0.125, gt=0, lt=1)
    reduction_factor: float = Field(default=2, gt=1)
    # PBT/PB2: the population is compared (the weak copy the strong) every this much of
    # the budget's unit (null: a fifth of the budget); Ray's defaults for the rest.
    perturbation_interval: float | None = Field(default=None, gt=0)
    quantile_fraction: float = Field(default=0.25, gt=0, le=0.5)
    resample_probability: float = Field(default=0.25, ge=0, le=1)  # pbt only

    @property
    def population_based(self) -> bool:
        return self.type in POPULATION_SCHEDULERS


class BudgetSettings(_Model):
    """What one trial may spend, in exactly one unit."""

    env_steps: int | None = Field(default=None, ge=1)
    time_s: float | None = Field(default=None, gt=0)
    iterations: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_unit(self) -> BudgetSettings:
        if sum(getattr(self, name) is not None for name in BUDGET_UNITS) != 1:
            raise ValueError(
                "sweep.budget needs exactly one of env_steps, time_s or iterations, e.g. "
                "sweep.budget={env_steps: 20000}"
            )
        return self

    @property
    def unit(self) -> str:
        return next(name for name in BUDGET_UNITS if getattr(self, name) is not None)

    @property
    def amount(self) -> float:
        return float(getattr(self, self.unit))


BUDGET_UNITS = ("env_steps", "time_s", "iterations")
STUDY_FILE = "optuna.db"


class ObjectiveSettings(_Model):
    """How a trial is scored: greedy evaluation on fixed seeds, or a smoothed training metric."""

    by: Literal["evaluation", "smoothed"] = "evaluation"
    episodes: int = Field(default=200, ge=1)  # evaluation episodes per score
    num_envs: int = Field(default=8, ge=1)  # evaluation envs (fixed: it decides the episodes)
    seed: int = 1_000_000  # evaluation env seed, the same for every trial
    window: int = Field(default=5, ge=1)  # smoothed: mean of the last N reports


class VerifySettings(_Model):
    """The top configurations trained again on fresh seeds; the best mean is the champion."""

    top_k: int = Field(default=3, ge=0)
    seeds: int = Field(default=3, ge=1)
    # A second round: this many more seeds for the finalists the first ``seeds`` cannot
    # tell from the leader (Welch's t-test, 95%); 0: none.
    extra_seeds: int = Field(default=0, ge=0)

    @property
    def seed_cap(self) -> int:
        """The most fresh seeds one finalist trains on."""
        return self.seeds + self.extra_seeds


class SelectionSettings(_Model):
    """How the champion is chosen among the verified finalists."""

    # best: the best verified mean; cheapest_within: the cheapest finalist (by ``cost``)
    # whose verified mean is within ``tolerance`` of the best one.
    rule: Literal["best", "cheapest_within"] = "best"
    tolerance: float = Field(default=0.01, ge=0)  # in the objective's own units
    cost: Literal["wall_s", "cpu_s", "gpu_s"] = "cpu_s"


class CheckpointSettings(_Model):
    frequency: int = Field(default=0, ge=0)
    num_to_keep: int = Field(default=1, ge=1)
    # The k best checkpoints of the sweep are uploaded to MLflow (the best is registered).
    log_top_k: int = Field(default=1, ge=0)


class StudySettings(_Model):
    """Where the sweep's Optuna study is kept (its trials, values and rungs)."""

    # An Optuna storage URL (on a cluster: an RDB all drivers reach), or a file path
    # for a journal file (appends under a file lock: cheap at large trial counts);
    # null: a SQLite file of its own beside MLflow's store, ``<paths.root>/optuna.db``.
    storage: str | None = None


class SweepSettings(_Model):
    name: str
    metric: str
    mode: Literal["max", "min"]
    num_samples: int = Field(ge=1)
    max_concurrent_trials: int | None = Field(default=None, ge=1)
    seed: int = 0
    searcher: Literal["optuna", "random"] = "optuna"
    # Random trials before TPE models the space (null: a third of the budget, 3 to 10).
    n_startup_trials: int | None = Field(default=None, ge=1)
    # Candidates TPE scores per proposal (Optuna's default 24); fewer keep the
    # suggestion time of a sweep of hundreds of trials down.
    n_ei_candidates: int = Field(default=24, ge=1)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    budget: BudgetSettings
    objective: ObjectiveSettings = Field(default_factory=ObjectiveSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    # Seed groups: each search trial trains this many seeds of its configuration and
    # reports their mean (ASHA's rungs compare means); its budget is that many times the
    # per-seed budget. ``seed_group_score``: the mean, or the mean less one standard
    # error (a pessimistic bound: a lucky seed counts for less).
    seeds_per_trial: int = Field(default=1, ge=1)
    seed_group_score: Literal["mean", "mean_minus_se"] = "mean"
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    space: dict[str, ParamSpec] = Field(default_factory=dict)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    max_failures: int = Field(default=0, ge=-1)
    # A finished (or paused: PBT) trial's process takes the next trial of the same size
    # (Tune's reuse_actors): its Algorithm is built anew, its imports (seconds a trial)
    # are not paid again. Off: a process per trial, for envs that keep state between
    # instances in module globals.
    reuse_processes: bool = True
    study: StudySettings = Field(default_factory=StudySettings)
    # Earlier sweeps (run names) whose finished trials seed this sweep's study.
    warm_start: list[str] = Field(default_factory=list)

    @field_validator("warm_start", mode="before")
    @classmethod
    def _run_names(cls, value: Any) -> Any:
        """``a`` or ``a,b`` (quoted on the command line) or ``[a,b]``; null is none."""
        if value is None:
            return []
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("space", mode="before")
    @classmethod
    def _dotted_names(cls, value: Any) -> Any:
        """A config path searched from the command line (``sweep.space.algo.training.lr=
        {...}``) arrives nested; it is the dotted name ``algo.training.lr``."""
        if not isinstance(value, Mapping):
            return value
        return dict(_flatten_space(value))

    @field_validator("metric")
    @classmethod
    def _metric_is_a_result_key(cls, value: str) -> str:
        if not value.startswith(METRIC_PREFIXES) and value not in TOP_LEVEL_METRICS:
            raise ValueError(
                "must be a Tune result key such as env_runners/episode_return_mean, "
                "env_runners/match_accuracy or learners/default_policy/total_loss"
            )
        return value

    @model_validator(mode="after")
    def _evaluation_scores_an_episode_metric(self) -> SweepSettings:
        if self.objective.by == "evaluation" and not self.metric.startswith("env_runners/"):
            raise ValueError(
                f"sweep.metric ({self.metric}) must be an env_runners/ episode metric to be "
                "scored by evaluation; use sweep.objective.by=smoothed for other metrics"
            )
        return self

    @model_validator(mode="after")
    def _population_settings(self) -> SweepSettings:
        scheduler = self.scheduler
        mutable = [name for name, spec in self.space.items() if spec.mutable]
        if not scheduler.population_based:
            if mutable:
                raise ValueError(
                    f"sweep.space.{mutable[0]} is mutable, which only population-based "
                    "training changes: set sweep.scheduler.type to pbt or pb2, or drop mutable"
                )
            return self
        kind = scheduler.type
        if not mutable:
            raise ValueError(
                f"sweep.scheduler.type={kind} needs at least one mutable dimension in "
                "sweep.space, e.g. algo.training.lr: {type: float, low: 1e-5, high: 1e-3, "
                "log: true, mutable: true}"
            )
        if kind == "pb2":
            discrete = [n for n in mutable if self.space[n].type != "float"]
            if discrete:
                raise ValueError(
                    f"sweep.space.{discrete[0]} is {self.space[discrete[0]].type}: pb2 mutates "
                    "float ranges only; use sweep.scheduler.type=pbt or make it a float range"
                )
        if self.seeds_per_trial > 1:
            raise ValueError(
                f"sweep.seeds_per_trial={self.seeds_per_trial} cannot be combined with {kind}: "
                "a population member trains one seed (verification retrains on fresh seeds)"
            )
        if self.warm_start:
            raise ValueError(
                f"sweep.warm_start cannot seed a {kind} population (its members start from "
                "random draws of sweep.space); drop warm_start"
            )
        interval = scheduler.perturbation_interval
        if interval is not None and interval >= self.budget.amount:
            raise ValueError(
                f"sweep.scheduler.perturbation_interval ({interval:g}) must be below the "
                f"budget ({self.budget.amount:g} {self.budget.unit}): the population is "
                "compared every interval"
            )
        return self

    @property
    def objective_description(self) -> str:
        """How trials are scored, in words (the sweep's first line and its summary)."""
        objective = self.objective
        if objective.by == "evaluation":
            return (
                f"{self.metric} of a greedy evaluation over {objective.episodes} "
                "fixed-seed episodes"
            )
        return f"{self.metric}, mean of the last {objective.window} reports"

    @property
    def startup_trials(self) -> int:
        if self.n_startup_trials is not None:
            return self.n_startup_trials
        return min(10, max(3, self.num_samples // 3))


class LoggingSettings(_Model):
    console: Literal["normal", "verbose"] = "normal"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: str = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    rllib_level: Literal["DEBUG", "INFO", "WARN", "ERROR"] = "WARN"
    tune_verbose: int = Field(default=1, ge=0, le=3)

    @field_validator("level", "rllib_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def console_level(self) -> str:
        """Records that reach the terminal; the rest go to the log file only."""
        return self.level if self.console == "verbose" else "WARNING"


class UiSettings(_Model):
    """``motif-tune ui`` and ``motif-tune dashboard``: where they serve."""

    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    dashboard_port: int = Field(default=8080, ge=1, le=65535)


class TrainSettings(_Model):
    """``motif-tune train``: one config, no search."""

    checkpoint_frequency: int = Field(default=5, ge=0)
    num_checkpoints_to_keep: int = Field(default=3, ge=1)
    from_sweep: str | None = None


class EvaluateSettings(_Model):
    """``motif-tune evaluate``: score a checkpoint."""

    episodes: int = Field(default=20, ge=1)
    deterministic: bool = True
    num_env_runners: int = Field(default=0, ge=0)


class Settings(_Model):
    """Everything a command needs, typed. Built only by ``load_settings``."""

    command: Literal["sweep", "train", "evaluate", "resume", "studies", "ui", "dashboard"] = "sweep"
    run_name: str
    storage_path: str
    # The project folder (conf/, sweeps/, its Python modules); "." is the current one.
    project_dir: Path = Path(".")
    stop: dict[str, float] = Field(default_factory=dict)
    checkpoint: str | None = None
    seed: int = 0
    debug: bool = False
    paths: PathSettings
    env: EnvSettings
    algo: AlgoSettings
    scaling: ScalingSettings
    tracking: TrackingSettings
    sweep: SweepSettings
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    fault_tolerance: dict[str, Any] = Field(default_factory=dict)
    train: TrainSettings = Field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    # The run's output folder (Hydra's), where its log file goes.
    output_dir: str | None = None
    # The composed config, resolved: what was run, for the record and for trials.
    composed: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @property
    def recorded_config(self) -> dict[str, Any]:
        """The composed config as recorded with a run (no run-specific output folder)."""
        return {k: v for k, v in self.composed.items() if k != "output_dir"}

    @property
    def is_sweep(self) -> bool:
        """Sweeps (and their resumption) search and schedule; train and evaluate do not."""
        return self.command in ("sweep", "resume")

    @property
    def study_storage(self) -> str:
        """The Optuna storage of sweep studies (not MLflow's database: their schema
        migrations must not share one)."""
        storage = self.sweep.study.storage
        if storage is None:
            return f"sqlite:///{(self.paths.root / STUDY_FILE).resolve()}"
        return storage if "://" in storage else str(Path(storage).resolve())

    @property
    def storage_is_local(self) -> bool:
        """Tune's storage is a folder on this machine (shared or not), not an object store."""
        return "://" not in self.storage_path or self.storage_path.startswith("file://")

    @property
    def experiment_dir(self) -> Path:
        """The sweep's Tune experiment folder (a path on this machine when the storage is local)."""
        return Path(self.storage_path.removeprefix("file://")) / self.run_name

    @property
    def log_file(self) -> Path:
        """The run's log file: driver and every worker append to it."""
        folder = (
            Path(self.output_dir) if self.output_dir else self.paths.root / "logs" / self.run_name
        )
        return folder / "motif_tune.log"

    @field_validator("run_name")
    @classmethod
    def _run_name_is_a_folder_name(cls, value: str) -> str:
        if not value or any(ch in value for ch in "/\\:") or value in {".", ".."}:
            raise ValueError(f"must be a plain folder name without '/', '\\' or ':', got {value!r}")
        return value

    @field_validator("project_dir")
    @classmethod
    def _project_is_absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("storage_path")
    @classmethod
    def _storage_is_absolute(cls, value: str) -> str:
        return value if "://" in value else str(Path(value).expanduser().resolve())

    @field_validator("stop", mode="before")
    @classmethod
    def _nested_stop_keys(cls, value: Any) -> Any:
        """``stop.env_runners.match_accuracy`` (the command line cannot say ``/``) means
        the result key ``env_runners/match_accuracy``."""
        return flatten(value) if isinstance(value, dict) else value

    @field_validator("stop")
    @classmethod
    def _stop_is_positive(cls, value: dict[str, float]) -> dict[str, float]:
        for key, limit in value.items():
            if key in {"training_iteration", "time_total_s"} and not limit > 0:
                raise ValueError(f"stop.{key} must be > 0, got {limit}")
        return value


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_setting(path: str) -> bool:
    """``path`` names a field of the schema, or a key inside one of its free-form dicts."""
    model: type[BaseModel] = Settings
    parts = path.split(".")
    for i, part in enumerate(parts):
        field = next(
            (f for n, f in model.model_fields.items() if part in (n, f.alias) and n != "composed"),
            None,
        )
        if field is None:
            return False
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif i < len(parts) - 1:
            return getattr(annotation, "__origin__", None) is dict
    return True
