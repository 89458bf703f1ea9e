"""Measure a callable on a device so that GPU times are real and a busy machine shows:
warm-up, calibrated rounds of back-to-back calls, the device synchronised before every
clock read, CUDA event times where there are events, rounds disturbed by other work set
aside and run again, rounds interleaved with the baseline device's (paired), and rounds
until the answer is precise enough.

Calls per round: a call of a few microseconds timed alone measures the clock reads, the
device sync and the wake-up of idle threads, not the work. After warm-up the number of
back-to-back calls per round, ``k``, is chosen so that one round lasts at least
``round_time`` (:func:`calibrate`, the way timeit's ``autorange`` and Google Benchmark grow
their iterations); a call that already lasts that long keeps ``k = 1``. Each round is then
one untimed-for-the-answer *cold* call (it pays whatever the untimed waits before it let go
cold, and is kept as the isolated call's latency), then the timed block of ``k`` calls with
one sync (and one pair of CUDA events) around it; every figure is that block over ``k``.

The functions here take a device and a callable and need no pytest session. Inside a
session :class:`~pytest_gpubench.bench.GpuBench` measures with them, hands the kept rounds
to pytest-benchmark and records a :class:`~pytest_gpubench.results.Measurement`.

How many rounds: they go on until the 95% interval of the median (of the paired ratios,
or of the times for an unpaired cell) is within ``precision`` of it, or until the cell
has spent ``max_time`` seconds in kept rounds, with at least ``min_rounds`` and at most
``max_rounds`` kept. A paired cell whose baseline rounds ran more than
:data:`~.interference.DRIFT_TOLERANCE` slower or faster than the baseline's own cell is never
called precise (its speedup's interval covers both readings, see :mod:`.speedup`): it takes
its whole time budget, for the baseline's rounds beside it to show both modes. Rounds set
aside (see :mod:`.interference`) do not count, and may use ``busy_time`` more seconds; a
cell that still has fewer than ``min_rounds`` clean rounds then is *machine busy*. After
each round set aside the loop waits, untimed, for the machine's other work to pause (see
:func:`~.interference.wait_for_quiet`), so that the next try starts at a neighbour's idle
spell; those waits are bounded by the busy budget too.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_gpubench.devices import Device, EventTimer
from pytest_gpubench.interference import (
    DEFAULT_WAIT_SHARE,
    GpuClockProbe,
    RoundNoise,
    WaitProbe,
    disturbed,
    drift_beyond,
    settle,
)

__all__ = [
    "DEFAULT_PRECISION",
    "MAX_CALLS",
    "MIN_PRECISION_ROUNDS",
    "ROUND_TIME_S",
    "Round",
    "SyncedTarget",
    "Timing",
    "TimingSettings",
    "calibrate",
    "check_calls_per_round",
    "harness_floor",
    "measure",
    "measure_transfer",
    "median_interval",
    "relative_half_width",
    "run_rounds",
    "time_round",
]

Clock = Callable[[], float]
#: Called after every timed round with the kept and set-aside counts (progress display).
RoundCallback = Callable[[int, int], None]
#: Set-aside tries allowed per round still needed, for rounds too long for the busy budget.
BUSY_ATTEMPTS = 8
#: The default precision: two runs whose speedups are each within 3% of the truth agree
#: within 1.06x. At 5% they could be 1.105x apart, past the 1.1x that issue 12 asks of
#: repeated runs on a quiet machine (measured on the 2-core EPYC: worst size 1.14x at 5%,
#: 1.09x at 3%, quiet runs 58-67 s and 81-92 s).
DEFAULT_PRECISION = 0.03
#: The longest wait for a quiet machine after a round set aside: this or two pairs' time,
#: whichever is longer (a neighbour's busy spell in benchmarks/noisy_neighbour is 1-4 s).
QUIET_MAX_S = 4.0
#: NVML's floor for a clean GPU round: nvbench drops samples below 75% of the default clock.
MIN_CLOCK_SHARE = 0.75
#: The shortest calibrated round (``--gpubench-round-time``). Per-round costs that are not
#: the work are a clock read pair (0.1 µs), a GPU sync (5-10 µs) and, after the cold call,
#: what is left of a thread's wake-up (under 100 µs on the 2-core VM): under 1% of 10 ms.
#: Longer rounds buy little more and are set aside more often beside a busy neighbour
#: (a round is clean only inside one of its idle spells); timeit's 0.2 s is for one figure,
#: not for tens of paired rounds.
ROUND_TIME_S = 0.01
#: The most calls one round may hold (an empty callable takes ~30 ns: 10 ms is 3e5 calls).
MAX_CALLS = 10**8


@dataclass(frozen=True)
class TimingSettings:
    """How long, how often and how precisely to measure.

    ``warmup`` rounds come first (the first GPU call pays for context creation and kernel
    compilation). Then rounds are kept until the median is known within ``precision``
    (the relative half-width of its 95% interval; 0 fills ``max_time`` instead), or
    ``max_time`` seconds of kept rounds, clamped to ``[min_rounds, max_rounds]``. A round
    whose threads waited for a CPU longer than ``wait_share`` of it is set aside (``inf``
    keeps every round); set-aside rounds may take ``busy_time`` seconds more (default:
    ``max(10 s, 3 × max_time)``, enough to outlast a neighbour's busy spell).
    ``round_time`` is the least seconds one round of back-to-back calls lasts (0: one call
    per round, each of them cold); ``calls_per_round`` fixes the number of calls instead
    (1 for a callable that must not run twice in a row).
    """

    warmup: int = 2
    min_rounds: int = 3
    max_rounds: int = 100
    max_time: float = 1.0
    precision: float = DEFAULT_PRECISION
    wait_share: float = DEFAULT_WAIT_SHARE
    busy_time: float | None = None
    round_time: float = ROUND_TIME_S
    calls_per_round: int | None = None

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
        if not (0 <= self.precision < 1):
            raise ValueError(
                f"precision must be a fraction from 0 (off) to below 1, got {self.precision!r}"
            )
        if not self.wait_share > 0:
            raise ValueError(f"wait_share must be > 0 (inf: off), got {self.wait_share!r}")
        if self.busy_time is not None and not (
            self.busy_time >= 0 and math.isfinite(self.busy_time)
        ):
            raise ValueError(f"busy_time must be finite seconds >= 0, got {self.busy_time!r}")
        if not (self.round_time >= 0 and math.isfinite(self.round_time)):
            raise ValueError(
                f"round_time must be finite seconds >= 0 (0: one call per round), got "
                f"{self.round_time!r}"
            )
        check_calls_per_round(self.calls_per_round)

    @property
    def busy_budget_s(self) -> float:
        """Seconds a cell may spend in set-aside rounds, at least (see ``_Rounds``)."""
        return max(10.0, 3 * self.max_time) if self.busy_time is None else self.busy_time


def check_calls_per_round(calls: Any) -> int | None:
    """``calls`` if it is None (calibrate) or a whole number from 1 to :data:`MAX_CALLS`."""
    if calls is None:
        return None
    if isinstance(calls, bool) or not isinstance(calls, int) or not 1 <= calls <= MAX_CALLS:
        raise ValueError(
            f"calls_per_round must be a whole number from 1 to {MAX_CALLS} (1: one call per "
            f"round, for a callable that must not be repeated), or None to calibrate; got "
            f"{calls!r}"
        )
    return calls


@dataclass(frozen=True)
class Round:
    """One timed round: seconds per call (a block of ``calls`` calls, device synchronised,
    over ``calls``), what else the machine did meanwhile, the CUDA event seconds per call
    where the device has events, and the cold single call timed just before the block."""

    seconds: float
    noise: RoundNoise = field(default_factory=RoundNoise)
    event_s: float | None = None
    calls: int = 1
    cold_s: float | None = None

    @property
    def total_s(self) -> float:
        """Wall seconds of the whole round: the block and its cold call."""
        return self.seconds * self.calls + (self.cold_s or 0.0)


@dataclass(frozen=True)
class Timing:
    """What one measurement produced.

    ``rounds_s`` are the kept rounds, seconds per call over ``calls_per_round`` back-to-back
    calls; ``cold_s`` the single cold call timed before each of them (empty when every round
    is one call); ``paired_s`` the partner's (baseline's) round timed
    beside each of them (empty when unpaired). ``set_aside_s`` are the rounds set aside as
    disturbed, with their waits in ``set_aside_wait_s``. ``stop`` says why the rounds ended:
    ``precise``, ``time budget``, ``max rounds`` or ``machine busy``.
    """

    rounds_s: tuple[float, ...]
    warmup_s: tuple[float, ...] = ()
    event_rounds_s: tuple[float, ...] = ()
    result: Any = field(default=None, repr=False, compare=False)
    paired_s: tuple[float, ...] = ()
    #: for each kept pair, whether the partner's round ran first
    baseline_first: tuple[bool, ...] = ()
    wait_s: tuple[float, ...] = ()
    set_aside_s: tuple[float, ...] = ()
    set_aside_wait_s: tuple[float, ...] = ()
    pressure_s: float | None = None
    sm_clock_mhz: tuple[float, ...] = ()
    stop: str = ""
    pairing: str = ""
    #: seconds the hypervisor stole from this process's CPUs during all rounds (a VM)
    steal_s: float | None = None
    #: seconds waited, untimed, for the machine to quieten after rounds set aside
    quiet_wait_s: float = 0.0
    target: SyncedTarget | None = field(default=None, repr=False, compare=False)
    calls_per_round: int = 1
    cold_s: tuple[float, ...] = ()

    @property
    def timer(self) -> str:
        return "perf_counter+cuda-event" if self.event_rounds_s else "perf_counter"

    @property
    def median_s(self) -> float:
        ordered = sorted(self.rounds_s)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    @property
    def busy(self) -> bool:
        return self.stop == "machine busy"


class SyncedTarget:
    """A callable run as a block of ``calls`` back-to-back calls, bracketed by device
    synchronisation (and CUDA events), for any timer to read around it.

    Call :meth:`setup` just before the clock starts (it waits for queued work), then the
    object itself (it runs the block, then waits until the device has finished it), then
    :meth:`teardown` after the clock stopped: it returns the CUDA event time, if any.
    :meth:`once` is one synchronised call outside the block (the cold call).
    """

    def __init__(self, device: Device, target: Callable[[], Any], calls: int = 1) -> None:
        self.device = device
        self.target = target
        self.calls = calls
        self.events: EventTimer | None = device.event_timer()
        self.result: Any = None
        #: whether a round keeps its last result (for the caller); see :meth:`final_result`
        self.keep_result = True

    def setup(self) -> None:
        self.device.synchronize()

    def __call__(self) -> Any:
        target = self.target
        self.result = None  # the last round's result is not kept alive through this one
        if self.events is not None:
            self.events.start()
        # timeit's loop: no counter, and each result dropped before the next call, as in
        # a program; a result kept until the next call returns doubles the live memory, and
        # then torch's 16 MB adds paid their page faults on every call (7.7 ms, not 0.8 ms)
        for _ in itertools.repeat(None, self.calls - 1):
            target()
        result = target()
        if self.events is not None:
            self.events.stop()
        self.device.synchronize()
        if self.keep_result:
            self.result = result
        return result

    def final_result(self) -> Any:
        """The result for the caller: the last round's, or, where rounds drop theirs, one
        more untimed call's."""
        if not self.keep_result:
            self.result = self.target()
            self.device.synchronize()
        return self.result

    def once(self) -> None:
        """One call, synchronised, outside the block (not seen by the CUDA events); its
        result is dropped."""
        self.target()
        self.device.synchronize()

    def teardown(self) -> float | None:
        return self.events.elapsed_s() if self.events is not None else None


