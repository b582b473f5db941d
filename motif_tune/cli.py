"""The ``motif-tune`` program: a command, then Hydra overrides.

    motif-tune [sweep] [overrides...]      run a sweep (the default command)
    motif-tune sweep -m algo=ppo,appo      one sweep per composition (Hydra multirun)

Exit status: 0 success, 2 bad input (one sentence on stderr, nothing started),
3 a finished sweep whose record MLflow lacks in part (its store did not answer;
``motif-tune resume`` writes the rest), 130 after Ctrl-C and 143 after SIGTERM (the
sweep resumes), 1 anything else.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from motif_tune.commands import LISTINGS
from motif_tune.commands import NAMES as COMMANDS
from motif_tune.compat.python import end_process
from motif_tune.config.composition import hydra_overrides, use_project
from motif_tune.config.run_stamp import new_run_stamp
from motif_tune.errors import ConfigError, SweepFailed, SweepInterrupted
from motif_tune.runtime import signals

PROG = "motif-tune"
HELP = ("-h", "--help", "help")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
log = logging.getLogger("motif_tune")


def split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """``[command] overrides...`` -> (command, overrides); ``sweep`` when none is given."""
    args = list(argv)
    if args and not args[0].startswith("-") and "=" not in args[0]:
        command = args.pop(0)
        if command not in COMMANDS:
            raise ConfigError(
                f"Unknown command '{command}'; valid commands: {', '.join(COMMANDS)}."
            )
        return command, args
    return "sweep", args


class _Run:
    """What the Hydra task saw, so ``main`` can tell a composition error from a failure."""

    started = False
    exit_code = EXIT_OK


def _task(name: str) -> Callable:
    def task(cfg) -> None:
        _Run.started = True
        from motif_tune.commands import run_command
        from motif_tune.config import load_settings
        from motif_tune.runtime.logs import configure_logging

        configure_logging(console_level="WARNING")  # until the settings say otherwise
        try:
            settings = _share_cores(load_settings(_with_unique_run_name(cfg), name))
            shown = run_command(name, settings, _task_overrides())
            _say(shown.render())
            if getattr(shown, "incomplete", False):  # MLflow lacks part of the record
                raise SystemExit(EXIT_INCOMPLETE)
        except ConfigError as err:
            _fail(err, cfg.get("debug", False))
        except KeyboardInterrupt:  # a stop signal outside Tune's run
            signum = signals.received() or signal.SIGINT
            resume = f"; continue it with: motif-tune resume run_name={cfg.run_name}"
            how = resume if name in ("sweep", "resume") else ""
            print(f"{PROG}: stopped by {signals.name(signum)}{how}", file=sys.stderr)
            raise SystemExit(signals.exit_status(signum)) from None
        except SweepInterrupted as err:
            _say(f"{PROG}: {err}", sys.stderr)
            raise SystemExit(signals.exit_status(err.signum or signal.SIGINT)) from None
        except SweepFailed as err:
            _say(f"{PROG}: error: {err}", sys.stderr)
            raise SystemExit(EXIT_FAILED) from None

    return task


def _fail(err: ConfigError, debug: bool) -> None:
    """Bad input: its sentence (after the whole traceback with ``debug=true``) and exit
    status 2, whatever the terminal shows."""
    if debug:
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    _forget_run_folder()
    _say(f"{PROG}: error: {err}", sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def _say(text: str, file=None) -> None:
    """Print for the user, secrets (URI passwords, tokens) masked."""
    from motif_tune.secrets import mask_secrets

    print(mask_secrets(text), file=file or sys.stdout, flush=True)


def _with_unique_run_name(cfg):
    """In a multirun, the run name gets the job number, so sweeps don't collide."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return cfg
    hydra_cfg = HydraConfig.get()
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    cfg.output_dir = hydra_cfg.runtime.output_dir
    if hydra_cfg.mode == RunMode.MULTIRUN:  # jobs may start in the same second
        cfg.run_name = f"{cfg.run_name}-{hydra_cfg.job.num}"
    return cfg


