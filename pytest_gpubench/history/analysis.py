"""A storage's history analysed: series, their change points, and the commits behind each.

:func:`analyse` reads every saved run (:mod:`.series`), finds the change points of each
series' log speedup (:mod:`.changepoints`) and names the commits between the last run before
a change and the first run after it (:mod:`.git`). The baseline device's own time is
analysed the same way: where it steps and the speedup stays flat, the machine changed (a
slower CPU, another BLAS, a thermal limit), not the code, and the change point says so
(``kind="machine"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .changepoints import (
    CONFIRM_AFTER,
    DEFAULT_MAX_PVALUE,
    DEFAULT_MIN_MAGNITUDE,
    DEFAULT_WINDOW,
    Step,
    change_points,
    check_options,
)
from .git import commit_url, first_parent_order, subjects
from .series import Point, Series, SeriesKey, build_series, group_runs, read_runs

__all__ = ["ChangePoint", "Estimate", "History", "HistoryOptions", "analyse", "find_changes"]


@dataclass(frozen=True)
class HistoryOptions:
    """The detection's knobs (see :func:`.changepoints.change_points`)."""

    max_pvalue: float = DEFAULT_MAX_PVALUE
    min_magnitude: float = DEFAULT_MIN_MAGNITUDE
    window: int = DEFAULT_WINDOW
    confirm_after: int = CONFIRM_AFTER

    def __post_init__(self) -> None:
        check_options(self.max_pvalue, self.min_magnitude, self.window, self.confirm_after)


@dataclass(frozen=True)
class Estimate:
    """A regime's speedup: the geometric mean of its points, with a 95% interval (over the
    points' log speedups; a single point's own bootstrap interval)."""

    speedup: float
    low: float | None
    high: float | None
    runs: int


@dataclass(frozen=True)
class ChangePoint:
    """One change point of one series (see ``docs/history.md`` for the JSON fields)."""

    key: SeriesKey
    index: int
    commit: str | None
    commits: tuple[tuple[str, str | None], ...]
    before: Estimate
    after: Estimate
    pvalue: float
    magnitude: float
    tentative: bool
    kind: str
    baseline_before_s: float
    baseline_after_s: float


@dataclass
class History:
    """Everything :func:`analyse` found, for the reports."""

    storage: Path
    repo: Path | None
    options: HistoryOptions
    series: list[Series] = field(default_factory=list)
    changes: list[ChangePoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: subject line of every commit a point or change names
    subjects: dict[str, str] = field(default_factory=dict)
    #: ``https://github.com/OWNER/NAME/commit/`` for links, where the remote is known
    commit_url: str | None = None
    runs: int = 0


def _regime(points: Sequence[Point]) -> Estimate:
    from scipy.stats import t as student

    logs = np.log([p.speedup for p in points])
    mean = float(logs.mean())
    if len(points) == 1:
        return Estimate(points[0].speedup, points[0].low, points[0].high, 1)
    half = float(student.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / math.sqrt(len(logs)))
    return Estimate(math.exp(mean), math.exp(mean - half), math.exp(mean + half), len(points))


def _near(index: int, steps: Sequence[Step]) -> bool:
    return any(abs(step.index - index) <= 1 for step in steps)


def find_changes(series: Series, options: HistoryOptions) -> list[ChangePoint]:
    """The change points of one series, code or machine, without their commit ranges."""
    points = series.points
    speedups = change_points(np.log([p.speedup for p in points]), **asdict(options))
    machine = change_points(np.log([p.baseline_s for p in points]), **asdict(options))
    found = [(step, "code") for step in speedups]
    found += [(step, "machine") for step in machine if not _near(step.index, speedups)]
    found.sort(key=lambda pair: pair[0].index)
    bounds = [0, *(step.index for step, _ in found), len(points)]
    changes = []
    for i, (step, kind) in enumerate(found):
        before, after = points[bounds[i] : step.index], points[step.index : bounds[i + 2]]
        changes.append(
            ChangePoint(
                key=series.key,
                index=step.index,
                commit=points[step.index].commit,
                commits=(),
                before=_regime(before),
                after=_regime(after),
                pvalue=step.pvalue,
                magnitude=_regime(after).speedup / _regime(before).speedup - 1,
                tentative=step.tentative,
                kind=kind,
                baseline_before_s=float(np.median([p.baseline_s for p in before])),
                baseline_after_s=float(np.median([p.baseline_s for p in after])),
            )
        )
    return changes


def _with_range(change: ChangePoint, series: Series, order: list[str] | None) -> ChangePoint:
    """``change`` with the commits after the last run before it up to its first run."""
    first = change.commit
    previous = series.points[change.index - 1].commit if change.index else None
    shas: list[str] = [first] if first else []
    if order and first in order:
        stop = order.index(first)
        start = order.index(previous) + 1 if previous in order else stop
        shas = order[start : stop + 1]
    return replace(change, commits=tuple((sha, None) for sha in shas))


def analyse(
    storage: Path, repo: Path | None = Path("."), options: HistoryOptions | None = None
) -> History:
    """Read ``storage``, order its runs by ``repo``'s first-parent history (None: by time),
    and find every series' change points; see the module doc."""
    options = options or HistoryOptions()
    storage, repo = Path(storage), (Path(repo) if repo is not None else None)
    runs, notes = read_runs(storage)
    order = first_parent_order(repo) if repo is not None else None
    groups, ordering = group_runs(runs, repo, order)
    history = History(storage, repo, options, notes=notes + ordering, runs=len(runs))
    history.series = build_series(groups)
    for series in history.series:
        for change in find_changes(series, options):
            history.changes.append(_with_range(change, series, order))
    if repo is not None:
        named = {p.commit for s in history.series for p in s.points if p.commit}
        named |= {sha for c in history.changes for sha, _ in c.commits}
        history.subjects = subjects(repo, sorted(named))
        history.commit_url = commit_url(repo)
    history.changes = [
        replace(c, commits=tuple((sha, history.subjects.get(sha)) for sha, _ in c.commits))
        for c in history.changes
    ]
    return history
