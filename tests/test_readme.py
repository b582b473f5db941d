"""The README says nothing false: its commands, error messages, settings table, Python
names and default sweep file are checked against the code.

Rules:

- **Commands.** Every line of a ``bash``/``sh``/``console``/``shell`` block is a command;
  in any block whose lines carry ``$ `` prompts (the transcripts of real output), the
  prompted lines are, and the lines after each are its output. Comments, prompts,
  continuations and leading ``VAR=value`` words are dropped (the test's own runs folder
  and a local Ray stand in for ``MOTIF_TUNE_HOME=…``, ``RAY_ADDRESS=…``); ``a && b`` and
  ``eval "$(c)"`` are each of their commands. Only ``make`` and ``motif-tune`` (or
  ``python -m motif_tune``) commands are checked:

  - ``make TARGET [VAR=…]``: the target is the Makefile's, and ``make -n`` (a dry run)
    of the same line succeeds; each ``motif-tune`` command it would run is checked as
    below, so ``make sweep ARGS="…"`` checks the overrides in ARGS.
  - ``motif-tune init NAME`` runs for real (it only writes files) in a fresh folder. A
    folder where every README ``init`` ran is the project folder of all other commands,
    as the README's own folder is.
  - ``motif-tune COMMAND overrides``: the command is one of motif-tune's, and the
    overrides compose and validate as the command line does (``settings_for``); with
    ``-m`` each composition of the comma lists, split by Hydra's own parser. A command
    with Hydra's printing flags (``-sc``, ``--cfg``, …) runs as a subprocess (it prints
    and exits) and must exit 0.
  - Overrides that need what a fresh runs folder cannot hold are composed and checked
    but not planned (planning looks them up): see ``NEEDS_EARLIER_SWEEPS``. Nothing else
    is skipped: a checkpoint path (``checkpoint=runs/…``, ``runs:/…``) validates as it is.
  - A transcript whose output is ``motif-tune: error: …`` shows bad input: it is checked
    by the error-message test instead.
  - One real run (slow): the README's default sweep, ``make sweep``, run as ``make -n``
    expands it with ``SHRINK`` in ARGS (one trial of one batch, one verification seed,
    8 evaluation episodes: under a minute on 2 cores). It must exit 0, without escape
    codes on a pipe, write the log file its first line names, and print every line of
    the README's transcript in the same shape (see ``summary_shape``: run names, ids,
    numbers, searched values, a trial's outcome and plurals differ between runs), except
    the lines that depend on how many trials ran or when (table rows, status lines).

- **Error messages.** A transcript's ``motif-tune: error: …`` is what the command's
  checks before Ray starts raise, on the README's machine (``README_MACHINE``: its
  transcripts were taken on 2 cores without a GPU), as ``motif-tune: error: {error}``;
  equal modulo whitespace, and a trailing ``…`` stands for the rest of the sentence.

- **Settings table** (``## Settings``). A key cell names its keys in backticks; a later
  key without a dot takes the first key's prefix (``scaling.ray.num_cpus``,
  ``num_gpus``); ``=…`` is dropped. Each key is a setting (``is_setting``; ``X.*``: X is
  a free-form dict or a model) or a config group. Every setting of the schema is in the
  table (a key, a key under it, or an ``X.*`` above it), except ``NOT_IN_THE_TABLE``. A
  group's row lists every shipped choice of the group in backticks. Defaults:

  - a row of ``X.*`` keys describes a dict's content: not compared;
  - the cell's first clause (up to ``; ``) is split at its commas (outside backticks and
    parentheses); unless that gives one part per key, the cell is prose: not compared;
  - a part that is a literal (a number, ``true``/``false``, ``none``, or one word of
    letters, digits, ``_ . , / -``; backticks optional), optionally followed by a
    ``(remark)``, is compared with the default the command line composes
    (``settings_for()``): a group's default choice in ``conf/config.yaml``; ``none``
    also means an empty list or dict; ``runs/…`` is a path under ``paths.root``;
  - a remark ``(CHOICE: VALUE)`` naming the default choice of a group (``none (motif:
    `log_dir`)``) makes the part the schema's default (what a group file that leaves
    the key out gets) and a literal VALUE the composed default.

- **Python names.** Every ``motif_tune.a.b`` (or ``motif_tune.a:b``) in the README that
  is not part of a path imports or resolves as an attribute, or is a name of something
  else the package writes (an MLflow tag, a file): a string literal of its code.

- **Default sweep.** The README's ``yaml`` block of the sweep named ``default`` is
  ``sweeps/default.yaml``, as parsed YAML.
"""

