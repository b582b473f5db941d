"""The commands of ``motif-tune``: each checks its settings before anything starts
(``prepare``), then runs (``run``) and returns what the terminal shows (``render()``).

A command's modules are imported when it is chosen, so ``--help`` and tab
completion stay quick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from motif_tune.config import Settings

log = logging.getLogger("motif_tune")


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
    "ui": About(
        "serve the MLflow UI over the store the sweeps record in (tracking.uri)",
        [("ui.port=N", "the port (default 5000)"), ("ui.host=ADDRESS", "default 127.0.0.1")],
        "motif-tune ui ui.port=5001",
    ),
    "dashboard": About(
        "serve optuna-dashboard over the sweeps' stored studies (sweep.study.storage)",
        [("ui.dashboard_port=N", "the port (default 8080)")],
        "motif-tune dashboard",
    ),
    "init": About(
        "write a small project of your own here: an env module, its conf/env file, a sweep",
        [("NAME", "the project's name (a Python module name: my_task)")],
        "motif-tune init my_task && motif-tune sweep sweep=my_task",
    ),
}
# Commands that record nothing of their own: no run folder, no composed config in a log.
LISTINGS = ("studies", "ui", "dashboard", "init")
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
    if name in ("ui", "dashboard"):
        from motif_tune.commands.serve import prepare_dashboard, prepare_ui, serve

        return Command(name, prepare_ui if name == "ui" else prepare_dashboard, serve, False)
    if name == "studies":
        from motif_tune.commands.studies import list_studies, prepare_studies

        return Command(name, prepare_studies, list_studies, records_config=False)
    raise ValueError(f"'{name}' is not a command that runs with settings")


def run_command(name: str, settings: Settings, overrides: Sequence[str] = ()) -> Shown:
    """Check, then run, command ``name``: bad input raises ``ConfigError`` before anything
    starts; the run's records go to its log file (and its composed config, for a run)."""
    from motif_tune.runtime.housekeeping import caches_under, telemetry_off
    from motif_tune.runtime.logs import configure_logging, logging_to

    telemetry_off()
    caches_under(settings.paths.root)
    settings = with_environment_values(settings, overrides)
    chosen = command(name)
    prepared = chosen.prepare(settings, overrides)
    log_setup = (settings.logging.level, settings.logging.format)
    configure_logging(*log_setup, settings.logging.console_level)
    if not chosen.records_config:
        return chosen.run(prepared, overrides)
    with logging_to(settings.log_file, *log_setup):
        _record_config(settings)
        return chosen.run(prepared, overrides)


def with_environment_values(settings: Settings, overrides: Sequence[str] = ()) -> Settings:
    """``settings`` with the env's ``<PREFIX><KEY>`` environment variables in its
    ``env_config`` (the command line wins over them, they win over the YAML file), so
    the composed config a run records holds every value it used."""
    from motif_tune.config import apply_overrides
    from motif_tune.envs.registry import environment_values

    env = settings.env
    if not env.env_vars_prefix:
        return settings
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    explicit = [k.removeprefix("env.env_config.") for k in given if k.startswith("env.env_config.")]
    values = environment_values(env.id, env.env_config, env.env_vars_prefix, explicit)
    if not values:
        return settings
    log.info("From environment variables: %s", values)
    return apply_overrides(settings, {f"env.env_config.{k}": v for k, v in values.items()})


def _record_config(settings: Settings) -> None:
    """The composed config goes to the log file; the terminal says where the run's files are."""
    from omegaconf import OmegaConf

    from motif_tune.secrets import mask_secrets
    from motif_tune.text import relative

    text = OmegaConf.to_yaml(settings.recorded_config)
    log.info("Composed config for %s '%s':\n%s", settings.command, settings.run_name, text)
    line = (
        f"motif-tune {settings.command} '{settings.run_name}': config and log in "
        f"{relative(settings.log_file.parent)}"
    )
    print(mask_secrets(line), flush=True)
