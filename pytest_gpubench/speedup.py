"""Measurements → one row per (experiment, size): times per device, speedup, crossover.

A row holds one :class:`Cell` per device. Spread statistics (quartiles, min, max) come from
pytest-benchmark's :class:`~pytest_benchmark.stats.Stats`, so they match its own tables.
A device whose rounds were paired with the baseline's (interleaved, see :mod:`.timing`)
has the speedup ``median(b_i / d_i)`` over its pairs, with a percentile bootstrap interval
that resamples the pairs: a slow spell of the machine hits both rounds of a pair and
cancels in its ratio. An unpaired device (the baseline not timed at that size just
before, or a saved run of schema 1) has ``median(baseline rounds) / median(device rounds)``,
its interval resampling each device's rounds independently. Both are seeded, so a report
is reproducible from its JSON.

Pairing assumes that timing the baseline beside a device leaves the baseline as it was.
When its paired rounds ran more than :data:`~.interference.DRIFT_TOLERANCE` slower or
faster than its own cell (numpy at 4000-4000 on 2 cores: 0.97 s alone, 1.31 s beside
torch, in one run of three), the two readings of the speedup disagree, and the interval is
widened to cover both (:func:`estimate_speedup`): a reviewer sees the doubt instead of a
tight, wrong interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from pytest_benchmark.stats import Stats

from .interference import drift_beyond
from .results import Measurement

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "COLD_FACTOR",
    "CONFIDENCE",
    "COST_ONLY",
    "FLOOR_FACTOR",
    "MIN_INTERVAL_ROUNDS",
    "NOT_MEASURED",
    "Cell",
    "SpeedupEstimate",
    "SpeedupRow",
    "balanced_speedup",
    "baseline_drift",
    "build_rows",
    "by_experiment",
    "crossover",
    "estimate_speedup",
    "hardware_summary",
    "order_groups",
    "paired_ratios",
    "paired_speedup_interval",
    "raced",
    "speedup_interval",
]

#: The reason of a cell for a device that has no measurement at that size.
NOT_MEASURED = "not measured at this size"
#: The speedup reason of every cell of a cost-only benchmark (``versus_baseline=False``).
COST_ONLY = "a cost, not raced against the baseline"
#: Two-sided coverage of the speedup interval.
CONFIDENCE = 0.95
#: Bootstrap resamples per interval: enough for stable 2.5/97.5 percentiles, fast on 2 cores.
BOOTSTRAP_RESAMPLES = 2000
#: Fewest rounds per side for an interval. A bootstrap of medians from 2 rounds covers the
#: true ratio only ~70% of the time at a nominal 95% (3 rounds: ~91%; 5: ~97%, simulated
#: with log-normal round times), so below 3 the table shows the ratio without an interval.
MIN_INTERVAL_ROUNDS = 3
#: A per-call time within this factor of the harness's floor gets a note.
FLOOR_FACTOR = 10.0
#: A cold call this much slower than the hot per-call time is shown on its own line.
COLD_FACTOR = 1.25
_SEED = 20240601


@dataclass(frozen=True)
class Cell:
    """One device at one size: time statistics, throughput and speedup vs the baseline.

    ``reason`` is set when the device has no rounds here (all numbers ``None``);
    ``speedup_reason`` when the device ran but no speedup can be given (baseline n/a).
    ``speedup_low``/``speedup_high`` bound the speedup at :data:`CONFIDENCE`, or are
    ``None`` with fewer than two rounds on either side.
    """

    device: str
    rounds: int = 0
    median_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    throughput: float | None = None
    units: str = ""
    transfer_s: float | None = None
    speedup: float | None = None
    speedup_low: float | None = None
    speedup_high: float | None = None
    hardware: str = ""
    reason: str | None = None
    speedup_reason: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    #: the speedup comes from per-pair ratios (rounds interleaved with the baseline's)
    paired: bool = False
    #: "paired", or why not (shown under the table)
    pairing: str = ""
    #: rounds set aside as disturbed, and the share of timed seconds spent waiting for a CPU
    set_aside: int = 0
    wait_share: float | None = None
    #: the share of timed seconds the hypervisor stole from the process's CPUs (a VM)
    steal_share: float | None = None
    #: fewer clean rounds than asked for: the machine kept them waiting
    busy: bool = False
    #: why the rounds ended (precise, time budget, max rounds, machine busy)
    stop: str = ""
    #: half the interval's width over the estimate: the speedup's, else the median time's
    precision: float | None = None
    #: the baseline's median paired round over its own cell's median (None: unpaired)
    baseline_drift: float | None = None
    #: back-to-back calls per round; every time above is per call
    calls_per_round: int = 1
    #: the median isolated (cold) call; on a GPU its excess over the hot per-call median is
    #: the launch-and-sync overhead (on a CPU the excess is the threads' and core's wake-up)
    cold_s: float | None = None
    launch_overhead_s: float | None = None
    #: the harness's own per-call time on this device (an empty callable, measured the same)
    floor_s: float | None = None

    @property
    def near_floor(self) -> bool:
        """The per-call time is within :data:`FLOOR_FACTOR` of the harness's floor: the
        figure is partly the loop and call that time it."""
        return bool(self.floor_s and self.median_s and self.median_s < FLOOR_FACTOR * self.floor_s)

    @property
    def cold_differs(self) -> bool:
        """The isolated call costs materially more than a call in a hot loop."""
        return bool(self.cold_s and self.median_s and self.cold_s > COLD_FACTOR * self.median_s)

    @property
    def drifted(self) -> bool:
        """The baseline ran differently beside this device than alone (see module doc)."""
        return self.baseline_drift is not None and drift_beyond(self.baseline_drift)

    @property
    def ran(self) -> bool:
        return self.rounds > 0

    @property
    def iqr_s(self) -> float | None:
        if self.q1_s is None or self.q3_s is None:
            return None
        return self.q3_s - self.q1_s

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["metrics"] = dict(self.metrics)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        return cls(**data)


@dataclass(frozen=True)
class SpeedupRow:
    """One size of one experiment across devices; ``cells`` keeps the baseline first."""

    experiment: str
    size: str
    size_value: float
    baseline: str
    cells: Mapping[str, Cell] = field(default_factory=dict)

    @property
    def devices(self) -> list[str]:
        return list(self.cells)

    def cell(self, device: str) -> Cell:
        """The cell of ``device``; KeyError names the devices this row has."""
        try:
            return self.cells[device]
        except KeyError:
            raise KeyError(
                f"no device {device!r} in row {self.experiment} {self.size}; "
                f"devices: {', '.join(self.cells)}"
            ) from None

    def speedup(self, device: str) -> float | None:
        return self.cells[device].speedup if device in self.cells else None

    @property
    def versus_baseline(self) -> bool:
        """False for a cost-only row (see ``Measurement.versus_baseline``): no speedups."""
        return all(cell.speedup_reason != COST_ONLY for cell in self.cells.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "size": self.size,
            "size_value": self.size_value,
            "baseline": self.baseline,
            "cells": [cell.to_dict() for cell in self.cells.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeedupRow:
        cells = [Cell.from_dict(c) for c in data["cells"]]
        return cls(
            experiment=data["experiment"],
            size=data["size"],
            size_value=float(data["size_value"]),
            baseline=data["baseline"],
            cells={c.device: c for c in cells},
        )


# --------------------------------------------------------------------------- statistics


def speedup_interval(
    baseline_rounds: Sequence[float],
    device_rounds: Sequence[float],
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = _SEED,
) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of ``median(baseline) / median(device)``.

    Each side is resampled independently (the rounds of two devices are not paired).
    ``None`` with fewer than :data:`MIN_INTERVAL_ROUNDS` rounds on either side (too few for
    the interval to mean 95%) or a device round of zero seconds (below the timer's
    resolution).
    """
    base = np.asarray(baseline_rounds, dtype=float)
    dev = np.asarray(device_rounds, dtype=float)
    too_few = min(base.size, dev.size) < MIN_INTERVAL_ROUNDS
    if too_few or not (dev > 0).all():
        return None
    rng = np.random.default_rng(seed)
    base_medians = np.median(rng.choice(base, size=(resamples, base.size)), axis=1)
    dev_medians = np.median(rng.choice(dev, size=(resamples, dev.size)), axis=1)
    ratios = base_medians / dev_medians
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_ratios(measurement: Measurement) -> list[float]:
    """``b_i / d_i`` of each pair of a paired measurement (empty when unpaired)."""
    if not measurement.paired:
        return []
    pairs = zip(measurement.paired_baseline_s, measurement.rounds_s, strict=True)
    return [b / d for b, d in pairs if d > 0]


