"""What a finished sweep found, as the terminal shows it: the ranking, the verified
finalists, the champion, and where its results are."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from motif_tune.search.cost import CPU_S, FIGURES, GPU_S
from motif_tune.search.ranking import (
    Finalist,
    RankingHeld,
    Selection,
    TrialScore,
    champion_schedule,
    describe_finalist,
    describe_score,
)
from motif_tune.text import fmt, listing, relative, text_table

_SHOWN = 5  # search trials listed in the summary


@dataclass
class SweepSummary:
    """A finished sweep: what it found and where its records are."""

    run_name: str
    objective: str
    budget: str
    num_trials: int
    num_errored: int
    selection: Selection
    experiment_path: str = ""
    mlflow_run_id: str | None = None
    mlflow_experiment_id: str | None = None
    tracking_uri: str = ""
    registered_model: str | None = None  # the registration, as the summary states it
    model_uri: str | None = None  # models:/<name>/<version> of this sweep's winner
    unwritten: str | None = None  # what MLflow lacks, and how to write it (None: nothing)
    retried: dict[str, int] = field(default_factory=dict)  # trial id -> failures survived
    budget_unit: str = "env steps"  # the unit of a population champion's schedule

    # What scripts read (the public Python surface returns this object).
    @property
    def mode(self) -> str:
        return self.selection.mode

    @property
    def ranking(self) -> list[TrialScore]:
        return self.selection.ranking

    @property
    def finalists(self) -> list[Finalist]:
        return self.selection.finalists

    @property
    def champion(self) -> Finalist | None:
        return self.selection.champion

    @property
    def best(self) -> TrialScore | None:
        return self.selection.best

    @property
    def best_checkpoint(self) -> str | None:
        return self.selection.best_checkpoint

    @property
    def incomplete(self) -> bool:
        """MLflow lacks part of this sweep's record (the command exits non-zero)."""
        return self.unwritten is not None

    def render(self) -> str:
        lines = [
            f"Sweep '{self.run_name}': {self.num_trials} trials, {self.num_errored} errored; "
            f"budget {self.budget} per trial; objective: {self.objective} ({self.mode}).",
        ]
        if not self.ranking:
            lines.append("No trial reported its objective.")
        else:
            lines += ["Search, best first:", *_ranking_table(self.ranking[:_SHOWN])]
        if self.finalists:
            seeds = ", ".join(str(s) for s in sorted({s for f in self.finalists for s in f.seeds}))
            lines += [f"Verified on fresh seeds ({seeds}) at the full budget, with their cost:"]
            lines += _finalists_table(self.selection)
            raced = _race_line(self.finalists)
            if raced:
                lines.append(raced)
            if self.selection.front:
                lines.append(f"  * on the quality-cost front ({_label(self.selection.cost_key)})")
        if self.selection.held is not None:
            lines.append(_held_line(self.selection.held))
        best = self.best
        if best is not None:
            lines.append(f"Champion: {describe_score(best)}: {self._champion_score()}")
            schedule = champion_schedule(best, self.budget_unit)
            if schedule:
                lines.append(f"  schedule (replayed on every seed): {schedule}")
            if self.selection.reason:
                lines.append(f"  chosen as {self.selection.reason}")
            checkpoint = relative(self.best_checkpoint) if self.best_checkpoint else "(none saved)"
            lines.append(f"  checkpoint: {checkpoint}")
            if self.registered_model:
                lines.append(f"  registered: {self.registered_model}")
        if self.retried:
            retries = ", ".join(f"{t} ({n}x)" for t, n in sorted(self.retried.items()))
            lines.append(f"Restarted from their checkpoints after a failure: {retries}.")
        from motif_tune.tracking.ui import ui_command, ui_link

        link = ui_link(self.tracking_uri, self.mlflow_experiment_id, self.mlflow_run_id)
        if self.unwritten:
            lines.append(self.unwritten)
        lines += [
            f"Tune results: {relative(self.experiment_path)}",
            f"MLflow run:   {link}",
            f"MLflow UI: {ui_command(self.tracking_uri, self.mlflow_experiment_id)}",
        ]
        return "\n".join(lines)

    def _champion_score(self) -> str:
        champion, baseline = self.champion, self.selection.baseline
        if champion is None:
            best = self.best
            assert best is not None
            text = f"{fmt(best.objective)} in the search (not verified)"
            base = next((s for s in self.ranking if s.baseline), None)
            if base is not None and base is not best:
                text += f"; the baseline scored {fmt(base.objective)}"
            return text + "."
        text = f"{_spread(champion)} over {len(champion.scores)} seeds"
        if baseline is champion:
            return text + "; no searched setting beat the composed config's own values."
        if baseline is not None:
            gain = champion.mean - baseline.mean
            text += f"; the baseline scores {_spread(baseline)} ({gain:+.3f})"
        return text + "."