def run_rounds(synced: SyncedTarget, rounds: int, clock: Clock = time.perf_counter) -> list[float]:
    """Time ``rounds`` rounds of ``synced`` with ``clock`` (seconds per call)."""
    return [time_round(synced, clock).seconds for _ in range(rounds)]


def time_round(
    synced: SyncedTarget, clock: Clock = time.perf_counter, probe: WaitProbe | None = None
) -> Round:
    """One round of ``synced`` between two clock reads, with ``probe``'s counters around
    it. A block of several calls is preceded by one cold call, timed apart: whatever went
    idle during the untimed waits before the round (pool threads, a core, the GPU's queue)
    wakes up there, not inside the timed block."""
    synced.setup()
    if probe is not None:
        probe.start()
    calls = synced.calls
    cold = None
    if calls > 1:  # the cold call's end is the block's start: the device is idle there
        begin = clock()
        synced.once()
        start = clock()
        cold = start - begin
    else:
        start = clock()
    synced()
    end = clock()
    noise = probe.stop() if probe is not None else RoundNoise()
    event = synced.teardown()
    return Round(
        (end - start) / calls,
        noise,
        None if event is None else event / calls,
        calls,
        cold,
    )


def calibrate(
    synced: SyncedTarget,
    round_time: float,
    clock: Clock = time.perf_counter,
    first_s: float | None = None,
) -> int:
    """The calls per round that make one round last at least ``round_time`` seconds.

    ``first_s`` (the warm-up's fastest single call) gives the first guess; a call that
    long already keeps one call per round. Then blocks are timed, each guess grown by the
    shortfall (at most 10× a step, like Google Benchmark's iterations), until two blocks in
    a row last the target: one stall of the machine (a host taking the CPU for 10 ms) must
    not leave a 30 µs call at 2 calls a round. ``synced.calls`` is left at the answer."""
    if round_time <= 0 or (first_s is not None and first_s >= round_time):
        synced.calls = 1
        return 1
    calls = 1 if not first_s else max(1, min(MAX_CALLS, int(round_time / first_s)))
    reached = False
    for _ in range(40):
        synced.calls = calls
        elapsed = time_round(synced, clock).seconds * calls
        if calls >= MAX_CALLS or (elapsed >= round_time and reached):
            break
        reached = elapsed >= round_time
        if not reached:
            grow = 10.0 if elapsed <= 0 else min(10.0, max(1.2, 1.2 * round_time / elapsed))
            calls = min(MAX_CALLS, math.ceil(calls * grow))
    return calls


