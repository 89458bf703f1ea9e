"""Saved runs → series: one point per commit for each (hardware, profile, experiment, size,
device), in the repository's first-parent order.

Every run in the storage is read (:func:`~pytest_gpubench.storage.saved_runs`), with its
pytest-benchmark ``commit_info``. Runs are grouped by commit and the groups ordered by
``git rev-list --first-parent HEAD`` of the repository; runs of commits off that history (a
pull request's, another branch's) are left out with a note. Outside git, or when no run's
commit is on it, groups are ordered by commit time (the run's time without one).

Several runs of one commit pool their rounds before the speedup is estimated
(:func:`~pytest_gpubench.speedup.estimate_speedup`), so a commit measured twice weighs as
one point with a tighter interval, never as two points that look like a stable stretch.
Runs on different hardware never share a series: the key holds the fingerprint of the
baseline device's and the device's hardware.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_gpubench.report_json import device_descriptions, hardware_fingerprint
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.speedup import estimate_speedup
from pytest_gpubench.storage import load_run, saved_runs

from .git import first_parent_order

__all__ = [
    "Point",
    "Run",
    "Series",
    "SeriesKey",
    "build_series",
    "group_runs",
    "pooled",
    "read_runs",
]


@dataclass(frozen=True)
class Run:
    """One saved run: its file, commit (full sha, or None), time and measurements."""

    path: Path
    commit: str | None
    time: datetime
    dirty: bool
    results: RunResults


@dataclass(frozen=True)
class SeriesKey:
    """What a series is of: speedups of ``device`` over ``baseline`` at one size, on one
    hardware (``fingerprint`` of both devices' hardware facts) and one profile."""

    fingerprint: str
    profile: str
    experiment: str
    size: str
    device: str
    baseline: str

    @property
    def label(self) -> str:
        return f"{self.experiment} {self.size} {self.device} vs {self.baseline}"


@dataclass(frozen=True)
class Point:
    """One commit's speedup in a series, with its interval (None with too few rounds) and
    the baseline device's own median time per call, which tells the machine from the code."""

    commit: str | None
    time: datetime
    #: the runs pooled into this point (:func:`run_name`)
    runs: tuple[str, ...]
    speedup: float
    low: float | None
    high: float | None
    baseline_s: float
    device_s: float
    rounds: int


@dataclass
class Series:
    key: SeriesKey
    points: list[Point] = field(default_factory=list)
    #: the hardware each device ran on, for the page (``{"cupy": "Tesla T4, 15 GiB"}``)
    hardware: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def read_runs(storage: Path) -> tuple[list[Run], list[str]]:
    """Every saved run under ``storage`` that holds a gpubench section, and one note per file
    left out (no section, damaged, another schema), naming it and why."""
    runs, notes = [], []
    for path in saved_runs(storage):
        try:  # load_run's errors name the file and the field it refuses
            results = load_run(path)
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            notes.append(f"left out {path}: {exc}")
            continue
        info = document.get("commit_info") or {}
        info = info if isinstance(info, dict) else {}
        commit = info.get("id") if isinstance(info.get("id"), str) else None
        when = _when(info.get("time")) or _when(document.get("datetime"))
        runs.append(
            Run(
                path=path,
                commit=commit or None,
                time=when or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc),
                dirty=bool(info.get("dirty")),
                results=results,
            )
        )
    return runs, notes


def group_runs(
    runs: Sequence[Run], repo: Path | None, order: Sequence[str] | None = None
) -> tuple[list[list[Run]], list[str]]:
    """Runs grouped by commit, oldest group first: in ``repo``'s first-parent order (or
    ``order``, when already asked) when any run's commit is on it, else by time. Notes say
    what was left out and why."""
    notes: list[str] = []
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.commit or f"file:{run.path}", []).append(run)
    if order is None and repo is not None:
        order = first_parent_order(repo)
    if order and any(commit in groups for commit in order):
        position = {sha: i for i, sha in enumerate(order)}
        off = [c for c in groups if c not in position]
        if off:
            count = sum(len(groups[c]) for c in off)
            notes.append(
                f"left out {count} run(s) of {len(off)} commit(s) not on the first-parent "
                f"history of HEAD in {repo} (another branch, or a pull request)"
            )
        ordered = sorted((c for c in groups if c in position), key=position.__getitem__)
    else:
        if repo is not None and runs:
            where = "git found no history" if not order else "no run's commit is on HEAD's history"
            notes.append(f"ordered by commit time: {where} in {repo}")
        ordered = sorted(groups, key=lambda c: min(r.time for r in groups[c]))
    dirty = sum(r.dirty for c in ordered for r in groups[c])
    if dirty:
        notes.append(f"{dirty} run(s) were saved from a working tree with uncommitted changes")
    return [groups[c] for c in ordered], notes