from __future__ import annotations

import importlib
import itertools
import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from motif_tune.cli import main, split_command
from motif_tune.commands import NAMES
from motif_tune.config import Settings, load_settings
from motif_tune.config.schema import is_setting
from motif_tune.config.sources import (
    CONFIG_GROUPS,
    PROJECT_VAR,
    group_choices,
    shipped_dir,
    sources,
)
from motif_tune.errors import ConfigError
from motif_tune.pipeline.plan import fit_to_cluster, plan_sweep
from motif_tune.rllib.checks import check_settings
from tests.conftest import CHECKOUT, clean_environ, cli, compose_config, settings_for

README = (CHECKOUT / "README.md").read_text()
SHELLS = {"bash", "sh", "console", "shell"}
MULTIRUN_FLAGS = {"-m", "--multirun"}
PRINTING_FLAGS = {"-sc", "--shell-completion", "--cfg", "-c", "--info", "--help", "-h"}
# Overrides naming earlier sweeps, whose stored studies a fresh runs folder lacks.
NEEDS_EARLIER_SWEEPS = {"sweep.warm_start"}
# The machine the README's transcripts were taken on: 2 cores, no GPU.
README_MACHINE = {"CPU": 2.0, "GPU": 0.0}
# The README's default sweep, shrunk to one trial of one batch and one verification seed.
SHRINK = (
    "sweep.num_samples=1",
    "sweep.budget.env_steps=1024",
    "sweep.objective.episodes=8",
    "sweep.verify.top_k=1",
    "sweep.verify.seeds=1",
)
NOT_IN_THE_TABLE = {
    "command": "the command word, not a key",
    "output_dir": "the run's folder, which Hydra makes",
    "composed": "the composed config, kept for the record",
    "env.name": "a group file's own name (the env row chooses the file)",
    "algo.name": "a group file's own name (the algo row chooses the file)",
    "scaling.name": "a group file's own name (the scaling row chooses the file)",
    "sweep.name": "a group file's own name (the sweep row chooses the file)",
}
# Rows whose defaults are literals today: the table's parser must keep reading them.
SURELY_LITERAL = {"env", "sweep.metric", "sweep.verify.top_k", "ui.port", "env.log_dir_key"}
NUMBER = r"-?\d+(?:,\d{3})*(?:\.\d+)?"
LITERAL = re.compile(r"`?(?P<value>[\w.,/-]+)`?(?: \((?P<remark>.*)\))?")


# --------------------------------------------------------------------- the README's blocks


@dataclass(frozen=True)
class Block:
    lang: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Shown:
    """A command line the README shows, and the output it shows after it."""

    line: str
    output: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.output) and self.output[0].startswith("motif-tune: error:")


def code_blocks() -> list[Block]:
    fence = re.compile(r"^([ \t]*)```(\w*)\n(.*?)^\1```[ \t]*$", re.M | re.S)
    return [Block(m[2], tuple(dedent(m[3]).splitlines())) for m in fence.finditer(README)]


def joined_continuations(lines: Sequence[str]) -> list[str]:
    return "\n".join(lines).replace("\\\n", " ").splitlines()