def order_groups(measurement: Measurement) -> tuple[list[float], list[float]]:
    """The per-pair ratios of the pairs whose baseline round ran first, and of the others;
    all ratios in the first list when the order was not recorded (schema 1, or a pair of
    one order only)."""
    ratios = paired_ratios(measurement)
    orders = measurement.baseline_first
    if len(orders) != len(ratios):
        return ratios, []
    first = [r for r, b in zip(ratios, orders, strict=True) if b]
    second = [r for r, b in zip(ratios, orders, strict=True) if not b]
    return (first, second) if first and second else (ratios, [])


def balanced_speedup(first: Sequence[float], second: Sequence[float] = ()) -> float:
    """The paired speedup: the geometric mean of the median ratio of each order (baseline
    first, device first), or the median ratio when there is one order.

    Which device ran first can matter (one library's threads, caches or memory left warm
    or cold by the round before): on 2 cores numpy at 4000-4000 took 0.95 s after its own
    round and 1.25-1.45 s right after torch's. The order alternates pair by pair, so each
    order's median carries the effect in opposite directions, and their geometric mean
    cancels it (the crossover design's estimator); one median over both orders would jump
    between the two modes with the count of each order among the kept pairs."""
    if not second:
        return float(np.median(first))
    return float(np.sqrt(np.median(first) * np.median(second)))


