"""Population-based training: mutations refused before Ray, schedules, and one real PBT
sweep whose exploits, lineage, replayed schedule and resume the slow tests read."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from motif_tune.errors import ConfigError
from motif_tune.search.budget import trial_budget
from motif_tune.search.population import (
    ATTR_LINEAGE,
    KeepInRange,
    MemberRetries,
    PopulationRecorder,
    first_values,
)
from motif_tune.search.ranking import TrialScore, choose_finalists, verification_points
from motif_tune.search.schedule import (
    EXPLOIT_SOURCE,
    EXPLOIT_STEP,
    SCHEDULE,
    ExploitLog,
    Schedule,
)
from motif_tune.search.study import open_storage
from tests.conftest import (
    clean_environ,
    cli,
    kill_when,
    runs_by_role,
    settings_for,
    trial_pids,
)

LR, ENTROPY = "algo.training.lr", "algo.training.entropy_coeff"


# ------------------------------------------------------------------ refused before Ray


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["+sweep.space.rollout_fragment_length={type:int,low:16,high:64,mutable:true}"],
            "sweep.space.rollout_fragment_length (the config path "
            "scaling.env_runners.rollout_fragment_length) cannot be mutable",
        ),
        (
            ["+sweep.space.train_batch_size={type:int,low:128,high:512,mutable:true}"],
            "sweep.space.train_batch_size (the config path "
            "algo.training.train_batch_size_per_learner) cannot be mutable",
        ),
        (
            ["+sweep.space.num_envs_per_env_runner={type:int,low:1,high:4,mutable:true}"],
            "sweep.space.num_envs_per_env_runner (the config path "
            "scaling.env_runners.num_envs_per_env_runner) cannot be mutable",
        ),
        (
            ["sweep.scheduler.type=asha"],
            f"sweep.space.{LR} is mutable, which only population-based training changes",
        ),
        (
            ["sweep=default", "sweep.scheduler.type=pbt"],
            "sweep.scheduler.type=pbt needs at least one mutable dimension",
        ),
        (
            [
                "sweep.scheduler.type=pb2",
                "+sweep.space.algo.training.num_epochs={type:int,low:1,high:8,mutable:true}",
            ],
            "sweep.space.algo.training.num_epochs is int: pb2 mutates float ranges only",
        ),
        (
            ["sweep.seeds_per_trial=2"],
            "sweep.seeds_per_trial=2 cannot be combined with pbt",
        ),
        (
            ["sweep.scheduler.perturbation_interval=20000"],
            "sweep.scheduler.perturbation_interval (20000) must be below the budget",
        ),
        (
            [
                "~sweep.budget.env_steps",
                "+sweep.budget.iterations=10",
                "sweep.scheduler.perturbation_interval=2",
                "+sweep.space.train_batch_size={type:int,low:128,high:512}",
            ],
            "sweep.budget counts iterations while the pbt population searches train_batch_size",
        ),
    ],
)
def test_a_mutation_that_cannot_work_is_refused_in_one_sentence(overrides, expected):
    chosen = [] if any(o.startswith("sweep=") for o in overrides) else ["sweep=pbt"]
    with pytest.raises(ConfigError) as refused:
        settings_for([*chosen, *overrides])
    message = str(refused.value)
    assert expected in message
    assert "\n" not in message.strip()


def test_the_shipped_pbt_sweep_compares_the_population_every_perturbation_interval():
    settings = settings_for(["sweep=pbt"])
    budget = trial_budget(settings)
    assert budget.perturbation_interval == 4000
    assert budget.milestones == (4000, 8000, 12000, 16000)  # each member scored there
    assert not budget.early_stopping  # PBT never stops a member short
    default = trial_budget(
        settings_for(["sweep=pbt", "sweep.scheduler.perturbation_interval=null"])
    )
    assert default.perturbation_interval == 4000  # a fifth of the budget


def test_a_perturbed_value_stays_in_its_range_and_an_int_stays_whole():
    settings = settings_for(
        ["sweep=pbt", "+sweep.space.algo.training.num_epochs={type:int,low:1,high:8,mutable:true}"]
    )
    keep = KeepInRange({n: s for n, s in settings.sweep.space.items() if s.mutable})
    kept = keep({LR: 0.01, ENTROPY: -0.001, "algo.training.num_epochs": 9.6})
    assert kept == {LR: 0.003, ENTROPY: 0.0, "algo.training.num_epochs": 8}


# ------------------------------------------------------------------ schedules


def test_a_schedule_copied_at_a_step_keeps_the_source_up_to_it_and_replays_in_order():
    source = Schedule.starting({LR: 3e-4}).copied(1000, {LR: 2e-4}, "a")
    source = source.copied(3000, {LR: 1e-4}, "b")
    mine = source.copied(2000, {LR: 5e-4}, "c")  # c copied the checkpoint at 2000
    assert [c.step for c in mine.changes] == [0, 1000, 2000]
    assert [mine.values_at(p)[LR] for p in (0, 999, 1000, 1999, 2000, 9999)] == [
        3e-4,
        3e-4,
        2e-4,
        2e-4,
        5e-4,
        5e-4,
    ]
    assert mine.next_step(1000) == 2000 and mine.next_step(2000) is None
    assert Schedule.from_json(mine.to_json()) == mine
    assert (
        mine.describe() == "lr=0.0003; at 1,000 env steps lr=0.0002; at 2,000 env steps lr=0.0005"
    )


def _exploit_report(source: str, step: float, lr: float) -> dict:
    return {EXPLOIT_SOURCE: source, EXPLOIT_STEP: step, "values": {LR: lr}}


def test_a_member_that_copies_the_same_checkpoint_twice_has_two_exploits():
    log = ExploitLog()
    assert log.observe("a", {"values": {LR: 1e-4}}) is False
    assert log.observe("a", _exploit_report("b", 512, 3e-4)) is True
    # b has not reported since: a copies b's checkpoint at 512 again, same values.
    assert log.observe("a", _exploit_report("b", 512, 3e-4)) is True
    assert [(e["source"], e["step"], e["old"][LR]) for e in log.events["a"]] == [
        ("b", 512.0, 1e-4),
        ("b", 512.0, 3e-4),
    ]


def test_a_restored_member_replaying_its_last_exploit_records_it_once():
    log = ExploitLog()
    log.observe("a", _exploit_report("b", 512, 3e-4))
    log.observe("c", _exploit_report("b", 256, 2e-4))
    resumed = pickle.loads(pickle.dumps(log))  # as Tune restores the search state
    assert resumed.observe("a", _exploit_report("b", 512, 3e-4)) is False  # the replay
    assert resumed.observe("a", _exploit_report("b", 512, 3e-4)) is True  # then a real copy
    assert resumed.observe("c", _exploit_report("b", 768, 2e-4)) is True  # another step
    assert [len(resumed.events[t]) for t in ("a", "c")] == [2, 2]
    retried = ExploitLog()
    retried.observe("a", _exploit_report("b", 512, 3e-4))
    retried.restarted("a")
    assert retried.observe("a", {"values": {LR: 3e-4}}) is False  # its own checkpoint
    assert retried.observe("a", _exploit_report("b", 512, 3e-4)) is True  # a real copy


def test_a_retried_member_replaying_its_last_exploit_is_recorded_once_in_the_study(tmp_path):
    """Tune tells callbacks, not search algorithms, of a retried trial: the recorder hears
    of it through its callback, also after a resume that restored both from Tune's state."""
    from ray import cloudpickle

    storage = str(tmp_path / "study.log")  # a journal file (sweep.study.storage may be one)

    def space(trial):
        return {LR: trial.suggest_float(LR, 1e-5, 1e-3, log=True)}

    points = first_values(space, 2, storage, "pop", {}, "max", 0, None)
    recorder = PopulationRecorder(points, storage, "pop", 2)
    recorder.numbers.update({"a": 0, "b": 1})  # as next_trial() maps Tune's trials
    recorder.on_trial_result("a", _exploit_report("b", 512, 3e-4))
    # A resume: the Tuner's state (search algorithm and callbacks pickled together),
    # then the search state Tune saved, set on the restored search algorithm in place.
    restored, retries = cloudpickle.loads(cloudpickle.dumps((recorder, MemberRetries(recorder))))
    restored.set_state(pickle.loads(pickle.dumps(recorder.get_state())))
    restored.on_trial_result("a", {"values": {LR: 3e-4}})  # a's first report after resuming

    retries.on_trial_recover(0, [], SimpleNamespace(trial_id="a"))
    restored.on_trial_result("a", _exploit_report("b", 512, 3e-4))  # the retry's replay
    restored.on_trial_result("a", _exploit_report("b", 768, 4e-4))  # a real copy
    study = optuna.load_study(study_name="pop", storage=open_storage(storage))
    lineage = study.trials[0].user_attrs[ATTR_LINEAGE]
    assert [(e["source"], e["step"]) for e in lineage] == [("b", 512.0), ("b", 768.0)]


