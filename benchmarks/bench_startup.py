"""Start-up and wrap-up: time to the first trial result and to the end of a small sweep
against a hand-written Tune script, where the time goes, how busy the CPUs are over
a default sweep, and peak memory.

    python benchmarks/bench_startup.py [--quick] [--rounds 5] [--before REV | --before none]
        [--cpu-env-steps N]

1. First result and whole sweep, side by side. Each round runs, in turn (the
   order rotates from round to round): ``motif-tune sweep sweep=smoke``;
   ``benchmarks/plain_tune.py`` running the same two trials (the smoke sweep's
   rollout fragment lengths and batches, stopped at the same env steps, a greedy
   evaluation of as many episodes every iteration) with ``MLflowLoggerCallback``;
   the same script without any tracking; and, with ``--before REV``, motif-tune
   as of that revision (``git archive``, put first on ``PYTHONPATH``). The arms
   that track write to stores made beforehand (their tables, no runs), as every
   sweep but a machine's first does; ``motif-tune sweep sweep=smoke`` runs once
   more on a new store, which it creates, as the first sweep does. "First
   result" is the first line of any trial's ``result.json``; "whole sweep" is
   launch to exit. Ratios are per round, then the median.
2. Where the time goes: the ``fit_timer`` hook (``MOTIF_BENCH_PHASES``) stamps the
   phases in the driver (CLI, validation, Ray start, the MLflow store, the
   summary, Ray's stop) and in the trial workers (worker start, ``Algorithm``
   set-up); medians over the rounds.
3. CPUs busy over a default sweep (``sweep.num_samples=6``, verification as the
   default sweep has it; ``--cpu-env-steps`` shortens its budget): ``/proc/stat``
   and the sweep's own process tree sampled every 0.5 s; the share of the CPUs
   in use over the whole run, before the
   first ``Tuner.fit()`` (start-up), from there to the last ``Tuner.fit()``'s end
   (trials) and after it (wrap-up). On a shared machine ``/proc/stat`` counts
   other users' work too; the process tree counts only the sweep's.
4. Peak memory of a sweep running two trials at once: RSS and PSS summed over the
   driver and every descendant, sampled every 0.5 s in a run of its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    BENCH_DIR,
    PYTHON,
    REPO_DIR,
    busy_fraction,
    child_env,
    log,
    median,
    new_figure,
    read_phases,
    require_ok,
    run_process,
    save_figure,
    scratch,
    table,
    trial_params,
)

BEFORE_REVISION = "e4a46b9"  # the revision the "before" figures run
FULL = {"rounds": 5, "before": BEFORE_REVISION, "cpu_trials": 6, "cpu_env_steps": None}
QUICK = {"rounds": 1, "before": None, "cpu_trials": 2, "cpu_env_steps": 2048, "quick": True}
# The smoke sweep's two trials, (rollout_fragment_length, train_batch_size): the
# baseline (the composed config's own values) and the sampler's first proposal.
SMOKE_TRIALS = ((256, 1024), (34, 136))
SMOKE_ENV_STEPS, SMOKE_EPISODES = 512, 50
CPUS = os.cpu_count() or 1
TIMEOUT_S = 1200.0


@dataclass(frozen=True)
class Arm:
    key: str
    label: str


MOTIF = Arm("motif_tune", "motif-tune")
NEW_STORE = Arm("new_store", "motif-tune, new store")
PLAIN = Arm("plain", "plain script")
UNTRACKED = Arm("untracked", "plain script, no tracking")
# The arms that run motif-tune (the smoke sweep), the --before revision's too.
MOTIF_ARMS = (MOTIF.key, NEW_STORE.key, "before")
# The MLflow (and Optuna) stores of the arms that track: made once with their tables,
# copied into each run's folder; the new-store arm starts without one.
MOTIF_STORES = ("mlflow.db", "optuna.db")
PLAIN_STORE = "store/mlflow.db"
_MAKE_STORES = """
import sys
import mlflow
from motif_tune import compose_settings
from motif_tune.search.study import open_storage
from motif_tune.tracking.client import open_store

