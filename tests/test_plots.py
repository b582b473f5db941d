"""Study plots and tables, and reading a sweep back from an MLflow store (no Ray)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import optuna
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from motif_tune.config import ParamSpec
from motif_tune.tracking.plots import applied_study, study_plots
from motif_tune.tracking.readback import (
    find_sweep_run,
    learning_curves,
    rank_trials,
    searched_params,
    sweep_frame,
)

optuna.logging.set_verbosity(optuna.logging.ERROR)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METRIC = "env_runners/episode_return_mean"
ACCURACY = "env_runners/match_accuracy"


# ------------------------------------------------------------------------- study


def toy_study(
    n_trials: int = 12,
    params: tuple[str, ...] = ("a", "b"),
    fail: bool = False,
    flat: bool = False,
) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        values = [trial.suggest_int(name, 1, 64, log=True) for name in params]
        if fail:
            raise ValueError("diverged")
        if flat:  # a task no trial learned at this budget (every score -500, say)
            return -500.0
        return -sum((value - 20) ** 2 for value in values)

    study.optimize(objective, n_trials=n_trials, catch=(ValueError,))
    return study


def assert_pngs(paths: list[Path]) -> None:
    for path in paths:
        assert path.is_file()
        assert path.read_bytes()[:8] == PNG_MAGIC
        height, width = matplotlib.image.imread(path).shape[:2]
        assert height > 50 and width > 50


def test_study_plots_writes_all_three_pngs(tmp_path):
    paths = study_plots(toy_study(), tmp_path / "plots", METRIC)
    assert [p.name for p in paths] == [
        "study.html",
        "optimization_history.png",
        "param_importances.png",
        "parallel_coordinate.png",
    ]
    assert_pngs([p for p in paths if p.suffix == ".png"])


def test_study_plots_leaves_no_figure_open_and_no_style_behind(tmp_path):
    before = dict(matplotlib.rcParams)
    study_plots(toy_study(n_trials=4), tmp_path, METRIC)
    assert plt.get_fignums() == []
    assert dict(matplotlib.rcParams) == before


@pytest.mark.parametrize(
    ("n_trials", "params", "flat"),
    [(1, ("a", "b"), False), (3, ("a", "b"), False), (12, ("a",), False), (12, ("a", "b"), True)],
    ids=["one-trial", "three-trials", "one-param", "every-score-equal"],
)
def test_importances_are_skipped_when_they_mean_nothing(tmp_path, caplog, n_trials, params, flat):
    paths = study_plots(toy_study(n_trials, params, flat=flat), tmp_path, METRIC)
    names = ["study.html", "optimization_history.png", "parallel_coordinate.png"]
    assert [p.name for p in paths] == names
    assert_pngs([p for p in paths if p.suffix == ".png"])
    assert not (tmp_path / "param_importances.png").exists()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # a skip is no fault


@pytest.mark.parametrize(
    "make_study",
    [lambda: toy_study(5, fail=True), optuna.create_study],
    ids=["all-failed", "no-trials"],
)
def test_a_study_without_completed_trials_gives_no_plots(tmp_path, make_study):
    assert study_plots(make_study(), tmp_path / "plots", METRIC) == []
    assert list((tmp_path / "plots").iterdir()) == []


def applied_trials() -> pd.DataFrame:
    """What a sweep's trials ran with: the baseline (t01) lies outside the searched range."""
    return pd.DataFrame(
        {
            "trial": ["t01", "t02", "t03", "t04", "t05", "t06"],
            "trial_id": ["a1", "b2", "c3", "d4", "e5", "f6"],
            "run_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
            "rollout_fragment_length": [256, 34, 29, 30, 16, 29],
            "train_batch_size": [1024, 136, 232, 240, 128, 232],
            "objective": [0.19, 0.21, 0.28, 0.24, 0.18, math.nan],
        }
    )


SPACE = {
    "rollout_fragment_length": ParamSpec(type="int", low=16, high=64, log=True),
    "train_batch_size": ParamSpec(type="int", low=128, high=256, log=True),
}


def test_the_applied_study_holds_the_values_trials_ran_with():
    study = applied_study(applied_trials(), SPACE, "max")
    assert [t.params["train_batch_size"] for t in study.trials] == [1024, 136, 232, 240, 128, 232]
    assert [t.user_attrs["trial"] for t in study.trials] == [
        "t01",
        "t02",
        "t03",
        "t04",
        "t05",
        "t06",
    ]
    assert study.trials[-1].state == optuna.trial.TrialState.FAIL  # no score
    assert study.best_value == 0.28 and study.best_trial.user_attrs["run_id"] == "r3"
    assert study.trials[0].distributions["train_batch_size"].high == 1024  # widened


