"""The ``gpubench`` fixture's object: measure one workload on one device inside a pytest
session (with :mod:`.timing`), pair it with the baseline's callable of the same size
(:class:`Partners`), hand the kept rounds to pytest-benchmark (so its statistics, storage and
``--benchmark-*`` options keep working) and record a :class:`~.results.Measurement`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pytest_gpubench.devices import Device
from pytest_gpubench.results import Measurement
from pytest_gpubench.timing import (
    RoundCallback,
    SyncedTarget,
    Timing,
    TimingSettings,
    check_calls_per_round,
    harness_floor,
    measure,
    measure_transfer,
)

__all__ = ["GpuBench", "Partners", "record_rounds"]


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _finite(value: Any, name: str, what: str, low: float = -math.inf) -> float:
    """``value`` as a finite float of at least ``low``; ``ValueError`` says what is wanted."""
    number = _number(value, name)
    if not (math.isfinite(number) and number >= low):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return number


class Partners:
    """The baseline device's live callable of the (experiment, size) measured last, for the
    other devices' rounds of that size to interleave with.

    Only the latest size is held (the session orders each size's items together, baseline
    first), so at most one baseline workload stays alive past its test.
    """

    def __init__(self, baseline: str) -> None:
        self.baseline = baseline
        self._key: tuple[str, str] | None = None
        self._target: SyncedTarget | None = None
        self._alone_s: tuple[float, ...] = ()

    def offer(
        self, experiment: str, size: str, target: SyncedTarget, alone_s: Sequence[float] = ()
    ) -> None:
        """Hold the baseline's callable of this size, and the rounds it kept on its own."""
        self._key, self._target, self._alone_s = (experiment, size), target, tuple(alone_s)

    def find(self, experiment: str, size: str) -> SyncedTarget | None:
        return self._target if self._key == (experiment, size) else None

    def alone_s(self, experiment: str, size: str) -> tuple[float, ...]:
        """The kept rounds of the baseline held for this size (empty for another size)."""
        return self._alone_s if self._key == (experiment, size) else ()

    def why_unpaired(self) -> str:
        return (
            f"unpaired: {self.baseline} was not timed at this size just before "
            "(deselected with -k, skipped, or failed), so these rounds are not interleaved "
            "with the baseline's"
        )


def record_rounds(benchmark: Any, rounds_s: Sequence[float], calls_per_round: int = 1) -> None:
    """Hand the kept rounds (seconds per call) to pytest-benchmark as this test's statistics
    (its tables, its JSON, ``--benchmark-save`` and ``--benchmark-compare`` then show them).

    pytest-benchmark has no public call for rounds timed elsewhere; this uses what its
    ``pedantic`` does (``_make_stats`` with the iterations per round, each round's total
    given, which it divides by them), on 4.x and 5.x alike.
    """
    if getattr(benchmark, "_mode", None):
        raise RuntimeError(
            f"the benchmark fixture was already used in {benchmark._mode} mode; a gpubench "
            "test times through gpubench(fn) only"
        )
    benchmark._mode = "gpubench(...)"
    stats = benchmark._make_stats(calls_per_round)
    for seconds in rounds_s:
        stats.update(seconds * calls_per_round)


