"""Screenshots of the MLflow UI over a store with a finished sweep, for the README.

    python docs/screenshots.py [STORE_URI] [OUT_DIR]

The runs table (the sweep's trials nested under it), the compare view of its
search trials and the study plots. Needs Chromium (Debian: ``apt-get install
chromium``) and Playwright (``pip install playwright``; it drives the system's
Chromium, nothing is downloaded). The UI runs on 127.0.0.1 on a free port and
is stopped afterwards.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from motif_tune.tracking.client import open_store
from motif_tune.tracking.runs import child_runs, sweep_runs
from motif_tune.tracking.ui import RUNS_VIEW_ID, UI_MODE

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ui(store: str, port: int) -> subprocess.Popen:
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    ui = subprocess.Popen(
        [mlflow, "ui", "--backend-store-uri", store, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return ui
        except OSError:
            time.sleep(1)
    ui.terminate()
    raise SystemExit("The MLflow UI did not answer in 120 s.")


def close_assistant_panel(page) -> None:
    """The UI opens an assistant side panel; close it (not the shared-view banner)."""
    width = page.viewport_size["width"]
    for button in page.get_by_role("button", name="Close").all():
        box = button.bounding_box() if button.is_visible() else None
        if box and box["x"] > width * 0.8 and box["y"] < 80:
            button.click()
            page.wait_for_timeout(500)


def main(store: str, out: Path) -> None:
    client = open_store(store)
    experiment = client.get_experiment_by_name("motif_tune").experiment_id
    (parent,) = sweep_runs(client, [experiment])
    trials = [
        r.info.run_id
        for r in child_runs(client, experiment, parent.info.run_id)
        if r.data.tags.get("motif_tune.role") == "trial"
    ]
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    ui = start_ui(store, port)
    base = f"http://127.0.0.1:{port}/#"
    runs = json.dumps(trials, separators=(",", ":"))
    experiments = json.dumps([experiment])
    pages = {  # the saved view every sweep's link opens, in the UI's "Model training" mode
        "runs_table.png": f"{base}/experiments/{experiment}/runs"
        f"?viewStateShareKey={RUNS_VIEW_ID}&{UI_MODE}",
        "compare_view.png": f"{base}/compare-runs?runs={runs}&experiments={experiments}&{UI_MODE}",
        "study_plots.png": f"{base}/experiments/{experiment}/runs/{parent.info.run_id}"
        f"/artifacts/plots/study.html?{UI_MODE}",
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            for name, url in pages.items():
                page.goto(url, wait_until="load")
                page.wait_for_timeout(6000)  # the UI keeps polling: no idle network to wait for
                close_assistant_panel(page)
                page.screenshot(path=str(out / name), full_page=name == "study_plots.png")
                print(out / name)
            browser.close()
    finally:
        ui.terminate()


if __name__ == "__main__":
    store = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{ROOT / 'runs' / 'mlflow.db'}"
    main(store, Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "img")
