"""Change points in a series of numbers: E-divisive means, each split tested with a t-test.

The method of Hunter/Apache Otava (Fleming et al., ICPE 2023, arXiv 2301.03034), written
again on numpy and scipy, without Otava's pins:

1. **Split.** Over windows of ``window`` points (half a window apart), E-divisive means
   (Matteson and James) proposes the split that maximises the energy statistic Q̂ between
   the two sides; a Student t-test between the sides keeps it when its p-value is below a
   relaxed level (10 × ``max_pvalue``, Otava's first pass), and the sides are split again.
2. **Merge.** The weakest of these *weak* change points (the largest p-value, then the
   smallest magnitude), each re-tested between its neighbours, is dropped until every one
   left has ``pvalue <= max_pvalue`` and a magnitude that may reach ``min_magnitude``.

Differences from Otava, each for a reason:

- The t-test's standard deviation uses ``ddof=1`` (pooled, as Student's test assumes;
  Otava 0.8.0 uses ``ddof=0``, which understates the noise of short segments).
- A segment between two change points holds at least two points: one outlying run in the
  middle of a history is noise, not two steps. Only the newest segment, at the end of the
  series, may hold one point, and its change point is then tentative.
- The magnitude test takes the step's uncertainty into account: a step is dropped when even
  the upper end of its 95% interval is below ``min_magnitude`` (a precisely measured 2%
  drift is not a regression at a 10% threshold), and kept when it may reach it, reported at
  its measured size. With the point estimate alone, a true 10% step at a 10% threshold would
  be dropped half of the time.

Functions take plain sequences of floats (the history passes log speedups, so a step is a
ratio and a 20% drop and a 25% rise are the same distance) and know nothing of storage, git
or pages, as asv's ``step_detect`` and Otava's ``analysis`` do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

__all__ = [
    "CONFIRM_AFTER",
    "DEFAULT_MAX_PVALUE",
    "DEFAULT_MIN_MAGNITUDE",
    "DEFAULT_WINDOW",
    "Step",
    "change_points",
    "check_options",
    "energy_split",
    "step_between",
]

#: The largest p-value a change point may have. A t-test at the split that maximises Q̂ is
#: chosen after the fact, so its nominal p-value understates how often noise reaches it;
#: at 0.001 (Otava's default) 0-0.5% of noise-only histories of 30 and 60 runs had any
#: change point at 1.5-3% noise per run, 1.0-1.4% at 5% (``benchmarks/history_detection.py``,
#: docs/results/history-detection.md).
DEFAULT_MAX_PVALUE = 0.001
#: The smallest step reported, as a relative change: the gate's default threshold.
DEFAULT_MIN_MAGNITUDE = 0.10
#: Points per split window (Otava's ``window_len``, which defaults to 30 in its split step):
#: long enough for a t-test with power, short enough that old regimes do not blur new ones.
DEFAULT_WINDOW = 30
#: A change point is tentative until this many runs (the first of the new regime included)
#: stand after it. With one run, a single disturbed run at the end of the history is
#: indistinguishable from a step, and E-divisive may still move the split as runs arrive;
#: five runs average the new regime's noise down by √5 (a run's own interval is a few
#: percent wide, so a 10% step then stands out by several standard errors), and one outlier
#: among five moves their mean by a fifth of its excess. Five is also the horizon of the
#: detection goal (a 10% step found within five runs).
CONFIRM_AFTER = 5
#: Coverage of the interval the magnitude test uses.
_MAGNITUDE_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Step:
    """A change point: ``index`` is the first point of the new regime.

    ``before`` and ``after`` are the means of the segments on each side (between the
    neighbouring change points), ``magnitude`` the relative change ``exp(after - before) - 1``
    of values given as logs, ``magnitude_bound`` the largest relative change within its 95%
    interval, ``runs_after`` the points from ``index`` to the end of the series.
    """

    index: int
    pvalue: float
    before: float
    after: float
    magnitude: float
    magnitude_bound: float
    runs_after: int
    tentative: bool


# --------------------------------------------------------------------------- E-divisive


def energy_split(values: Sequence[float], min_left: int = 2, min_right: int = 2) -> int | None:
    """The split index ``tau`` of ``values`` that maximises E-divisive's Q̂ (Matteson and
    James, with exponent 1), each side keeping at least ``min_left``/``min_right`` points;
    None when no split leaves enough on each side.

    Q̂(τ) = m·n/(m+n) · (2/(m·n) Σ|x−y| − 1/C(m,2) Σ|x−x'| − 1/C(n,2) Σ|y−y'|), with sums
    from a summed-area table of the distance matrix, so a series of n points costs O(n²).
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    lo, hi = max(min_left, 1), n - max(min_right, 1)
    if lo > hi:
        return None
    distance = np.abs(x[:, None] - x[None, :])
    table = np.zeros((n + 1, n + 1))
    table[1:, 1:] = distance.cumsum(0).cumsum(1)

    def block(r0: int, r1: int, c0: int, c1: int) -> float:
        return float(table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0])

    best, best_q = None, -math.inf
    for tau in range(lo, hi + 1):
        m, k = tau, n - tau
        cross = block(0, tau, tau, n) * 2 / (m * k)
        left = block(0, tau, 0, tau) / (m * (m - 1)) if m > 1 else 0.0
        right = block(tau, n, tau, n) / (k * (k - 1)) if k > 1 else 0.0
        q = m * k / (m + k) * (cross - left - right)
        if q > best_q:
            best, best_q = tau, q
    return best


