"""The background MLflow writer: order, batching, back-pressure, nothing lost at exit,
and the journal a resumed sweep writes from."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
from types import SimpleNamespace

from mlflow.entities import Metric, Param, RunTag

from motif_tune.search.budget import trial_budget
from motif_tune.tracking.callback import MLflowTrialCallback
from motif_tune.tracking.client import open_store
from motif_tune.tracking.journal import Journal
from motif_tune.tracking.runs import batches
from motif_tune.tracking.sweep_run import SweepRun
from motif_tune.tracking.writer import RunWriter
from tests.conftest import settings_for


class FakeClient:
    """Records the calls a writer makes; ``gate`` holds every call until it is set."""

    tracking_uri = "fake://store"

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple] = []
        self.gate = gate
        self.runs = 0
        self.called = threading.Event()  # a call was made (and waits at the gate)

    def _wait(self) -> None:
        self.called.set()
        if self.gate is not None:
            self.gate.wait()

    def create_run(self, experiment_id, run_name, tags):
        self._wait()
        self.runs += 1
        self.calls.append(("create_run", run_name))
        return SimpleNamespace(info=SimpleNamespace(run_id=f"run-{run_name}"))

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self._wait()
        self.calls.append(("log_batch", run_id, [(m.key, m.step) for m in metrics], len(params)))

    def set_terminated(self, run_id, status=None):
        self._wait()
        self.calls.append(("set_terminated", run_id, status))


def metric(step: int, key: str = "m") -> Metric:
    return Metric(key, float(step), 0, step)


def test_records_are_written_in_order_with_one_batch_per_run_for_what_queued_up():
    gate = threading.Event()
    client = FakeClient(gate)
    writer = RunWriter(client)
    a = writer.create_run("0", "a", {}, {"lr": "0.1"})
    b = writer.create_run("0", "b", {})
    for step in (1, 2, 3):
        writer.log(a, metrics=[metric(step)])
        writer.log(b, metrics=[metric(step)])
    writer.log(a, tags=[RunTag("status", "finished")])
    writer.call(a, "set_terminated", status="FINISHED")
    writer.log(a, metrics=[metric(4)])  # after its end: still written, after it
    gate.set()
    assert writer.flush(timeout=30)
    writer.close()
    a_calls = [c for c in client.calls if "run-a" in c or c == ("create_run", "a")]
    assert a_calls[0] == ("create_run", "a")
    end = a_calls.index(("set_terminated", "run-a", "FINISHED"))
    # What run a queued before its end was written before it, in order, batched.
    before_end = [c for c in a_calls[:end] if c[0] == "log_batch"]
    assert [step for c in before_end for _, step in c[2]] == [1, 2, 3]
    assert sum(c[3] for c in before_end) == 1 and len(before_end) <= 2  # the params too
    assert [c[2] for c in a_calls[end:] if c[0] == "log_batch"] == [[("m", 4)]]
    b_batches = [c for c in client.calls if c[0] == "log_batch" and c[1] == "run-b"]
    assert [s for c in b_batches for _, s in c[2]] == [1, 2, 3]
    assert len(b_batches) < 3  # batched: fewer calls than steps


def test_with_several_threads_each_run_keeps_its_order_and_flush_waits_for_all():
    gate = threading.Event()
    client = FakeClient(gate)
    writer = RunWriter(client, threads=3)
    refs = [writer.create_run("0", name, {}) for name in "abcde"]
    for step in range(1, 21):
        for ref in refs:
            writer.log(ref, metrics=[metric(step)])
    for ref in refs:
        writer.call(ref, "set_terminated", status="FINISHED")
    assert writer.pending == 5 * 22
    gate.set()
    assert writer.flush(timeout=30)
    assert writer.pending == 0
    assert len({ref.lane for ref in refs}) == 3
    for name in "abcde":
        calls = [c for c in client.calls if f"run-{name}" in c]
        steps = [step for c in calls if c[0] == "log_batch" for _, step in c[2]]
        assert steps == list(range(1, 21)) and calls[-1][0] == "set_terminated"
    writer.close()


def test_without_the_background_every_record_is_written_at_once():
    client = FakeClient()
    writer = RunWriter(client, background=False)
    ref = writer.create_run("0", "a", {})
    writer.log(ref, metrics=[metric(1)])
    assert client.calls == [("create_run", "a"), ("log_batch", "run-a", [("m", 1)], 0)]
    assert writer.pending == 0


def test_a_full_queue_makes_the_caller_wait_until_the_writer_catches_up():
    """With two records queued and the writer busy, a third caller waits until the
    writer takes records off the queue."""
    gate = threading.Event()
    client = FakeClient(gate)
    writer = RunWriter(client, max_queued=2)
    ref = writer.create_run("0", "a", {})  # taken by the writer, which waits at the gate
    assert client.called.wait(10)
    writer.log(ref, metrics=[metric(1)])
    writer.log(ref, metrics=[metric(2)])  # the queue is full now
    third = threading.Thread(target=writer.log, args=(ref,), kwargs={"metrics": [metric(3)]})
    third.start()
    third.join(0.5)
    assert third.is_alive()  # back-pressure: the caller waits
    gate.set()
    third.join(10)
    assert not third.is_alive()
    assert writer.flush(timeout=10)


def test_batches_keep_within_mlflows_limits():
    metrics, params = [metric(i) for i in range(2500)], [Param(f"p{i}", "1") for i in range(150)]
    calls = list(batches(metrics, params, []))
    assert sum(len(m) for m, _, _ in calls) == 2500 and sum(len(p) for _, p, _ in calls) == 150
    assert all(len(m) + len(p) + len(t) <= 1000 and len(p) <= 100 for m, p, t in calls)


EXIT_SCRIPT = """
import os, signal, sys, time
from motif_tune.tracking.client import open_store
from motif_tune.tracking.writer import RunWriter
from mlflow.entities import Metric

