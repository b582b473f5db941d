"""The trial comparison notebook, run headless on a real smoke sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "compare_trials.ipynb"
SWEEP = "nb-smoke"


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


def run_smoke_sweep() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "motif_tune", "sweep", "sweep=smoke", f"run_name={SWEEP}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def execute(notebook: nbformat.NotebookNode, kernel_name: str) -> None:
    client = NotebookClient(
        notebook,
        kernel_name=kernel_name,
        timeout=300,
        startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()


def test_notebook_compares_the_trials_of_a_smoke_sweep(isolated_runs, python_kernel, monkeypatch):
    run_smoke_sweep()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{isolated_runs}/mlflow.db")
    monkeypatch.setenv("MOTIF_TUNE_SWEEP", SWEEP)

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    execute(notebook, python_kernel)

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert f"Sweep '{SWEEP}'" in text
    champion = next(line for line in text.splitlines() if line.startswith("Champion: {"))
    assert "'rollout_fragment_length'" in champion and "'train_batch_size'" in champion
    assert "Not verified: search score" in text  # the smoke sweep verifies nothing
    data = [out.data for out in outputs if "data" in out]
    tables = [d["text/html"] for d in data if "<table" in d.get("text/html", "")]
    assert len(tables) == 1
    for column in ("trial_id", "rollout_fragment_length", "train_batch_size", "best_value"):
        assert column in tables[0]
    assert tables[0].count("</tr>") == 3  # a header row and the two trials
    assert [d for d in data if "image/png" in d]
