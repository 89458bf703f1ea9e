"""The history as a PNG (``pytest-gpubench history --plot FILE``): a panel per series.

The same picture as the page (:mod:`.page`): a point per commit with its interval, the
mean of each stretch between change points, and a vertical line at each change point
(dashed while tentative, purple for the machine). matplotlib is optional (``pip install
'pytest-gpubench[plot]'``) and used through a bare Agg ``Figure``, as :mod:`..plot` does.
"""

from __future__ import annotations

import math
import warnings
from itertools import pairwise
from pathlib import Path

from .analysis import History

__all__ = ["plot_history"]


def plot_history(history: History, path: str | Path) -> Path:
    """Draw every series of ``history`` into ``path`` (PNG, SVG or PDF by suffix)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError(
            "--plot needs matplotlib: pip install 'pytest-gpubench[plot]' (or write the "
            "page with --html, which needs nothing)"
        ) from None
    from pytest_gpubench.outputs import write_whole
    from pytest_gpubench.plot import PLOT_FORMATS

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in PLOT_FORMATS:
        raise ValueError(
            f"--plot {str(path)!r}: the figure is written as {', '.join(PLOT_FORMATS)}; name "
            "the file with one of those suffixes"
        )
    panels = max(len(history.series), 1)
    figure = Figure(figsize=(8, 2.6 * panels), layout="constrained")
    axes_list = figure.subplots(panels, 1, squeeze=False)[:, 0]
    if not history.series:
        axes_list[0].text(0.5, 0.5, "no saved runs with speedups", ha="center", va="center")
    for axes, series in zip(axes_list, history.series, strict=False):
        points = series.points
        xs = range(len(points))
        ys = [p.speedup for p in points]
        lows = [p.speedup - (p.low if p.low is not None else p.speedup) for p in points]
        highs = [(p.high if p.high is not None else p.speedup) - p.speedup for p in points]
        axes.errorbar(xs, ys, yerr=[lows, highs], fmt="o", markersize=3, color="#1f5fa8")
        changes = [c for c in history.changes if c.key == series.key]
        bounds = [0, *(c.index for c in changes), len(points)]
        for start, end in pairwise(bounds):
            if end > start:
                mean = math.exp(sum(math.log(v) for v in ys[start:end]) / (end - start))
                axes.hlines(mean, start - 0.4, end - 0.6, color="#e08a1e", linewidth=2)
        for c in changes:
            axes.axvline(
                c.index - 0.5,
                color="#6a1b9a" if c.kind == "machine" else "#c62828",
                linestyle="--" if c.tentative else "-",
            )
            subject = history.subjects.get(c.commit or "", "")
            axes.annotate(
                f"{(c.commit or '')[:7]} {subject}"[:48],
                xy=(c.index - 0.4, 0.97),
                xycoords=("data", "axes fraction"),
                va="top",
                fontsize=7,
            )
        labelled = sorted({0, len(points) - 1, *(c.index for c in changes)})
        axes.set_xticks(labelled, [(points[i].commit or "")[:7] for i in labelled], fontsize=7)
        axes.set_title(series.key.label, fontsize=10)
        axes.set_ylabel("speedup (×)")
        axes.grid(True, alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # layout advice must not fail a -W error session
        warnings.simplefilter("ignore", UserWarning)
        write_whole(path, lambda target: figure.savefig(target, format=fmt, dpi=110))
    return path