# --------------------------------------------------------------------------- precision

#: Fewest samples whose order statistics bound the median at 95% (5 give only 94%).
MIN_PRECISION_ROUNDS = 6
_RANKS: dict[int, int] = {}


def _lower_rank(n: int, confidence: float = 0.95) -> int:
    """The largest ``k`` whose order statistics ``x_(k)``, ``x_(n+1-k)`` cover the median of
    ``n`` samples with ``confidence`` (distribution-free: a binomial(n, 1/2) tail); 0 when
    even the extremes do not."""
    if n not in _RANKS:
        tail, k, cumulative = (1 - confidence) / 2, 0, 0.0
        while True:
            cumulative += math.comb(n, k) / 2**n
            if cumulative > tail:
                break
            k += 1
        _RANKS[n] = k
    return _RANKS[n]


def median_interval(samples: Sequence[float]) -> tuple[float, float] | None:
    """The distribution-free 95% interval of the median of ``samples``; None below
    :data:`MIN_PRECISION_ROUNDS`. Cheap enough to check after every round."""
    k = _lower_rank(len(samples))
    if k == 0:
        return None
    ordered = sorted(samples)
    return ordered[k - 1], ordered[len(ordered) - k]


def relative_half_width(samples: Sequence[float]) -> float:
    """Half the width of :func:`median_interval` over the median; inf when unknown."""
    interval = median_interval(samples)
    if interval is None:
        return math.inf
    ordered = sorted(samples)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return (interval[1] - interval[0]) / 2 / median if median > 0 else math.inf