def shown_commands() -> list[Shown]:
    shown = []
    for block in code_blocks():
        lines = joined_continuations(block.lines)
        if any(line.startswith("$ ") for line in lines):
            for i, line in enumerate(lines):
                if line.startswith("$ "):
                    after = itertools.takewhile(lambda x: not x.startswith("$ "), lines[i + 1 :])
                    shown.append(Shown(line[2:], tuple(x for x in after if x.strip())))
        elif block.lang in SHELLS:
            shown += [Shown(line) for line in lines if line.strip()]
    return shown


def programs(line: str) -> list[list[str]]:
    """The commands a shell line runs, each as its words, without leading variables."""
    commands: list[list[str]] = [[]]
    for word in shlex.split(line, comments=True):
        if word in ("&&", "||", ";", "|"):
            commands.append([])
        else:
            commands[-1].append(word)
    found = []
    for words in commands:
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words = words[1:]
        inner = re.fullmatch(r"\$\((.*)\)", words[1]) if words[:1] == ["eval"] else None
        found += programs(inner[1]) if inner else [words] if words else []
    return found


def motif_tune_args(words: Sequence[str]) -> list[str] | None:
    """The arguments of a ``motif-tune`` (or ``python -m motif_tune``) command, else None."""
    if Path(words[0]).name == "motif-tune":
        return list(words[1:])
    if Path(words[0]).name.startswith("python") and list(words[1:3]) == ["-m", "motif_tune"]:
        return list(words[3:])
    return None


def is_checked(words: Sequence[str]) -> bool:
    return Path(words[0]).name == "make" or motif_tune_args(words) is not None


def commands_to_check() -> list[tuple[str, list[str]]]:
    return [
        (shown.line, words)
        for shown in shown_commands()
        if not shown.refused
        for words in programs(shown.line)
        if is_checked(words)
    ]


# --------------------------------------------------------------------- checking a command


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (CHECKOUT / "Makefile").read_text(), re.M))


MAKE_STATE = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}


def makefile_variables() -> set[str]:
    """The variables the Makefile lets its caller set (``NAME ?= …``)."""
    return set(re.findall(r"^(\w+)\s*\?=", (CHECKOUT / "Makefile").read_text(), re.M))