def test_a_population_verifies_its_best_schedules_and_the_baseline_nobody_kept():
    def member(trial_id, objective, schedule):
        return TrialScore(
            trial_id, schedule.final, objective, 2048, True, None, schedule=schedule.to_json()
        )

    base = {LR: 3e-4}
    changed = Schedule.starting(base).copied(512, {LR: 2e-4}, "t0")
    ranked = [member("t1", 0.7, changed), member("t0", 0.6, changed)]  # t0 copied too
    finalists = choose_finalists(ranked, 2, baseline=base)
    assert [f.search.trial_id for f in finalists] == ["t1", "baseline"]  # same schedule once
    assert finalists[1].search.baseline and math.isnan(finalists[1].search.objective)
    points = verification_points(finalists, [1, 2])
    assert points[0] == {SCHEDULE: changed.to_json(), "seed": 1}
    assert Schedule.from_json(points[2][SCHEDULE]).changes == Schedule.starting(base).changes


def test_training_from_a_sweep_whose_champion_changed_its_values_is_refused():
    from motif_tune.commands.best_settings import check_fixed_values

    recorded = {"sweep.scheduler.type": "pbt", "best.schedule_changes": "2"}
    with pytest.raises(ConfigError) as refused:
        check_fixed_values("p", recorded)
    assert "train.from_sweep 'p' names a pbt sweep whose champion changed its values 2" in str(
        refused.value
    )
    check_fixed_values("p", {"sweep.scheduler.type": "pbt", "best.schedule_changes": "0"})
    check_fixed_values("s", {"sweep.scheduler.type": "asha"})


