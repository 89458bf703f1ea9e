"""The history as JSON, Markdown and a short summary (the page is :mod:`.page`).

JSON (``pytest-gpubench history --json FILE``, fields documented in ``docs/history.md``)::

    {"schema": "gpubench-history/1", "storage": ..., "runs": 30, "options": {...},
     "notes": [...],
     "series": [{"id": "s0", "experiment", "size", "device", "baseline", "profile",
                 "fingerprint", "hardware", "points": [{"commit", "subject", "time", "runs",
                 "speedup", "low", "high", "baseline_s", "device_s", "rounds"}]}],
     "change_points": [{"series", "experiment", "size", "device", "baseline", "profile",
                        "fingerprint", "index", "commit", "commits": [{"sha", "subject"}],
                        "before": {"speedup", "low", "high", "runs"}, "after": {...},
                        "magnitude", "pvalue", "tentative", "kind",
                        "baseline_before_s", "baseline_after_s"}]}
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pytest_gpubench.report_json import _jsonable

from .analysis import ChangePoint, Estimate, History
from .series import Point, Series

__all__ = [
    "SCHEMA",
    "format_speedup",
    "history_json",
    "json_text",
    "markdown",
    "series_id",
    "summary",
    "write_text",
]

#: The name and version of the JSON layout.
SCHEMA = "gpubench-history/1"


def series_id(history: History, series: Series) -> str:
    """A stable id for a series within one report (``s0``, ``s1``...)."""
    return f"s{history.series.index(series)}"


def _estimate(estimate: Estimate) -> dict[str, Any]:
    return {
        "speedup": estimate.speedup,
        "low": estimate.low,
        "high": estimate.high,
        "runs": estimate.runs,
    }


def _point(point: Point, subjects: dict[str, str]) -> dict[str, Any]:
    return {
        "commit": point.commit,
        "subject": subjects.get(point.commit or ""),
        "time": point.time.isoformat(),
        "runs": list(point.runs),
        "speedup": point.speedup,
        "low": point.low,
        "high": point.high,
        "baseline_s": point.baseline_s,
        "device_s": point.device_s,
        "rounds": point.rounds,
    }


def _key(series: Series) -> dict[str, Any]:
    key = series.key
    return {
        "experiment": key.experiment,
        "size": key.size,
        "device": key.device,
        "baseline": key.baseline,
        "profile": key.profile,
        "fingerprint": key.fingerprint,
    }


def _series_of(history: History, change: ChangePoint) -> Series:
    return next(s for s in history.series if s.key == change.key)


def _change(history: History, change: ChangePoint) -> dict[str, Any]:
    series = _series_of(history, change)
    return {
        "series": series_id(history, series),
        **_key(series),
        "index": change.index,
        "commit": change.commit,
        "commits": [{"sha": sha, "subject": subject} for sha, subject in change.commits],
        "before": _estimate(change.before),
        "after": _estimate(change.after),
        "magnitude": change.magnitude,
        "pvalue": change.pvalue,
        "tentative": change.tentative,
        "kind": change.kind,
        "baseline_before_s": change.baseline_before_s,
        "baseline_after_s": change.baseline_after_s,
    }


def history_json(history: History) -> dict[str, Any]:
    """The whole history as plain JSON types (NaN and infinities as null)."""
    return _jsonable(
        {
            "schema": SCHEMA,
            "storage": str(history.storage),
            "repo": str(history.repo) if history.repo is not None else None,
            "runs": history.runs,
            "options": asdict(history.options),
            "commit_url": history.commit_url,
            "notes": list(history.notes),
            "series": [
                {
                    "id": series_id(history, series),
                    **_key(series),
                    "hardware": dict(series.hardware),
                    "points": [_point(p, history.subjects) for p in series.points],
                }
                for series in history.series
            ],
            "change_points": [_change(history, c) for c in history.changes],
        }
    )


# --------------------------------------------------------------------------- text


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "(no commit)"


def _range(change: ChangePoint) -> str:
    if len(change.commits) <= 1:
        sha, subject = change.commits[0] if change.commits else (change.commit, None)
        return f"{_short(sha)}" + (f" {subject}" if subject else "")
    oldest, newest = change.commits[0][0], change.commits[-1][0]
    return f"{len(change.commits)} commits {_short(oldest)}..{_short(newest)}"


def format_speedup(estimate: Estimate) -> str:
    interval = (
        f" [{estimate.low:.3g}–{estimate.high:.3g}]"
        if estimate.low is not None and estimate.high is not None
        else ""
    )
    return f"{estimate.speedup:.3g}×{interval}"


def _describe(change: ChangePoint) -> str:
    key = change.key
    what = "machine" if change.kind == "machine" else f"{change.magnitude:+.1%}"
    note = " (tentative)" if change.tentative else ""
    if change.kind == "machine":
        note += (
            f": {key.baseline} {change.baseline_before_s:.3g} s → "
            f"{change.baseline_after_s:.3g} s, speedup flat"
        )
    return (
        f"{key.experiment} {key.size} {key.device}: {format_speedup(change.before)} → "
        f"{format_speedup(change.after)} ({what}, p={change.pvalue:.2g}) at {_range(change)}{note}"
    )


def summary(history: History) -> str:
    """A few lines for the terminal: what was read, and each change point."""
    points = sum(len(s.points) for s in history.series)
    code = [c for c in history.changes if c.kind == "code"]
    machine = [c for c in history.changes if c.kind == "machine"]
    lines = [
        f"gpubench history of {history.storage}: {history.runs} runs, {len(history.series)} "
        f"series, {points} points; {len(code)} change point(s) in the code, {len(machine)} "
        "in the machine"
    ]
    lines += [f"  {_describe(c)}" for c in history.changes]
    lines += [f"  note: {note}" for note in history.notes]
    if not history.series:
        lines.append(
            f"No series: save runs with `pytest --gpubench --gpubench-autosave` (one per "
            f"commit) into {history.storage}, or point --storage at them."
        )
    return "\n".join(lines) + "\n"


def markdown(history: History) -> str:
    """A Markdown report for a pull request comment or a job summary."""
    lines = ["## Speedup history", ""]
    lines.append(
        f"{history.runs} saved runs, {len(history.series)} series, change points at p ≤ "
        f"{history.options.max_pvalue:g} and ≥ {history.options.min_magnitude:.0%}; tentative "
        f"until {history.options.confirm_after} runs follow."
    )
    lines.append("")
    if history.changes:
        lines += [
            "| series | before | after | change | kind | commits | p |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in history.changes:
            key = c.key
            commits = "<br>".join(
                f"{_sha(history, sha)} {_escape(subject or '')}".strip()
                for sha, subject in c.commits
            )
            state = f"{c.kind}{' (tentative)' if c.tentative else ''}"
            lines.append(
                f"| {key.experiment} {key.size} {key.device} vs {key.baseline} | "
                f"{format_speedup(c.before)} | {format_speedup(c.after)} | "
                f"{c.magnitude:+.1%} | {state} | {commits} | {c.pvalue:.2g} |"
            )
    else:
        lines.append("No change points.")
    lines.append("")
    lines += ["| series | runs | latest speedup |", "|---|---|---|"]
    for series in history.series:
        latest = series.points[-1]
        key = series.key
        lines.append(
            f"| {key.experiment} {key.size} {key.device} vs {key.baseline} | "
            f"{len(series.points)} | {latest.speedup:.3g}× at `{_short(latest.commit)}` |"
        )
    if history.notes:
        lines.append("")
        lines += [f"- {_escape(note)}" for note in history.notes]
    return "\n".join(lines) + "\n"


def _sha(history: History, sha: str) -> str:
    """A short sha in code, linked to the commit when the remote is known."""
    short = f"`{_short(sha)}`"
    return f"[{short}]({history.commit_url}{sha})" if history.commit_url else short


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all (parents created)."""
    from pytest_gpubench.outputs import write_whole

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, lambda file: file.write_text(text, encoding="utf-8"))
    return path


def json_text(history: History) -> str:
    return json.dumps(history_json(history), indent=2) + "\n"
