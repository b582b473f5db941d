"""The commands of ``motif-tune``: each checks its settings before anything starts
(``prepare``), then runs (``run``) and returns what the terminal shows (``render()``).

A command's modules are imported when it is chosen, so ``--help`` and tab
completion stay quick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from motif_tune.config import Settings


@dataclass(frozen=True)
class About:
    """What ``motif-tune --help`` says of a command."""

    summary: str
    keys: list[tuple[str, str]]  # (KEY=VALUE, what it does)
    example: str


COMMANDS = {
    "sweep": About(
        "run a sweep (the default command): search, verify the best on fresh seeds, "
        "record everything in MLflow",
        [
            ("sweep=NAME", "a sweep file of sweeps/ (search space, budget, objective)"),
            ("sweep.num_samples=N", "how many trials"),
            ("sweep.budget.env_steps=N", "per trial (or sweep.budget.time_s=S, .iterations=N)"),
            ("sweep.verify.top_k=K", "finalists retrained on fresh seeds (0: none)"),
            ("sweep.warm_start=RUN_NAME", "seed the study with an earlier sweep's trials"),
            ("-m GROUP=A,B", "one sweep per composition (Hydra multirun)"),
        ],
        "motif-tune sweep algo=appo sweep=smoke run_name=first-look",
    ),
    "train": About(
        "train one composed config, no search (for the sweep's budget unless stop.* says)",
        [
            ("stop.training_iteration=N", "or any result key: stop.time_total_s=60"),
            ("checkpoint=PATH|runs:/ID/checkpoint", "continue from a checkpoint"),
            ("train.from_sweep=RUN_NAME", "train with that sweep's champion settings"),
        ],
        "motif-tune train train.from_sweep=<sweep run_name> seed=7",
    ),
    "evaluate": About(
        "score a checkpoint with greedy (or sampled) actions",
        [
            ("checkpoint=...", "a folder, runs:/<run_id>/checkpoint or models:/<name>@champion"),
            ("evaluate.episodes=N", "episodes to play"),
            ("evaluate.deterministic=false", "sampled actions instead of greedy"),
        ],
        "motif-tune evaluate checkpoint=models:/default-PPO-motif@champion",
    ),
    "resume": About(
        "continue an interrupted sweep, search or verification (the latest one by default)",
        [("run_name=NAME", "which sweep")],
        "motif-tune resume run_name=<sweep run_name>",
    ),
    "studies": About(
        "list the sweeps' stored Optuna studies: trials, best value, MLflow parent run",
        [("sweep.study.storage=URL", "another Optuna storage (default: sqlite under runs/)")],
        "motif-tune studies",
    ),
}
NAMES = tuple(COMMANDS)


class Shown(Protocol):
    def render(self) -> str: ...


@dataclass(frozen=True)
class Command:
    name: str
    prepare: Callable[[Settings, Sequence[str]], Any]  # every check; bad input: ConfigError
    run: Callable[[Any, Sequence[str]], Shown]  # the prepared command -> what it shows
    records_config: bool = True  # a run, not a listing: its composed config goes to its log


def command(name: str) -> Command:
    """The command called ``name`` (one of ``NAMES``)."""
    if name in ("sweep", "resume"):
        from motif_tune.commands.sweep import prepare_resume, prepare_sweep
        from motif_tune.pipeline.sweep import run_sweep

        return Command(name, prepare_sweep if name == "sweep" else prepare_resume, run_sweep)
    if name == "train":
        from motif_tune.commands.train import prepare_train, run_train

        return Command(name, prepare_train, run_train)
    if name == "evaluate":
        from motif_tune.commands.evaluate import prepare_evaluate, run_evaluate

        return Command(name, prepare_evaluate, run_evaluate)
    from motif_tune.commands.studies import list_studies, prepare_studies

    return Command(name, prepare_studies, list_studies, records_config=False)