# ------------------------------------------------------------------ one real PBT sweep

PBT_RUN = "pbt_shared"
# Two members that run at once: at every comparison the weaker copies the stronger.
# A comparison every iteration (eight of them): with four, one run under the load of two
# test workers saw no exploit at all.
PBT_SWEEP = (
    "sweep=pbt",
    "sweep.num_samples=2",
    # The first member at the slowest lr of the range, so that it falls behind: members of
    # like values that report in turn each beat the other's older score, and may never
    # copy one another (the random member's lr, 0.00038, is next to the default 0.0003).
    "algo.training.lr=0.00003",
    "sweep.budget.env_steps=2048",
    "sweep.scheduler.perturbation_interval=256",
    "algo.training.train_batch_size_per_learner=256",
    "algo.training.minibatch_size=64",
    "sweep.objective.episodes=10",
    "sweep.verify.top_k=2",
    "sweep.verify.seeds=1",
    f"run_name={PBT_RUN}",
)


@dataclass(frozen=True)
class PbtSweep:
    runs: Path
    proc: subprocess.CompletedProcess

    @property
    def experiment(self) -> Path:
        return self.runs / "ray_results" / PBT_RUN

    def results(self, experiment: Path) -> dict[str, list[dict]]:
        """trial id -> its reports, in order."""
        return {
            d.name.removeprefix("trial_"): [
                json.loads(line) for line in (d / "result.json").read_text().splitlines()
            ]
            for d in sorted(experiment.glob("trial_*"))
        }

    def exploits(self) -> list[list]:
        """Ray's own log of each exploit: [member, source, their iterations, old, new]."""
        path = self.experiment / "pbt_global.txt"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def pbt_sweep(tmp_path_factory) -> PbtSweep:
    root = tmp_path_factory.mktemp("pbt")
    runs = root / "runs"
    proc = subprocess.run(
        cli("sweep", *PBT_SWEEP),
        capture_output=True,
        text=True,
        timeout=900,
        env=clean_environ() | {"MOTIF_TUNE_HOME": str(runs)},
        cwd=root,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    sweep = PbtSweep(runs, proc)
    assert sweep.exploits(), "no member copied another: nothing to check"
    return sweep


def _by_tag(results: dict[str, list[dict]]) -> dict[str, str]:
    """Ray's experiment tag of each trial ('0', '1': its index) -> its trial id."""
    return {str(int(t.rsplit("_", 1)[1])): t for t in results}


def _trial_runs(sweep: PbtSweep) -> dict[str, Any]:
    return {r.data.tags["motif_tune.trial_id"]: r for r in runs_by_role(sweep.runs, "trial")}


def _lineage(run: Any) -> list[dict]:
    return json.loads(run.data.tags.get("motif_tune.lineage", "[]"))


def _history(sweep: PbtSweep, run: Any, key: str) -> list[float]:
    """A metric of ``run`` report by report (MLflow has every report; Tune's result.json
    of a restored trial may lose the lines written since its last upload)."""
    from motif_tune.tracking.client import open_store

    history = open_store(f"sqlite:///{sweep.runs}/mlflow.db").get_metric_history(
        run.info.run_id, key
    )
    return [m.value for m in sorted(history, key=lambda m: m.step)]


@pytest.mark.slow
def test_after_an_exploit_the_optimizer_trains_with_the_mutated_lr(pbt_sweep):
    """For every exploit Ray's PBT logged, the member's first iteration after it trains
    with the lr Ray chose, read from the Learner's optimizer before it updates (RLlib's
    restore would put the copied member's lr back), and with the entropy coefficient
    Ray chose, read from the algorithm's config."""
    runs = _trial_runs(pbt_sweep)
    tags = _by_tag({t: [] for t in runs})
    for member, _source, _, _, _old, new in pbt_sweep.exploits():
        recorded = [e["new"] for e in _lineage(runs[tags[member]])]
        assert any(
            v[LR] == pytest.approx(new[LR], rel=1e-9)
            and v[ENTROPY] == pytest.approx(new[ENTROPY], rel=1e-9)
            for v in recorded
        ), (new, recorded)
        lrs = _history(pbt_sweep, runs[tags[member]], f"values/{LR}")
        assert any(lr == pytest.approx(new[LR], rel=1e-9) for lr in lrs)


@pytest.mark.slow
def test_a_member_that_copies_another_goes_on_in_a_process_tune_kept(pbt_sweep):
    """Members pause to copy another (Ray's PBT logged at least one exploit), yet the
    population ran in no more processes than run at once (two members on 2 CPUs; one,
    when the first member paused before the second's process was up): each went on in
    a kept process, set up anew, instead of a new one per exploit (8 without)."""
    pids = trial_pids(pbt_sweep.experiment)
    assert len(pids) == 2 and pbt_sweep.exploits()
    assert 1 <= len(set().union(*pids.values())) <= 2, pids


@pytest.mark.slow
def test_every_exploit_is_in_the_lineage_once_with_its_source_and_step(pbt_sweep):
    """Ray's own exploit log, our MLflow lineage tags and the stored study agree: every
    exploit once, from the same member; its step is where the copied checkpoint stood
    (the member's next report is one iteration of 256 env steps past it)."""
    runs = _trial_runs(pbt_sweep)
    assert len(runs) == 2
    tags = _by_tag({t: [] for t in runs})
    expected = sorted((tags[member], tags[source]) for member, source, *_ in pbt_sweep.exploits())
    events = {trial_id: _lineage(run) for trial_id, run in runs.items()}
    assert sorted((t, e["source"]) for t, es in events.items() for e in es) == expected
    for trial_id, exploits in events.items():
        steps = _history(pbt_sweep, runs[trial_id], "num_env_steps_sampled_lifetime")
        for event in exploits:
            assert event["step"] + 256 in steps
            assert event["source"] in runs and event["source"] != trial_id
    storage = f"sqlite:///{pbt_sweep.runs}/optuna.db"
    study = optuna.load_study(study_name=PBT_RUN, storage=storage)
    stored = {t.user_attrs["tune_trial_id"]: t.user_attrs.get("lineage", []) for t in study.trials}
    assert {t: [(e["source"], e["step"]) for e in es] for t, es in stored.items()} == {
        t: [(e["source"], e["step"]) for e in es] for t, es in events.items()
    }
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


@pytest.mark.slow
def test_verification_replays_each_finalists_schedule_step_by_step(pbt_sweep):
    """Each verification trial trains with its finalist's schedule: at every report, the
    values it trained with are the schedule's at the step it started from."""
    verified = pbt_sweep.results(pbt_sweep.runs / "ray_results" / f"{PBT_RUN}-verify")
    replayed_a_change = False
    for reports in verified.values():
        schedule = Schedule.from_json(reports[0]["config"][SCHEDULE])
        before = 0.0
        for report in reports:
            wanted = schedule.values_at(before)
            assert report["values"] == pytest.approx({LR: wanted[LR], ENTROPY: wanted[ENTROPY]})
            before = report["num_env_steps_sampled_lifetime"]
        replayed_a_change |= len(schedule.changes) > 1
    assert replayed_a_change, "no finalist's schedule changed: nothing was replayed"


@pytest.mark.slow
def test_the_champion_schedule_and_lineage_reach_mlflow_and_the_summary(pbt_sweep):
    from motif_tune.tracking.client import open_store

    (parent,) = runs_by_role(pbt_sweep.runs, "sweep")
    client = open_store(f"sqlite:///{pbt_sweep.runs}/mlflow.db")
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "lineage")}
    assert artifacts == {"lineage/champion.json", "lineage/lineage.json", "lineage/lineage.png"}
    lineage = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "lineage/lineage.json")).read_text()
    )
    assert sorted(lineage) == sorted(
        r.data.tags["motif_tune.trial_id"] for r in runs_by_role(pbt_sweep.runs, "trial")
    )
    out = pbt_sweep.proc.stdout
    assert "Champion:" in out and "(baseline)" in out
    # The champion's schedule, and how often it changed (what train.from_sweep checks).
    champion = Schedule.from_json(
        Path(client.download_artifacts(parent.info.run_id, "lineage/champion.json")).read_text()
    )
    changes = int(parent.data.params["best.schedule_changes"])
    assert changes == len(champion.changes) - 1
    if changes:
        assert "schedule (replayed on every seed):" in out
    # Every report's values are MLflow metrics of its trial, at steps that go on after an
    # exploit (which takes the copied member's iteration count): none twice, none skipped,
    # the last its last report's values, at the full budget. Tune's result.json is a subset
    # of the reports: a member restarted from a checkpoint gets the file as Tune last
    # saved it, losing the lines written since; each line it kept is one MLflow step.
    results = pbt_sweep.results(pbt_sweep.experiment)
    for run in runs_by_role(pbt_sweep.runs, "trial"):
        history = client.get_metric_history(run.info.run_id, f"values/{LR}")
        steps = sorted(m.step for m in history)
        assert steps == list(range(1, len(steps) + 1))
        lrs = [m.value for m in sorted(history, key=lambda m: m.step)]
        env_steps = _history(pbt_sweep, run, "num_env_steps_sampled_lifetime")
        recorded = list(zip(env_steps, lrs, strict=True))
        reports = results[run.data.tags["motif_tune.trial_id"]]
        assert len(reports) <= len(steps)
        for report in reports:
            kept = (report["num_env_steps_sampled_lifetime"], report["values"][LR])
            assert any(e == kept[0] and v == pytest.approx(kept[1]) for e, v in recorded), kept
        assert recorded[-1][1] == pytest.approx(reports[-1]["values"][LR])
        assert recorded[-1][0] == reports[-1]["num_env_steps_sampled_lifetime"] >= 2048


