"""The trial comparison notebook, run headless on the session's shared smoke sweep."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "compare_trials.ipynb"


@pytest.fixture
def python_kernel(tmp_path, monkeypatch) -> str:
    """A ``python3`` kernelspec that starts this interpreter, first on JUPYTER_PATH."""
    from ipykernel.kernelspec import install

    prefix = tmp_path / "jupyter"
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    install(kernel_name="python3", prefix=str(prefix))
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] == sys.executable
    return "python3"


def execute_on_two_stores(kernel_name: str, second_uri: str) -> list[tuple[str, list[dict]]]:
    """Run the notebook (on MLFLOW_TRACKING_URI), then again in the same kernel with
    MLFLOW_TRACKING_URI set to ``second_uri``; for each run, what its cells printed and
    their rich outputs (tables, figures)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = len(notebook.cells)
    switch = nbformat.v4.new_code_cell(
        f"import os\nos.environ['MLFLOW_TRACKING_URI'] = {second_uri!r}"
    )
    notebook.cells += [switch, *nbformat.read(NOTEBOOK, as_version=4).cells]
    client = NotebookClient(
        notebook,
        kernel_name=kernel_name,
        timeout=300,
        startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return [_outputs(notebook.cells[:cells]), _outputs(notebook.cells[cells + 1 :])]


def _outputs(cells: list) -> tuple[str, list[dict]]:
    outputs = [out for cell in cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    return text, [out.data for out in outputs if "data" in out]


def html_tables(data: list[dict]) -> list[str]:
    return [d["text/html"] for d in data if "<table" in d.get("text/html", "")]


def test_notebook_compares_the_trials_of_a_smoke_sweep(
    shared_sweep, python_kernel, monkeypatch, tmp_path
):
    """On the shared sweep the notebook names the sweep and its champion, shows the
    verified finalists and a table of the three trials, and draws figures; on a sweep
    recorded as not verified it says so and gives the search score instead."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_sweep.uri)
    monkeypatch.setenv("MOTIF_TUNE_SWEEP", shared_sweep.run_name)
    # A copy of the shared sweep whose record says it verified nothing (as with
    # sweep.verify.top_k=0): the champion is the search's best.
    store = shared_sweep.copy_to(tmp_path / "unverified") / "mlflow.db"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("UPDATE params SET value = 'False' WHERE key = 'best.verified'")

    verified, unverified = execute_on_two_stores(python_kernel, f"sqlite:///{store}")

    text, data = verified
    assert "Sweep 'shared'" in text
    champion = next(line for line in text.splitlines() if line.startswith("Champion: {"))
    assert "'rollout_fragment_length'" in champion and "'train_batch_size'" in champion
    assert "Verified: " in text and " over fresh seeds" in text
    finalists, trials = html_tables(data)
    assert "verify_trial_ids" in finalists
    for column in ("trial_id", "rollout_fragment_length", "train_batch_size", "best_value"):
        assert column in trials
    assert trials.count("</tr>") == 4  # a header row and the three trials
    assert [d for d in data if "image/png" in d]

    text, data = unverified
    assert f"Sweep 'shared' (finished) at sqlite:///{store}" in text
    assert "Not verified: search score" in text
    (trials,) = html_tables(data)
    assert trials.count("</tr>") == 4
    assert [d for d in data if "image/png" in d]
