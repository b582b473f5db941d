"""``motif-tune --help`` and ``motif-tune COMMAND --help``: the commands, the config
groups and their choices, and the keys people set most."""

from __future__ import annotations

from motif_tune.config.files import CONFIG_GROUPS, group_choices

COMMANDS = {
    "sweep": (
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
    "train": (
        "train one composed config, no search (for the sweep's budget unless stop.* says)",
        [
            ("stop.training_iteration=N", "or any result key: stop.time_total_s=60"),
            ("checkpoint=PATH|runs:/ID/checkpoint", "continue from a checkpoint"),
            ("train.from_sweep=RUN_NAME", "train with that sweep's champion settings"),
        ],
        "motif-tune train train.from_sweep=<sweep run_name> seed=7",
    ),
    "evaluate": (
        "score a checkpoint with greedy (or sampled) actions",
        [
            ("checkpoint=...", "a folder, runs:/<run_id>/checkpoint or models:/<name>@champion"),
            ("evaluate.episodes=N", "episodes to play"),
            ("evaluate.deterministic=false", "sampled actions instead of greedy"),
        ],
        "motif-tune evaluate checkpoint=models:/default-PPO-motif@champion",
    ),
    "resume": (
        "continue an interrupted sweep, search or verification (the latest one by default)",
        [("run_name=NAME", "which sweep")],
        "motif-tune resume run_name=<sweep run_name>",
    ),
    "studies": (
        "list the sweeps' stored Optuna studies: trials, best value, MLflow parent run",
        [("sweep.study.storage=URL", "another Optuna storage (default: sqlite under runs/)")],
        "motif-tune studies",
    ),
}
COMMON_KEYS = [
    ("run_name=NAME", "names the Tune experiment, the MLflow parent run, the output folder"),
    ("tracking.uri=URI", "the MLflow store (default: sqlite under runs/)"),
    ("paths.root=DIR", "where everything is written (default: runs/)"),
    ("seed=N", "the algorithm's seed"),
    ("logging.console=verbose", "every log record and Ray's own tables on the terminal"),
]


def render(command: str | None = None) -> str:
    """The whole program's help, or one command's."""
    if command in COMMANDS:
        return _command_help(command)
    lines = [
        "motif-tune: hyperparameter sweeps for RLlib (Hydra configs, Ray Tune with Optuna, MLflow)",
        "",
        "usage: motif-tune [COMMAND] [KEY=VALUE ...]     (also: python -m motif_tune)",
        "",
        "commands:",
        *(f"  {name:<9} {text}" for name, (text, _, _) in COMMANDS.items()),
        "",
        "config groups (GROUP=CHOICE):",
        *(f"  {group:<9} {', '.join(group_choices(group))}" for group in CONFIG_GROUPS),
        "",
        "keys every command takes:",
        *_keys(COMMON_KEYS),
        "",
        "more: motif-tune COMMAND --help; the composed config: motif-tune sweep --cfg job;",
        'Hydra\'s own options: --hydra-help; tab completion: eval "$(motif-tune -sc install=bash)"',
    ]
    return "\n".join(lines)


def _command_help(command: str) -> str:
    text, keys, example = COMMANDS[command]
    return "\n".join(
        [
            f"usage: motif-tune {command} [KEY=VALUE ...]",
            "",
            f"{command}: {text}",
            "",
            "keys:",
            *_keys([*keys, *COMMON_KEYS]),
            "",
            f"example: {example}",
        ]
    )


def _keys(keys: list[tuple[str, str]]) -> list[str]:
    width = max(len(key) for key, _ in keys)
    return [f"  {key:<{width}}  {text}" for key, text in keys]
