"""The control plane of a large sweep: suggest time, results the driver handles, MLflow
writes, driver CPU and memory, as the trial count grows.

    python benchmarks/bench_scale.py [--quick] [--stores sqlite server]

Each sweep is the project's own (``scale_sweep.py``: composed settings, searcher
and study storage, ASHA, the MLflow trial callback, Tune's set-up, console and
summary) around a stand-in trainable that sleeps for an iteration and reports an
RLlib-shaped result, asking a hundredth of a CPU so a hundred run at once on two
cores. The first hundred trials wait at their first iteration until all of them
run (their actors take minutes to start here), and the figures count from then.
A sweep runs the largest trial count; its figures are read at each count
as the sweep passes it (suggestions of trials up to that count, results and
writes between the previous count and this one). "before" is the project as it
is; "after" has the MLflow writes in the background writer and the searcher
settings recommended from the suggest table (``sweep.n_ei_candidates`` and a
journal file as ``sweep.study.storage``). The MLflow store is the local SQLite
file, or a local ``mlflow server`` (SQLite behind it) started and stopped here. Two tables stand
beside the sweeps: the trial callback's MLflow writes alone, per store, and the
cost of one suggestion per TPE setting and study storage.

The full run takes about 40 minutes on two cores (100 trial actors to start per
sweep, and the "before" sweep is as slow as the project was). With
``MOTIF_BENCH_SCALE_PARTS`` naming a JSON file, each finished part is kept there
and a run started again with the same settings skips it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchlib import PYTHON, ensure_ray_token, log, new_figure, save_figure, scratch, table
from scale_probes import Calls, ProcessSampler, ResultClock, timed
from scale_suggest import CANDIDATES, suggest_costs
from scale_sweep import (
    SAMPLERS,
    Case,
    callbacks_for,
    new_tuner,
    plan_for,
    recorded_steps,
    searcher_for,
    settings_for,
    study_storage,
    summarise_sweep,
)
from scale_writes import write_rates
from standin import REPORTED_AT

from motif_tune.tracking.callback import SERVER_WRITERS

STORES = ("sqlite", "server")
PARTS_VAR = "MOTIF_BENCH_SCALE_PARTS"  # a JSON file keeping what a run measured so far
# The searcher settings recommended from the suggest table (project settings).
RECOMMENDED = {"sampler": "ei8", "storage": "journal"}
VARIANTS = {
    "before": {"background": False, "sampler": "project", "storage": "project"},
    "after": {"background": True, **RECOMMENDED},
}
# A sweep of the project as it is, against a tracking server, is left out of the full
# run for its length: its per-result cost is in the writes table.
FULL = {
    "trials": (100, 300, 1000),
    "concurrency": 100,
    "iterations": 8,
    "interval_s": 4.0,
    "sweeps": (("sqlite", "before"), ("sqlite", "after"), ("server", "after")),
    "stores": STORES,
    "suggest_levels": (100, 300, 1000),
    "write_runs": 100,
    "write_rounds": 10,
}
QUICK = {
    "trials": (10, 30),
    "concurrency": 10,
    "iterations": 2,
    "interval_s": 0.5,
    "sweeps": tuple((store, variant) for store in STORES for variant in ("before", "after")),
    "stores": STORES,
    "suggest_levels": (20, 40),
    "write_runs": 10,
    "write_rounds": 3,
}


# ----------------------------------------------------------------------- MLflow server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(folder: Path, timeout_s: float = 120) -> Iterator[str]:
    """A local ``mlflow server`` (SQLite behind it) on 127.0.0.1; its URI."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    command = [
        PYTHON,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder}/server.db",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}"}
    with (folder / "server.log").open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"mlflow server did not answer in {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ----------------------------------------------------------------------- one sweep


def measure(root: Path, case: Case, counts: tuple[int, ...]) -> dict[str, Any]:
    """Run one sweep of ``case`` and read its figures at each trial count."""

    with study_storage(case.storage):
        return _measure(root, case, counts)


