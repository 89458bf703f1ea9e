"""Rows → what people read: a terminal table, Markdown for CI, JSON, a plot.

Per experiment: one row per size; per device the median time ± half the interquartile
range, the throughput and the speedup vs the baseline with its bootstrap interval; then a
crossover line per non-baseline device. A device that ran at no size of an experiment gets
one ``n/a (reason)`` line under its table instead of columns of repeated reasons. A header
names the hardware behind each device and, for a remote run, where it ran and what it cost.
JSON lives in :mod:`.report_json`, the plot in :mod:`.plot` (matplotlib is optional); both
are re-exported here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from pytest_benchmark.utils import time_unit

from .plot import plot_speedups
from .remote.summary import cloud_record, format_summary
from .report_json import (
    SCHEMA_VERSION,
    benchmark_document,
    device_descriptions,
    github_action_benchmark,
    gpubench_section,
    hardware_fingerprint,
    load_results,
    write_json,
)
from .results import RunResults
from .speedup import (
    CONFIDENCE,
    NOT_MEASURED,
    Cell,
    SpeedupRow,
    by_experiment,
    crossover,
    raced,
)

__all__ = [
    "SCHEMA_VERSION",
    "benchmark_document",
    "crossover_line",
    "describe_device",
    "format_seconds",
    "format_speedup",
    "format_throughput",
    "format_time",
    "github_action_benchmark",
    "gpubench_section",
    "hardware_fingerprint",
    "load_results",
    "plot_speedups",
    "render_markdown",
    "render_terminal",
    "write_json",
]


# --------------------------------------------------------------------------- formatting


def _decimals(value: float) -> int:
    """Decimals that show three significant digits of ``value`` (at least none)."""
    magnitude = abs(value)
    if magnitude >= 100 or magnitude == 0:
        return 0
    if magnitude >= 10:
        return 1
    if magnitude >= 1:
        return 2
    return 3 if magnitude >= 0.1 else 4


def _num(value: float, decimals: int | None = None) -> str:
    return f"{value:.{_decimals(value) if decimals is None else decimals}f}"


def format_seconds(value: float | None) -> str:
    """``0.00123`` → ``1.23 ms`` (pytest-benchmark's unit steps)."""
    if value is None:
        return "n/a"
    prefix, factor = time_unit(value)
    return f"{_num(value * factor)} {prefix.replace('u', 'µ')}s"


def format_throughput(value: float | None, units: str) -> str:
    """``12345.0, "samples"`` → ``12.3 k samples/s``."""
    if value is None:
        return ""
    return f"{_si(value)} {units or 'units'}/s"


def _si(value: float) -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{_num(value / factor)} {prefix}"
    return _num(value)


def format_time(cell: Cell) -> str:
    """Median ± half the IQR, or ``n/a (reason)``."""
    if not cell.ran:
        return f"n/a ({cell.reason})"
    median = cell.median_s or 0.0
    half_iqr = (cell.iqr_s or 0.0) / 2
    prefix, factor = time_unit(median)
    places = _decimals(median * factor)
    unit = f"{prefix.replace('u', 'µ')}s"
    return f"{_num(median * factor, places)} ± {_num(half_iqr * factor, places)} {unit}"


def format_speedup(cell: Cell) -> str:
    """``12.3× [10.1–14.2]``; ``n/a (reason)`` when there is no speedup."""
    if not cell.ran:
        return "n/a"
    if cell.speedup is None:
        return f"n/a ({cell.speedup_reason})"
    text = f"{_num(cell.speedup)}×"
    if cell.speedup_low is not None and cell.speedup_high is not None:
        text += f" [{_num(cell.speedup_low)}–{_num(cell.speedup_high)}]"
    return text


_DESCRIBE_ORDER = (
    ("gpu", "{}"),
    ("processor", "{}"),
    ("memory", "{}"),
    ("cores", "{} cores"),
    ("blas", "BLAS {}"),
    ("threads", "{} threads"),
    ("driver", "driver {}"),
    ("cuda", "CUDA {}"),
    ("capability", "compute {}"),
    ("library", "{}"),
)


def describe_device(info: Mapping[str, str]) -> str:
    """One line of hardware and library facts, in a fixed order, unknown keys last."""
    if "status" in info and len(info) <= 2:
        return str(info["status"])
    known = {key for key, _ in _DESCRIBE_ORDER} | {"device"}
    parts = [fmt.format(info[key]) for key, fmt in _DESCRIBE_ORDER if info.get(key)]
    parts += [f"{key} {value}" for key, value in info.items() if key not in known and value]
    return ", ".join(parts)


def crossover_line(rows: Sequence[SpeedupRow], device: str, baseline: str) -> str:
    """Says from which size ``device`` beats ``baseline``, or that it never does here."""
    known = [r for r in rows if device in r.cells and r.cells[device].speedup is not None]
    if not known:
        reasons = {
            r.cells[device].reason or r.cells[device].speedup_reason
            for r in rows
            if device in r.cells
        }
        why = "; ".join(sorted(str(x) for x in reasons if x)) or "not measured"
        return f"{device}: no speedup at any size ({why})"
    start = crossover(rows, device)
    if start is None:
        return f"{device}: not faster than {baseline} at the largest size measured"
    if start == known[0].size:
        line = f"{device}: faster than {baseline} at every size measured (from {start})"
    else:
        line = f"{device}: faster than {baseline} from size {start} on"
    sure = crossover(rows, device, confident=True)
    if sure is None:
        if all(r.cells[device].speedup_low is None for r in known):
            return f"{line}, with too few rounds for a 95% interval (at least 3 each)"
        return f"{line}, but not significantly (the 95% interval reaches 1)"
    if sure != start:
        return f"{line}; with the 95% interval above 1 from {sure} on"
    return line


# --------------------------------------------------------------------------- tables


def _ran_devices(rows: Sequence[SpeedupRow]) -> list[str]:
    """Devices with rounds at some size: they get columns; the others one line each."""
    devices = dict.fromkeys(d for row in rows for d in row.cells)
    return [d for d in devices if any(d in r.cells and r.cells[d].ran for r in rows)]


def _absent_lines(
    rows: Sequence[SpeedupRow], described: Mapping[str, Mapping[str, str]] | None = None
) -> list[str]:
    """``device: n/a (reason)`` for each device that ran at no size of these rows; a reason
    the Hardware lines already give (``described``) is not repeated."""
    ran = set(_ran_devices(rows))
    lines = []
    for device in dict.fromkeys(d for row in rows for d in row.cells):
        if device in ran:
            continue
        reasons = [r.cells[device].reason for r in rows if device in r.cells]
        known = [x for x in dict.fromkeys(reasons) if x and x != NOT_MEASURED]
        why = "; ".join(known) or "not measured"
        if (described or {}).get(device, {}).get("status") == f"n/a ({why})":
            why = "see Hardware"
        lines.append(f"{device}: n/a ({why})")
    return lines


def _columns(rows: Sequence[SpeedupRow], baseline: str) -> list[tuple[str, str, str]]:
    """(header, device, what) for one experiment's table."""
    devices = _ran_devices(rows)
    with_speedups = raced(rows)
    columns = []
    for device in devices:
        columns.append((f"{device} time", device, "time"))
        units = next((row.cells[device].units for row in rows if device in row.cells), "")
        has_rate = any(device in r.cells and r.cells[device].throughput for r in rows)
        if has_rate:
            columns.append((f"{device} {units or 'units'}/s", device, "throughput"))
        if device != baseline and with_speedups:
            columns.append((f"{device} speedup", device, "speedup"))
        if any(device in r.cells and r.cells[device].transfer_s for r in rows):
            columns.append((f"{device} copy", device, "copy"))
        names = dict.fromkeys(m for r in rows if device in r.cells for m in r.cells[device].metrics)
        columns.extend((f"{device} {name}", device, f"metric:{name}") for name in names)
        if any(device in r.cells and r.cells[device].cold_differs for r in rows):
            columns.append((f"{device} cold", device, "cold"))
        columns.append((f"{device} rounds", device, "rounds"))
    return columns


def _cell_text(row: SpeedupRow, device: str, what: str) -> str:
    cell = row.cells.get(device)
    if cell is None:
        return "n/a (not measured)"
    if what == "time":
        return format_time(cell)
    if what == "throughput":
        return _si(cell.throughput) if cell.throughput is not None else ""
    if what == "copy":
        return format_seconds(cell.transfer_s) if cell.transfer_s else ""
    if what.startswith("metric:"):
        value = cell.metrics.get(what.removeprefix("metric:"))
        return "" if value is None else f"{value:.4g}"
    if what == "rounds":
        return format_rounds(cell) if cell.ran else ""
    if what == "cold":
        return format_cold(cell)
    return format_speedup(cell)


def _slots(rows: Sequence[SpeedupRow], devices: Sequence[str], baseline: str) -> list[str]:
    """The lines every cell of one experiment's table has, in order, so that a line means
    the same thing across columns: time, rate, speedup, copy, each metric, rounds."""
    cells = [r.cells[d] for r in rows for d in devices if d in r.cells and r.cells[d].ran]
    slots = ["time"]
    if any(c.throughput is not None for c in cells):
        slots.append("rate")
    if raced(rows) and any(d != baseline for d in devices):
        slots.append("speedup")
    if any(c.transfer_s for c in cells):
        slots.append("copy")
    slots += [f"metric:{name}" for name in dict.fromkeys(m for c in cells for m in c.metrics)]
    if any(c.cold_differs for c in cells):
        slots.append("cold")
    slots.append("rounds")
    return slots


def format_cold(cell: Cell) -> str:
    """The isolated call and its excess over the hot per-call time, where it differs
    materially (``52.0 µs (+50.5)``); blank otherwise."""
    if not (cell.cold_differs and cell.cold_s is not None and cell.median_s is not None):
        return ""
    prefix, factor = time_unit(cell.cold_s)
    excess = (cell.cold_s - cell.median_s) * factor
    cold = cell.cold_s * factor
    unit = f"{prefix.replace('u', 'µ')}s"
    return f"{_num(cold, _decimals(cold))} {unit} (+{_num(excess, _decimals(excess))})"


def format_rounds(cell: Cell) -> str:
    """Rounds kept (and their calls), set aside, time spent waiting for a CPU or stolen by
    the hypervisor, precision reached, the baseline's drift beside this device when beyond
    tolerance, a time near the harness's floor; or ``machine busy`` with the same figures."""
    parts = [f"{cell.rounds} rounds"]
    if cell.calls_per_round > 1:
        parts[0] += f" × {cell.calls_per_round} calls"
    if cell.set_aside:
        parts.append(f"{cell.set_aside} set aside")
    if cell.wait_share is not None and cell.wait_share >= 0.005:
        parts.append(f"waited {cell.wait_share:.0%}")
    if cell.steal_share is not None and cell.steal_share >= 0.005:
        parts.append(f"stolen {cell.steal_share:.0%}")
    if cell.precision is not None:
        parts.append(f"±{cell.precision:.1%}")
    if cell.drifted and cell.baseline_drift is not None:
        parts.append(f"baseline {cell.baseline_drift - 1:+.0%} beside it")
    if cell.near_floor and cell.floor_s is not None:
        parts.append(f"near the floor ({format_seconds(cell.floor_s)})")
    text = ", ".join(parts)
    return f"MACHINE BUSY: {text}" if cell.busy else text


def _slot_text(cell: Cell, slot: str, device: str, baseline: str) -> str:
    if slot == "time":
        return format_time(cell)
    if slot == "rate":
        return format_throughput(cell.throughput, cell.units)
    if slot == "speedup":
        return "baseline" if device == baseline else format_speedup(cell)
    if slot == "copy":
        return format_seconds(cell.transfer_s) if cell.transfer_s else "–"
    if slot == "cold":
        return format_cold(cell)
    if slot == "rounds":
        return format_rounds(cell)
    value = cell.metrics.get(slot.removeprefix("metric:"))
    return "" if value is None else f"{value:.4g}"


def _stacked_cell(row: SpeedupRow, device: str, baseline: str, slots: Sequence[str]) -> str:
    """One device's cell: a line per slot (blank where it has none), so that the lines of
    a row line up across the columns and under the slot names in the size column."""
    cell = row.cells.get(device)
    if cell is None:
        return "n/a (not measured)"
    if not cell.ran:
        return format_time(cell)
    return "\n".join(_slot_text(cell, slot, device, baseline) for slot in slots)


def _slot_labels(size: str, slots: Sequence[str]) -> str:
    labels = [size, *(s.removeprefix("metric:") for s in slots[1:])]
    return "\n".join(labels)


def _hardware_lines(results: RunResults, rows: Sequence[SpeedupRow]) -> list[str]:
    described = device_descriptions(results)
    devices = list(dict.fromkeys([*described, *(d for row in rows for d in row.cells)]))
    return [f"{name}: {describe_device(described.get(name, {})) or 'n/a'}" for name in devices]


def _rounds_note(rows: Sequence[SpeedupRow]) -> str:
    counts = [cell.rounds for row in rows for cell in row.cells.values() if cell.ran]
    if not counts:
        return ""
    low, high = min(counts), max(counts)
    return f"{low} rounds" if low == high else f"{low}–{high} rounds"


def _legend(rows: Sequence[SpeedupRow]) -> str:
    cells = [c for r in rows for c in r.cells.values() if c.ran]
    legend = f"time: per call, median ± half the IQR over {_rounds_note(rows)}"
    rounds = (
        "rounds: kept (× back-to-back calls each), set aside (waited for a CPU, CPU stolen "
        "by the hypervisor, or a throttled GPU), share of time waited (and stolen), ± half "
        'the interval over the estimate; "baseline +N% beside it": the '
        "baseline ran N% slower in pairs than alone, and the interval covers both readings"
    )
    if any(c.cold_differs for c in cells):
        legend += (
            "; cold: one isolated call (after the untimed waits between rounds) and its "
            "excess over a call in a hot loop: launch and sync on a GPU, wake-up on a CPU"
        )
    if any(c.near_floor for c in cells):
        rounds += (
            '; "near the floor": within 10× of an empty call timed the same way, so '
            "partly the harness's own loop"
        )
    if not raced(rows):
        return f"{legend}; {rounds}"
    raced_cells = [c for c in cells if c.speedup is not None]
    paired = [c.paired for c in raced_cells if c.speedup != 1.0 or c.paired]
    if paired and all(paired):
        how = (
            "per-pair ratios, rounds interleaved with the baseline's (each order's median, "
            "geometric mean)"
        )
    elif any(paired):
        how = (
            "per-pair ratios where paired (each order's median, geometric mean), else "
            "ratio of medians"
        )
    else:
        how = "ratio of medians (unpaired)"
    return f"{legend}; speedup: {how} [{CONFIDENCE:.0%} bootstrap interval]; {rounds}"


def render_terminal(
    results: RunResults,
    rows: Sequence[SpeedupRow],
    baseline: str,
    *,
    width: int = 120,
    color: bool = False,
) -> str:
    """The speedup report as text for the terminal (ANSI styles only with ``color=True``)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
    )
    console.print("Hardware", style="bold")
    for line in _hardware_lines(results, rows):
        console.print(f"  {line}", markup=False)
    cloud = cloud_record(results.extra)
    if cloud:
        console.print(format_summary(cloud), markup=False)
    if not rows:
        console.print("No gpubench measurements.")
    for experiment, group in by_experiment(rows).items():
        devices = _ran_devices(group)
        if not devices:  # a table of sizes alone says nothing: say why instead
            console.print()
            console.print(f"{experiment}: nothing measured", style="bold", markup=False)
            for line in _absent_lines(group, device_descriptions(results)):
                console.print(f"  {line}", markup=False)
            continue
        table = Table(
            title=Text(f"{experiment} (baseline {baseline})"),
            caption=Text(_legend(group)),
            box=box.SIMPLE_HEAD,
            show_lines=True,
            title_justify="left",
            caption_justify="left",
        )
        table.add_column("size", no_wrap=True)
        for device in devices:
            table.add_column(Text(device), overflow="fold", min_width=len(device))
        slots = _slots(group, devices, baseline)
        for row in group:
            cells = (Text(_stacked_cell(row, d, baseline, slots)) for d in devices)
            table.add_row(Text(_slot_labels(row.size, slots)), *cells)
        console.print()
        console.print(table)
        for line in _summary_lines(group, baseline, device_descriptions(results)):
            console.print(f"  {line}", markup=False)
    text = buffer.getvalue()
    return text if color else "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _summary_lines(
    rows: Sequence[SpeedupRow],
    baseline: str,
    described: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Under a table: a crossover line per non-baseline device that ran, then the n/a ones.
    A cost-only experiment gets one line saying so instead of the crossovers."""
    if not raced(rows):
        note = f"a cost each device pays, not raced against {baseline}: no speedups"
        return [note, *_absent_lines(rows, described)]
    crossovers = [crossover_line(rows, d, baseline) for d in _ran_devices(rows) if d != baseline]
    return crossovers + _absent_lines(rows, described)


#: Longest text kept in a Markdown cell or line (a device probe's reason can run long).
_MD_MAX = 300


def _md(text: str) -> str:
    """``text`` for one Markdown table cell or line: pipes and ``<`` escaped (GitHub drops
    ``<lambda>`` as an HTML tag), newlines joined, and cut at :data:`_MD_MAX` characters."""
    flat = text.replace("\n", " ")
    if len(flat) > _MD_MAX:
        flat = flat[: _MD_MAX - 1] + "…"
    return flat.replace("|", "\\|").replace("<", "&lt;")


def render_markdown(results: RunResults, rows: Sequence[SpeedupRow], baseline: str) -> str:
    """The same report as GitHub-flavoured Markdown, for a job summary or a PR comment."""
    lines = ["## gpubench: speedup vs " + baseline, "", "**Hardware**", ""]
    described = device_descriptions(results)
    lines += [f"- {_md(line)}" for line in _hardware_lines(results, rows)]
    cloud = cloud_record(results.extra)
    if cloud:
        lines += ["", _md(format_summary(cloud))]
    if not rows:
        lines += ["", "No gpubench measurements."]
    for experiment, group in by_experiment(rows).items():
        lines += ["", f"### {_md(experiment)}", ""]
        if not _ran_devices(group):
            lines += ["Nothing measured.", ""]
            lines += [f"- {_md(line)}" for line in _absent_lines(group, described)]
            continue
        columns = _columns(group, baseline)
        header = ["size", *(h for h, _, _ in columns)]
        align = [":--", *(":--" if w == "time" else "--:" for _, _, w in columns)]
        lines.append("| " + " | ".join(_md(h) for h in header) + " |")
        lines.append("| " + " | ".join(align) + " |")
        for row in group:
            cells = [row.size, *(_cell_text(row, d, w) for _, d, w in columns)]
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        lines += ["", f"_{_md(_legend(group))}_", ""]
        lines += [f"- {_md(line)}" for line in _summary_lines(group, baseline, described)]
    return "\n".join(lines).rstrip() + "\n"