@pytest.mark.slow
def test_a_pbt_sweep_killed_after_an_exploit_resumes_with_its_population_intact(isolated_runs):
    """The driver of a PB2 population (the shared sweep covers PBT) is SIGKILLed once a
    member has copied another while both still train; `resume` finishes the sweep: two
    members, one run each, a lineage of exploits each member trained from, each run's
    steps once, and the study's two trials COMPLETE."""
    experiment = isolated_runs / "ray_results" / "pbt_killed"
    killed = [a for a in PBT_SWEEP if not a.startswith("run_name=")] + [
        "run_name=pbt_killed",
        "sweep.scheduler.type=pb2",
        "sweep.budget.env_steps=3072",  # twelve intervals of 256: room to train after an exploit
        "sweep.verify.top_k=0",
    ]
    kill_when(
        cli("sweep", *killed),
        lambda: (experiment / "pbt_global.txt").exists(),
        "no member copied another",
    )
    resumed = subprocess.run(
        cli("resume", "run_name=pbt_killed"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    trials = runs_by_role(isolated_runs, "trial")
    ids = [t.data.tags["motif_tune.trial_id"] for t in trials]
    assert len(ids) == len(set(ids)) == 2
    statuses = {t.data.tags["motif_tune.trial_id"]: t.info.status for t in trials}
    assert set(statuses.values()) == {"FINISHED"}, (statuses, resumed.stderr[-3000:])
    from motif_tune.tracking.client import open_store

    client = open_store(f"sqlite:///{isolated_runs}/mlflow.db")
    # Every exploit in the lineage is one the member trained from: its source is the other
    # member, and the member reported one iteration (256 env steps) past the copied step.
    # (Ray's own exploit log is no oracle here: a line written before the kill may be lost.)
    for trial in trials:
        events = json.loads(trial.data.tags.get("motif_tune.lineage", "[]"))
        trial_id = trial.data.tags["motif_tune.trial_id"]
        history = client.get_metric_history(trial.info.run_id, "num_env_steps_sampled_lifetime")
        reported = {m.value for m in history}
        for event in events:
            assert event["source"] in ids and event["source"] != trial_id
            assert event["step"] + 256 in reported, (event, sorted(reported))
        steps = [m.step for m in client.get_metric_history(trial.info.run_id, "time_this_iter_s")]
        assert len(steps) == len(set(steps))
    assert any(json.loads(t.data.tags.get("motif_tune.lineage", "[]")) for t in trials)
    study = optuna.load_study(
        study_name="pbt_killed", storage=f"sqlite:///{isolated_runs}/optuna.db"
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert sorted(t.user_attrs["tune_trial_id"] for t in study.trials) == sorted(ids)


# A population member driven by hand, as Tune drives it: four reports, and whether each
# one evaluated. (Run in a process of its own: a Trainable outside Tune writes under ~.)
DRIVE_A_MEMBER = """
import json, sys
import ray
from motif_tune.pipeline.scheduled_trial import make_scheduled_trial
from motif_tune.search.budget import trial_budget
from tests.conftest import settings_for
settings = settings_for(sys.argv[1:])
ray.init(address="local", num_cpus=1, include_dashboard=False)  # the Algorithm needs one
member_class = make_scheduled_trial(settings, trial_budget(settings))
member = member_class(config={"algo.training.lr": 0.0003, "algo.training.entropy_coeff": 0.0})
reports = [member.train() for _ in range(4)]
member.stop()
print(json.dumps([[r["training_iteration"], "evaluation" in r] for r in reports]))
"""


@pytest.mark.slow
def test_a_member_under_an_iterations_budget_is_scored_at_each_comparison_and_at_its_end(
    tmp_path,
):
    """A population member whose budget is in iterations evaluates at its first report,
    at each perturbation interval and at the end of its budget, counting iterations as
    Tune does (not as the Algorithm inside it, which starts again at every rebuild)."""
    overrides = [
        "sweep=pbt",
        "sweep.budget={iterations: 4}",
        "sweep.scheduler.perturbation_interval=2",
        "algo.training.train_batch_size_per_learner=128",
        "algo.training.minibatch_size=64",
        "sweep.objective.episodes=2",
    ]
    driven = subprocess.run(
        [sys.executable, "-c", DRIVE_A_MEMBER, *overrides],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=clean_environ() | {"HOME": str(tmp_path), "MOTIF_TUNE_HOME": str(tmp_path / "runs")},
    )
    assert driven.returncode == 0, driven.stderr[-3000:]
    reports = json.loads(driven.stdout.strip().splitlines()[-1])
    assert reports == [[1, True], [2, True], [3, False], [4, True]]