# --------------------------------------------------------------------------- the rounds


class _PartnerFailed(Exception):
    """The partner's callable raised when run again: the cell is measured unpaired."""


@dataclass
class _Rounds:
    """The loop of one cell: kept and set-aside rounds, the budgets they spent."""

    settings: TimingSettings
    probe: WaitProbe
    clock: Clock
    default_clock_mhz: float | None = None
    kept: list[tuple[Round, Round | None]] = field(default_factory=list)
    aside: list[tuple[Round, Round | None]] = field(default_factory=list)
    spent: float = 0.0
    spent_aside: float = 0.0
    #: wall-clock start: rounds of microseconds set aside must not loop for millions
    started: float = field(default_factory=time.monotonic)
    #: for each kept pair, whether the partner's round ran first
    kept_first: list[bool] = field(default_factory=list)
    #: seconds of each round (both rounds of a pair), kept or set aside
    costs: list[float] = field(default_factory=list)
    #: waits, untimed, for the other target's pool threads to go idle (see ``settle``)
    settle: Callable[[], float] = settle
    last: SyncedTarget | None = None
    #: the partner's rounds in its own cell, to tell whether it runs differently here
    partner_alone_s: Sequence[float] = ()
    #: seconds waited, untimed, for a quiet machine after rounds set aside
    waited: float = 0.0

    def samples(self) -> list[float]:
        """Numbers whose median's precision is the answer's: the times when unpaired; when
        paired, each ratio over the median of its order (baseline first or second), so an
        effect of the order does not read as imprecision (see ``balanced_speedup``)."""
        if not (self.kept and self.kept[0][1] is not None):
            return [r.seconds for r, _ in self.kept]
        groups: dict[bool, list[float]] = {True: [], False: []}
        for (r, b), first in zip(self.kept, self.kept_first, strict=True):
            if b is not None and r.seconds > 0:
                groups[first].append(b.seconds / r.seconds)
        return [x / statistics.median(g) for g in groups.values() if g for x in g]

    def stop(self) -> str | None:
        """Why the rounds end now, or None to go on."""
        s, kept = self.settings, len(self.kept)
        if kept >= s.max_rounds:
            return "max rounds"
        if kept >= s.min_rounds:
            precise = s.precision > 0 and relative_half_width(self.samples()) <= s.precision
            if precise and not self.partner_drifted():
                return "precise"
            if self.spent >= s.max_time:
                return "time budget"
        budget = self.busy_budget()
        over = time.monotonic() - self.started - self.waited >= s.max_time + budget
        if self.aside and (self.spent_aside >= budget or over):
            return "machine busy" if kept < s.min_rounds else "time budget"
        return None

    def partner_drifted(self) -> bool:
        """The partner's kept rounds here are beyond the drift tolerance of its own cell's."""
        beside = [b.seconds for _, b in self.kept if b is not None]
        if not (beside and self.partner_alone_s):
            return False
        alone = statistics.median(self.partner_alone_s)
        return alone > 0 and drift_beyond(statistics.median(beside) / alone)

    def busy_budget(self) -> float:
        """Seconds of set-aside rounds allowed: ``busy_budget_s``, or, for long rounds,
        enough for :data:`BUSY_ATTEMPTS` tries at each of ``min_rounds`` (a 2 s pair beside
        a neighbour busy half the time was clean one time in four to six)."""
        s = self.settings
        if s.busy_time is not None or not self.costs:
            return s.busy_budget_s
        return max(s.busy_budget_s, BUSY_ATTEMPTS * s.min_rounds * statistics.median(self.costs))

    def quiet_limit(self, cost: float) -> float:
        """How long to wait for a quiet machine now: :data:`QUIET_MAX_S` or two of these
        pairs, within what is left of the busy budget for waiting."""
        left = self.busy_budget() - self.waited
        return max(0.0, min(max(QUIET_MAX_S, 2 * cost), left))

    def why_aside(self, r: Round) -> str | None:
        return disturbed(
            r.total_s,
            r.noise,
            self.settings.wait_share,
            MIN_CLOCK_SHARE,
            self.default_clock_mhz,
        )

    def _timed(self, target: SyncedTarget) -> Round:
        if self.last is not None and self.last is not target:
            self.settle()  # the other library's threads stop spinning first
        self.last = target
        return time_round(target, self.clock, self.probe)

    def one(self, synced: SyncedTarget, partner: SyncedTarget | None, index: int) -> None:
        if partner is None:
            mine, theirs = self._timed(synced), None
        elif index % 2 == 0:  # the order within a pair alternates: B D, D B, B D, ...
            theirs = self._partner_round(partner)
            mine = self._timed(synced)
        else:
            mine = self._timed(synced)
            theirs = self._partner_round(partner)
        cost = mine.total_s + (theirs.total_s if theirs else 0.0)
        self.costs.append(cost)
        if self.why_aside(mine) or (theirs is not None and self.why_aside(theirs)):
            self.aside.append((mine, theirs))
            self.spent_aside += cost
            self.waited += self.probe.quiet(self.quiet_limit(cost))
        else:
            self.kept.append((mine, theirs))
            self.kept_first.append(partner is not None and index % 2 == 0)
            self.spent += cost

    def _partner_round(self, partner: SyncedTarget) -> Round:
        try:
            return self._timed(partner)
        except Exception as exc:
            raise _PartnerFailed(f"{type(exc).__name__}: {exc}") from exc


