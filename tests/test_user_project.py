"""A team's own project: its conf/ and sweeps/ beside the shipped ones, its env named by
code path (a class or a creator), its callbacks' metrics scoring a sweep, `init`, and
one clear sentence for every mistake."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import motif_tune
from motif_tune.cli import EXIT_BAD_INPUT, EXIT_OK, main
from motif_tune.config.composition import compose_settings
from motif_tune.envs.registry import env_entry, make_env
from motif_tune.errors import ConfigError

ENV_MODULE = '''
import gymnasium as gym
import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback


class PickEnv(gym.Env):
    """Pick the raised one of a few noisy signals (a config mapping, as RLlib passes it)."""

    def __init__(self, config=None):
        config = dict(config or {})
        self.n = int(config.pop("num_choices", 3))
        if config:
            raise ValueError(f"unknown keys {sorted(config)}")
        self.observation_space = gym.spaces.Box(-5.0, 5.0, (self.n,), np.float32)
        self.action_space = gym.spaces.Discrete(self.n)
        self._target = 0

    def _observe(self):
        self._target = int(self.np_random.integers(self.n))
        signal = np.zeros(self.n, dtype=np.float32)
        signal[self._target] = 1.0
        return signal

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._observe(), {}

    def step(self, action):
        hit = float(int(action) == self._target)
        return self._observe(), hit, True, False, {"hit": hit}


class KeywordEnv(PickEnv):
    """The same task, its settings as keyword arguments."""

    def __init__(self, num_choices=3, render_mode=None):
        super().__init__({"num_choices": num_choices})


def make_pick(env_config):
    """A creator, as Tune's register_env takes one."""
    return PickEnv(env_config)


def broken(env_config):
    raise RuntimeError("no simulator licence on this machine")


class HitRate(RLlibCallback):
    def on_episode_step(self, *, episode, metrics_logger=None, **kwargs):
        info = episode.get_infos(-1)
        if metrics_logger is not None and "hit" in info:
            metrics_logger.log_value("hit_rate", info["hit"], reduce="mean", window=500)


class NotACallback:
    pass


