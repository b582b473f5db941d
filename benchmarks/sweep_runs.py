"""One ``motif-tune sweep`` as a subprocess, read back from its MLflow store: what the
warm-start benchmark runs (its arms differ in warm starts, not in the process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchlib import MOTIF_TUNE, child_env, log, require_ok, run_process

QUICK_SWEEP = [
    "sweep.num_samples=3",
    "sweep.verify.top_k=1",
    "sweep.verify.seeds=1",
    "sweep.objective.episodes=50",
]
SWEEP_TIMEOUT_S = 3600.0


def _client(home: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{home / 'mlflow.db'}")


def runs_tagged(home: Path, sweep: str, role: str) -> list[Any]:
    """The MLflow runs of sweep ``sweep`` with role ``role`` (sweep, trial, verify)."""
    client = _client(home)
    experiments = [e.experiment_id for e in client.search_experiments()]
    query = f"tags.`motif_tune.sweep` = '{sweep}' and tags.`motif_tune.role` = '{role}'"
    return client.search_runs(experiments, filter_string=query, max_results=1000)


def _parse(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def run_command(command: list[str], home: Path, timeout_s: float, what: str) -> Any:
    """Run ``command`` with its files under ``home`` (output in ``logs/<what>.log``);
    stop the benchmark if it fails."""
    run = run_process(
        command,
        env=child_env(home, ray_token=False),
        cwd=home,
        timeout_s=timeout_s,
        log_file=home / "logs" / f"{what}.log",
    )
    require_ok(run, what)
    return run


def run_sweep(
    arm: str, sweep_seed: int, extra: list[str], budget: int, home: Path
) -> dict[str, Any]:
    """One sweep: its champion's values, wall time and the env steps its search spent."""
    name = f"value-{arm.replace('+', '-')}-{sweep_seed}"
    command = [
        MOTIF_TUNE,
        "sweep",
        "sweep=default",
        f"sweep.seed={sweep_seed}",
        f"run_name={name}",
        f"sweep.budget.env_steps={budget}",
        *extra,
    ]
    run = run_command(command, home, SWEEP_TIMEOUT_S, name)
    (parent,) = runs_tagged(home, name, "sweep")
    champion = {
        key.removeprefix("best."): _parse(value)
        for key, value in parent.data.params.items()
        if key.startswith("best.") and key not in ("best.trial_id", "best.verified")
    }
    trials = runs_tagged(home, name, "trial")
    steps = sum(t.data.metrics.get("num_env_steps_sampled_lifetime", 0) for t in trials)
    log(f"  {name}: champion {champion}, {len(trials)} trials, {steps:,.0f} env steps")
    return {
        "arm": arm,
        "sweep_seed": sweep_seed,
        "settings": champion,
        "sweep_wall_s": run.wall_s,
        "search_env_steps": int(steps),
        "search_trials": len(trials),
    }