def measure(
    device: Device,
    target: Callable[[], Any],
    settings: TimingSettings | None = None,
    *,
    clock: Clock = time.perf_counter,
    partner: SyncedTarget | None = None,
    partner_alone_s: Sequence[float] = (),
    probe: WaitProbe | None = None,
    on_round: RoundCallback | None = None,
) -> Timing:
    """Warm up, then time ``target`` on ``device`` until precise enough (module doc).

    With a ``partner`` (the baseline device's synchronised callable of the same size) its
    rounds alternate with the target's, so that a slow spell of the machine hits both, and
    a pair is set aside when either of its rounds was disturbed; ``partner_alone_s`` (its
    kept rounds in its own cell) tells whether it drifted beside this target. A partner that
    fails when run again leaves the cell unpaired, saying why in ``Timing.pairing``.
    """
    settings = settings or TimingSettings()
    synced = SyncedTarget(device, target)
    warmup_s = tuple(run_rounds(synced, settings.warmup, clock))
    if settings.calls_per_round is not None:
        synced.calls = settings.calls_per_round
    else:
        calibrate(synced, settings.round_time, clock, min(warmup_s) if warmup_s else None)
    # Short calls' rounds keep no result between them, as a program's loop keeps none: two
    # libraries' last results held across rounds (this one's and the baseline's beside it)
    # made glibc give 16 MB back and fault it in again, torch's add read 6.6 ms, not 1.2.
    synced.keep_result = synced.calls == 1
    synced.result = None
    gpu = gpu_clock(device)
    probe = probe or WaitProbe(gpu=gpu)
    pairing = ""
    if partner is not None:
        try:
            run_rounds(partner, 1, clock)  # its caches went cold while other tests ran
        except Exception as exc:
            pairing = f"unpaired: the baseline failed when run again ({type(exc).__name__})"
            partner = None
    default_clock = gpu.default_clock_mhz if gpu is not None else None
    loop = _Rounds(settings, probe, clock, default_clock, partner_alone_s=partner_alone_s)
    try:
        _run(loop, synced, partner, on_round)
    except _PartnerFailed as exc:
        pairing = f"unpaired: the baseline failed when run again ({exc})"
        loop = _Rounds(settings, probe, clock, default_clock)
        _run(loop, synced, None, on_round)
        partner = None
    if partner is not None:
        pairing = "paired"
    return _timing(loop, warmup_s, synced, pairing)


