"""``motif-tune --help`` and ``motif-tune COMMAND --help``: the commands, the config
groups and their choices, and the keys people set most."""

from __future__ import annotations

from motif_tune.commands import COMMANDS
from motif_tune.config.sources import CONFIG_GROUPS, group_choices

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
        *(f"  {name:<9} {c.summary}" for name, c in COMMANDS.items()),
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
    about = COMMANDS[command]
    return "\n".join(
        [
            f"usage: motif-tune {command} [KEY=VALUE ...]",
            "",
            f"{command}: {about.summary}",
            "",
            "keys:",
            *_keys([*about.keys, *COMMON_KEYS]),
            "",
            f"example: {about.example}",
        ]
    )


def _keys(keys: list[tuple[str, str]]) -> list[str]:
    width = max(len(key) for key, _ in keys)
    return [f"  {key:<{width}}  {text}" for key, text in keys]
