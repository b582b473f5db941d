"""``motif-tune studies``: the stored Optuna studies of past sweeps, one line each."""

from __future__ import annotations

from motif_tune.config import Settings
from motif_tune.results import fmt, text_table
from motif_tune.search.study import list_studies, study_names


def render_studies(settings: Settings) -> str:
    """A table of every study in the sweep's study storage, oldest first."""
    url = settings.study_storage
    if not study_names(url):
        return f"No studies in {url} yet: a sweep stores its study there."
    header = ("study", "started", "complete", "pruned", "failed", "running", "best", "MLflow run")
    rows = [
        (
            row.name,
            row.started,
            str(row.complete),
            str(row.pruned),
            str(row.failed),
            str(row.running),
            fmt(row.best),
            row.parent_run,
        )
        for row in list_studies(url)
    ]
    dashboard = f"optuna-dashboard '{url}' --host 127.0.0.1"
    return "\n".join(
        [f"Studies in {url}:", *text_table([header, *rows]), f"Live view: {dashboard}"]
    )