NOT_AN_ENV = 42
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A team's folder: an env module (named uniquely: modules stay imported), its own
    env config, a sweep of its own and one that replaces the shipped smoke sweep."""
    folder = tmp_path / "team"
    module = f"teamenv_{uuid.uuid4().hex[:8]}"
    (folder / "conf" / "env").mkdir(parents=True)
    (folder / "sweeps").mkdir()
    (folder / f"{module}.py").write_text(ENV_MODULE)
    (folder / "conf" / "env" / "pick.yaml").write_text(
        textwrap.dedent(f"""\
            name: pick
            id: {module}:PickEnv
            env_config: {{num_choices: 3}}
            callbacks: [{module}:HitRate]
            metrics:
              - {{name: hit_rate, mode: max, label: hits}}
            """)
    )
    (folder / "sweeps" / "pick.yaml").write_text(
        textwrap.dedent("""\
            defaults:
              - override /env: pick
            sweep:
              name: pick
              metric: env_runners/hit_rate
              mode: max
              num_samples: 2
              budget: {env_steps: 512}
              objective: {by: evaluation, episodes: 20}
              scheduler: {type: fifo}
              verify: {top_k: 0}
              space:
                train_batch_size: {type: int, low: 128, high: 256, log: true}
            """)
    )
    (folder / "sweeps" / "smoke.yaml").write_text(
        (Path(motif_tune.__file__).parents[1] / "sweeps" / "smoke.yaml")
        .read_text()
        .replace("num_samples: 2", "num_samples: 3")
    )
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("MOTIF_TUNE_PROJECT_DIR", str(folder))
    return folder, module


def test_the_projects_files_add_choices_and_replace_shipped_ones(project):
    folder, module = project
    own = compose_settings(["sweep=pick"])
    assert (own.sweep.name, own.env.name, own.env.id) == ("pick", "pick", f"{module}:PickEnv")
    assert own.project_dir == folder
    assert compose_settings(["sweep=smoke"]).sweep.num_samples == 3  # the project's smoke
    shipped = compose_settings(["sweep=default", "env=cartpole"])  # shipped choices remain
    assert (shipped.sweep.name, shipped.env.id) == ("default", "CartPole-v1")
    assert compose_settings(["sweep=pick", "env=motif"]).env.name == "motif"  # command line wins


def test_the_help_and_a_refusal_list_the_projects_choices(project, capsys):
    assert main(["sweep", "sweep=nope"]) == EXIT_BAD_INPUT
    assert "valid choices: algo, default, gpu_packing, pbt, pick, smoke." in capsys.readouterr().err
    assert main(["--help"]) == EXIT_OK
    assert "pick" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [":PickEnv", ".PickEnv", ":make_pick", ":KeywordEnv"])
def test_an_env_is_a_class_or_a_creator_by_its_code_path(project, suffix):
    _, module = project
    env = make_env(f"{module}{suffix}", {"num_choices": 4})
    assert env.action_space.n == 4
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_a_keyword_env_refuses_keys_its_signature_lacks(project):
    _, module = project
    from motif_tune.envs.registry import checked_env

    with pytest.raises(ConfigError, match=r"env_config\.colour is not accepted by .*KeywordEnv"):
        checked_env(f"{module}:KeywordEnv", {"colour": "red"})
    assert env_entry(f"{module}:KeywordEnv").takes == "keywords"
    assert env_entry(f"{module}:PickEnv").takes == "mapping"


BAD = [
    (["env.id=no_such_module:Env"], "no module 'no_such_module' in the project folder"),
    (["env.id={module}:PikEnv"], "has no 'PikEnv' (did you mean PickEnv"),
    (["env.id={module}:NOT_AN_ENV"], "is a int, neither a gymnasium.Env subclass nor a creator"),
    (["env.id={module}:NotACallback"], "is a class that is not a gymnasium.Env"),
    (["env.id={module}:broken"], "the creator with env_config {'num_choices': 3} raised Runtime"),
    (["env.callbacks=[{module}:NotACallback]"], "is NotACallback, not an RLlibCallback subclass"),
    (["env.callbacks=[{module}:Missing]"], "is missing, not an RLlibCallback subclass"),
    (["sweep.metric=env_runners/hit_ratio"], "sweep.metric (env_runners/hit_ratio) is no metric"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[b[0][0] for b in BAD])
def test_a_mistake_in_the_projects_env_is_one_sentence(project, argv, message, capsys):
    folder, module = project
    code = main(["sweep", "sweep=pick", *(a.format(module=module) for a in argv)])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    (line,) = err.strip().splitlines()
    assert line.startswith("motif-tune: error: ") and message in line, line
    assert not (folder / "runs" / "mlflow.db").exists()


def test_init_writes_a_project_that_composes_and_refuses_to_overwrite(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "trend_pick"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Sweep it: motif-tune sweep sweep=trend_pick" in out
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "conf/env/trend_pick.yaml",
        "sweeps/trend_pick.yaml",
        "trend_pick_env.py",
    ]
    monkeypatch.setenv("MOTIF_TUNE_PROJECT_DIR", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = compose_settings(["sweep=trend_pick"])
    assert (settings.env.id, settings.sweep.metric) == (
        "trend_pick_env:TrendPickEnv",
        "env_runners/hit_rate",
    )
    from motif_tune.rllib.checks import check_settings

    check_settings(settings)  # the env builds, its callback is an RLlibCallback
    before = (tmp_path / "README.md").read_text()
    assert main(["init", "trend_pick"]) == EXIT_BAD_INPUT
    assert "already exist" in capsys.readouterr().err
    assert (tmp_path / "README.md").read_text() == before
    assert main(["init", "Bad-Name"]) == EXIT_BAD_INPUT
    assert "must be a lowercase name" in capsys.readouterr().err


def test_the_public_surface_names_what_the_readme_does():
    from motif_tune.envs import MotifEnv

    assert motif_tune.MotifEnv is MotifEnv
    assert callable(motif_tune.sweep) and callable(motif_tune.compose_settings)
    assert set(motif_tune.__all__) >= {"sweep", "train", "evaluate", "resume", "MotifEnv"}
    with pytest.raises(AttributeError):
        motif_tune.no_such_name  # noqa: B018


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [":PickEnv", ":make_pick"], ids=["class", "creator"])
def test_a_sweep_of_the_projects_env_is_scored_by_its_callbacks_metric(
    project, suffix, isolated_runs
):
    """Through the Python surface: the env from the project folder (shipped to Ray's
    workers by runtime_env), the callback's hit_rate as the objective, in MLflow."""
    folder, module = project
    outcome = motif_tune.sweep(
        ["sweep=pick", f"env.id={module}{suffix}", f"run_name=pick-{suffix[1:]}"]
    )
    assert outcome.champion is None and outcome.best is not None  # no verification here
    assert 0.0 <= outcome.best.objective <= 1.0
    from motif_tune.tracking.client import open_store

    client = open_store(f"sqlite:///{isolated_runs}/mlflow.db")
    trials = client.search_runs(
        [client.get_experiment_by_name("motif_tune").experiment_id],
        filter_string="tags.`motif_tune.role` = 'trial'",
    )
    assert len(trials) == 2
    for trial in trials:
        metrics = trial.data.metrics
        assert {"env_runners/hit_rate", "evaluation/env_runners/hit_rate"} <= set(metrics)
        assert metrics["objective"] == pytest.approx(metrics["evaluation/env_runners/hit_rate"])
    assert str(sys.modules[module].__file__).startswith(str(folder))