def _run(
    loop: _Rounds,
    synced: SyncedTarget,
    partner: SyncedTarget | None,
    on_round: RoundCallback | None,
) -> None:
    index = 0
    while loop.stop() is None:
        loop.one(synced, partner, index)
        index += 1
        if on_round is not None:
            on_round(len(loop.kept), len(loop.aside))


def _timing(
    loop: _Rounds, warmup_s: tuple[float, ...], synced: SyncedTarget, pairing: str
) -> Timing:
    kept = [r for r, _ in loop.kept]
    aside = [r for r, _ in loop.aside]
    everything = kept + aside
    pressures = [r.noise.pressure_s for r in everything if r.noise.pressure_s is not None]
    steals = [r.noise.steal_s for r in everything if r.noise.steal_s is not None]
    return Timing(
        rounds_s=tuple(r.seconds for r in kept),
        warmup_s=warmup_s,
        event_rounds_s=tuple(r.event_s for r in kept if r.event_s is not None),
        result=synced.final_result(),
        paired_s=tuple(b.seconds for _, b in loop.kept if b is not None),
        baseline_first=tuple(loop.kept_first) if loop.kept and loop.kept[0][1] else (),
        wait_s=_waits(kept),
        set_aside_s=tuple(r.seconds for r in aside),
        set_aside_wait_s=_waits(aside),
        pressure_s=sum(pressures) if pressures else None,
        sm_clock_mhz=tuple(r.noise.sm_clock_mhz for r in kept if r.noise.sm_clock_mhz),
        stop=loop.stop() or "",
        pairing=pairing,
        steal_s=sum(steals) if steals else None,
        quiet_wait_s=loop.waited,
        target=synced,
        calls_per_round=synced.calls,
        cold_s=tuple(r.cold_s for r in kept if r.cold_s is not None),
    )


