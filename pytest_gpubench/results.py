"""The records that flow one way through a run: measurements → rows → reports.

``Measurement`` is what timing produces (one benchmark on one device, raw rounds kept);
``RunResults`` collects them for the session, whether they were measured here or fetched
from a remote (cloud) run, so that reports never know where a number came from.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

__all__ = ["RESULTS_KEY", "ROUND_FIELDS", "Measurement", "RunResults", "results_of"]


@dataclass(frozen=True)
class Measurement:
    """One benchmark of one experiment size on one device.

    ``rounds_s`` holds every kept round in seconds per call (a round is a block of
    ``calls_per_round`` back-to-back calls bracketed by device synchronisation); an empty
    tuple with a ``reason`` records a device that could not run.
    """

    experiment: str
    size: str
    device: str
    rounds_s: tuple[float, ...] = ()
    size_value: float = 0.0
    units: str = ""
    units_per_round: float = 0.0
    transfer_s: float | None = None
    warmup_rounds: int = 0
    timer: str = "perf_counter"
    #: CUDA event seconds per round (device-side), where the device has event timers.
    event_rounds_s: tuple[float, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    device_info: Mapping[str, str] = field(default_factory=dict)
    test_id: str = ""
    reason: str | None = None
    #: False for a cost every device pays its own way, not a race with the baseline device
    #: (a host→device copy: numpy has none to make), so no speedup is taken from it.
    versus_baseline: bool = True
    #: The baseline device's round timed beside each of ``rounds_s`` (interleaved, the
    #: order alternating), so that a pair saw the same machine; empty when unpaired.
    paired_baseline_s: tuple[float, ...] = ()
    #: For each pair, whether the baseline's round ran first (the order alternates).
    baseline_first: tuple[bool, ...] = ()
    #: Seconds this process's threads waited for a CPU during each kept round (Linux) that
    #: other work can have held: wake-ups and the threads' waits for each other left out.
    wait_s: tuple[float, ...] = ()
    #: Rounds set aside as disturbed (waited for a CPU, stolen, throttled GPU), and their waits.
    set_aside_s: tuple[float, ...] = ()
    set_aside_wait_s: tuple[float, ...] = ()
    #: Seconds some task on the machine waited for a CPU during all rounds (PSI), a hint.
    pressure_s: float | None = None
    #: The GPU's SM clock after each kept round (NVML), where it could be read.
    sm_clock_mhz: tuple[float, ...] = ()
    #: Why the rounds ended: precise, time budget, max rounds or machine busy.
    stop: str = ""
    #: "paired", or why the rounds were not interleaved with the baseline's.
    pairing: str = ""
    #: Seconds the hypervisor stole from this process's CPUs during all rounds (a VM).
    steal_s: float | None = None
    #: Seconds waited, untimed, for the machine to quieten after rounds set aside.
    quiet_wait_s: float = 0.0
    #: Back-to-back calls in each round (calibrated; 1 for long calls or by request).
    calls_per_round: int = 1
    #: The single cold call timed before each kept round's block (empty when every round is
    #: one call, and so cold itself): what one isolated call costs, wake-up and launch included.
    cold_rounds_s: tuple[float, ...] = ()
    #: The harness's own cost per call on this device: an empty callable measured the same way.
    floor_s: float | None = None

    @property
    def paired(self) -> bool:
        return bool(self.paired_baseline_s) and len(self.paired_baseline_s) == len(self.rounds_s)

    @property
    def busy(self) -> bool:
        """Fewer clean rounds than asked for, because the machine kept them waiting."""
        return self.stop == "machine busy"

    @property
    def timed_s(self) -> float:
        """Wall seconds of all rounds, kept and set aside (blocks and cold calls)."""
        blocks = (sum(self.rounds_s) + sum(self.set_aside_s)) * self.calls_per_round
        return blocks + sum(self.cold_rounds_s)

    @property
    def cold_s(self) -> float | None:
        """The median isolated (cold) call: the cold calls, or the rounds when each round
        was a single call."""
        if self.cold_rounds_s:
            return statistics.median(self.cold_rounds_s)
        return self.median_s if self.calls_per_round == 1 else None

    @property
    def wait_share(self) -> float | None:
        """Seconds waited for a CPU over seconds timed, all rounds (kept and set aside)."""
        waits = (*self.wait_s, *self.set_aside_wait_s)
        timed = self.timed_s
        if not waits or timed <= 0:
            return None
        return sum(waits) / timed

    @property
    def steal_share(self) -> float | None:
        """Seconds stolen by the hypervisor over seconds timed, all rounds."""
        timed = self.timed_s
        if self.steal_s is None or timed <= 0:
            return None
        return self.steal_s / timed

    @property
    def ran(self) -> bool:
        return bool(self.rounds_s)

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.rounds_s) if self.rounds_s else None

    @property
    def throughput(self) -> float | None:
        """Units per second at the median round, or None without units or rounds."""
        median = self.median_s
        if not median or not self.units_per_round:
            return None
        return self.units_per_round / median

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ROUND_FIELDS:
            data[name] = list(getattr(self, name))
        data["baseline_first"] = list(self.baseline_first)
        data["metrics"] = dict(self.metrics)
        data["device_info"] = dict(self.device_info)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown measurement fields {sorted(unknown)}; known: {sorted(known)}"
            )
        values = dict(data)
        for name in ROUND_FIELDS:
            values[name] = tuple(float(r) for r in values.get(name, ()))
        values["baseline_first"] = tuple(bool(b) for b in values.get("baseline_first", ()))
        # the JSON writes a NaN or infinite metric (a diverged loss) as null: NaN again here
        values["metrics"] = {
            name: math.nan if value is None else float(value)
            for name, value in values.get("metrics", {}).items()
        }
        return cls(**values)


#: The per-round series of a measurement (lists in JSON, tuples here).
ROUND_FIELDS = (
    "rounds_s",
    "cold_rounds_s",
    "event_rounds_s",
    "paired_baseline_s",
    "wait_s",
    "set_aside_s",
    "set_aside_wait_s",
    "sm_clock_mhz",
)


@dataclass
class RunResults:
    """Everything one session measured, plus sections other layers add (e.g. ``cloud``)."""

    measurements: list[Measurement] = field(default_factory=list)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, measurement: Measurement) -> None:
        self.measurements.append(measurement)
        if measurement.device_info and measurement.device not in self.devices:
            self.devices[measurement.device] = dict(measurement.device_info)

    def extend(self, measurements: list[Measurement]) -> None:
        for measurement in measurements:
            self.add(measurement)


RESULTS_KEY: pytest.StashKey[RunResults] = pytest.StashKey[RunResults]()


def results_of(config: pytest.Config) -> RunResults:
    """The session's results collector (created on first use)."""
    if RESULTS_KEY not in config.stash:
        config.stash[RESULTS_KEY] = RunResults()
    return config.stash[RESULTS_KEY]
