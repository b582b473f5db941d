"""Bad input: one sentence naming the setting, exit status 2, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motif_tune.cli import EXIT_BAD_INPUT, main

CASES = [
    (["frobnicate"], "Unknown command 'frobnicate'; valid commands: sweep"),
    (["sweep=nope"], "Unknown sweep 'nope'; valid choices: "),
    (["algo=a2c"], "Unknown algo 'a2c'; valid choices: appo, ppo"),
    (["-m", "env=motif,pong"], "Unknown env 'pong'"),
    (["env=gym"], "env.id must be set, e.g. env=gym env.id=Acrobot-v1"),
    (["env=gym", "env.id=NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["env.env_config.num_motifs=1"], "env_config.num_motifs"),
    (["env.env_config.noise=1.5"], "env_config.noise"),
    (["sweep.num_samples=0"], "sweep.num_samples"),
    (["sweep.mode=up"], "sweep.mode"),
    (["stop.training_iteration=0"], "stop.training_iteration must be > 0"),
    (["algo.training.train_batch_size_per_learner=0"], "train_batch_size_per_learner must be"),
    (
        [
            "scaling.env_runners.rollout_fragment_length=300",
            "scaling.env_runners.num_envs_per_env_runner=1",
            "algo.training.train_batch_size_per_learner=1000",
            "sweep.space={}",
        ],
        "must be a whole number of rollout fragments",
    ),
    (["+algo.training.lrr=0.1"], "algo.training.lrr is not an RLlib PPOConfig.training() setting"),
    (["+scaling.env_runners.num_workers=2"], "use scaling.env_runners.num_env_runners instead"),
    (
        [
            "sweep.space.rollout_fragment_length.high=4096",
            "sweep.space.rollout_fragment_length.low=4096",
        ],
        "exceeds sweep.space.train_batch_size high",
    ),
    (
        ["sweep.space.train_batch_size.low=64"],
        "sweep.space.algo.training.minibatch_size (up to 128) exceeds sweep.space.train_batch_size",
    ),
    (
        [
            "+sweep.space.algo.training.lr="
            "{type: float, low: 0.001, high: 0.01, only_for_algos: [PP0]}"
        ],
        "only_for_algos': unknown algorithm 'PP0'; valid: PPO, APPO",
    ),
    (["run_name=a/b"], "run_name"),
    (
        ["scaling.env_runners.num_env_runners=-1"],
        "scaling.env_runners.num_env_runners must be a whole number >= 0, got -1.",
    ),
    (["scaling.env_runners.rollout_fragment_length=abc"], "must be 'auto' or a whole number"),
    (["sweep.metric=reward"], "sweep.metric"),
    (["scaling=cluster", "scaling.ray.address=nohost"], "is not HOST:PORT"),
    (["resume", "run_name=never-ran"], "run_name 'never-ran' names no sweep"),
    (["evaluate"], "checkpoint"),
    (["sweep.budget.env_steps=0"], "sweep.budget.env_steps"),
    (["sweep.budget={env_steps: 5, time_s: 3}"], "sweep.budget needs exactly one of env_steps"),
    (["sweep.scheduler.grace_fraction=1.5"], "sweep.scheduler.grace_fraction"),
    (["sweep.verify.seeds=0"], "sweep.verify.seeds"),
    (["sweep.verify.extra_seeds=-1"], "sweep.verify.extra_seeds"),
    (
        ["sweep.metric=learners/default_policy/total_loss"],
        "must be an env_runners/ episode metric to be scored by evaluation",
    ),
    (["tracking.uri=http://127.0.0.1:9"], "no MLflow tracking server answers there"),
    (["sweep.scheduler.type=hyperband"], "sweep.scheduler.type"),
    (["+sweep.bogus=1"], "Unknown setting 'sweep.bogus'"),
    (["+x.y=1"], "Unknown setting 'x'; the top level accepts algo, checkpoint"),
    # A mistyped or misplaced key names the nearest real ones, with no advice to add it.
    (["env.noise=-1"], "Unknown setting 'env.noise' (did you mean env.env_config.noise?)"),
    (["sweep.num_sample=3"], "(did you mean sweep.num_samples"),
    (["seeed=3"], "Unknown setting 'seeed' (did you mean seed?)"),
    (["sweep.budget.env_step=100"], "did you mean sweep.budget.env_steps"),
    (["tracking.metric=all"], "did you mean tracking.metrics"),
    (["tracking.metrics=some"], "tracking.metrics"),
    (["stop.training_iteration=-1"], "stop.training_iteration must be > 0, got -1"),
    (["-m", "--cfg", "job"], "Only one of --run, --multirun, --cfg"),  # Hydra's flags
]


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_exits_2_with_one_sentence(argv, message, capsys, isolated_runs):
    commands = ("frobnicate", "resume", "evaluate", "train")
    code = main(argv if argv[0] in commands else ["sweep", *argv])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    (line,) = err.strip().splitlines()  # one line: no Hydra report, no HYDRA_FULL_ERROR
    assert line.startswith("motif-tune: error: "), err
    assert message in line
    assert not (isolated_runs / "mlflow.db").exists()
    assert not (isolated_runs / "ray_results").exists()


# One bad command line of each kind the program refuses: a group choice Hydra cannot
# compose, a setting the loaded settings refuse (an unknown key such as +x.y=1 takes the
# same path; its sentence is checked above), Hydra's own flags.
@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "sweep=nope"],
        ["sweep", "env.env_config.num_motifs=1"],
        ["sweep", "-m", "--cfg", "job"],
    ],
)
def test_the_real_program_prints_no_traceback(argv, isolated_runs):
    """``python -m motif_tune`` itself: exit status 2, no traceback, the sentence last."""
    proc = subprocess.run(
        [sys.executable, "-m", "motif_tune", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("motif-tune: error: ")
