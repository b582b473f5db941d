"""Population-based training (``sweep.scheduler.type: pbt | pb2``): what may mutate,
the scheduler, the population's first values and what the stored study keeps of it.

A population member is a trial: it starts from one draw of ``sweep.space`` (the
first member from the composed config's own values), and at every comparison
(``perturbation_interval``, in the budget's unit) the weakest quantile copies a
strong member's checkpoint and trains on with its values perturbed (PBT: times
0.8 or 1.2, or resampled; PB2: a Gaussian-process bandit's choice). Only
``mutable`` dimensions change, and only ``algo.training.*`` keys may: a mutation
of what shapes resources or the batch rule would make a copied checkpoint
meaningless or the trial unschedulable, so it is refused before Ray starts.

Ray's population schedulers refuse search algorithms, so the population's first
values are drawn by Optuna's random sampler from the sweep's own stored study;
:class:`PopulationRecorder` (Tune's basic generator, which they accept) tells the
study how each member ended, with its schedule and lineage.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ray.tune import Callback
from ray.tune.search import BasicVariantGenerator

from motif_tune.config import ParamSpec, Settings
from motif_tune.errors import ConfigError
from motif_tune.results import OBJECTIVE
from motif_tune.search.budget import DATA_PER_ITERATION, Budget
from motif_tune.search.cost import costs_of
from motif_tune.search.params import param_path
from motif_tune.search.schedule import SCHEDULE, ExploitLog
from motif_tune.search.study import (
    ATTR_APPLIED,
    ATTR_TUNE_TRIAL,
    open_storage,
    storage_trial_id,
)

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

MUTABLE_PREFIX = "algo.training."
# Training keys that shape the batch rule: a copied checkpoint's runners would not fit.
_BATCH_KEYS = ("train_batch_size_per_learner", "train_batch_size")
ATTR_LINEAGE = "lineage"  # the study trial's exploits
ATTR_SCHEDULE = "schedule"  # the study trial's values over time


def check_mutations(settings: Settings) -> None:
    """Refuse, in one sentence, a mutable dimension that shapes resources or the batch."""
    sweep = settings.sweep
    if not sweep.scheduler.population_based:
        return
    for name, spec in sweep.space.items():
        if not spec.mutable:
            continue
        path = param_path(name, spec)
        key = path.removeprefix(MUTABLE_PREFIX)
        if not path.startswith(MUTABLE_PREFIX) or key in _BATCH_KEYS:
            raise ConfigError(
                f"sweep.space.{name} (the config path {path}) cannot be mutable: it shapes "
                "the trial's resources or RLlib's batch rule, which a copied checkpoint must "
                "keep; mutate algo.training.* keys such as lr, entropy_coeff, clip_param, "
                "gamma or lambda_, and search this one without mutable."
            )
    searched = [name for name in DATA_PER_ITERATION if name in sweep.space]
    if sweep.budget.unit == "iterations" and searched:
        raise ConfigError(
            f"sweep.budget counts iterations while the {sweep.scheduler.type} population "
            f"searches {', '.join(searched)}: a member that copies one with another batch "
            "would count iterations of another size; give sweep.budget in env_steps or time_s."
        )


@dataclass(frozen=True)
class Population:
    """What the population scheduler needs: its kind, the mutable ranges and its
    settings; the members' first values."""

    kind: str  # pbt | pb2
    mutable: dict[str, ParamSpec]
    quantile_fraction: float
    resample_probability: float
    seed: int

    @classmethod
    def of(cls, settings: Settings) -> Population | None:
        sweep = settings.sweep
        if not sweep.scheduler.population_based:
            return None
        return cls(
            kind=sweep.scheduler.type,
            mutable={n: s for n, s in sweep.space.items() if s.mutable},
            quantile_fraction=sweep.scheduler.quantile_fraction,
            resample_probability=sweep.scheduler.resample_probability,
            seed=sweep.seed,
        )

    def scheduler(self, budget: Budget) -> TrialScheduler:
        """Ray's PBT (or PB2), comparing members every ``budget.perturbation_interval``
        of the budget's unit; perturbed values are kept inside their ranges."""
        from ray.tune.schedulers import PopulationBasedTraining
        from ray.tune.schedulers.pb2 import PB2

        random.seed(self.seed)  # Ray's PBT perturbs with Python's random module
        common = dict(
            time_attr=budget.result_key,
            perturbation_interval=budget.perturbation_interval,
            quantile_fraction=self.quantile_fraction,
            custom_explore_fn=KeepInRange(self.mutable),
            require_attrs=True,
        )
        if self.kind == "pb2":
            bounds = {n: [s.low, s.high] for n, s in self.mutable.items()}
            return PB2(hyperparam_bounds=bounds, **common)
        mutations = {n: _domain(s) for n, s in self.mutable.items()}
        return PopulationBasedTraining(
            hyperparam_mutations=mutations,
            resample_probability=self.resample_probability,
            **common,
        )