def _measure(root: Path, case: Case, counts: tuple[int, ...]) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    from motif_tune.tracking.sweep_run import SweepRun

    settings = settings_for(root, case)
    plan = plan_for(settings)
    sweep_run = SweepRun(settings)
    sweep_run.start()
    clock = ResultClock(REPORTED_AT)
    clock.concurrency = case.concurrency
    clock.gate = Path(case.gate) if case.gate else None
    callbacks = [clock, *callbacks_for(plan, case, sweep_run)]
    trial_callback = callbacks[1]
    searcher = searcher_for(plan, sweep_run.run_id)
    tuner = new_tuner(plan, case, searcher, callbacks)
    calls = {name: Calls() for name in ("suggest", "report", "tell", "write", "create")}
    probes = [
        timed(type(searcher), "suggest", calls["suggest"]),
        timed(type(searcher), "on_trial_result", calls["report"]),
        timed(type(searcher), "on_trial_complete", calls["tell"]),
        timed(MlflowClient, "log_batch", calls["write"], size=_steps_in_batch),
        timed(MlflowClient, "create_run", calls["create"]),
    ]
    with contextlib.ExitStack() as stack:
        for probe in probes:
            stack.enter_context(probe)
        sampler = stack.enter_context(ProcessSampler(depth=lambda: trial_callback.writer.pending))
        start = time.perf_counter()
        results = tuner.fit()
        fit_end = time.perf_counter()
        summarise_sweep(plan, results, sweep_run)
        summary_s = time.perf_counter() - fit_end
    sweep_run.finish("FINISHED")
    recorded = recorded_steps(sweep_run.client, sweep_run)
    missing = sum(
        max(0, n - len(set(recorded.get(trial, [])))) for trial, n in clock.iterations.items()
    )
    duplicated = sum(len(s) - len(set(s)) for s in recorded.values())
    # A gated sweep is measured from when all its slots run (its trials wait till then).
    measured_from = clock.full_at if case.gate and clock.full_at else start
    rows = windows(case, counts, clock, calls, sampler, measured_from, fit_end)
    log(
        f"scale {case.tracking_uri.split(':')[0]} {_variant(case)}: {len(clock.starts)} trials, "
        f"{len(clock.results)} results in {fit_end - start:.0f} s (summary {summary_s:.0f} s); "
        f"{missing} steps missing in MLflow, {duplicated} duplicated"
    )
    return {
        "variant": _variant(case),
        "trials": len(clock.starts),
        "results": len(clock.results),
        "wall_s": fit_end - start,
        "ramp_s": (clock.full_at - start) if clock.full_at else None,
        "peak_running": clock.peak_running,
        "summary_s": summary_s,
        "steps_missing": missing,
        "steps_duplicated": duplicated,
        "write_calls": len(calls["write"].records),
        "windows": rows,
    }


def _variant(case: Case) -> str:
    chosen = {"background": case.background, "sampler": case.sampler, "storage": case.storage}
    return next(name for name, v in VARIANTS.items() if v == chosen)


def _steps_in_batch(run_id: str, metrics: Any = (), params: Any = (), tags: Any = ()) -> int:
    """Results (distinct steps) one ``log_batch`` call writes."""
    return len({m.step for m in metrics or ()})


