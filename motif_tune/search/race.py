"""Verification as a race: the finalists the first fresh seeds cannot tell apart from
the leader train on ``sweep.verify.extra_seeds`` more (a second round); a finalist the
seeds have told apart from the leader drops out (as in F-race and irace).

"Told apart" is Welch's two-sided t-test at 95%: the difference of the two verified
means is larger than the t quantile times its standard error.
"""

from __future__ import annotations

import math
import statistics

from motif_tune.search.ranking import Finalist, best_verified

# Student's t, two-sided 95% (the 0.975 quantile), by degrees of freedom 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.960


def t975(df: float) -> float:
    """The 0.975 quantile of Student's t at ``df`` degrees of freedom (rounded down:
    the larger, more cautious quantile)."""
    whole = max(1, math.floor(df))
    return _T975[whole - 1] if whole <= len(_T975) else _Z975


def told_apart(a: list[float], b: list[float]) -> bool:
    """Whether two finalists' per-seed scores differ at 95% (Welch's t-test); never on
    fewer than two seeds each."""
    if len(a) < 2 or len(b) < 2:
        return False
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    difference = abs(statistics.fmean(a) - statistics.fmean(b))
    if va + vb == 0:
        return difference > 0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return difference > t975(df) * math.sqrt(va + vb)


def still_racing(finalists: list[Finalist], mode: str) -> list[Finalist]:
    """The finalists that train on more seeds: the leader (best verified mean) and every
    finalist its seeds do not tell apart from it; [] when the race is decided."""
    leader = best_verified(finalists, mode)
    if leader is None:
        return []
    rivals = [
        f
        for f in finalists
        if f.scores and f is not leader and not told_apart(leader.scores, f.scores)
    ]
    return [leader, *rivals] if rivals else []