def paired_speedup_interval(
    first: Sequence[float],
    second: Sequence[float] = (),
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = _SEED,
) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of :func:`balanced_speedup` (pairs resampled within
    each order); ``None`` below :data:`MIN_INTERVAL_ROUNDS` pairs."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size + b.size < MIN_INTERVAL_ROUNDS:
        return None
    rng = np.random.default_rng(seed)
    estimates = np.median(rng.choice(a, size=(resamples, a.size)), axis=1)
    if b.size:
        other = np.median(rng.choice(b, size=(resamples, b.size)), axis=1)
        estimates = np.sqrt(estimates * other)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def hardware_summary(info: Mapping[str, str]) -> str:
    """A short name of the processor behind a device: the GPU, or the CPU model and cores."""
    if info.get("gpu"):
        memory = f" {info['memory']}" if info.get("memory") else ""
        return f"{info['gpu']}{memory}"
    if info.get("processor"):
        cores = f" ({info['cores']} cores)" if info.get("cores") else ""
        return f"{info['processor']}{cores}"
    return ""


def is_gpu(m: Measurement) -> bool:
    """Whether ``m`` ran on a GPU (its description names one)."""
    return bool(m.device_info.get("gpu"))


def _time_cell(m: Measurement) -> Cell:
    if not m.ran:
        return Cell(
            device=m.device,
            units=m.units,
            transfer_s=m.transfer_s,
            hardware=hardware_summary(m.device_info),
            reason=m.reason or "no rounds recorded",
        )
    stats = Stats()
    for duration in m.rounds_s:
        stats.update(duration)
    return Cell(
        device=m.device,
        rounds=stats.rounds,
        median_s=float(stats.median),
        q1_s=float(stats.q1),
        q3_s=float(stats.q3),
        min_s=float(stats.min),
        max_s=float(stats.max),
        throughput=m.throughput,
        units=m.units,
        transfer_s=m.transfer_s,
        hardware=hardware_summary(m.device_info),
        metrics=dict(m.metrics),
        pairing=m.pairing,
        set_aside=len(m.set_aside_s),
        wait_share=m.wait_share,
        steal_share=m.steal_share,
        busy=m.busy,
        stop=m.stop,
        precision=_time_precision(m.rounds_s),
        calls_per_round=m.calls_per_round,
        cold_s=m.cold_s,
        launch_overhead_s=(
            m.cold_s - float(stats.median) if m.cold_s is not None and is_gpu(m) else None
        ),
        floor_s=m.floor_s,
    )