def windows(
    case: Case,
    counts: tuple[int, ...],
    clock: ResultClock,
    calls: dict[str, Calls],
    sampler: ProcessSampler,
    start: float,
    fit_end: float,
) -> list[dict[str, Any]]:
    """The figures between one trial count and the next (when that many trials had ended)."""
    ends = sorted(clock.ends.values())
    given = case.concurrency / case.interval_s
    rows, previous, t0 = [], 0, start
    for count in counts:
        t1 = ends[count - 1] if len(ends) >= count else fit_end
        suggests = calls["suggest"].records[previous:count]
        inside = [i for i, t in enumerate(clock.results) if t0 < t <= t1]
        results = [clock.results[i] for i in inside]
        lags = [clock.lags[i] for i in inside]
        running = [clock.running_at[i] for i in inside]
        writes = [w for w in calls["write"].between(t0, t1) if w[3]]
        written = sum(w[3] for w in writes)
        done = sum(1 for t in clock.results if t <= t1)
        process = sampler.between(t0, t1)
        rows.append(
            {
                "trials": count,
                "suggest_ms": _median([s[1] for s in suggests]) * 1000,
                "suggest_p95_ms": _p95([s[1] for s in suggests]) * 1000,
                "suggest_cpu_ms": _median([s[2] for s in suggests]) * 1000,
                "report_cpu_ms": _median([r[2] for r in calls["report"].between(t0, t1)]) * 1000,
                "results_per_s": len(results) / max(t1 - t0, 1e-9),
                "given_per_s": given,
                "offered_per_s": _mean(running) / case.interval_s,
                "lag_ms": _median(lags) * 1000,
                "lag_p95_ms": _p95(lags) * 1000,
                "write_ms": _median([w[1] for w in writes]) * 1000,
                "write_p95_ms": _p95([w[1] for w in writes]) * 1000,
                "written_per_write_s": written / max(sum(w[1] for w in writes), 1e-9),
                "results_per_write": written / max(len(writes), 1),
                "backlog": process["max_queue"],
                "driver_cpu": process["cpu"],
                "driver_rss_mb": process["rss_mb"],
                "wall_s": t1 - start,
                "ideal_s": done * case.interval_s / case.concurrency,
            }
        )
        previous, t0 = count, t1
    return rows


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


# ----------------------------------------------------------------------- the benchmark


def run(
    trials: tuple[int, ...] = FULL["trials"],
    concurrency: int = FULL["concurrency"],
    iterations: int = FULL["iterations"],
    interval_s: float = FULL["interval_s"],
    sweeps: tuple[tuple[str, str], ...] = FULL["sweeps"],
    stores: tuple[str, ...] = STORES,
    suggest_levels: tuple[int, ...] = FULL["suggest_levels"],
    write_runs: int = FULL["write_runs"],
    write_rounds: int = FULL["write_rounds"],
) -> dict[str, Any]:
    """Suggest and write tables, then one sweep per (store, variant) of ``sweeps`` whose
    store is in ``stores``."""
    counts = tuple(sorted(trials))
    sweeps = tuple(tuple(pair) for pair in sweeps)  # type: ignore[misc]
    for store, variant in sweeps:
        if store not in STORES or variant not in VARIANTS:
            raise ValueError(
                f"sweep ({store}, {variant}): the store is one of {', '.join(STORES)}, "
                f"the variant one of {', '.join(VARIANTS)}"
            )
    setup = {
        "trials": list(counts),
        "concurrency": concurrency,
        "iterations": iterations,
        "interval_s": interval_s,
        "recommended_sampler": SAMPLERS[RECOMMENDED["sampler"]],
        "recommended_storage": RECOMMENDED["storage"],
        "write_runs": write_runs,
        "write_rounds": write_rounds,
        "suggest_levels": list(suggest_levels),
        "gated": True,
    }
    parts = Parts(os.environ.get(PARTS_VAR), setup)
    saved_home = os.environ.get("MOTIF_TUNE_HOME")
    measured: list[dict[str, Any]] = []
    with scratch("scale") as root:
        os.environ["MOTIF_TUNE_HOME"] = str(root)
        ensure_ray_token()
        suggest = parts.get(
            "suggest", lambda: suggest_table(root / "suggest", suggest_levels, concurrency)
        )
        writes = parts.get(
            "writes", lambda: writes_table(root / "writes", stores, write_runs, write_rounds)
        )
        import ray

        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=500 * 2**20,
        )
        try:
            for store, name in (pair for pair in sweeps if pair[0] in stores):

                def sweep(store: str = store, name: str = name) -> dict[str, Any]:
                    folder = root / f"{store}-{name}"
                    with _store(store, folder) as uri:
                        variant = VARIANTS[name]
                        case = Case(
                            counts[-1],
                            concurrency,
                            iterations,
                            interval_s,
                            uri,
                            gate=str(folder / "all-running"),
                            **variant,
                        )
                        return {"store": store, **measure(folder, case, counts)}

                measured.append(parts.get(f"sweep {store} {name}", sweep))
        finally:
            ray.shutdown()
            if saved_home is None:
                os.environ.pop("MOTIF_TUNE_HOME", None)
            else:
                os.environ["MOTIF_TUNE_HOME"] = saved_home
    return {
        "setup": setup,
        "sweeps": measured,
        "suggest": suggest,
        "writes": writes,
        "reused": parts.reused,
    }


