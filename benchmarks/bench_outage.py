"""A tracking-server outage in the middle of a sweep: steps recorded against steps produced,
and the wall time against the same sweep with the server up throughout.

    python benchmarks/bench_outage.py [--quick]

Two runs of ``sweep=smoke`` (one trial at a time, a budget in iterations) against a
real ``mlflow server`` on 127.0.0.1, one after the other on this machine:

1. ``no outage``: the server answers throughout;
2. ``outage``: once the first trial has reported twice, the server is stopped for
   ``down_s`` seconds and started again on the same port and store.

MLflow's client retries are cut to ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=1`` and a 5 s
timeout, so the outage lasts far longer than they do and the sweep's own holding
and rewriting of records is what is measured. Steps produced are the training
iterations Tune recorded (``result.json`` lines); steps recorded are the steps of
``time_this_iter_s`` MLflow holds for the trial runs afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from benchlib import (
    MOTIF_TUNE,
    REPO_DIR,
    child_env,
    log,
    new_figure,
    require_ok,
    run_process,
    save_figure,
    scratch,
    table,
)

sys.path.insert(0, str(REPO_DIR))
from tests.servers import MlflowServer  # noqa: E402

FULL = {"trials": 4, "iterations": 25, "down_s": 90.0}
QUICK = {"trials": 2, "iterations": 6, "down_s": 15.0}
SHORT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
ARMS = ("no outage", "outage")
TIMEOUT_S = 3600.0


def produced_steps(experiment: Path) -> dict[str, int]:
    """Training iterations Tune recorded, per trial id."""
    counts: dict[str, int] = {}
    for result in experiment.glob("trial_*/result.json"):
        lines = result.read_text().splitlines()
        if lines:
            counts[json.loads(lines[-1])["trial_id"]] = len(lines)
    return counts


def recorded_steps(server: MlflowServer) -> dict[str, int]:
    """Steps of ``time_this_iter_s`` MLflow holds, per trial id."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server.uri)
    return {
        run.data.tags["motif_tune.trial_id"]: len(
            client.get_metric_history(run.info.run_id, "time_this_iter_s")
        )
        for run in server.runs_by_role("trial")
    }


class Maintenance(threading.Thread):
    """Stops the server once the first trial has reported twice, starts it ``down_s``
    later; records when, and how many steps were produced while it was down."""

    def __init__(self, server: MlflowServer, experiment: Path, down_s: float) -> None:
        super().__init__(daemon=True)
        self.server, self.experiment, self.down_s = server, experiment, down_s
        self.produced_while_down = 0
        self.done = threading.Event()
        self.cancelled = threading.Event()

    def run(self) -> None:
        while max(produced_steps(self.experiment).values(), default=0) < 2:
            if self.cancelled.wait(0.5):
                return
        self.server.stop()
        before = sum(produced_steps(self.experiment).values())
        log(f"  server stopped for {self.down_s:.0f} s")
        self.cancelled.wait(self.down_s)
        self.produced_while_down = sum(produced_steps(self.experiment).values()) - before
        self.server.start()
        log("  server started again")
        self.done.set()


def one_sweep(arm: str, trials: int, iterations: int, down_s: float, root: Path) -> dict:
    home = root / arm.replace(" ", "-")
    server = MlflowServer(home / "server")
    server.start()
    name = f"outage-{arm.replace(' ', '-')}"
    experiment = home / "ray_results" / name
    maintenance = Maintenance(server, experiment, down_s) if arm == "outage" else None
    command = [
        MOTIF_TUNE,
        "sweep",
        "sweep=smoke",
        f"run_name={name}",
        f"tracking.uri={server.uri}",
        f"sweep.num_samples={trials}",
        "sweep.max_concurrent_trials=1",
        f"sweep.budget.iterations={iterations}",
    ]
    try:
        if maintenance is not None:
            maintenance.start()
        run = run_process(
            command,
            env={**child_env(home, ray_token=False), **SHORT_RETRIES},
            cwd=home,
            timeout_s=TIMEOUT_S,
            log_file=home / "sweep.log",
        )
        require_ok(run, name)
        if maintenance is not None:
            maintenance.cancelled.set()
            maintenance.join()
            if not maintenance.done.is_set():
                raise RuntimeError("the sweep ended before the server was started again")
        produced = sum(produced_steps(experiment).values())
        recorded = sum(recorded_steps(server).values())
    finally:
        server.stop()
    lines = run.output.splitlines()
    row = {
        "arm": arm,
        "down_s": down_s if maintenance else 0.0,
        "wall_s": run.wall_s,
        "steps_produced": produced,
        "steps_recorded": recorded,
        "recorded_over_produced": recorded / produced if produced else None,
        "produced_while_down": maintenance.produced_while_down if maintenance else None,
        "console_gone": sum("is not answering" in line for line in lines),
        "console_back": sum("answers again" in line for line in lines),
        "urllib3_lines": sum("urllib3" in line for line in lines),
    }
    log(
        f"  {arm}: {recorded}/{produced} steps recorded, wall {run.wall_s:.0f} s, "
        f"{row['console_gone']} 'not answering' / {row['console_back']} 'answers again' lines"
    )
    return row


def run(
    trials: int = FULL["trials"],
    iterations: int = FULL["iterations"],
    down_s: float = FULL["down_s"],
) -> dict[str, Any]:
    with scratch("outage") as root:
        rows = [one_sweep(arm, trials, iterations, down_s, root) for arm in ARMS]
    plain, outage = rows
    return {
        "setup": {"trials": trials, "iterations": iterations, "down_s": down_s, **SHORT_RETRIES},
        "rows": rows,
        "wall_ratio": outage["wall_s"] / plain["wall_s"],
    }


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        f"`sweep=smoke`, {setup['trials']} trials of {setup['iterations']} iterations, one "
        "at a time, against a local `mlflow server`; in the outage run the server is stopped "
        f"for {setup['down_s']:.0f} s once the first trial has reported twice. MLflow's "
        f"client retries cut to {setup['MLFLOW_HTTP_REQUEST_MAX_RETRIES']} with a "
        f"{setup['MLFLOW_HTTP_REQUEST_TIMEOUT']} s timeout.",
        "",
        table(
            [
                "run",
                "server down (s)",
                "steps recorded / produced",
                "produced while down",
                "wall (s)",
                "console lines (gone / back / urllib3)",
            ],
            [
                [
                    r["arm"],
                    f"{r['down_s']:.0f}",
                    f"{r['steps_recorded']}/{r['steps_produced']} "
                    f"({r['recorded_over_produced']:.2f})",
                    "" if r["produced_while_down"] is None else str(r["produced_while_down"]),
                    f"{r['wall_s']:.0f}",
                    f"{r['console_gone']} / {r['console_back']} / {r['urllib3_lines']}",
                ]
                for r in results["rows"]
            ],
        ),
        "",
        f"Wall time with the outage / without (measured one after the other): "
        f"{results['wall_ratio']:.2f}x.",
    ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> Path:
    figure = new_figure(6.0, 3.0)
    axes = figure.subplots()
    rows = results["rows"]
    names = [r["arm"] for r in rows]
    axes.bar(names, [r["wall_s"] for r in rows])
    for i, r in enumerate(rows):
        axes.annotate(
            f"{r['steps_recorded']}/{r['steps_produced']} steps",
            (i, r["wall_s"]),
            ha="center",
            va="bottom",
        )
    axes.set_ylabel("sweep wall time (s)")
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = run(**(QUICK if args.quick else FULL))
    print(markdown(results))


if __name__ == "__main__":
    main()
