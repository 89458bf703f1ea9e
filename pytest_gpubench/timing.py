"""Measure a callable on a device so that GPU times are real: warm-up, calibrated rounds,
the device synchronised before every clock read, CUDA event times where there are events,
and the host→device transfer measured apart from the compute.

The functions here take a device and a callable and need no pytest session. Inside a
session :class:`GpuBench` hands the rounds to pytest-benchmark's ``benchmark.pedantic`` so
its statistics, storage and ``--benchmark-*`` options keep working, reads them back and
records a :class:`~pytest_gpubench.results.Measurement`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_gpubench.devices import Device, EventTimer
from pytest_gpubench.results import Measurement

__all__ = [
    "BenchmarkRunner",
    "GpuBench",
    "RoundRunner",
    "SyncedTarget",
    "Timing",
    "TimingSettings",
    "calibrate_rounds",
    "measure",
    "measure_transfer",
    "run_rounds",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class TimingSettings:
    """How long and how often to measure.

    ``warmup`` untimed-for-statistics rounds come first (the first GPU call pays for context
    creation and kernel compilation); then as many rounds as fit in ``max_time`` seconds,
    estimated from the warm-up and clamped to ``[min_rounds, max_rounds]``. Two warm-up
    rounds by default: estimated from the cold first round alone, a GPU cell got 3 rounds
    where 20 fitted (a 0.47 s first call, then 25 ms rounds).
    """

    warmup: int = 2
    min_rounds: int = 3
    max_rounds: int = 100
    max_time: float = 1.0

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 rounds, got {self.warmup!r}")
        if self.min_rounds < 1:
            raise ValueError(f"min_rounds must be >= 1, got {self.min_rounds!r}")
        if self.max_rounds < self.min_rounds:
            raise ValueError(
                f"max_rounds ({self.max_rounds!r}) must be >= min_rounds ({self.min_rounds!r})"
            )
        if not (self.max_time > 0 and math.isfinite(self.max_time)):
            raise ValueError(
                f"max_time must be a finite number of seconds > 0, got {self.max_time!r}"
            )


@dataclass(frozen=True)
class Timing:
    """What one measurement produced: seconds per round (host clock, device synchronised),
    the warm-up rounds apart, CUDA event seconds per round where the device has events."""

    rounds_s: tuple[float, ...]
    warmup_s: tuple[float, ...] = ()
    event_rounds_s: tuple[float, ...] = ()
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def timer(self) -> str:
        return "perf_counter+cuda-event" if self.event_rounds_s else "perf_counter"

    @property
    def median_s(self) -> float:
        ordered = sorted(self.rounds_s)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class SyncedTarget:
    """A callable bracketed by device synchronisation, for any timer to read around it.

    Call :meth:`setup` just before the clock starts (it waits for queued work), then the
    object itself (it runs the target, then waits until the device has finished it), then
    :meth:`teardown` after the clock stopped (it collects the CUDA event time, if any).
    """

    def __init__(self, device: Device, target: Callable[[], Any]) -> None:
        self.device = device
        self.target = target
        self.events: EventTimer | None = device.event_timer()
        self.event_rounds_s: list[float] = []
        self.result: Any = None

    def setup(self) -> None:
        self.device.synchronize()

    def __call__(self) -> Any:
        if self.events is not None:
            self.events.start()
        self.result = self.target()
        if self.events is not None:
            self.events.stop()
        self.device.synchronize()
        return self.result

    def teardown(self) -> None:
        if self.events is not None:
            self.event_rounds_s.append(self.events.elapsed_s())


class RoundRunner(Protocol):
    """Times ``rounds`` calls of ``synced`` (each after its setup) and returns the seconds."""

    def __call__(self, synced: SyncedTarget, rounds: int) -> list[float]: ...


def run_rounds(synced: SyncedTarget, rounds: int, clock: Clock = time.perf_counter) -> list[float]:
    """Time ``rounds`` calls of ``synced`` with ``clock``; the device is idle at each read."""
    durations = []
    for _ in range(rounds):
        synced.setup()
        start = clock()
        synced()
        end = clock()
        synced.teardown()
        durations.append(end - start)
    return durations


def calibrate_rounds(warmup_s: Sequence[float], settings: TimingSettings) -> int:
    """Rounds that fill ``settings.max_time``, estimated from the warm-up.

    The first warm-up round pays one-off costs, so the later ones estimate a round when
    there are any (with one warm-up round the estimate is that cold round: too few rounds);
    with no warm-up there is nothing to estimate from and ``min_rounds`` is used.
    """
    estimates = [t for t in (warmup_s[1:] or warmup_s) if t > 0]
    if not estimates:
        return settings.min_rounds if not warmup_s else settings.max_rounds
    fill = settings.max_time / min(estimates)  # inf for a denormal estimate: no ceil of it
    rounds = math.ceil(fill) if fill < settings.max_rounds else settings.max_rounds
    return max(settings.min_rounds, rounds)


def measure(
    device: Device,
    target: Callable[[], Any],
    settings: TimingSettings | None = None,
    *,
    runner: RoundRunner | None = None,
    clock: Clock = time.perf_counter,
) -> Timing:
    """Warm up, calibrate and time ``target`` on ``device``.

    The warm-up always runs on ``clock``; the measured rounds run on ``runner`` (default:
    :func:`run_rounds` on ``clock``; in a session, pytest-benchmark's ``pedantic``).
    """
    settings = settings or TimingSettings()
    synced = SyncedTarget(device, target)
    warmup_s = tuple(run_rounds(synced, settings.warmup, clock))
    synced.event_rounds_s.clear()
    rounds = calibrate_rounds(warmup_s, settings)
    run = runner or (lambda target, n: run_rounds(target, n, clock))
    rounds_s = run(synced, rounds)
    return Timing(
        rounds_s=tuple(rounds_s),
        warmup_s=warmup_s,
        event_rounds_s=tuple(synced.event_rounds_s),
        result=synced.result,
    )


def measure_transfer(
    device: Device,
    host: Any,
    dtype: str | None = None,
    settings: TimingSettings | None = None,
    *,
    clock: Clock = time.perf_counter,
) -> Timing:
    """Time copying host data onto ``device`` (a fresh full copy each round).

    ``result`` is the device array of the last round. CPU back ends that can use host
    memory as it is (numpy, torch on the CPU) honestly measure close to nothing. Data that
    already lies on a GPU is refused: no copy would be timed.
    """
    if _on_gpu(host):
        raise ValueError(
            f"transfer() times a host-to-device copy, but the data is already on a GPU "
            f"({type(host).__module__}.{type(host).__name__}); pass the host array (numpy)"
        )
    return measure(device, lambda: device.asarray(host, dtype), settings, clock=clock)


def _on_gpu(x: Any) -> bool:
    import array_api_compat

    if array_api_compat.is_cupy_array(x):
        return True
    return array_api_compat.is_torch_array(x) and x.device.type != "cpu"


class BenchmarkRunner:
    """Runs the measured rounds through pytest-benchmark's fixture, which owns the clock."""

    def __init__(self, benchmark: Any) -> None:
        self.benchmark = benchmark

    def __call__(self, synced: SyncedTarget, rounds: int) -> list[float]:
        self.benchmark.pedantic(
            synced,
            setup=synced.setup,
            teardown=synced.teardown,
            rounds=rounds,
            warmup_rounds=0,
            iterations=1,
        )
        stats = getattr(self.benchmark, "stats", None)
        if stats is None:  # --benchmark-disable: the target ran once, untimed
            return []
        rounds_s = [float(t) for t in stats.stats.data]
        # --benchmark-cprofile makes one more, profiled call after the rounds: not a round
        del synced.event_rounds_s[len(rounds_s) :]
        return rounds_s


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


class GpuBench:
    """The ``gpubench`` fixture: time a workload on one device and record it.

    ``gpubench.transfer(X)`` copies ``X`` onto the device, timing the copy apart;
    ``gpubench(fn, *args, units=..., units_per_round=...)`` times ``fn(*args)`` (once per
    test, like pytest-benchmark's fixture) and returns its last result; ``metrics`` takes
    extra numbers such as accuracy. :meth:`measurement` is the record for the reports.
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
    ) -> None:
        self.device = device
        self.experiment = experiment
        self.size = size
        self.size_value = size_value
        self.settings = settings or TimingSettings()
        self.benchmark = benchmark
        self.test_id = test_id
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
        **kwargs: Any,
    ) -> Any:
        """Time ``target(*args, **kwargs)`` on the device; returns its last result."""
        if self.timing is not None:
            raise RuntimeError("gpubench can time one workload per test; split the test")
        self.units = units
        self.units_per_round = _finite(
            units_per_round, "units_per_round", "a finite number >= 0 (0: no throughput)", 0.0
        )
        if size is not None:
            self.size = str(size)
        if size_value is not None:
            self.size_value = _finite(size_value, "size_value", "a finite number (the x axis)")
        runner = None
        if self.benchmark is not None:
            self.benchmark.group = f"{self.experiment} {self.size}"
            runner = BenchmarkRunner(self.benchmark)
        self.timing = measure(
            self.device, lambda: target(*args, **kwargs), self.settings, runner=runner
        )
        if not self.timing.rounds_s:
            self.note = "not timed (benchmarks disabled)"
        self._fill_extra_info()
        return self.timing.result

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
            event_rounds_s=list(self.timing.event_rounds_s),
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
        return Measurement(
            experiment=self.experiment,
            size=self.size,
            device=self.device.name,
            rounds_s=self.timing.rounds_s,
            size_value=self.size_value,
            units=self.units,
            units_per_round=self.units_per_round,
            transfer_s=transfer.median_s if transfer and transfer.rounds_s else None,
            warmup_rounds=len(self.timing.warmup_s),
            timer=self.timing.timer,
            event_rounds_s=self.timing.event_rounds_s,
            metrics=dict(self.metrics),
            device_info=self.device.describe(),
            test_id=self.test_id,
            reason=self.note,
        )