def make_dry_run(args: Sequence[str]) -> list[list[str]]:
    """The arguments of each ``motif-tune`` command that ``make ARGS`` would run."""
    # Not the variables of a `make test ARGS=…` this test may run under: make exports
    # them, and its ARGS would reach the dry run.
    inherited = MAKE_STATE | makefile_variables()
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    proc = subprocess.run(
        ["make", "-n", *args], cwd=CHECKOUT, capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    found = [motif_tune_args(w) for line in proc.stdout.splitlines() for w in programs(line)]
    return [args for args in found if args is not None]


def each_composition(overrides: Sequence[str]) -> list[list[str]]:
    """The compositions of a multirun, its comma lists split as Hydra's sweeper splits them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        if o.is_sweep_override()
        else [o.input_line]
        for o in OverridesParser.create().parse_overrides(list(overrides))
    ]
    return [list(chosen) for chosen in itertools.product(*choices)]


def check_composition(command: str, overrides: list[str]) -> None:
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    if keys & NEEDS_EARLIER_SWEEPS:
        check_settings(load_settings(compose_config(overrides), command))
    else:
        settings_for(overrides, command)


def check_motif_tune(args: list[str], folder: Path) -> None:
    """``motif-tune ARGS`` is valid; ``folder`` is a fresh folder it may write in."""
    if args[:1] == ["init"]:
        assert main([*args, f"project_dir={folder}"]) == 0
        return
    command, rest = split_command(args)
    flags = {a for a in rest if a.startswith("-")}
    if flags - MULTIRUN_FLAGS:
        assert flags <= PRINTING_FLAGS | MULTIRUN_FLAGS, f"flags this test cannot run: {flags}"
        env = clean_environ() | {"MOTIF_TUNE_HOME": str(folder / "runs")}
        proc = subprocess.run(cli(*args), cwd=folder, env=env, capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        return
    overrides = [a for a in rest if not a.startswith("-")]
    for composition in each_composition(overrides) if flags else [overrides]:
        check_composition(command, composition)


def refusal(command: str, overrides: list[str]) -> str:
    """What ``motif-tune COMMAND OVERRIDES`` says of bad input on the README's machine."""
    with pytest.raises(ConfigError) as refused:
        settings = settings_for(overrides, command)
        if settings.is_sweep:
            fit_to_cluster(plan_sweep(settings), README_MACHINE)
    return f"motif-tune: error: {refused.value}"


@pytest.fixture(scope="module")
def readme_project(tmp_path_factory) -> Path:
    """A folder where every ``motif-tune init`` of the README ran."""
    folder = tmp_path_factory.mktemp("readme_project")
    for _, words in commands_to_check():
        args = motif_tune_args(words)
        if args and args[0] == "init":
            assert main([*args, f"project_dir={folder}"]) == 0
    return folder


@pytest.mark.parametrize("words", [pytest.param(w, id=line) for line, w in commands_to_check()])
def test_readme_command_is_valid(words, readme_project, tmp_path, monkeypatch):
    monkeypatch.setenv(PROJECT_VAR, str(readme_project))
    args = motif_tune_args(words)
    if args is not None:
        check_motif_tune(args, tmp_path)
        return
    target = next(w for w in words[1:] if "=" not in w and not w.startswith("-"))
    assert target in make_targets()
    for make_args in make_dry_run(words[1:]):
        check_motif_tune(make_args, tmp_path)


def test_readme_lists_every_command():
    sentence = re.search(r"The commands: (.+?)\(`motif-tune --help`", README, re.S)
    assert sentence, "the README no longer lists the commands"
    assert {w.split()[0] for w in re.findall(r"`([^`]+)`", sentence[1])} == set(NAMES)


@pytest.mark.parametrize("shown", [s for s in shown_commands() if s.refused], ids=lambda s: s.line)
def test_readme_error_message_is_the_real_one(shown):
    (words,) = programs(shown.line)
    command, overrides = split_command(motif_tune_args(words))
    real = " ".join(refusal(command, overrides).split())
    readme = " ".join(" ".join(shown.output).split())
    if readme.endswith("…"):
        assert real.startswith(readme.removesuffix("…").rstrip()), real
    else:
        assert real == readme


# --------------------------------------------------------------------- the settings table


@dataclass(frozen=True)
class SettingsRow:
    keys: tuple[str, ...]
    meaning: str
    default: str


def settings_rows() -> list[SettingsRow]:
    section = README.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return [row_of(line) for line in section.splitlines() if line.startswith("| `")]


def row_of(line: str) -> SettingsRow:
    key_cell, meaning, default = (c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1])
    named = [key.split("=", 1)[0] for key in re.findall(r"`([^`]+)`", key_cell)]
    prefix = named[0].rpartition(".")[0]
    keys = [named[0], *(k if "." in k else f"{prefix}.{k}" for k in named[1:])]
    return SettingsRow(tuple(keys), meaning, default)


def default_choices() -> dict[str, str]:
    """Each config group's default choice, from the primary config's defaults list."""
    primary = yaml.safe_load(sources().primary_file().read_text())
    entries = [entry for entry in primary["defaults"] if isinstance(entry, dict)]
    return {k: v for entry in entries for k, v in entry.items() if k in CONFIG_GROUPS}


