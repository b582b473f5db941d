"""The ``motif-tune`` program: a command, then Hydra overrides.

    motif-tune [sweep] [overrides...]      run a sweep (the default command)
    motif-tune sweep -m algo=ppo,appo      one sweep per composition (Hydra multirun)

Exit status: 0 success, 2 bad input (one sentence on stderr, nothing started),
1 anything else.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from motif_tune.errors import ConfigError

PROG = "motif-tune"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
log = logging.getLogger("motif_tune")


def project_dir() -> Path:
    """Where ``conf/`` and ``sweeps/`` live: MOTIF_TUNE_PROJECT_DIR, else the checkout."""
    env = os.environ.get("MOTIF_TUNE_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[1]
    return here if (here / "conf").is_dir() else Path.cwd()


def config_dir() -> Path:
    return project_dir() / "conf"


def sweeps_dir() -> Path:
    return project_dir() / "sweeps"


def register_sweeps(directory: Path | None = None) -> list[str]:
    """Make every ``sweeps/*.yaml`` a choice of the ``sweep`` config group."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    names = []
    for path in sorted((directory or sweeps_dir()).glob("*.yaml")):
        store.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_")
        names.append(path.stem)
    return names


def _commands() -> dict[str, Callable]:
    return {"sweep": _sweep, "train": _train, "evaluate": _evaluate, "resume": _resume}


def split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """``[command] overrides...`` -> (command, overrides); ``sweep`` when none is given."""
    args = list(argv)
    if args and not args[0].startswith("-") and "=" not in args[0]:
        command = args.pop(0)
        if command not in _commands():
            raise ConfigError(
                f"Unknown command '{command}'; valid commands: {', '.join(_commands())}."
            )
        return command, args
    return "sweep", args


CONFIG_GROUPS = ("env", "algo", "scaling", "tracking", "paths", "sweep")


def group_choices(group: str) -> list[str]:
    """The files of a config group (``sweep`` reads ``sweeps/``)."""
    folder = sweeps_dir() if group == "sweep" else config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


def check_group_overrides(overrides: Sequence[str]) -> None:
    """Refuse ``group=name`` overrides naming no file, before Hydra prints its own report."""
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if not sep or key not in CONFIG_GROUPS or any(c in value for c in "()[]{}*$"):
            continue
        valid = group_choices(key)
        for name in (v.strip() for v in value.split(",")):
            if name and name not in valid:
                raise ConfigError(f"Unknown {key} '{name}'; valid choices: {', '.join(valid)}.")


class _Run:
    """What the Hydra task saw, so ``main`` can tell a composition error from a failure."""

    started = False
    exit_code = EXIT_OK


def _task(command: str) -> Callable:
    def task(cfg) -> None:
        _Run.started = True
        from motif_tune.logging_setup import configure_logging
        from motif_tune.settings import load_settings

        configure_logging()  # until the settings say otherwise: quiets RLlib's notes
        try:
            settings = load_settings(_with_unique_run_name(cfg), command)
        except ConfigError as err:
            _fail(err, cfg.get("debug", False))
        configure_logging(settings.logging.level, settings.logging.format)
        _print_config(settings)
        try:
            _commands()[command](settings)
        except ConfigError as err:
            _fail(err, settings.debug)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted.", file=sys.stderr)
            raise SystemExit(EXIT_INTERRUPTED) from None
        except Exception as err:
            if type(err).__name__ != "SweepInterrupted":
                raise
            print(f"{PROG}: {err}", file=sys.stderr)
            raise SystemExit(EXIT_INTERRUPTED) from None

    return task


def _fail(err: ConfigError, debug: bool) -> None:
    if debug:
        raise err
    print(f"{PROG}: error: {err}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def _with_unique_run_name(cfg):
    """In a multirun, an explicit run_name gets the job number, so sweeps don't collide."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return cfg
    hydra_cfg = HydraConfig.get()
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    cfg.output_dir = hydra_cfg.runtime.output_dir
    explicit = any(o.split("=", 1)[0].lstrip("+~") == "run_name" for o in hydra_cfg.overrides.task)
    if hydra_cfg.mode == RunMode.MULTIRUN and explicit:
        cfg.run_name = f"{cfg.run_name}-{hydra_cfg.job.num}"
    return cfg


def _print_config(settings) -> None:
    from omegaconf import OmegaConf

    text = OmegaConf.to_yaml({k: v for k, v in settings.composed.items() if k != "hydra"})
    log.info("Composed config for %s '%s':\n%s", settings.command, settings.run_name, text)


def _sweep(settings) -> None:
    from motif_tune.sweep import run_sweep

    overrides = _task_overrides()
    summary = run_sweep(settings, overrides)
    print(summary.render(), flush=True)


def _resume(settings) -> None:
    from motif_tune.sweep import resume_sweep

    named = [o.split("=", 1)[1] for o in _task_overrides() if o.startswith("run_name=")]
    summary = resume_sweep(settings, named[-1] if named else None)
    print(summary.render(), flush=True)


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``motif-tune`` and ``python -m motif_tune``."""
    import hydra

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        command, overrides = split_command(argv)
        check_group_overrides(overrides)
    except ConfigError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    register_sweeps()
    entry = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(
        _task(command)
    )
    saved_argv = sys.argv
    sys.argv = [PROG, *overrides]
    _Run.started = False
    try:
        entry()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else EXIT_FAILED
        if code == EXIT_FAILED and not _Run.started:
            return EXIT_BAD_INPUT  # Hydra refused an override or a config name
        return code
    finally:
        sys.argv = saved_argv
    return EXIT_OK


def _train(settings) -> None:
    from motif_tune.train import run_train

    summary = run_train(settings, _task_overrides())
    print(summary.render(), flush=True)


def _evaluate(settings) -> None:
    from motif_tune.evaluate import run_evaluate

    summary = run_evaluate(settings)
    print(summary.render(), flush=True)