# --------------------------------------------------------------------------- the t-test


def step_between(left: Sequence[float], right: Sequence[float], index: int, total: int) -> Step:
    """The Student t-test (pooled variance, ``ddof=1``) between two segments, as a
    :class:`Step` at ``index`` of a series of ``total`` points (not yet marked tentative)."""
    from scipy.stats import t as student

    a, b = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    na, nb = len(a), len(b)
    before, after = float(a.mean()), float(b.mean())
    diff = after - before
    df = na + nb - 2
    squares = float(((a - before) ** 2).sum() + ((b - after) ** 2).sum())
    if df < 1:
        pvalue, half = 1.0, math.inf
    else:
        se = math.sqrt(squares / df * (1 / na + 1 / nb))
        if se == 0:
            pvalue, half = (0.0 if diff else 1.0), 0.0
        else:
            pvalue = float(2 * student.sf(abs(diff) / se, df))
            half = float(student.ppf(0.5 + _MAGNITUDE_CONFIDENCE / 2, df)) * se
    return Step(
        index=index,
        pvalue=pvalue,
        before=before,
        after=after,
        magnitude=math.expm1(diff),
        magnitude_bound=math.expm1(abs(diff) + half) if math.isfinite(half) else math.inf,
        runs_after=total - index,
        tentative=False,
    )


def _retest(values: np.ndarray, indices: Sequence[int]) -> list[Step]:
    """Each change point of ``indices`` (sorted) tested between its neighbours."""
    bounds = [0, *indices, len(values)]
    return [
        step_between(
            values[bounds[i] : bounds[i + 1]],
            values[bounds[i + 1] : bounds[i + 2]],
            bounds[i + 1],
            len(values),
        )
        for i in range(len(indices))
    ]


# --------------------------------------------------------------------------- split, merge