def _share_cores(settings):
    """Jobs of a parallel launcher (``hydra/launcher=joblib``) on one machine each start a
    local Ray; each gets its share of the cores unless ``scaling.ray.num_cpus`` says."""
    from hydra.core.hydra_config import HydraConfig

    from motif_tune.config import apply_overrides

    if not HydraConfig.initialized() or settings.scaling.ray.num_cpus is not None:
        return settings
    launcher = HydraConfig.get().launcher
    joins = settings.scaling.ray.address or os.environ.get("RAY_ADDRESS")
    if "joblib" not in str(launcher.get("_target_", "")) or joins:
        return settings
    cores = os.cpu_count() or 1
    jobs = int(launcher.get("n_jobs") or -1)
    jobs = cores if jobs < 1 else jobs
    share = max(1, cores // jobs)
    log.info("Parallel launcher with %d jobs: this job's local Ray gets %d CPU(s).", jobs, share)
    return apply_overrides(settings, {"scaling.ray.num_cpus": share})


def _run_folder_overrides(command: str, overrides: Sequence[str]) -> list[str]:
    """A train or evaluate run is named for its command (a sweep for its sweep file); a
    resumed sweep writes its own config and log beside the original's, not over them."""
    if command == "resume":
        return ["hydra.run.dir=${paths.root}/hydra/${run_name}-resume-${now:%Y%m%d-%H%M%S}"]
    named = any(o.split("=", 1)[0].lstrip("+") == "run_name" for o in overrides)
    if command in ("train", "evaluate") and not named:
        return [f"run_name=${{run_stamp:}}-{command}-${{algo.name}}-${{env.name}}"]
    return []


def _forget_run_folder() -> None:
    """Bad input leaves no run folder: Hydra made it (and its .hydra record) before the
    settings were refused; nothing of the run's own is in it yet."""
    import shutil
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    folder = Path(HydraConfig.get().runtime.output_dir)
    if folder.is_dir() and {p.name for p in folder.iterdir()} <= {".hydra"}:
        shutil.rmtree(folder)
        for parent in (folder.parent, folder.parent.parent):  # runs/hydra, then runs/
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()


def _init(args: list[str]) -> int:
    """``motif-tune init NAME [project_dir=DIR]``: a project of one's own, written here."""
    from motif_tune.commands.init import init_project
    from motif_tune.config.composition import PROJECT_KEY

    names = [a for a in args if "=" not in a]
    folders = [a.split("=", 1)[1] for a in args if a.startswith(f"{PROJECT_KEY}=")]
    others = [a for a in args if "=" in a and not a.startswith(f"{PROJECT_KEY}=")]
    if len(names) != 1 or others:
        raise ConfigError(
            "init takes one NAME (and optionally project_dir=DIR), e.g. motif-tune init my_task."
        )
    folder = Path(folders[-1] if folders else Path.cwd()).expanduser().resolve()
    _say(init_project(names[0], folder).render())
    return EXIT_OK


def _listing(command: str, overrides: list[str]) -> int:
    """A command that records nothing (a listing, a server): composed without Hydra's run
    folder."""
    from motif_tune.commands import run_command
    from motif_tune.config.composition import compose_settings
    from motif_tune.runtime.logs import configure_logging

    configure_logging(console_level="WARNING")
    settings = compose_settings(overrides, command)
    _say(run_command(command, settings, overrides).render())
    return EXIT_OK


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _completing(argv: Sequence[str]) -> bool:
    """Hydra's shell completion (``-sc install=bash``, ``-sc query=…``) is asked for."""
    return any(a in ("-sc", "--shell-completion") for a in argv)


def _complete_after_the_command(argv: Sequence[str]) -> None:
    """Hydra's tab completion reads the line being typed; it knows no commands, so the
    command word is taken out of it (``motif-tune sweep alg<TAB>`` completes ``alg``)."""
    line = os.environ.get("COMP_LINE")
    if line is None or not _completing(argv):
        return
    words = line.split(" ")
    if len(words) > 1 and words[1] in COMMANDS:
        os.environ["COMP_LINE"] = " ".join(words[:1] + words[2:])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``motif-tune`` and ``python -m motif_tune``: the command line, and
    the process ends here (:func:`motif_tune.compat.python.end_process`). Given ``argv``,
    a call that returns the exit status instead."""
    if argv is not None:
        return _main(list(argv))
    end_process(_main(sys.argv[1:]))


def _main(argv: list[str]) -> int:
    import hydra

    from motif_tune.runtime.housekeeping import telemetry_off

    telemetry_off()
    if argv and len(argv) <= 2 and set(argv) & set(HELP):  # a bare `motif-tune` sweeps
        from motif_tune.help import render

        named = [a for a in argv if a not in HELP]
        print(render(named[0] if named else None))
        return EXIT_OK
    _complete_after_the_command(argv)
    try:
        command, overrides = split_command(argv)
        if command == "init":
            return _init(overrides)
        config_sources = use_project(overrides)
        if command in LISTINGS:  # nothing of their own to record: no run folder
            return _listing(command, overrides)
        if not _completing(overrides):  # Hydra's completion takes its own words
            overrides = [*hydra_overrides(overrides), *_run_folder_overrides(command, overrides)]
            new_run_stamp()  # a default run name no other command here has
    except ConfigError as err:
        _say(f"{PROG}: error: {err}", sys.stderr)
        return EXIT_BAD_INPUT
    main_dir = str(config_sources.main_dir)
    entry = hydra.main(config_path=main_dir, config_name="config", version_base="1.3")(
        _task(command)
    )
    saved_argv = sys.argv
    sys.argv = [PROG, *config_sources.hydra_overrides, *overrides]
    _Run.started = False
    try:
        entry()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else EXIT_FAILED
        if code == EXIT_FAILED and not _Run.started:
            return EXIT_BAD_INPUT  # Hydra refused an override or a config name
        return code
    except ValueError as err:  # Hydra's refusal of its own flags (`-m` with `--cfg`, …)
        if _Run.started:
            raise
        _say(f"{PROG}: error: {err}.", sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        sys.argv = saved_argv
    return EXIT_OK