def _time_precision(rounds_s: Sequence[float]) -> float | None:
    from .timing import relative_half_width

    width = relative_half_width(rounds_s)
    return width if np.isfinite(width) else None


def baseline_drift(base: Measurement, device: Measurement) -> float | None:
    """``median(baseline rounds paired with device) / median(baseline's own rounds)``:
    how much slower (> 1) or faster the baseline ran beside ``device`` than in its own
    cell; None when unpaired or a median is 0."""
    if not (device.paired and base.rounds_s):
        return None
    own = float(np.median(base.rounds_s))
    beside = float(np.median(device.paired_baseline_s))
    return beside / own if own > 0 and beside > 0 else None


@dataclass(frozen=True)
class SpeedupEstimate:
    """A device's speedup over the baseline at one size, as the table and the gate use it.

    ``samples`` are the numbers the gate's rank test compares: each paired ratio over its
    order's median, times the estimate (the order effect taken out, as the estimate takes it
    out), or, unpaired, the baseline's median over each device round."""

    value: float
    interval: tuple[float, float] | None
    samples: tuple[float, ...]
    paired: bool
    drift: float | None = None


def estimate_speedup(base: Measurement, device: Measurement) -> SpeedupEstimate:
    """The speedup of ``device`` over ``base`` (module doc): paired when the rounds were,
    its interval widened to the unpaired one's when the baseline drifted beyond
    :data:`~.interference.DRIFT_TOLERANCE`. Both medians must be positive (callers check
    and say why not)."""
    first, second = order_groups(device)
    if not first:
        base_median = float(np.median(base.rounds_s))
        return SpeedupEstimate(
            value=base_median / float(np.median(device.rounds_s)),
            interval=speedup_interval(base.rounds_s, device.rounds_s),
            samples=tuple(base_median / t for t in device.rounds_s),
            paired=False,
        )
    value = balanced_speedup(first, second)
    interval = paired_speedup_interval(first, second)
    drift = baseline_drift(base, device)
    if interval is not None and drift is not None and drift_beyond(drift):
        alone = speedup_interval(base.rounds_s, device.rounds_s)
        if alone is not None:
            interval = (min(interval[0], alone[0]), max(interval[1], alone[1]))
    samples = tuple(r / float(np.median(g)) * value for g in (first, second) if g for r in g)
    return SpeedupEstimate(value, interval, samples, paired=True, drift=drift)


def _with_speedup(cell: Cell, device: Measurement, base: Measurement | None, baseline: str) -> Cell:
    if not cell.ran:
        return cell
    if not device.versus_baseline:
        return replace(cell, speedup_reason=COST_ONLY)
    if device.device == baseline:
        return replace(cell, speedup=1.0)
    if base is None:
        return replace(cell, speedup_reason=f"baseline {baseline} not measured at this size")
    if not base.ran:
        why = base.reason or "no rounds recorded"
        return replace(cell, speedup_reason=f"baseline {baseline} n/a: {why}")
    assert base.median_s is not None and cell.median_s is not None
    if cell.median_s <= 0:
        return replace(cell, speedup_reason="median round of 0 s (below the timer resolution)")
    if base.median_s <= 0:
        return replace(
            cell,
            speedup_reason=f"baseline {baseline}'s median round is 0 s (below the timer "
            "resolution): time more work per round",
        )
    estimate = estimate_speedup(base, device)
    speedup, interval = estimate.value, estimate.interval
    precision = (interval[1] - interval[0]) / 2 / speedup if interval and speedup > 0 else None
    return replace(
        cell,
        speedup=speedup,
        speedup_low=interval[0] if interval else None,
        speedup_high=interval[1] if interval else None,
        paired=estimate.paired,
        precision=precision,
        baseline_drift=estimate.drift,
    )