class Parts:
    """What a run measured so far, kept in a JSON file (when one is named) so a long run
    that was interrupted starts again where it stopped, with the same settings only."""

    def __init__(self, path: str | None, setup: dict[str, Any]) -> None:
        self.path = Path(path) if path else None
        self.setup = json.loads(json.dumps(setup))
        self.saved: dict[str, Any] = {}
        self.reused: list[str] = []  # parts taken from the file rather than measured now
        if self.path is not None and self.path.is_file():
            with contextlib.suppress(ValueError):
                data = json.loads(self.path.read_text())
                if data.get("setup") == self.setup:
                    self.saved = data.get("parts", {})

    def get(self, key: str, measure: Any) -> Any:
        if key in self.saved:
            log(f"scale: {key} from {self.path}")
            self.reused.append(key)
            return self.saved[key]
        value = measure()
        self.saved[key] = json.loads(json.dumps(value))
        if self.path is not None:
            self.path.write_text(json.dumps({"setup": self.setup, "parts": self.saved}))
        return self.saved[key]


@contextlib.contextmanager
def _store(store: str, folder: Path) -> Iterator[str]:
    if store == "sqlite":
        yield f"sqlite:///{folder}/mlflow.db"
        return
    with mlflow_server(folder / "server") as uri:
        yield uri


def writes_table(
    folder: Path, stores: tuple[str, ...], runs: int, rounds: int
) -> list[dict[str, Any]]:
    """The trial callback's MLflow writes, in Tune's thread and in the background."""
    rows = []
    for store in stores:
        with _store(store, folder / store) as uri:
            case = Case(runs, runs, 1, 1.0, uri)
            settings = settings_for(folder / store, case, run_name=f"writes-{store}")
            for threads in (0, 1) if store == "sqlite" else (0, 1, SERVER_WRITERS):
                row = write_rates(settings, runs, rounds, threads, tag=f"w{threads}-")
                rows.append({"store": store, "threads": threads, **row})
                log(f"writes {store}, {threads} threads: {row['written_per_s']:.0f} results/s")
    return rows


def suggest_table(folder: Path, levels: tuple[int, ...], running: int) -> list[dict[str, Any]]:
    """Suggest, report and tell cost per TPE setting and study storage (``scale_suggest``)."""
    rows = []
    for i, candidate in enumerate(CANDIDATES):
        uri = f"sqlite:///{folder}/mlflow.db"
        case = Case(levels[-1], running, 1, 1.0, uri, sampler=candidate.sampler)
        case = Case(**{**case.__dict__, "storage": candidate.storage})
        settings = settings_for(folder / f"c{i}", case, run_name=f"suggest-{i}")
        row = suggest_costs(settings, candidate, folder / f"c{i}", levels, running, 20)
        last = row["levels"][levels[-1]]
        log(f"suggest {candidate.label}: {last['suggest_ms']:.0f} ms CPU at {levels[-1]} trials")
        rows.append(row)
    return rows