def test_study_html_is_interactive_self_contained_and_labels_trials_as_runs(tmp_path):
    study = applied_study(applied_trials(), SPACE, "max")
    paths = study_plots(study, tmp_path, METRIC)
    assert paths[0].name == "study.html"
    html = paths[0].read_text()
    assert "Plotly.newPlot" in html and 'src="http' not in html  # plotly.js inline: offline
    for section in ("Optimisation history", "Parallel coordinates", "Parameter importances"):
        assert section in html
    assert '"t01"' in html and '"1024"' not in html.split("Parallel coordinates")[0]
    assert "1e+03" not in html.split("Parallel coordinates", 1)[1].split("<h2>")[0]


def test_study_html_says_why_importances_are_missing(tmp_path):
    (html,) = [p for p in study_plots(toy_study(3), tmp_path, METRIC) if p.suffix == ".html"]
    assert "Not drawn: fewer than 5 completed trials." in html.read_text()


# ------------------------------------------------------------------------ MLflow


def _child(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    trial_id: str,
    params: dict[str, str],
    curves: dict[str, list[float]],
    outcome: str | None,
) -> str:
    run = client.create_run(
        experiment_id,
        run_name=trial_id,
        tags={
            "mlflow.parentRunId": parent_id,
            "motif_tune.role": "trial",
            "motif_tune.trial_id": trial_id,
        },
    )
    run_id = run.info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    metrics = [
        Metric(name, value, 1000 + step, step)
        for name, values in curves.items()
        for step, value in enumerate(values, start=1)
    ]
    client.log_batch(run_id, metrics=metrics)
    if outcome:
        client.log_batch(run_id, tags=[RunTag("motif_tune.trial_status", outcome)])
        client.set_terminated(run_id, status="FAILED" if outcome == "failed" else "FINISHED")
    return run_id


