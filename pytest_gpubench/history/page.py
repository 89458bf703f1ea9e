"""The trend page: one self-contained HTML file, a chart per series, no network.

Each chart is inline SVG drawn here: a point per commit with its interval, the mean of
each regime between change points, and a marker at each change point (dashed while
tentative, another colour for the machine). Hovering a point or a marker shows its commit
and subject (SVG ``<title>``); each change point's commits are listed below its chart,
linked when the repository is on GitHub or GitLab. The history's JSON is inlined too
(``<script type="application/json" id="gpubench-history">``), so the page carries its data
and opens from ``file://``, in a mail attachment or from GitHub Pages alike: no CDN, no
script needed to draw it (asv's page loads jQuery and flot from CDNs and breaks offline).
"""

from __future__ import annotations

import json
import math
from html import escape
from itertools import pairwise

from .analysis import ChangePoint, History
from .report import format_speedup, history_json, series_id
from .series import Series

__all__ = ["page"]

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 34

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 800px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin: 1.6em 0 0.2em; }
.meta { color: #666; margin: 0 0 0.4em; }
svg { width: 100%; height: auto; background: #fbfbfb; border: 1px solid #ddd; }
.axis { stroke: #999; } .grid { stroke: #eee; } .tick { fill: #666; font-size: 11px; }
.interval { stroke: #7aa6d8; stroke-width: 1.5; } .point { fill: #1f5fa8; }
.regime { stroke: #e08a1e; stroke-width: 2; }
.change { stroke: #c62828; stroke-width: 2; } .change.machine { stroke: #6a1b9a; }
.change.tentative { stroke-dasharray: 5 4; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 2px 8px; text-align: left; }
th { border-bottom: 1px solid #ccc; } code { font-size: 0.95em; }
"""


def _scale(series: Series) -> tuple[float, float]:
    values = [v for p in series.points for v in (p.speedup, p.low, p.high) if v is not None]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or hi * 0.05 or 1.0
    return max(lo - pad, 0.0), hi + pad


def _ticks(lo: float, hi: float) -> list[float]:
    raw = (hi - lo) / 5
    step = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _commit(history: History, sha: str | None) -> str:
    if not sha:
        return "(no commit)"
    subject = history.subjects.get(sha)
    return f"{sha[:10]} {subject}" if subject else sha[:10]


def _link(history: History, sha: str, subject: str | None) -> str:
    label = f"<code>{escape(sha[:10])}</code>"
    if history.commit_url:
        label = f'<a href="{escape(history.commit_url + sha)}">{label}</a>'
    return f"{label} {escape(subject or '')}".strip()


def _chart(history: History, series: Series, changes: list[ChangePoint]) -> str:
    points = series.points
    lo, hi = _scale(series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: float) -> float:
        return LEFT + (plot_w * (i + 0.5) / len(points))

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(series.key.label)} speedup per commit">'
    ]
    for tick in _ticks(lo, hi):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick:g}×</text>'
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
        f'y2="{HEIGHT - BOTTOM}"/>'
    )
    bounds = [0, *(c.index for c in changes), len(points)]
    for start, end in pairwise(bounds):
        if end <= start:
            continue
        mean = math.exp(sum(math.log(p.speedup) for p in points[start:end]) / (end - start))
        parts.append(
            f'<line class="regime" x1="{x(start - 0.4):.1f}" x2="{x(end - 0.6):.1f}" '
            f'y1="{y(mean):.1f}" y2="{y(mean):.1f}"><title>{mean:.3g}× over '
            f"{end - start} commit(s)</title></line>"
        )
    for i, p in enumerate(points):
        if p.low is not None and p.high is not None:
            parts.append(
                f'<line class="interval" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(p.low):.1f}" '
                f'y2="{y(p.high):.1f}"/>'
            )
        interval = (
            f" [{p.low:.3g}–{p.high:.3g}]" if p.low is not None and p.high is not None else ""
        )
        tip = f"{_commit(history, p.commit)}\n{p.speedup:.3g}×{interval}, {p.rounds} rounds"
        parts.append(
            f'<circle class="point" data-index="{i}" data-commit="{escape(p.commit or "")}" '
            f'data-speedup="{p.speedup:.6g}" cx="{x(i):.1f}" cy="{y(p.speedup):.1f}" r="3.5">'
            f"<title>{escape(tip)}</title></circle>"
        )
    for c in changes:
        classes = " ".join(["change", c.kind, *(["tentative"] if c.tentative else [])])
        tip = (
            f"{c.kind} change {c.magnitude:+.1%} at {_commit(history, c.commit)}"
            f"{' (tentative)' if c.tentative else ''}"
        )
        at = x(c.index - 0.5)
        parts.append(
            f'<line class="{classes}" data-index="{c.index}" data-commit="{escape(c.commit or "")}"'
            f' data-kind="{c.kind}" data-tentative="{str(c.tentative).lower()}" '
            f'x1="{at:.1f}" x2="{at:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}">'
            f"<title>{escape(tip)}</title></line>"
        )
    labelled = sorted({0, len(points) - 1, *(c.index for c in changes)})
    for i in labelled:
        parts.append(
            f'<text class="tick" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{escape((points[i].commit or '')[:7])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _changes_table(history: History, changes: list[ChangePoint]) -> str:
    if not changes:
        return '<p class="meta">No change points.</p>'
    rows = []
    for c in changes:
        commits = "<br>".join(_link(history, sha, subject) for sha, subject in c.commits)
        state = f"{c.kind}{' (tentative)' if c.tentative else ''}"
        rows.append(
            f"<tr><td>{escape(format_speedup(c.before))}</td><td>{escape(format_speedup(c.after))}</td>"
            f"<td>{c.magnitude:+.1%}</td><td>{state}</td><td>{c.pvalue:.2g}</td>"
            f"<td>{commits}</td></tr>"
        )
    head = "<tr><th>before</th><th>after</th><th>change</th><th>kind</th><th>p</th>"
    return f"<table>{head}<th>commits</th></tr>{''.join(rows)}</table>"


def page(history: History) -> str:
    """The whole HTML page (see the module doc)."""
    # "<" escaped as JSON's \u003c: no "</script>" or "<!--" can end the data block early
    data = json.dumps(history_json(history), separators=(",", ":")).replace("<", "\\u003c")
    sections = []
    for series in history.series:
        changes = [c for c in history.changes if c.key == series.key]
        hardware = "; ".join(f"{name}: {what}" for name, what in series.hardware.items() if what)
        meta = f"profile {series.key.profile or '?'}, {len(series.points)} commits"
        meta += f"; {hardware}" if hardware else ""
        sections.append(
            f'<section class="series" id="{series_id(history, series)}">'
            f'<h2>{escape(series.key.label)}</h2><p class="meta">{escape(meta)}</p>'
            f"{_chart(history, series, changes)}{_changes_table(history, changes)}</section>"
        )
    notes = "".join(f"<li>{escape(note)}</li>" for note in history.notes)
    empty = "" if sections else "<p>No saved runs with speedups were found.</p>"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Speedup history</title>"
        f"<style>{_STYLE}</style></head><body><h1>Speedup history</h1>"
        f'<p class="meta">{history.runs} saved runs in {escape(str(history.storage))}; '
        f"{len(history.changes)} change point(s). Points: one commit each (runs of a commit "
        "pooled), with the 95% interval; orange: the mean of each stretch; red: a change "
        "in the code, purple: in the machine, dashed: tentative.</p>"
        f"{empty}{''.join(sections)}{f'<ul>{notes}</ul>' if notes else ''}"
        f'<script type="application/json" id="gpubench-history">{data}</script>'
        "</body></html>\n"
    )
