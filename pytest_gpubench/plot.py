"""Speedup vs size as a PNG: one panel per experiment, one line per non-baseline device.

matplotlib is an optional dependency (``pip install 'pytest-gpubench[plot]'``). The figure
is drawn on a bare :class:`~matplotlib.figure.Figure` (Agg canvas), never through pyplot,
so it works on headless CI, opens no window and leaves the user's back end alone.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .speedup import CONFIDENCE, SpeedupRow, by_experiment, crossover, hardware_summary, raced

__all__ = ["PLOT_FORMATS", "plot_format", "plot_speedups"]


def _title(
    rows: Sequence[SpeedupRow], baseline: str, devices: Mapping[str, Mapping[str, str]] | None
) -> str:
    """The hardware of the baseline and of each device that ran (the others did not run
    here: their n/a notes say why, in their panels)."""
    ran = [d for row in rows for d, cell in row.cells.items() if cell.ran]
    names = list(dict.fromkeys([baseline, *ran]))
    lines = []
    for name in names:
        hardware = hardware_summary(devices.get(name, {})) if devices else ""
        if not hardware:
            recorded = (r.cells[name].hardware for r in rows if name in r.cells)
            hardware = next((h for h in recorded if h), "")
        role = "baseline " if name == baseline else ""
        lines.append(f"{role}{name}: {hardware or 'hardware not recorded'}")
    return "Speedup vs size\n" + "\n".join(lines)


def _mark_missing(
    axes: Any,
    group: Sequence[SpeedupRow],
    device: str,
    color: str,
    slot: int,
    x: Mapping[str, float],
) -> None:
    """Write ``n/a`` at the foot of the sizes where ``device`` has no speedup."""
    for row in group:
        if row.cells[device].speedup is None:
            axes.annotate(
                f"{device} n/a",
                xy=(x[row.size], 0.02 + 0.05 * slot),
                xycoords=("data", "axes fraction"),
                ha="center",
                fontsize=7,
                color=color,
            )


#: Characters per line of an n/a note under a panel (fontsize 7 on an 8-inch figure).
NOTE_WIDTH = 110


def _notes(group: Sequence[SpeedupRow], devices: Sequence[str]) -> str:
    """One wrapped line per device that has no speedup at any size, saying why; words are
    never cut (a long path or URL stays whole on its own line)."""
    lines = []
    for device in devices:
        if any(r.cells[device].speedup is not None for r in group):
            continue
        why = next((r.cells[device].reason for r in group if r.cells[device].reason), "")
        lines += textwrap.wrap(
            f"{device}: n/a ({why or 'no speedup'})",
            NOTE_WIDTH,
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


#: The smallest ratio of the largest to the smallest speedup drawn on a log axis; a
#: narrower range gets a linear axis, whose ticks are labelled at any range.
LOG_RANGE = 5.0


def _set_y_scale(axes: Any, values: Sequence[float], ticker: Any) -> None:
    """A log axis labelled 1, 2, 5, 10... for speedups spanning :data:`LOG_RANGE` or more;
    otherwise linear, with several labelled ticks however narrow the range."""
    positive = [v for v in values if v > 0]
    if len(positive) < len(values) or not positive or max(positive) / min(positive) < LOG_RANGE:
        axes.yaxis.set_major_locator(ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        return
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axes.yaxis.set_minor_formatter(ticker.NullFormatter())


def _x_positions(group: Sequence[SpeedupRow]) -> tuple[dict[str, float], bool]:
    """Each size's x and whether the axis is logarithmic: ``size_value`` on a log axis,
    or 1, 2, 3... in size order when the values can't place every size apart (a value of 0
    or below, or two sizes with the same value)."""
    values = [r.size_value for r in group]
    if all(v > 0 for v in values) and len(set(values)) == len(values):
        return {r.size: r.size_value for r in group}, True
    return {r.size: float(i) for i, r in enumerate(group, start=1)}, False


def _set_x_range(axes: Any, values: Sequence[float], log: bool) -> None:
    """Every size in view, with room at both ends, whether or not anything was plotted
    there (margins would only see the plotted points, leaving n/a sizes outside)."""
    low, high = min(values, default=1.0), max(values, default=1.0)
    if log:
        axes.set_xlim(low / 1.5, high * 1.5)
    else:
        pad = max((high - low) * 0.1, 0.5)
        axes.set_xlim(low - pad, high + pad)


def plot_speedups(
    rows: Sequence[SpeedupRow],
    path: str | Path,
    baseline: str,
    devices: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Write speedup vs size to ``path`` (PNG, or SVG/PDF by its suffix); return the path.

    x is ``size_value`` on a log scale, ticked with the size labels; error bars span the
    bootstrap interval; a dashed line marks speedup 1 and a dotted one each crossover.
    ``devices`` (name → description) names the hardware in the title; without it the
    hardware recorded in the rows is used. Cost-only experiments (no speedups) are left out.
    """
    try:
        import matplotlib.ticker
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'pytest-gpubench[plot]'") from exc

    path = Path(path)
    groups = {name: group for name, group in by_experiment(rows).items() if raced(group)}
    figure = Figure(figsize=(8, 1.0 + 3.6 * max(1, len(groups))), layout="constrained")
    axes_list = figure.subplots(max(1, len(groups)), 1, squeeze=False)[:, 0]
    figure.suptitle(_title(rows, baseline, devices), fontsize=9)
    if not groups:
        axes_list[0].text(0.5, 0.5, "no measurements", ha="center", va="center")
    for axes, (experiment, group) in zip(axes_list, groups.items(), strict=False):
        x_of, log = _x_positions(group)
        axes.set_xscale("log" if log else "linear")
        axes.axhline(1.0, color="grey", linestyle="--", linewidth=1, label=f"= {baseline}")
        plotted, drawn = False, [1.0]
        others = [d for d in dict.fromkeys(d for r in group for d in r.cells) if d != baseline]
        for slot, device in enumerate(others):
            points = [r for r in group if r.cells[device].speedup is not None]
            if not points:  # said under the panel (_notes), not with an empty line
                continue
            x = [x_of[r.size] for r in points]
            y = [r.cells[device].speedup for r in points]
            low = [r.cells[device].speedup_low for r in points]
            high = [r.cells[device].speedup_high for r in points]
            err = [
                [s - lo if lo is not None else 0.0 for s, lo in zip(y, low, strict=True)],
                [hi - s if hi is not None else 0.0 for s, hi in zip(y, high, strict=True)],
            ]
            start = crossover(group, device)
            label = f"{device} (faster from {start})" if start else f"{device} (no crossover)"
            line = axes.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
            plotted = True
            drawn += [v for v in (*y, *low, *high) if v is not None]
            if start is not None:
                axes.axvline(x_of[start], color=line[0].get_color(), linestyle=":", linewidth=1)
            _mark_missing(axes, group, device, line[0].get_color(), slot, x_of)
        axes.set_xticks([x_of[r.size] for r in group], [r.size for r in group])
        axes.minorticks_off()
        _set_x_range(axes, list(x_of.values()), log)
        axes.set_title(experiment, fontsize=10)
        axes.set_xlabel("size")
        notes = _notes(group, others)
        if notes:  # under the axis label; the constrained layout makes room for it
            axes.annotate(
                notes,
                xy=(0.0, 0.0),
                xycoords="axes fraction",
                xytext=(0, -34),
                textcoords="offset points",
                va="top",
                fontsize=7,
            )
        axes.set_ylabel(f"speedup vs {baseline} (×)")
        if plotted:
            _set_y_scale(axes, drawn, matplotlib.ticker)
        axes.legend(fontsize=8, title=f"error bars: {CONFIDENCE:.0%} interval", title_fontsize=8)
        axes.grid(True, which="major", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # layout advice must not fail a -W error session
        warnings.simplefilter("ignore", UserWarning)
        figure.savefig(path, format=plot_format(path), dpi=110)
    return path


#: What ``--gpubench-plot`` may write, by file suffix (no suffix: PNG).
PLOT_FORMATS = ("png", "svg", "pdf")


def plot_format(path: str | Path) -> str:
    """The image format that ``path``'s suffix names; ``ValueError`` for another one."""
    suffix = Path(path).suffix.lower().lstrip(".") or "png"
    if suffix not in PLOT_FORMATS:
        raise ValueError(
            f"--gpubench-plot {str(path)!r}: the plot is written as "
            f"{', '.join(PLOT_FORMATS)}; name the file with one of those suffixes"
        )
    return suffix
