"""``motif-tune studies``: the stored Optuna studies of past sweeps, one line each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from motif_tune.config import Settings
from motif_tune.search import study
from motif_tune.text import fmt, text_table


@dataclass(frozen=True)
class StudiesListing:
    lines: tuple[str, ...]

    def render(self) -> str:
        return "\n".join(self.lines)


def prepare_studies(settings: Settings, overrides: Sequence[str] = ()) -> str:
    """The study storage to list (``sweep.study.storage``)."""
    return settings.study_storage


def list_studies(url: str, overrides: Sequence[str] = ()) -> StudiesListing:
    """A table of every study in the storage at ``url``, oldest first."""
    if not study.study_names(url):
        return StudiesListing((f"No studies in {url} yet: a sweep stores its study there.",))
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
        for row in study.list_studies(url)
    ]
    dashboard = f"optuna-dashboard '{url}' --host 127.0.0.1"
    return StudiesListing(
        (f"Studies in {url}:", *text_table([header, *rows]), f"Live view: {dashboard}")
    )