class KeepInRange:
    """Ray's ``custom_explore_fn``: a perturbed value (x 0.8 or x 1.2) kept inside its
    range, and an int kept whole."""

    def __init__(self, specs: Mapping[str, ParamSpec]) -> None:
        self.specs = dict(specs)

    def __call__(self, config: dict) -> dict:
        for name, spec in self.specs.items():
            if name in config and spec.type != "categorical":
                value = min(max(config[name], spec.low), spec.high)
                config[name] = int(round(value)) if spec.type == "int" else float(value)
        return config


def _domain(spec: ParamSpec) -> Any:
    from ray import tune

    if spec.type == "categorical":
        return list(spec.choices or [])
    if spec.type == "int":
        sample = tune.lograndint if spec.log else tune.randint
        return sample(int(spec.low), int(spec.high) + 1)
    return tune.loguniform(spec.low, spec.high) if spec.log else tune.uniform(spec.low, spec.high)


def first_values(
    space: Any,
    size: int,
    storage_url: str,
    study_name: str,
    attrs: Mapping[str, Any],
    mode: str,
    seed: int,
    baseline: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """The members' first values, drawn at random (the first: ``baseline``) as trials of
    the sweep's new stored study (a resumed sweep's come back with Tune's state)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=open_storage(storage_url),
        sampler=optuna.samplers.RandomSampler(seed=seed),
        direction="maximize" if mode == "max" else "minimize",
    )
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    if baseline:
        study.enqueue_trial(dict(baseline))
    values = []
    for _ in range(size):
        trial = study.ask()
        drawn = space(trial)
        trial.set_user_attr(ATTR_APPLIED, drawn)
        values.append(drawn)
    return values


class PopulationRecorder(BasicVariantGenerator):
    """Tune's basic generator over the population's first values, telling the stored
    study how each member went: its exploits as they happen, its schedule, score and
    cost at its end.

    Study trial ``i`` is the member that started from the ``i``-th first values (its
    Tune trial id is kept on it). Saved with Tune's experiment, so a resumed sweep
    records every exploit once; :class:`MemberRetries` tells it of a retried member,
    which Tune tells callbacks only.
    """

    def __init__(
        self,
        points: Sequence[Mapping[str, Any]],
        storage_url: str,
        study_name: str,
        max_concurrent: int,
    ) -> None:
        self.firsts = [dict(p) for p in points]
        super().__init__(
            points_to_evaluate=[dict(p) for p in self.firsts], max_concurrent=max_concurrent
        )
        self.storage_url = storage_url
        self.study_name = study_name
        self.numbers: dict[str, int] = {}  # Tune trial id -> study trial number
        self.exploits = ExploitLog()
        self.told: set[str] = set()

    def next_trial(self) -> Any:
        trial = super().next_trial()
        if trial is not None and trial.trial_id not in self.numbers:
            taken = set(self.numbers.values())
            config = {k: v for k, v in trial.config.items() if not k.startswith("__")}
            number = next(
                (i for i, p in enumerate(self.firsts) if i not in taken and p == config),
                None,
            )
            if number is not None:
                self.numbers[trial.trial_id] = number
                self._attr(trial.trial_id, ATTR_TUNE_TRIAL, trial.trial_id)
        return trial

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self.exploits.observe(trial_id, result):
            self._attr(trial_id, ATTR_LINEAGE, self.exploits.events[trial_id])

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        super().on_trial_complete(trial_id, result, error)
        if error or trial_id in self.told or trial_id not in self.numbers:
            return  # an errored member is settled when the search ends (as for searches)
        import optuna
        from optuna.trial import TrialState

        result = result or {}
        self.on_trial_result(trial_id, result)
        storage = open_storage(self.storage_url)
        study = optuna.load_study(study_name=self.study_name, storage=storage)
        value = result.get(OBJECTIVE)
        if SCHEDULE in result:
            self._attr(trial_id, ATTR_SCHEDULE, json.loads(result[SCHEDULE]))
        for key, figure in costs_of(result).items():
            if math.isfinite(figure):
                self._attr(trial_id, key, figure)
        finite = value is not None and math.isfinite(value)
        state = TrialState.COMPLETE if finite else TrialState.FAIL
        study.tell(
            self.numbers[trial_id], value if finite else None, state=state, skip_if_finished=True
        )
        self.told.add(trial_id)

    def _attr(self, trial_id: str, key: str, value: Any) -> None:
        storage = open_storage(self.storage_url)
        number = storage_trial_id(storage, self.study_name, self.numbers[trial_id])
        storage.set_trial_user_attr(number, key, value)


class MemberRetries(Callback):
    """Tells the recorder that Tune retries a failed member: the member restores its
    newest checkpoint, maybe the one it copied, and the first report that repeats its
    last exploit is that replay, not a new exploit.

    Pickled with the recorder in the Tuner's state, so a resumed sweep's callback still
    holds the recorder that Tune restores (in place) from the search state.
    """

    def __init__(self, recorder: PopulationRecorder) -> None:
        self.recorder = recorder

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.recorder.exploits.restarted(trial.trial_id)