# ----------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    recommended = " ".join(f"`{o}`" for o in setup["recommended_sampler"]) or "its defaults"
    lines = [
        f"Stand-in trials (sleep {setup['interval_s']:g} s per iteration, RLlib-shaped result, "
        f"0.01 CPU, actors reused), `sweep=default` with a budget of {setup['iterations']} "
        f"iterations' env steps and ASHA; {setup['concurrency']} trials at once, so "
        f"{setup['concurrency'] / setup['interval_s']:,.0f} results/s are offered while all "
        "slots are busy. "
        + (
            f"Each sweep's first {setup['concurrency']} trials hold their first iteration "
            "until all of them run (starting that many Ray worker processes on 2 cores takes "
            "longer than a trial lasts); the rows are measured from that moment. "
            if setup.get("gated")
            else ""
        )
        + "One sweep per row group runs the largest count; each row reads it "
        "when that many trials had ended (suggestions of the trials up to the count; "
        "results, writes, CPU and memory since the previous count). **before**: the project "
        "as it is (MLflow written in Tune's thread, TPE as `make_searcher` sets it, the study "
        "in its SQLite storage); **after**: MLflow written by the background writer, and the "
        f"searcher settings recommended from the suggest table, set as a user sets them: "
        f"{recommended} and the study in a {setup['recommended_storage']} file "
        "(`sweep.study.storage=PATH`).",
        "",
        table(
            [
                "store",
                "trials",
                "variant",
                "suggest ms (median / p95)",
                "suggest CPU ms",
                "results/s handled (offered by the running trials)",
                "result lag ms (median / p95)",
                "MLflow write ms (median / p95)",
                "results written per s of writing",
                "results per write",
                "writer backlog (max)",
                "driver CPU (cores)",
                "driver RSS MB",
                "wall s / ideal s",
            ],
            _rows(results["sweeps"], setup["trials"]),
            align="llr" + "r" * 11,
        ),
        "",
        _completeness(results["sweeps"]),
        *_reused(results.get("reused", [])),
        "",
        f"MLflow writes alone: the trial callback driven directly for {setup['write_runs']} "
        f"trials x {setup['write_rounds']} results (runs created, results, ends), as fast "
        "as it takes them:",
        "",
        _writes_table(results["writes"]),
        "",
        "Suggest cost (CPU ms of the driver's thread, median of 20) with "
        f"{setup['concurrency']} trials running, as finished trials accumulate "
        "(`report` is one intermediate value, `tell` one trial's end):",
        "",
        _suggest_table(results["suggest"]),
    ]
    return "\n".join(lines)


def _writes_table(rows: list[dict[str, Any]]) -> str:
    body = [
        [
            r["store"],
            f"writer, {r['threads']} thread(s)" if r["threads"] else "in Tune's thread",
            f"{r['caller_ms']:.2f} / {r['caller_p95_ms']:.2f}",
            f"{r['written_per_s']:,.0f}",
        ]
        for r in rows
    ]
    headers = ["store", "writes", "Tune's thread ms per result (median / p95)", "written/s"]
    return table(headers, body, align="llrr")


def _rows(sweeps: list[dict[str, Any]], counts: list[int]) -> list[list[Any]]:
    rows = []
    for store in dict.fromkeys(s["store"] for s in sweeps):
        for count in counts:
            for sweep in (s for s in sweeps if s["store"] == store):
                w = next(w for w in sweep["windows"] if w["trials"] == count)
                rows.append(
                    [
                        store,
                        f"{count:,}",
                        sweep["variant"],
                        f"{w['suggest_ms']:.0f} / {w['suggest_p95_ms']:.0f}",
                        f"{w['suggest_cpu_ms']:.0f}",
                        f"{w['results_per_s']:.1f} ({w['offered_per_s']:.1f})",
                        f"{w['lag_ms']:,.0f} / {w['lag_p95_ms']:,.0f}",
                        f"{w['write_ms']:.1f} / {w['write_p95_ms']:.1f}",
                        f"{w['written_per_write_s']:,.0f}",
                        f"{w['results_per_write']:.1f}",
                        f"{w['backlog']:,}",
                        f"{w['driver_cpu']:.2f}",
                        f"{w['driver_rss_mb']:,.0f}",
                        f"{w['wall_s']:.0f} / {w['ideal_s']:.0f}",
                    ]
                )
    return rows