settings = compose_settings(["sweep=smoke"])
open_store(settings.tracking.uri)
open_storage(settings.study_storage)
mlflow.MlflowClient(tracking_uri="sqlite:///" + sys.argv[1]).search_experiments()
"""


def _before_arm(revision: str) -> Arm:
    return Arm("before", f"motif-tune @{revision}")


# (label, from milestone, to milestone); a row is the median of (to - from) over rounds.
STEPS = [
    ("Python start, CLI imports", "launch", "main"),
    ("compose + validate (imports Ray, RLlib)", "main", "checked"),
    ("import of the sweep modules (MLflow, Tune)", "checked", "sweep"),
    ("resource check; MLflow store, Ray start; Tuner", "sweep", "fit"),
    ("**launch → Tuner.fit**", "launch", "fit"),
    ("trial worker start (process; Tune, RLlib, torch imports)", "fit", "algo_init"),
    ("Algorithm set-up (envs, RLModule, learner)", "algo_init", "algo_ready"),
    ("first iteration and its evaluation", "algo_ready", "first_result"),
    ("**launch → first result**", "launch", "first_result"),
    ("the rest of the trials", "first_result", "fit_end"),
    ("wrap-up (summary, checkpoint, registry, plots; Ray stop)", "fit_end", "exit"),
    ("**whole sweep**", "launch", "exit"),
]
# Durations of single calls, which may overlap (MLflow store while Ray starts, …).
CALLS = [
    ("  Ray start (`start_ray`)", "ray_start_s"),
    ("  MLflow store and experiment (`SweepRun()`)", "tracking_s"),
    ("  summary and its MLflow records (`summarise`)", "summary_s"),
    ("  Ray stop (`stop_ray`)", "ray_stop_s"),
]


# ----------------------------------------------------------------------- one run


def _first_result(experiment: Path) -> Any:
    def seen() -> bool:
        for path in experiment.glob("*/result.json"):
            try:
                if path.stat().st_size > 0:
                    return True
            except OSError:
                continue
        return False

    return seen


def _make_stores(root: Path) -> Path:
    """A folder with the stores of the arms that track, their tables made, no runs."""
    folder = root / "stores"
    (folder / PLAIN_STORE).parent.mkdir(parents=True)
    subprocess.run(
        [PYTHON, "-c", _MAKE_STORES, str(folder / PLAIN_STORE)],
        env=child_env(folder, ray_token=False),
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder


def _copy_stores(arm: Arm, stores: Path, home: Path) -> None:
    names = {MOTIF.key: MOTIF_STORES, "before": MOTIF_STORES, PLAIN.key: (PLAIN_STORE,)}
    for name in names.get(arm.key, ()):
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stores / name, home / name)


def _command(arm: Arm, home: Path, run_name: str) -> tuple[list[str], Path]:
    """The command line of one arm, and the Tune experiment folder it writes."""
    if arm.key in MOTIF_ARMS:
        command = [PYTHON, "-m", "motif_tune", "sweep", "sweep=smoke", f"run_name={run_name}"]
        return command, home / "ray_results" / run_name
    command = [
        PYTHON,
        str(BENCH_DIR / "plain_tune.py"),
        f"--storage={home / 'store'}",
        *[f"--trial={fragment}:{batch}" for fragment, batch in SMOKE_TRIALS],
        f"--env-steps={SMOKE_ENV_STEPS}",
        f"--eval-episodes={SMOKE_EPISODES}",
        f"--cpus={CPUS}",
    ]
    if arm.key == UNTRACKED.key:
        command.append("--no-tracking")
    return command, home / "store" / "ray_results" / "plain"


def _trial_pairs(experiment: Path) -> set[tuple[int, int]]:
    pairs = set()
    for params in trial_params(experiment).values():
        batch = params.get("train_batch_size", params.get("_train_batch_size_per_learner"))
        pairs.add((int(params["rollout_fragment_length"]), int(batch)))
    return pairs


def _measured(
    arm: Arm, index: int, root: Path, before_tree: Path | None, stores: Path
) -> dict[str, Any]:
    """One run; a run that fails (on a shared machine Ray's own start can time out) is
    made once more, and the row says so."""
    try:
        return _one_run(arm, index, root, before_tree, stores)
    except RuntimeError as err:
        log(f"  {arm.label}: {str(err).splitlines()[0]}; once more")
        return {**_one_run(arm, index, root, before_tree, stores, attempt=2), "attempts": 2}


def _one_run(
    arm: Arm, index: int, root: Path, before_tree: Path | None, stores: Path, attempt: int = 1
) -> dict[str, Any]:
    home = root / f"{arm.key}-{index}-{attempt}"
    home.mkdir(parents=True)
    _copy_stores(arm, stores, home)
    fit_times, phases = home / "fit_times.jsonl", home / "phases.jsonl"
    command, experiment = _command(arm, home, f"startup-{index}")
    tree = [before_tree] if arm.key == "before" and before_tree is not None else []
    env = child_env(
        home,
        ray_token=arm.key in (PLAIN.key, UNTRACKED.key),
        fit_times=fit_times,
        phases=phases,
        pythonpath=tree,
    )
    run = run_process(
        command,
        env=env,
        cwd=home,
        timeout_s=TIMEOUT_S,
        log_file=home / "output.log",
        watch=_first_result(experiment),
        fit_times=fit_times,
    )
    require_ok(run, f"{arm.label} (round {index + 1})")
    if arm.key in MOTIF_ARMS and _trial_pairs(experiment) != set(SMOKE_TRIALS):
        raise RuntimeError(
            f"{arm.label} ran the trials {sorted(_trial_pairs(experiment))}, not "
            f"{sorted(SMOKE_TRIALS)}: the plain script would not run the same ones."
        )
    marks = _milestones(run, read_phases(phases, run.started_at))
    log(
        f"  {arm.label}: first result {_s(marks['first_result'])}, whole sweep "
        f"{_s(marks['exit'])} (load {run.load_at_launch[0]:.2f})"
    )
    return {"round": index + 1, "arm": arm.key, "load": run.load_at_launch, **marks}


def _milestones(run: Any, phases: list[dict[str, Any]]) -> dict[str, float | None]:
    """Seconds from launch to each milestone of a run, and the durations of its calls."""

    def first(name: str, key: str, after: float | None = None) -> float | None:
        times = [r[key] for r in phases if r["name"] == name and key in r]
        times = [t for t in times if after is None or t >= after]
        return min(times) if times else None

    def duration(name: str) -> float | None:
        calls = [r["end"] - r["start"] for r in phases if r["name"] == name and "end" in r]
        return sum(calls) if calls else None

    fit_start = run.fits[0][0] if run.fits else None
    checked = [r["end"] for r in phases if r["name"] == "prepare_sweep" and "end" in r]
    return {
        "launch": 0.0,
        "main": first("main", "start") or first("_main", "start"),
        "checked": max(checked) if checked else None,
        "sweep": first("run_sweep", "start"),
        "fit": fit_start,
        "worker": first("worker process", "start", after=fit_start),
        "algo_init": first("Algorithm.__init__", "start"),
        "algo_ready": first("Algorithm.__init__", "end"),
        "first_result": run.event_s,
        "fit_end": run.fits[-1][1] if run.fits else None,
        "exit": run.wall_s,
        "ray_start_s": duration("start_ray"),
        "tracking_s": duration("SweepRun.__init__"),
        "summary_s": (duration("record_outcome") or 0.0) + (duration("summarise") or 0.0),
        "ray_stop_s": duration("stop_ray"),
    }


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


# ----------------------------------------------------------------------- CPUs busy


def _cpu_run(
    arm: Arm, trials: int, env_steps: int | None, quick: bool, root: Path, tree: Path | None
) -> dict:
    home = root / f"cpu-{arm.key}"
    home.mkdir(parents=True)
    fit_times = home / "fit_times.jsonl"
    run_name = f"cpu-{arm.key}"
    command = [PYTHON, "-m", "motif_tune", "sweep", f"run_name={run_name}"]
    command.append(f"sweep.num_samples={trials}")
    if env_steps:
        command.append(f"sweep.budget.env_steps={env_steps}")
    if quick:
        command += ["sweep.verify.top_k=1", "sweep.verify.seeds=1", "sweep.objective.episodes=50"]
    env = child_env(home, ray_token=False, fit_times=fit_times, pythonpath=[tree] if tree else [])
    run = run_process(
        command,
        env=env,
        cwd=home,
        timeout_s=TIMEOUT_S * 2,
        log_file=home / "output.log",
        fit_times=fit_times,
        cpu=True,
    )
    require_ok(run, f"{arm.label}: {trials}-trial default sweep")
    if not run.fits:
        raise RuntimeError(f"{arm.label}: no Tuner.fit() was recorded")
    spans = {
        "overall": (0.0, run.wall_s),
        "start_up": (0.0, run.fits[0][0]),
        "trials": (run.fits[0][0], run.fits[-1][1]),
        "wrap_up": (run.fits[-1][1], run.wall_s),
    }
    row: dict[str, Any] = {"arm": arm.key, "label": arm.label, "load": run.load_at_launch}
    for name, (start, end) in spans.items():
        row[name] = {
            "seconds": end - start,
            "machine": busy_fraction(run.cpu_trace, start, end, CPUS, 1),
            "sweep": busy_fraction(run.cpu_trace, start, end, CPUS, 2),
        }
    row["trace"] = run.cpu_trace
    row["fits"] = run.fits
    log(
        f"  {arm.label}: {run.wall_s:.0f} s; CPUs busy {row['overall']['machine']:.2f} "
        f"(machine), {row['overall']['sweep']:.2f} (the sweep's processes)"
    )
    return row


# ----------------------------------------------------------------------- memory


def _memory_run(root: Path) -> dict[str, Any]:
    """Two trials at once (the default sweep, 4 iterations each, no verification)."""
    home = root / "memory"
    home.mkdir(parents=True)
    command = [
        PYTHON,
        "-m",
        "motif_tune",
        "sweep",
        "run_name=memory",
        "sweep.num_samples=2",
        "sweep.budget.iterations=4",
        "sweep.verify.top_k=0",
    ]
    run = run_process(
        command,
        env=child_env(home, ray_token=False),
        cwd=home,
        timeout_s=TIMEOUT_S,
        log_file=home / "output.log",
        memory=True,
    )
    require_ok(run, "memory run")
    log(f"  memory: peak PSS {run.peak_pss_mb:.0f} MB, RSS {run.peak_rss_mb:.0f} MB")
    return {
        "peak_rss_mb": run.peak_rss_mb,
        "peak_pss_mb": run.peak_pss_mb,
        "peak_processes": run.peak_processes,
        "memory_trace": run.memory_trace,
    }


# ----------------------------------------------------------------------- the benchmark


def _export(revision: str, root: Path) -> Path:
    """The package as of ``revision`` (``git archive``: the checkout is left as it is)."""
    folder = root / f"tree-{revision}"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "motif_tune", "conf", "sweeps"],
        cwd=REPO_DIR,
        check=True,
        capture_output=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _or_error(who: dict[str, Any], fn: Any, *args: Any) -> dict[str, Any]:
    """``fn(*args)``, or ``who`` with the error when it cannot run (the figures measured
    before it are kept)."""
    try:
        return fn(*args)
    except Exception as err:
        log(f"  could not run: {err}")
        return {**who, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def run(
    rounds: int = FULL["rounds"],
    before: str | None = BEFORE_REVISION,
    cpu_trials: int = FULL["cpu_trials"],
    cpu_env_steps: int | None = None,
    quick: bool = False,
) -> dict[str, Any]:
    """``rounds`` rounds of the arms side by side, the CPU runs, and the memory run."""
    with scratch("startup") as root:
        before_tree = _export(before, root) if before else None
        stores = _make_stores(root)
        arms = [MOTIF, NEW_STORE, PLAIN, UNTRACKED] + ([_before_arm(before)] if before else [])
        runs = []
        for index in range(rounds):
            log(f"startup: round {index + 1}/{rounds}")
            shift = index % len(arms)
            for arm in arms[shift:] + arms[:shift]:
                runs.append(_measured(arm, index, root, before_tree, stores))
        log("startup: CPUs busy over a default sweep")
        cpu_arms = ([_before_arm(before)] if before else []) + [MOTIF]
        cpu = [
            _or_error(
                {"arm": arm.key, "label": arm.label},
                _cpu_run,
                arm,
                cpu_trials,
                cpu_env_steps,
                quick,
                root,
                before_tree if arm.key == "before" else None,
            )
            for arm in cpu_arms
        ]
        log("startup: peak memory")
        memory = _or_error({}, _memory_run, root)
    setup = {"before": before, "cpu_trials": cpu_trials, "cpu_env_steps": cpu_env_steps}
    return _summarise(runs, arms, cpu, memory, rounds, setup, quick)


def _summarise(
    runs: list[dict[str, Any]],
    arms: list[Arm],
    cpu: list[dict[str, Any]],
    memory: dict[str, Any],
    rounds: int,
    options: dict[str, Any],
    quick: bool,
) -> dict[str, Any]:
    before = options["before"]
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for r in runs:
        by_round.setdefault(r["round"], {})[r["arm"]] = r
    ratios = []
    for number, arms_run in sorted(by_round.items()):
        row: dict[str, Any] = {"round": number}
        for key in [MOTIF.key, NEW_STORE.key] + (["before"] if before else []):
            mine = arms_run[key]
            row[f"{key}_first_vs_plain"] = _ratio(
                mine["first_result"], arms_run[PLAIN.key]["first_result"]
            )
            row[f"{key}_first_vs_untracked"] = _ratio(
                mine["first_result"], arms_run[UNTRACKED.key]["first_result"]
            )
            row[f"{key}_wall_vs_untracked"] = _ratio(mine["exit"], arms_run[UNTRACKED.key]["exit"])
        ratios.append(row)
    medians = {
        arm.key: {
            key: median([r[key] for r in runs if r["arm"] == arm.key and r[key] is not None])
            for key in {*(m for _, a, b in STEPS for m in (a, b)), *(k for _, k in CALLS)}
        }
        for arm in arms
    }
    breakdown = {
        arm.key: {
            label: median(
                [
                    r[to] - r[frm]
                    for r in runs
                    if r["arm"] == arm.key and r[frm] is not None and r[to] is not None
                ]
            )
            for label, frm, to in STEPS
        }
        for arm in arms
    }
    ratio_keys = [k for k in ratios[0] if k != "round"] if ratios else []
    return {
        "setup": {
            "rounds": rounds,
            "before": before,
            "arms": [{"key": a.key, "label": a.label} for a in arms],
            "trials": [list(t) for t in SMOKE_TRIALS],
            "env_steps": SMOKE_ENV_STEPS,
            "episodes": SMOKE_EPISODES,
            "cpu_trials": options["cpu_trials"],
            "cpu_env_steps": options["cpu_env_steps"],
            "quick": quick,
            "cpus": CPUS,
        },
        "runs": runs,
        "ratios": ratios,
        "median_ratios": {
            k: median([r[k] for r in ratios if r[k] is not None]) for k in ratio_keys
        },
        "medians": medians,
        "breakdown": breakdown,
        "cpu": cpu,
        "memory": memory,
        # Headline figures.
        "median_to_first_result_s": medians[MOTIF.key]["first_result"],
        "max_peak_rss_mb": memory.get("peak_rss_mb"),
        "max_peak_pss_mb": memory.get("peak_pss_mb"),
    }


# ----------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    arms = [Arm(a["key"], a["label"]) for a in setup["arms"]]
    label = {a.key: a.label for a in arms}
    trials = ", ".join(f"fragment {f} × batch {b}" for f, b in setup["trials"])
    lines = [
        f"`motif-tune sweep sweep=smoke` (two trials at once: {trials}; "
        f"{setup['env_steps']} env steps each; scored by a greedy evaluation of "
        f"{setup['episodes']} episodes) against `benchmarks/plain_tune.py` running the "
        "same two trials with the same budget and an evaluation of as many episodes each "
        "iteration, with `MLflowLoggerCallback` and without any tracking"
        + (f", and against motif-tune @{setup['before']}" if setup["before"] else "")
        + f"; {setup['rounds']} rounds, the arms' order rotating from round to round. "
        "The arms that track write to stores made beforehand (their tables, no runs), as "
        "every sweep but a machine's first does; the new-store arm creates its MLflow and "
        "Optuna stores, as the first sweep does. Load average (1 min) at each launch in "
        "brackets.",
        "",
    ]
    headers = ["round", *[f"{a.label}: first result s" for a in arms]]
    headers += [f"{a.label}: whole sweep s" for a in arms]
    rows = []
    for number in sorted({r["round"] for r in results["runs"]}):
        cells_first, cells_wall = [], []
        for arm in arms:
            run = next(r for r in results["runs"] if r["round"] == number and r["arm"] == arm.key)
            cells_first.append(f"{_num(run['first_result'])} ({run['load'][0]:.1f})")
            cells_wall.append(_num(run["exit"]))
        rows.append([number, *cells_first, *cells_wall])
    rows.append(
        [
            "**median**",
            *[results["medians"][a.key]["first_result"] for a in arms],
            *[results["medians"][a.key]["exit"] for a in arms],
        ]
    )
    lines += [table(headers, rows), ""]

    ratio_headers = ["round"]
    ratio_names = []
    compared = [MOTIF.key] + ([NEW_STORE.key] if NEW_STORE.key in label else [])
    for key in compared + (["before"] if setup["before"] else []):
        for suffix, text in (
            ("first_vs_plain", "first result / plain"),
            ("first_vs_untracked", "first result / plain, no tracking"),
            ("wall_vs_untracked", "whole sweep / plain, no tracking"),
        ):
            ratio_headers.append(f"{label[key]}: {text}")
            ratio_names.append(f"{key}_{suffix}")
    ratio_rows = [[r["round"], *[r[n] for n in ratio_names]] for r in results["ratios"]]
    ratio_rows.append(["**median**", *[results["median_ratios"][n] for n in ratio_names]])
    lines += ["Ratios per round (each against the same round's runs):", ""]
    lines += [table(ratio_headers, ratio_rows), ""]

    step_rows = [[text, *[results["breakdown"][a.key][text] for a in arms]] for text, _, _ in STEPS]
    step_rows += [[text, *[results["medians"][a.key][key] for a in arms]] for text, key in CALLS]
    lines += [
        "Where the time goes (seconds, medians over the rounds; a step's start and end "
        "are stamped in the driver and the trial workers by `fit_timer/sitecustomize.py`; "
        "the indented calls may overlap each other and the steps):",
        "",
        table(["step", *[a.label for a in arms]], step_rows, "l" + "r" * len(arms)),
        "",
    ]

    cpu_rows = []
    for row in results["cpu"]:
        if "error" in row:
            cpu_rows.append([row["label"], f"could not run: {row['error']}", "", "", ""])
            continue
        cells = [f"{row['label']} ({row['load'][0]:.1f})"]
        for span in ("overall", "start_up", "trials", "wrap_up"):
            part = row[span]
            cells.append(f"{part['machine']:.2f} / {part['sweep']:.2f} ({part['seconds']:.0f} s)")
        cpu_rows.append(cells)
    steps = setup.get("cpu_env_steps")
    what = f"`motif-tune sweep sweep.num_samples={setup['cpu_trials']}" + (
        f" sweep.budget.env_steps={steps}`" if steps else "`"
    )
    what += (
        " (one finalist on one seed)"
        if setup["quick"]
        else f" (the default sweep{': ' + format(steps, ',') if steps else ', 20,000'} env "
        "steps per trial, then the top 2 and the baseline on 3 seeds)"
    )
    lines += [
        f"CPUs busy over {what}, as a share of the {setup['cpus']} CPUs: the machine "
        "(`/proc/stat`, every user's work) / the sweep's own process tree, and how long "
        "each part took; load average at launch in brackets. Start-up ends when the "
        "first `Tuner.fit()` begins, wrap-up begins when the last one returns.",
        "",
        table(["run", "overall", "start-up", "trials", "wrap-up"], cpu_rows),
        "",
    ]
    memory = results["memory"]
    lines.append(
        "Peak memory of a sweep running two trials at once (the default sweep, 2 trials of "
        + (
            f"4 iterations, no verification): could not run: {memory['error']}."
            if "error" in memory
            else f"4 iterations, no verification): {memory['peak_pss_mb']:,.0f} MB PSS "
            f"({memory['peak_rss_mb']:,.0f} MB summed RSS, {memory['peak_processes']} "
            "processes)."
        )
    )
    return "\n".join(lines)


def headline(results: dict[str, Any]) -> str:
    """The section's line among ``RESULTS.md``'s headlines."""
    ratios, setup = results["median_ratios"], results["setup"]
    mine = results["medians"][MOTIF.key]
    cpu = next(
        (row for row in results["cpu"] if row["arm"] == MOTIF.key and "error" not in row), None
    )
    busy = (
        f"; CPUs busy {cpu['overall']['machine']:.2f} of the wall time over a "
        f"{setup['cpu_trials']}-trial default sweep (its own processes "
        f"{cpu['overall']['sweep']:.2f})"
        if cpu
        else ""
    )
    return (
        f"- Start-up: first trial result {mine['first_result']:.1f} s after launch, "
        f"{ratios['motif_tune_first_vs_plain']:.2f}x the plain Tune script's "
        f"({ratios['motif_tune_first_vs_untracked']:.2f}x without tracking); whole smoke "
        f"sweep {ratios['motif_tune_wall_vs_untracked']:.2f}x the plain script without "
        f"tracking"
        + (
            f" ({ratios['new_store_wall_vs_untracked']:.2f}x for a first sweep, which "
            "creates its store)"
            if "new_store_wall_vs_untracked" in ratios
            else ""
        )
        + f" (medians of {setup['rounds']} rounds){busy}"
        + (
            f"; peak memory of a two-trial sweep {results['max_peak_pss_mb']:,.0f} MB PSS "
            f"({results['max_peak_rss_mb']:,.0f} MB RSS)."
            if results.get("max_peak_pss_mb") is not None
            else "."
        )
    )


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure(9.0, 4.0)
    left, right = figure.subplots(1, 2, width_ratios=[1.2, 1])
    arms = [Arm(a["key"], a["label"]) for a in results["setup"]["arms"]]
    parts = [
        ("launch → Tuner.fit", "launch", "fit"),
        ("worker start", "fit", "algo_init"),
        ("Algorithm set-up", "algo_init", "algo_ready"),
        ("first iteration", "algo_ready", "first_result"),
        ("rest of the trials", "first_result", "fit_end"),
        ("wrap-up", "fit_end", "exit"),
    ]
    for i, arm in enumerate(arms):
        medians = results["medians"][arm.key]
        bottom = 0.0
        for j, (text, frm, to) in enumerate(parts):
            start, end = medians.get(frm), medians.get(to)
            height = (end - start) if start is not None and end is not None else 0.0
            if height != height:  # NaN: a step this arm does not stamp
                height = 0.0
            left.bar(i, height, bottom=bottom, color=f"C{j}", label=text if i == 0 else None)
            bottom += height
    left.set_xticks(range(len(arms)), [a.label for a in arms], rotation=15, fontsize=7)
    left.set_ylabel("seconds from launch (medians)")
    left.legend(fontsize=7)
    for row in results["cpu"]:
        trace = row.get("trace", [])
        right.plot(
            [t for t, _, _ in trace],
            [c / results["setup"]["cpus"] for _, _, c in trace],
            label=row["label"],
            linewidth=0.8,
        )
    right.set_xlabel("seconds since launch")
    right.set_ylabel("share of the CPUs used by the sweep")
    right.set_ylim(0, 1.1)
    right.legend(fontsize=7)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, a short CPU sweep")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--before", help="a revision to run as well ('none': no such arm)")
    parser.add_argument("--cpu-env-steps", type=int, help="the CPU sweep's budget per trial")
    args = parser.parse_args(argv)
    preset = dict(QUICK if args.quick else FULL)
    if args.rounds:
        preset["rounds"] = args.rounds
    if args.before:
        preset["before"] = None if args.before == "none" else args.before
    if args.cpu_env_steps:
        preset["cpu_env_steps"] = args.cpu_env_steps
    print(markdown(run(**preset)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