# --------------------------------------------------------------------------- points


def run_name(run: Run) -> str:
    """A run's file as ``MACHINE-ID/NNNN_NAME.json``: unique within a storage."""
    return f"{run.path.parent.name}/{run.path.name}"


def pooled(measurements: Sequence[Measurement]) -> Measurement:
    """One measurement holding the rounds of all (paired only when every one was)."""
    if len(measurements) == 1:
        return measurements[0]
    paired = all(m.paired for m in measurements)
    ordered = paired and all(len(m.baseline_first) == len(m.rounds_s) for m in measurements)
    return replace(
        measurements[0],
        rounds_s=tuple(r for m in measurements for r in m.rounds_s),
        paired_baseline_s=tuple(r for m in measurements for r in m.paired_baseline_s)
        if paired
        else (),
        baseline_first=tuple(b for m in measurements for b in m.baseline_first) if ordered else (),
    )


def _fingerprint(descriptions: dict[str, dict[str, str]], devices: Sequence[str]) -> str:
    wanted = {name: descriptions.get(name, {}) for name in devices}
    return str(hardware_fingerprint(wanted)["fingerprint"])


def _hardware(info: dict[str, str]) -> str:
    return ", ".join(str(info[k]) for k in ("gpu", "processor", "memory") if info.get(k))


def build_series(groups: Sequence[Sequence[Run]]) -> list[Series]:
    """One :class:`Series` per key, one point per group (commit) that measured it."""
    series: dict[SeriesKey, Series] = {}
    for group in groups:
        found: dict[SeriesKey, tuple[list[Measurement], list[Measurement], list[str]]] = {}
        hardware: dict[SeriesKey, dict[str, str]] = {}
        for run in group:
            results = run.results
            baseline = str(results.extra.get("baseline_device") or "")
            if not baseline:
                continue
            descriptions = device_descriptions(results)
            by_key = {(m.experiment, m.size, m.device): m for m in results.measurements}
            for (experiment, size, device), m in by_key.items():
                base = by_key.get((experiment, size, baseline))
                usable = device != baseline and m.ran and m.versus_baseline
                if not usable or base is None or not base.ran:
                    continue
                key = SeriesKey(
                    _fingerprint(descriptions, (baseline, device)),
                    str(results.extra.get("profile") or ""),
                    experiment,
                    size,
                    device,
                    baseline,
                )
                bases, devices, names = found.setdefault(key, ([], [], []))
                bases.append(base)
                devices.append(m)
                names.append(run_name(run))
                hardware[key] = {
                    name: _hardware(descriptions.get(name, {})) for name in (baseline, device)
                }
        for key, (bases, devices, names) in found.items():
            point = _point(group, pooled(bases), pooled(devices), names)
            if point is None:
                continue
            entry = series.setdefault(key, Series(key))
            entry.points.append(point)
            entry.hardware.update(hardware[key])
    return sorted(
        series.values(),
        key=lambda s: (
            s.key.profile,
            s.key.experiment,
            s.key.size,
            s.key.device,
            s.key.fingerprint,
        ),
    )


def _point(
    group: Sequence[Run], base: Measurement, device: Measurement, names: list[str]
) -> Point | None:
    base_s, device_s = statistics.median(base.rounds_s), statistics.median(device.rounds_s)
    if base_s <= 0 or device_s <= 0:
        return None  # below the timer's resolution: no ratio to take
    estimate = estimate_speedup(base, device)
    if not (estimate.value > 0 and math.isfinite(estimate.value)):
        return None
    low, high = estimate.interval if estimate.interval else (None, None)
    return Point(
        commit=group[0].commit,
        time=min(run.time for run in group),
        runs=tuple(names),
        speedup=estimate.value,
        low=low,
        high=high,
        baseline_s=base_s,
        device_s=device_s,
        rounds=len(device.rounds_s),
    )