def _completeness(sweeps: list[dict[str, Any]]) -> str:
    parts = []
    for s in sweeps:
        ramp = f"{s['ramp_s']:.0f} s" if s["ramp_s"] is not None else "never"
        parts.append(
            f"{s['store']} {s['variant']}: {s['results']:,} results of {s['trials']:,} trials in "
            f"{s['wall_s']:.0f} s ({s['peak_running']} at once at most, all slots running "
            f"after {ramp}); summary {s['summary_s']:.0f} s; "
            f"{s['write_calls']:,} `log_batch` calls; "
            f"steps missing in MLflow: {s['steps_missing']}, duplicated: {s['steps_duplicated']}"
        )
    return "Per sweep: " + "; ".join(parts) + "."


def _reused(parts: list[str]) -> list[str]:
    if not parts:
        return []
    return [
        "",
        f"Taken from an earlier run of the same setup (`{PARTS_VAR}`), not measured in the "
        f"time above: {', '.join(parts)}.",
    ]


def _suggest_table(rows: list[dict[str, Any]]) -> str:
    levels = list(rows[0]["levels"]) if rows else []
    headers = ["TPE setting, study storage"]
    headers += [f"suggest at {int(n):,} (p95)" for n in levels]
    headers += [f"report, tell at {int(levels[-1]):,}" if levels else "report, tell"]
    body = []
    for row in rows:
        cells = [row["label"]]
        for n in levels:
            level = row["levels"][n]
            cells.append(f"{level['suggest_ms']:.0f} ({level['suggest_p95_ms']:.0f})")
        last = row["levels"][levels[-1]]
        cells.append(f"{last['report_ms']:.1f}, {last['tell_ms']:.1f}")
        body.append(cells)
    return table(headers, body)


def headline(results: dict[str, Any]) -> str:
    """One line for the top of RESULTS.md: the largest count, before and after."""
    parts = []
    for store in dict.fromkeys(s["store"] for s in results["sweeps"]):
        cells = []
        for sweep in (s for s in results["sweeps"] if s["store"] == store):
            w = sweep["windows"][-1]
            ratio = w["wall_s"] / max(w["ideal_s"], 1e-9)
            cells.append(
                f"{sweep['variant']} {w['results_per_s']:.1f} results/s handled of "
                f"{w['offered_per_s']:.1f} offered, median lag {w['lag_ms']:,.0f} ms, suggest "
                f"{w['suggest_cpu_ms']:.0f} ms CPU, wall {ratio:.1f}x ideal"
            )
        parts.append(f"{store}: " + "; ".join(cells))
    count = results["setup"]["trials"][-1]
    missing = sum(s["steps_missing"] for s in results["sweeps"])
    peaks = [s["peak_running"] for s in results["sweeps"]]
    reached = f"{min(peaks)}-{max(peaks)}" if peaks else "none"
    return (
        f"- Scale, {count:,} stand-in trials, up to {results['setup']['concurrency']} at once "
        f"({reached} reached): " + " | ".join(parts) + f"; steps missing in MLflow: {missing}."
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure(10, 3.6)
    left, right = figure.subplots(1, 2)
    for sweep in results["sweeps"]:
        counts = [w["trials"] for w in sweep["windows"]]
        label = f"{sweep['store']} {sweep['variant']}"
        style = "-" if sweep["variant"] == "after" else "--"
        lines = left.plot(
            counts, [w["results_per_s"] for w in sweep["windows"]], style, label=label
        )
        offered = [w["offered_per_s"] for w in sweep["windows"]]
        left.plot(counts, offered, ":", color=lines[0].get_color(), lw=0.8)
        right.plot(counts, [w["suggest_cpu_ms"] for w in sweep["windows"]], style, label=label)
    left.set(
        xscale="log", xlabel="trials", ylabel="results/s handled (dotted: offered by the trials)"
    )
    right.set(xscale="log", xlabel="trials", ylabel="suggest CPU ms (median)")
    left.legend(fontsize=7)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 trials, 10 at once (a check)")
    parser.add_argument(
        "--stores", nargs="+", choices=STORES, metavar="STORE", help="sqlite, server or both"
    )
    args = parser.parse_args(argv)
    kwargs = dict(QUICK if args.quick else FULL)
    if args.stores:
        kwargs["stores"] = tuple(args.stores)
    print(markdown(run(**kwargs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