# --------------------------------------------------------------------------- rows


def build_rows(measurements: Sequence[Measurement], baseline: str) -> list[SpeedupRow]:
    """One row per (experiment, size), ordered by experiment then ``size_value``.

    Every row has a cell for every device seen in its experiment, the baseline first: a
    device missing at one size gets a cell saying so. A later measurement of the same
    (experiment, size, device) replaces an earlier one.
    """
    groups: dict[tuple[str, str], dict[str, Measurement]] = {}
    devices_of: dict[str, list[str]] = {}
    for m in measurements:
        groups.setdefault((m.experiment, m.size), {})[m.device] = m
        seen = devices_of.setdefault(m.experiment, [])
        if m.device not in seen:
            seen.append(m.device)

    rows = []
    for (experiment, size), by_device in groups.items():
        devices = sorted(devices_of[experiment], key=lambda d: d != baseline)
        if baseline not in devices:
            devices.insert(0, baseline)
        base = by_device.get(baseline)
        cells: dict[str, Cell] = {}
        for device in devices:
            m = by_device.get(device)
            if m is None:
                cells[device] = Cell(device=device, reason=NOT_MEASURED)
                continue
            cells[device] = _with_speedup(_time_cell(m), m, base, baseline)
        size_value = next((m.size_value for m in by_device.values() if m.size_value), 0.0)
        rows.append(SpeedupRow(experiment, size, float(size_value), baseline, cells))
    order = {name: i for i, name in enumerate(devices_of)}
    rows.sort(key=lambda r: (order[r.experiment], r.size_value, r.size))
    return rows


def raced(rows: Iterable[SpeedupRow]) -> bool:
    """Whether one experiment's rows race devices (speedups) or only show a cost."""
    return all(row.versus_baseline for row in rows)


def by_experiment(rows: Iterable[SpeedupRow]) -> dict[str, list[SpeedupRow]]:
    """Rows grouped by experiment, in first-seen order, each sorted by ``size_value``."""
    groups: dict[str, list[SpeedupRow]] = {}
    for row in rows:
        groups.setdefault(row.experiment, []).append(row)
    return {name: sorted(group, key=lambda r: r.size_value) for name, group in groups.items()}


def crossover(
    rows: Sequence[SpeedupRow],
    device: str,
    experiment: str | None = None,
    *,
    confident: bool = False,
) -> str | None:
    """The smallest size from which ``device`` beats the baseline at that size and every larger.

    Only sizes where a speedup is known count (a size the device or baseline could not
    run neither starts nor breaks the run). ``confident=True`` asks the interval's lower
    bound, not the median ratio, to exceed 1. ``rows`` must hold one experiment unless
    ``experiment`` picks one. ``None`` when the device is not faster at the largest size.
    """
    names = list(dict.fromkeys(r.experiment for r in rows))
    if experiment is not None:
        rows = [r for r in rows if r.experiment == experiment]
    elif len(names) > 1:
        raise ValueError(
            f"crossover() got rows of several experiments ({', '.join(names)}); "
            "pass experiment=... or group them with by_experiment()"
        )
    known = []
    for row in sorted(rows, key=lambda r: r.size_value):
        cell = row.cells.get(device)
        if cell is None or cell.speedup is None:
            continue
        value = cell.speedup_low if confident else cell.speedup
        known.append((row.size, value is not None and value > 1.0))
    start = None
    for size, faster in reversed(known):
        if not faster:
            break
        start = size
    return start