def split_outside(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is outside backticks and parentheses."""
    parts, start, depth, quoted = [], 0, 0, False
    for i, char in enumerate(text):
        quoted ^= char == "`"
        depth += 0 if quoted else (char == "(") - (char == ")")
        if not quoted and depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    return [*parts, text[start:]]


def value_at(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        if isinstance(value, BaseModel):
            fields = type(value).model_fields.items()
            value = getattr(value, next(n for n, f in fields if part in (n, f.alias)))
        else:
            value = value.get(part)
    return value


def schema_default(path: str) -> Any:
    model: type[BaseModel] = Settings
    *parents, name = path.split(".")
    for part in parents:
        model = model.model_fields[part].annotation
    return model.model_fields[name].get_default(call_default_factory=True)


def stated_defaults(row: SettingsRow, composed: Settings) -> Iterator[tuple[str, str, Any]]:
    """(key, the README's literal default, the real one) for the literal parts of a row."""
    if any(key.endswith(".*") for key in row.keys):
        return
    parts = split_outside(split_outside(row.default, "; ")[0], ", ")
    if len(parts) != len(row.keys):
        return
    choices = default_choices()
    for key, part in zip(row.keys, parts, strict=True):
        literal = LITERAL.fullmatch(part.strip())
        if literal is None:
            continue
        remark = re.fullmatch(r"(\w+): (.+)", literal["remark"] or "")
        if key in choices:
            yield key, literal["value"], choices[key]
        elif remark and remark[1] in choices.values():
            yield key, literal["value"], schema_default(key)
            if chosen := LITERAL.fullmatch(remark[2]):
                yield key, chosen["value"], value_at(composed, key)
        else:
            yield key, literal["value"], value_at(composed, key)


def means(literal: str, value: Any, root: Path) -> bool:
    """Whether the README's literal default says ``value``."""
    if literal == "none":
        return value is None or value == [] or value == {}
    if literal in ("true", "false"):
        return value is (literal == "true")
    if re.fullmatch(NUMBER, literal):
        number = float(literal.replace(",", ""))
        return isinstance(value, int | float) and not isinstance(value, bool) and value == number
    if literal.startswith("runs/"):
        literal = str(root / literal.removeprefix("runs/"))
    return str(value) == literal


def is_group(key: str) -> bool:
    return bool(group_choices(key))


def setting_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every setting of ``model``: its fields, and the fields of its models, by config path."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from setting_paths(field.annotation, f"{path}.")
        else:
            yield path


def is_covered(path: str, keys: set[str]) -> bool:
    """``path`` is a key of the table, or has one under it (``stop.training_iteration``,
    ``sweep.space.*``)."""
    return any(key == path or key.startswith(f"{path}.") for key in keys)


def test_settings_table_keys_are_settings():
    keys = [key for row in settings_rows() for key in row.keys]
    assert len(keys) > 40
    unknown = [k for k in keys if not (is_setting(k.removesuffix(".*")) or is_group(k))]
    assert not unknown, f"the Settings table names keys that are no settings: {unknown}"


def test_settings_table_covers_every_setting():
    keys = {key for row in settings_rows() for key in row.keys}
    paths = [p for p in setting_paths(Settings) if p not in NOT_IN_THE_TABLE]
    missing = [p for p in paths if not is_covered(p, keys)]
    assert not missing, f"settings the README's Settings table leaves out: {missing}"


def test_settings_table_defaults_are_the_real_ones():
    composed = settings_for()
    checked, wrong = set(), []
    for row in settings_rows():
        for key, literal, real in stated_defaults(row, composed):
            checked.add(key)
            if not means(literal, real, composed.paths.root):
                wrong.append(f"{key}: the README says {literal!r}, the default is {real!r}")
    assert not wrong
    assert checked >= SURELY_LITERAL, f"defaults no longer read: {SURELY_LITERAL - checked}"


def test_settings_group_rows_list_every_shipped_choice():
    for row in settings_rows():
        if len(row.keys) == 1 and is_group(row.keys[0]):
            listed = set(re.findall(r"`(\w+)`", row.meaning))
            assert listed == set(group_choices(row.keys[0])), row.keys[0]


# --------------------------------------------------------------------- names and files


def resolves(name: str) -> bool:
    """``motif_tune.a.b`` or ``motif_tune.a:b`` is a module or an attribute of one."""
    dotted, _, attr = name.partition(":")
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for part in [*parts[i:], *filter(None, [attr])]:
            if not hasattr(found, part):
                return False
            found = getattr(found, part)
        return True
    return False


def test_readme_python_names_resolve():
    names = set(re.findall(r"(?<![\w/.])motif_tune(?:\.\w+)+(?::\w+)?", README))
    code = "\n".join(path.read_text() for path in (CHECKOUT / "motif_tune").rglob("*.py"))
    assert len(names) >= 5
    assert not [n for n in sorted(names) if not resolves(n) and f'"{n}"' not in code]


def test_readme_default_sweep_is_the_file():
    shown = [
        parsed
        for block in code_blocks()
        if block.lang == "yaml"
        and (parsed := yaml.safe_load("\n".join(block.lines)))
        and parsed.get("sweep", {}).get("name") == "default"
    ]
    assert len(shown) == 1, "the README shows the default sweep's file once"
    assert shown[0] == yaml.safe_load((shipped_dir() / "sweeps" / "default.yaml").read_text())


# --------------------------------------------------------------------- a real default sweep

RUN_DEPENDENT = (
    (r"[0-9a-f]{32}", "<id>"),  # MLflow run ids
    (r"-verify-\d+/", "-verify/"),  # the verification round a checkpoint comes from
    (r"(?<![0-9A-Za-z])[0-9a-f]{5}_\d{5}(?!\d)", "<id>"),  # verification trial ids
    (r"(?<![0-9A-Za-z])(?=[a-f]*\d)[0-9a-f]{8}(?![0-9A-Za-z])", "<id>"),  # search trial ids
    (r"(?<==)[^\s,:;]+", "<value>"),  # searched values
    (rf"{NUMBER}(?:, {NUMBER})*", "<n>"),  # numbers, lists of numbers
    (r"finished|stopped early", "<outcome>"),  # a trial's outcome
    (r"( over <n> seeds?).*", r"\1"),  # the champion against the baseline
    (r"(Kendall's tau) .*", r"\1 <over the finalists>"),  # undefined for one finalist
    (r"\b(\w+?)s\b", r"\1"),  # plurals: a count of one reads singular
)


def summary_shape(line: str, run_name: str) -> str:
    """``line`` with what differs between two runs of a sweep replaced."""
    text = " ".join(line.split()).replace(run_name, "<run>")
    for pattern, placeholder in RUN_DEPENDENT:
        text = re.sub(pattern, placeholder, text)
    return text


def is_per_trial_or_timed(line: str) -> bool:
    """A table row (one per trial), a periodic status line, or a line of the verification
    race, whose second round only finalists the first seeds cannot tell apart have (the
    shrunk sweep's one finalist has none: ``tests/test_interrupts.py`` shows the lines)."""
    return bool(re.match(r"\s*\d+\s|\w+: \d+/\d+ trials done|verification round |\s+raced: ", line))


def run_name_of(output: str) -> str:
    return re.search(r"^motif-tune sweep '([^']+)'", output, re.M)[1]


@pytest.mark.slow
def test_default_sweep_prints_what_the_readme_shows(isolated_runs):
    (transcript,) = [s for s in shown_commands() if s.line == "make sweep"]
    (args,) = make_dry_run(["sweep", f"ARGS={' '.join(SHRINK)}"])
    env = clean_environ() | {"MOTIF_TUNE_HOME": str(isolated_runs)}
    proc = subprocess.run(
        cli(*args), cwd=isolated_runs.parent, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "\x1b" not in proc.stdout, "escape codes on a pipe"
    run_name = run_name_of(proc.stdout)
    assert (isolated_runs / "hydra" / run_name / "motif_tune.log").is_file()
    real = {summary_shape(line, run_name) for line in proc.stdout.splitlines()}
    readme_run = run_name_of("\n".join(transcript.output))
    missing = {  # one README line per shape the real output lacks
        summary_shape(line, readme_run): line
        for line in transcript.output
        if not is_per_trial_or_timed(line) and summary_shape(line, readme_run) not in real
    }
    assert not missing, (
        "the README's `make sweep` transcript shows lines the sweep no longer prints:\n"
        + "\n".join(missing.values())
        + "\n--- the real output:\n"
        + proc.stdout
    )