#: Rounds of the empty callable behind :func:`harness_floor`.
FLOOR_ROUNDS = 5
_FLOORS: dict[tuple[str, float], float] = {}


def _empty() -> None:
    return None


def harness_floor(
    device: Device, round_time: float = ROUND_TIME_S, clock: Clock = time.perf_counter
) -> float:
    """Seconds per call of an empty callable on ``device``, timed the way every cell is
    (calibrated blocks, the device synchronised around each): what the harness itself
    costs per call. Measured once per device and round time, in about 0.1 s."""
    key = (device.name, round_time)
    if key not in _FLOORS:
        settings = TimingSettings(
            warmup=1,
            min_rounds=FLOOR_ROUNDS,
            max_rounds=FLOOR_ROUNDS,
            precision=0.0,
            wait_share=math.inf,
            round_time=round_time,
        )
        _FLOORS[key] = measure(device, _empty, settings, clock=clock).median_s
    return _FLOORS[key]


def _waits(rounds: Sequence[Round]) -> tuple[float, ...]:
    """Each round's wait for a CPU that other work can have caused (see
    :meth:`~.interference.RoundNoise.foreign_wait_s`), where it was read."""
    waits = (r.noise.foreign_wait_s(r.total_s) for r in rounds)
    return tuple(w for w in waits if w is not None)


_GPU_CLOCKS: dict[str, GpuClockProbe | None] = {}


def gpu_clock(device: Device) -> GpuClockProbe | None:
    """The NVML clock probe of a CUDA device (cached), or None (CPU, or no NVML)."""
    if not device.is_gpu:
        return None
    if device.name not in _GPU_CLOCKS:
        _GPU_CLOCKS[device.name] = GpuClockProbe.create(0)
    return _GPU_CLOCKS[device.name]


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