client = open_store(sys.argv[1])
experiment = client.create_experiment("e")
slow = client.log_batch
def log_batch(*args, **kwargs):
    time.sleep(0.05)
    return slow(*args, **kwargs)
client.log_batch = log_batch
writer = RunWriter(client)
for name in ("a", "b"):
    ref = writer.create_run(experiment, name, {})
    for step in range(1, 41):
        writer.log(ref, metrics=[Metric("m", step, 0, step)])
        if step % 10 == 0 and not (name == "b" and step == 40):
            time.sleep(0.06)  # a few batches of steps; b's last ten are queued at the end
print("queued", writer.pending, flush=True)
if sys.argv[2] == "sigterm":
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)
"""


def _steps_after(
    tmp_path, empty_store_file, how: str
) -> tuple[subprocess.CompletedProcess, dict[str, list[int]]]:
    """Run EXIT_SCRIPT on a store of its own (an empty one, made before) to its end or
    to SIGTERM; what it printed, and the steps of each run in the store after."""
    shutil.copyfile(empty_store_file, tmp_path / "exit.db")
    uri = f"sqlite:///{tmp_path}/exit.db"
    script = tmp_path / "exit.py"
    script.write_text(textwrap.dedent(EXIT_SCRIPT))
    proc = subprocess.run(
        [sys.executable, str(script), uri, how], capture_output=True, text=True, timeout=120
    )
    client = open_store(uri)
    experiment = client.get_experiment_by_name("e").experiment_id
    steps = {
        run.info.run_name: sorted(m.step for m in client.get_metric_history(run.info.run_id, "m"))
        for run in client.search_runs([experiment])
    }
    return proc, steps


def test_what_is_queued_at_exit_is_written(tmp_path, empty_store_file):
    """Records still queued when the program ends are written before it exits."""
    proc, steps = _steps_after(tmp_path, empty_store_file, "exit")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) > 0  # something was still queued
    assert steps == {"a": list(range(1, 41)), "b": list(range(1, 41))}


def test_what_is_queued_at_sigterm_is_written(tmp_path, empty_store_file):
    """Records still queued when SIGTERM arrives are written; the exit status is SIGTERM's."""
    proc, steps = _steps_after(tmp_path, empty_store_file, "sigterm")
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert steps == {"a": list(range(1, 41)), "b": list(range(1, 41))}