def _ranking_table(scores: list[TrialScore]) -> list[str]:
    rows = [
        ("#", "trial", "settings", "objective", "spent", "time", "CPU s"),
        *(
            (
                str(rank),
                s.trial_id + (" (baseline)" if s.baseline else ""),
                describe_score(s),
                fmt(s.objective),
                f"{s.spent:,.0f}" + ("" if s.finished else " (stopped early)"),
                f"{s.wall_s:.0f} s" if math.isfinite(s.wall_s) else "-",
                _figure(s.cost.get(CPU_S, math.nan)),
            )
            for rank, s in enumerate(scores, start=1)
        ),
    ]
    return text_table(rows)


def _finalists_table(selection: Selection) -> list[str]:
    finalists = selection.finalists
    figures = [
        f
        for f in FIGURES
        if f.key != GPU_S or any(x.cost(GPU_S) > 0 for x in finalists)  # GPU s: where used
    ]
    rows = [
        ("#", "settings", "search", "verified", "per seed", *(f.label for f in figures), ""),
        *(
            (
                str(f.rank),
                describe_finalist(f),
                fmt(f.search.objective) if math.isfinite(f.search.objective) else "-",
                _spread(f),
                " ".join(fmt(s) for s in f.scores),
                *(_figure(f.cost(figure.key)) for figure in figures),
                "*" if f.rank in selection.front else "",
            )
            for f in finalists
        ),
    ]
    return text_table(rows)


def _race_line(finalists: list[Finalist]) -> str | None:
    """Which finalists trained on more seeds than the rest (a race), in one line."""
    counts = sorted({len(f.seeds) for f in finalists if f.seeds}, reverse=True)
    if len(counts) < 2:
        return None
    groups = [
        listing([f"#{f.rank}" for f in finalists if len(f.seeds) == n]) + f" on {n}"
        for n in counts[:-1]
    ]
    return (
        f"  raced: {'; '.join(groups)} seeds, the leader and those the seeds before could "
        f"not tell from it (Welch's t-test, 95%); the rest on {counts[-1]}"
    )


def _figure(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "-"


def _label(cost_key: str) -> str:
    return next((f.label for f in FIGURES if f.key == cost_key), cost_key)


def _held_line(held: RankingHeld) -> str:
    """How far the search's ranking held on fresh seeds, in one line."""
    winner = (
        f"the search's winner ({held.search_winner}) is the verified champion"
        if held.survived
        else f"the search's winner ({held.search_winner}) is not the verified champion "
        f"(search trial {held.champion})"
    )
    tau = (
        f"Kendall's tau between search scores and verified means over {held.finalists} "
        f"finalists: {held.tau:+.2f}"
        if held.tau is not None
        else f"Kendall's tau undefined over {held.finalists} finalist(s)"
    )
    return f"Ranking on fresh seeds: {winner}; {tau}."


def _spread(finalist: Finalist) -> str:
    return f"{fmt(finalist.mean)} ± {finalist.std:.3f}"