class GpuBench:
    """The ``gpubench`` fixture: time a workload on one device and record it.

    ``gpubench.transfer(X)`` copies ``X`` onto the device, timing the copy apart;
    ``gpubench(fn, *args, units=..., units_per_round=...)`` times ``fn(*args)`` (once per
    test, like pytest-benchmark's fixture) and returns its last result (``units_per_round``:
    the units of work one call does; ``calls_per_round=1`` for a callable that must not run
    twice in a row); ``metrics`` takes
    extra numbers such as accuracy. :meth:`measurement` is the record for the reports.
    With ``partners``, a non-baseline device's rounds interleave with the baseline's of the
    same size, and the baseline offers its own callable for the devices after it.
    """

    def __init__(
        self,
        device: Device,
        *,
        experiment: str,
        size: str,
        size_value: float = 0.0,
        settings: TimingSettings | None = None,
        benchmark: Any = None,
        test_id: str = "",
        partners: Partners | None = None,
        versus_baseline: bool = True,
        on_round: RoundCallback | None = None,
        progress: Any = None,
        floor: Callable[[Device, float], float] = harness_floor,
    ) -> None:
        self.device = device
        self.experiment = experiment
        self.size = size
        self.size_value = size_value
        self.settings = settings or TimingSettings()
        self.benchmark = benchmark
        self.test_id = test_id
        self.partners = partners
        self.versus_baseline = versus_baseline
        self.on_round = on_round
        #: a :class:`~pytest_gpubench.progress.Progress` line shown while the rounds run
        self.progress = progress
        #: the harness's per-call floor on a device (see :func:`~.timing.harness_floor`)
        self.floor = floor
        self.floor_s: float | None = None
        self.units = ""
        self.units_per_round = 0.0
        self.metrics: dict[str, float] = {}
        self.timing: Timing | None = None
        self.transfer_timing: Timing | None = None
        self.note: str | None = None

    def transfer(self, host: Any, dtype: str | None = None) -> Any:
        """Copy host data onto the device, timing the copy; returns the device array."""
        self.transfer_timing = measure_transfer(self.device, host, dtype, self.settings)
        if self.benchmark is not None:
            self.benchmark.extra_info["transfer_rounds_s"] = list(self.transfer_timing.rounds_s)
        return self.transfer_timing.result

    def metric(self, name: str, value: float) -> None:
        """Record an extra number for this measurement, e.g. ``metric("accuracy", 0.97)``."""
        self.metrics[name] = _number(value, f"metric {name!r}")

    def __call__(
        self,
        target: Callable[..., Any],
        *args: Any,
        units: str = "",
        units_per_round: float = 0,
        size: str | None = None,
        size_value: float | None = None,
        calls_per_round: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Time ``target(*args, **kwargs)`` on the device; returns its last result."""
        if self.timing is not None:
            raise RuntimeError("gpubench can time one workload per test; split the test")
        settings = self.settings
        if calls_per_round is not None:
            settings = replace(settings, calls_per_round=check_calls_per_round(calls_per_round))
        self.units = units
        self.units_per_round = _finite(
            units_per_round, "units_per_round", "a finite number >= 0 (0: no throughput)", 0.0
        )
        if size is not None:
            self.size = str(size)
        if size_value is not None:
            self.size_value = _finite(size_value, "size_value", "a finite number (the x axis)")
        # the user's callable itself when it takes nothing: a wrapper's call would be timed
        # too, a tenth of a sub-microsecond call
        work = functools.partial(target, *args, **kwargs) if args or kwargs else target
        if self.benchmark is not None:
            self.benchmark.group = f"{self.experiment} {self.size}"
            if getattr(self.benchmark, "disabled", False):  # --benchmark-disable: run once
                self.timing = Timing(rounds_s=(), result=work())
                self.note = "not timed (benchmarks disabled)"
                return self.timing.result
        partner, pairing = self._partner()
        # the benchmark's timer (--benchmark-timer, or the marker's timer=) reads the clock
        clock = getattr(self.benchmark, "_timer", None) or time.perf_counter
        on_round = self.on_round
        if self.progress is not None:
            self.progress.start(f"{self.experiment} {self.size} {self.device.name}")
            on_round = _both(self.progress.round, self.on_round)
        try:
            self.timing = measure(
                self.device,
                work,
                settings,
                clock=clock,
                partner=partner,
                partner_alone_s=self._partner_alone_s(),
                on_round=on_round,
            )
        finally:
            if self.progress is not None:
                self.progress.stop()
        if pairing and not self.timing.pairing:
            self.timing = replace(self.timing, pairing=pairing)
        if self.partners is not None and self._is_baseline and self.timing.target is not None:
            self.partners.offer(
                self.experiment, self.size, self.timing.target, self.timing.rounds_s
            )
        if self.benchmark is not None and self.timing.rounds_s:  # none kept: no stats to give
            record_rounds(self.benchmark, self.timing.rounds_s, self.timing.calls_per_round)
        if self.timing.calls_per_round > 1:  # only a call shorter than a round can near it
            self.floor_s = self.floor(self.device, settings.round_time)
        if not self.timing.rounds_s:
            self.note = (
                f"machine busy: every round waited for a CPU ({len(self.timing.set_aside_s)} "
                "set aside); run on a quieter machine or raise --gpubench-interference"
            )
        self._fill_extra_info()
        return self.timing.result

    @property
    def _is_baseline(self) -> bool:
        return self.partners is not None and self.device.name == self.partners.baseline

    def _partner(self) -> tuple[SyncedTarget | None, str]:
        if self.partners is None or not self.versus_baseline or self._is_baseline:
            return None, ""
        found = self.partners.find(self.experiment, self.size)
        if found is None:
            return None, self.partners.why_unpaired()
        return found, ""

    def _partner_alone_s(self) -> tuple[float, ...]:
        if self.partners is None:
            return ()
        return self.partners.alone_s(self.experiment, self.size)

    def _fill_extra_info(self) -> None:
        if self.benchmark is None or self.timing is None:
            return
        self.benchmark.extra_info.update(
            device=self.device.name,
            experiment=self.experiment,
            size=self.size,
            units=self.units,
            units_per_round=self.units_per_round,
            warmup_rounds_s=list(self.timing.warmup_s),
            calls_per_round=self.timing.calls_per_round,
            cold_rounds_s=list(self.timing.cold_s),
            event_rounds_s=list(self.timing.event_rounds_s),
            set_aside_rounds_s=list(self.timing.set_aside_s),
        )

    def measurement(self) -> Measurement | None:
        """The record of what was measured, or ``None`` when nothing was timed."""
        if self.timing is None:
            return None
        if self.benchmark is not None:
            # pytest-benchmark writes its own JSON: no bare NaN there either
            finite = {k: v if math.isfinite(v) else None for k, v in self.metrics.items()}
            self.benchmark.extra_info["metrics"] = finite
        transfer = self.transfer_timing
        timing = self.timing
        return Measurement(
            experiment=self.experiment,
            size=self.size,
            device=self.device.name,
            rounds_s=timing.rounds_s,
            size_value=self.size_value,
            units=self.units,
            units_per_round=self.units_per_round,
            transfer_s=transfer.median_s if transfer and transfer.rounds_s else None,
            warmup_rounds=len(timing.warmup_s),
            timer=timing.timer,
            event_rounds_s=timing.event_rounds_s,
            metrics=dict(self.metrics),
            device_info=self.device.describe(),
            test_id=self.test_id,
            reason=self.note,
            paired_baseline_s=timing.paired_s,
            baseline_first=timing.baseline_first,
            wait_s=timing.wait_s,
            set_aside_s=timing.set_aside_s,
            set_aside_wait_s=timing.set_aside_wait_s,
            pressure_s=timing.pressure_s,
            sm_clock_mhz=timing.sm_clock_mhz,
            stop=timing.stop,
            pairing=timing.pairing,
            steal_s=timing.steal_s,
            quiet_wait_s=timing.quiet_wait_s,
            calls_per_round=timing.calls_per_round,
            cold_rounds_s=timing.cold_s,
            floor_s=self.floor_s,
        )


def _both(first: RoundCallback, second: RoundCallback | None) -> RoundCallback:
    if second is None:
        return first

    def both(kept: int, set_aside: int) -> None:
        first(kept, set_aside)
        second(kept, set_aside)

    return both