def _parent(client: MlflowClient, experiment_id: str, name: str, mode: str = "max") -> str:
    run = client.create_run(
        experiment_id,
        run_name=name,
        tags={
            "motif_tune.role": "sweep",
            "motif_tune.sweep": name,
            "env": "MotifMatch-v0",
            "algo": "PPO",
            "scaling": "local",
            "sweep": "smoke",
        },
    )
    params = {"sweep.metric": METRIC, "sweep.mode": mode, "algo.training.lr": "0.0003"}
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    return run.info.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory, empty_store_file) -> dict:
    """A store with an old sweep and a newer one of three trials (one failed, one running)."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    shutil.copyfile(empty_store_file, path)  # created and migrated already
    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("motif_tune")
    old = _parent(client, experiment_id, "old-sweep")
    _child(
        client, experiment_id, old, "0000", {"train_batch_size": "64"}, {METRIC: [9.0]}, "finished"
    )
    parent = _parent(client, experiment_id, "new-sweep")
    trials = {
        "aaaa": _child(
            client,
            experiment_id,
            parent,
            "aaaa",
            {
                "rollout_fragment_length": "16",
                "train_batch_size": "128",
                "algo.training.lr": "1e-4",
            },
            {METRIC: [0.1, 0.5, 0.3], ACCURACY: [0.2, 0.4, 0.6]},
            "finished",
        ),
        "bbbb": _child(
            client,
            experiment_id,
            parent,
            "bbbb",
            {
                "rollout_fragment_length": "32",
                "train_batch_size": "256",
                "algo.training.lr": "3e-4",
            },
            {METRIC: [0.2, 0.4]},
            "stopped_early",
        ),
        "cccc": _child(
            client,
            experiment_id,
            parent,
            "cccc",
            {
                "rollout_fragment_length": "64",
                "train_batch_size": "192",
                "algo.training.lr": "1e-3",
            },
            {},
            "failed",
        ),
        "dddd": _child(
            client,
            experiment_id,
            parent,
            "dddd",
            {"rollout_fragment_length": "16", "train_batch_size": "256", "algo.training.lr": "bad"},
            {METRIC: [0.05]},
            None,
        ),
    }
    return {"client": client, "parent": parent, "old": old, "trials": trials}


def test_find_sweep_run_by_name_and_latest(store):
    client = store["client"]
    assert find_sweep_run(client).info.run_id == store["parent"]
    assert find_sweep_run(client, "old-sweep").info.run_id == store["old"]
    with pytest.raises(LookupError, match="no-such"):
        find_sweep_run(client, "no-such")
    with pytest.raises(LookupError, match="elsewhere"):
        find_sweep_run(client, experiment_name="elsewhere")


def test_sweep_frame_has_one_row_per_trial_of_this_sweep(store):
    frame = sweep_frame(store["client"], store["parent"])
    assert list(frame["trial_id"]) == ["aaaa", "bbbb", "cccc", "dddd"]
    assert list(frame["run_id"]) == [store["trials"][t] for t in frame["trial_id"]]
    assert list(frame["status"]) == ["finished", "stopped_early", "failed", "running"]
    assert list(frame.columns[:3]) == ["run_id", "trial_id", "status"]
    assert list(frame.columns[-2:]) == ["final_value", "best_value"]
    params = ["algo.training.lr", "rollout_fragment_length", "train_batch_size"]
    assert searched_params(frame) == params == frame.attrs["params"]
    assert frame.attrs["metric"] == METRIC and frame.attrs["mode"] == "max"


def test_sweep_frame_numbers_and_objective_values(store):
    frame = sweep_frame(store["client"], store["parent"]).set_index("trial_id")
    assert pd.api.types.is_integer_dtype(frame["train_batch_size"])
    assert frame.loc["bbbb", "train_batch_size"] == 256
    assert frame["algo.training.lr"].tolist() == ["1e-4", "3e-4", "1e-3", "bad"]
    assert frame.loc["aaaa", "final_value"] == pytest.approx(0.3)
    assert frame.loc["aaaa", "best_value"] == pytest.approx(0.5)
    assert frame.loc["bbbb", "best_value"] == pytest.approx(0.4)
    assert math.isnan(frame.loc["cccc", "final_value"])
    assert math.isnan(frame.loc["cccc", "best_value"])


def test_sweep_frame_with_another_metric_and_mode(store):
    frame = sweep_frame(store["client"], store["parent"], metric=METRIC, mode="min")
    frame = frame.set_index("trial_id")
    assert frame.loc["aaaa", "best_value"] == pytest.approx(0.1)
    accuracy = sweep_frame(store["client"], store["parent"], metric=ACCURACY)
    assert accuracy.set_index("trial_id").loc["aaaa", "best_value"] == pytest.approx(0.6)
    assert accuracy["best_value"].isna().sum() == 3


def test_rank_trials_best_first_missing_last(store):
    ranked = rank_trials(sweep_frame(store["client"], store["parent"]))
    assert list(ranked["trial_id"]) == ["aaaa", "bbbb", "dddd", "cccc"]
    assert list(rank_trials(ranked, mode="min")["trial_id"]) == ["dddd", "bbbb", "aaaa", "cccc"]


def test_learning_curves_long_format(store):
    client, trials = store["client"], store["trials"]
    ids = [trials["bbbb"], trials["cccc"], trials["aaaa"]]
    curves = learning_curves(client, ids, METRIC)
    assert list(curves.columns) == ["run_id", "step", "value"]
    assert list(curves["run_id"]) == [trials["bbbb"]] * 2 + [trials["aaaa"]] * 3
    assert list(curves["step"]) == [1, 2, 1, 2, 3]
    assert curves["value"].tolist() == pytest.approx([0.2, 0.4, 0.1, 0.5, 0.3])
    assert learning_curves(client, ids, "no/such/metric").empty
    assert learning_curves(client, [], METRIC).empty


def test_learning_curves_keep_the_latest_value_of_a_repeated_step(store):
    client = store["client"]
    run_id = store["trials"]["dddd"]
    client.log_batch(run_id, metrics=[Metric(ACCURACY, 0.1, 10, 1), Metric(ACCURACY, 0.9, 20, 1)])
    curves = learning_curves(client, [run_id], ACCURACY)
    assert curves[["step", "value"]].values.tolist() == [[1, 0.9]]


# ---------------------------------------------------------------------- notebook


def test_the_notebook_is_saved_without_outputs_and_reads_its_settings_first():
    import nbformat

    path = Path(__file__).resolve().parents[1] / "notebooks" / "compare_trials.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert "MLFLOW_TRACKING_URI" in code[0].source and "MOTIF_TUNE_SWEEP" in code[0].source
    assert notebook.metadata.kernelspec.name == "python3"