def _split_window(values: np.ndarray, start: int, end: int, max_pvalue: float) -> list[int]:
    """E-divisive inside ``values[start:end]``: keep splitting the segment with the best
    candidate while its t-test is below ``max_pvalue``; absolute indices."""
    found: list[int] = []
    at_end = end == len(values)
    while True:
        bounds = [start, *found, end]
        best: tuple[float, int] | None = None
        for lo, hi in pairwise(bounds):
            last = at_end and hi == end
            tau = energy_split(values[lo:hi], min_left=2, min_right=1 if last else 2)
            if tau is None:
                continue
            step = step_between(values[lo : lo + tau], values[lo + tau : hi], lo + tau, len(values))
            if best is None or step.pvalue < best[0]:
                best = (step.pvalue, lo + tau)
        if best is None or best[0] > max_pvalue:
            return sorted(found)
        found.append(best[1])
        found.sort()


def _keeps(step: Step, max_pvalue: float, min_magnitude: float) -> bool:
    return step.pvalue <= max_pvalue and step.magnitude_bound >= min_magnitude


def check_options(max_pvalue: float, min_magnitude: float, window: int, confirm_after: int) -> None:
    """Raise ``ValueError`` naming the first option :func:`change_points` cannot use."""
    if not 0 < max_pvalue < 1:
        raise ValueError(f"max_pvalue must be between 0 and 1, got {max_pvalue!r}; try 0.001")
    if not min_magnitude >= 0:
        raise ValueError(f"min_magnitude must be 0 or more, got {min_magnitude!r}; try 0.10")
    if window < 4:
        raise ValueError(f"window must be 4 points or more, got {window!r}; try 30")
    if confirm_after < 1:
        raise ValueError(f"confirm_after must be 1 or more, got {confirm_after!r}; try 5")


def change_points(
    values: Sequence[float],
    *,
    max_pvalue: float = DEFAULT_MAX_PVALUE,
    min_magnitude: float = DEFAULT_MIN_MAGNITUDE,
    window: int = DEFAULT_WINDOW,
    confirm_after: int = CONFIRM_AFTER,
) -> list[Step]:
    """The change points of ``values`` (logs of a positive quantity), oldest first.

    ``max_pvalue``: the largest p-value kept; ``min_magnitude``: the smallest relative step
    kept (0.10: 10%), judged on the upper end of its interval (module doc); ``window``:
    points per split window; ``confirm_after``: runs a change point needs after it (its
    first included) to stop being tentative. Raises ``ValueError`` for a bad option or a
    value that is not finite.
    """
    check_options(max_pvalue, min_magnitude, window, confirm_after)
    x = np.asarray(values, dtype=float)
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise ValueError(
            f"value {bad} of the series is {x[bad]}; pass the logs of positive numbers"
        )
    if len(x) < 3:
        return []
    weak = min(max_pvalue * 10, 0.5)
    found: set[int] = set()
    start, stride = 0, window // 2
    while True:
        end = min(start + window, len(x))
        found.update(_split_window(x, start, end, weak))
        if end == len(x):
            break
        start += stride
    kept = _merge(x, sorted(found), max_pvalue, min_magnitude)
    return [replace(step, tentative=step.runs_after < confirm_after) for step in kept]


def _merge(
    values: np.ndarray, indices: list[int], max_pvalue: float, min_magnitude: float
) -> list[Step]:
    """Otava's merge: drop the weakest change point and re-test its neighbours, until all
    that remain pass. Also drops a change point that leaves a middle segment of one point."""
    indices = _no_lone_points(indices, len(values))
    while indices:
        steps = _retest(values, indices)
        if all(_keeps(s, max_pvalue, min_magnitude) for s in steps):
            return steps
        weakest = max(steps, key=lambda s: s.pvalue)
        if weakest.pvalue <= max_pvalue:
            weakest = min(steps, key=lambda s: s.magnitude_bound)
        indices.remove(weakest.index)
    return []


def _no_lone_points(indices: list[int], n: int) -> list[int]:
    """Indices without the later of two change points one point apart (or one point from
    the start): a segment of one point is kept only at the end of the series."""
    kept: list[int] = []
    for index in sorted(set(indices)):
        previous = kept[-1] if kept else 0
        if index - previous >= 2 and index < n:
            kept.append(index)
    return kept