def test_journal_reads_back_what_it_holds_and_skips_a_torn_line(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("t1", 1, 10, {"m": 1.0})
    journal.append("t1", 2, 20, {"m": 2.0})
    journal.append("t2", 1, 30, {"m": 3.0})
    journal.close()
    with (tmp_path / "j.jsonl").open("a") as file:
        file.write('{"trial": "t2", "st')  # the process was killed mid-line
    assert journal.read() == {
        "t1": [(1, 10, {"m": 1.0}), (2, 20, {"m": 2.0})],
        "t2": [(1, 30, {"m": 3.0})],
    }


def _trial(trial_id: str, status: str = "RUNNING") -> SimpleNamespace:
    values = {"rollout_fragment_length": 17, "train_batch_size": 272}
    return SimpleNamespace(trial_id=trial_id, config=values, status=status, last_result={})


def _result(iteration: int) -> dict:
    return {"training_iteration": iteration, "objective": 0.1, "time_this_iter_s": 0.5}


def test_a_resumed_sweep_writes_the_steps_a_killed_driver_still_had_queued(existing_store):
    """A driver killed with records queued (nothing written): the resumed sweep writes
    the journal's steps, once each, before and beside the new ones, and ends the runs."""
    settings = settings_for(["sweep=smoke", "run_name=journal"])
    sweep = SweepRun(settings, open_store(settings.tracking.uri))
    sweep.start()
    killed = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    killed.writer = RunWriter(FakeClient(), background=False)  # writes nothing: killed
    killed.setup()
    first, second = _trial("a1"), _trial("b2")
    for trial in (first, second):
        killed.on_trial_start(0, [first, second], trial)
        for i in (1, 2, 3):
            killed.on_trial_result(0, [trial], trial, _result(i))
    killed.journal.close()

    resumed = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    resumed.setup()  # no runs in MLflow yet: the steps wait for their trial's run
    resumed.on_trial_start(0, [first], first)  # restored from a checkpoint at iteration 2
    for i in (3, 4):
        resumed.on_trial_result(0, [first], first, _result(i))
    done = _trial("b2", "TERMINATED")  # Tune saw it end; its run was never created
    resumed.on_experiment_end([first, done])
    runs = sweep.child_runs()
    steps = {
        trial: [m.step for m in sweep.client.get_metric_history(run, "time_this_iter_s")]
        for trial, run in runs.items()
    }
    assert steps == {"a1": [1, 2, 3, 4], "b2": [1, 2, 3]}
    assert sweep.client.get_run(runs["b2"]).info.status == "FINISHED"
    assert not resumed.journal.path.exists()  # all written: the journal is gone


def test_a_run_created_before_the_kill_without_its_params_gets_them_on_resume(existing_store):
    """Runs created before the kill whose params were lost with the queue get them when
    the sweep resumes, the running trial's and the ended one's."""
    settings = settings_for(["sweep=smoke", "run_name=bare"])
    sweep = SweepRun(settings, open_store(settings.tracking.uri))
    sweep.start()
    killed = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    killed.writer = RunWriter(sweep.client, background=False)
    killed.writer.log = lambda *args, **kwargs: None  # the kill took the queued params
    running, ended = _trial("a1"), _trial("b2", "TERMINATED")
    for trial in (running, ended):
        killed.on_trial_start(0, [running, ended], trial)
    assert not any(run.data.params for run in sweep.trial_runs().values())

    resumed = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    resumed.setup()
    resumed.on_trial_start(0, [running], running)  # restored; the ended one is not restarted
    resumed.on_experiment_end([running, ended])
    params = {trial: run.data.params for trial, run in sweep.trial_runs().items()}
    assert params["a1"] == params["b2"] != {}
    assert params["a1"]["rollout_fragment_length"] == "17"


def test_the_run_of_a_trial_tune_lost_with_the_kill_is_removed_even_when_it_ended(existing_store):
    """A trial that ended after Tune last saved its state is unknown to the resumed
    sweep: its run is removed, even though it was ended."""
    settings = settings_for(["sweep=smoke", "run_name=lost"])
    sweep = SweepRun(settings, open_store(settings.tracking.uri))
    sweep.start()
    killed = MLflowTrialCallback(sweep, trial_budget(sweep.settings), background=False)
    kept, lost = _trial("a1"), _trial("x9", "TERMINATED")
    for trial in (kept, lost):  # x9 ended after Tune last saved its experiment state
        killed.on_trial_start(0, [kept, lost], trial)
        killed.on_trial_result(0, [trial], trial, _result(1))
    killed.on_trial_complete(0, [kept, lost], lost)

    resumed = MLflowTrialCallback(sweep, trial_budget(sweep.settings))
    resumed.setup()
    resumed.on_trial_start(0, [kept], kept)
    resumed.on_experiment_end([kept])  # the resumed sweep never heard of x9
    assert set(sweep.trial_runs()) == {"a1"}


class AnswerLostOnce:
    """A real store whose first ``create_run`` is taken but answered with a dropped
    connection (the server went away before it replied)."""

    def __init__(self, client) -> None:
        self.client = client
        self.lost = False

    def create_run(self, *args, **kwargs):
        run = self.client.create_run(*args, **kwargs)
        if not self.lost:
            self.lost = True
            raise ConnectionError("Connection aborted: the server closed the connection")
        return run

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_create_whose_answer_was_lost_is_retried_without_a_second_run(existing_store):
    real = open_store(f"sqlite:///{existing_store}/mlflow.db")
    experiment = real.create_experiment("writes")
    writer = RunWriter(AnswerLostOnce(real), background=False, label="lost")
    ref = writer.create_run(experiment, "t01", {"motif_tune.trial_id": "a"}, {"p": "1"})
    writer.close()
    runs = real.search_runs([experiment])
    assert [run.info.run_id for run in runs] == [ref.run_id]
    assert runs[0].data.params == {"p": "1"} and writer.failed == 0
