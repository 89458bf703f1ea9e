"""How much of a timed round was lost to other work on the machine.

On Linux, every thread of this process has ``/proc/self/task/<tid>/schedstat``, whose second
field counts the nanoseconds the thread spent runnable but waiting for a CPU. Its sum over
the threads, read before and after a round, is the round's *wait*: zero on an idle
machine, about the stolen time when a neighbour holds a core. It separates a slow round
from a disturbed one better than any statistic of the times themselves (correlation 0.99
with the round time, quiet and loaded rounds together, for BLAS rounds on 2 cores).
``/proc/pressure/cpu`` (PSI, ``some``) is read as well: a system-wide hint kept with the
round, not used to set rounds aside.

In a virtual machine the hypervisor can take a virtual CPU away while a thread runs on it:
the guest sees no wait, only *steal* (``/proc/stat``, in scheduler ticks of 10 ms). Steal on
the CPUs this process may use is read around each round too, and a round that lost more
than one tick and more than its wait share to it is set aside as well.

After a round is set aside, :func:`wait_for_quiet` sleeps, untimed, until the other
processes on this process's CPUs have gone idle (``/proc/stat`` again), so that the next
try starts at the beginning of a neighbour's idle spell, not at a random point in its busy
one: a 2.4 s pair beside a neighbour busy half the time was clean 1 time in 11 without it.

Elsewhere there is no wait counter; the process's CPU seconds are recorded instead, and no
round is set aside: CPU time below wall time × threads also counts I/O, page faults, a GPU
wait and threads that idle by design, so it cannot tell a neighbour from the workload.

On NVIDIA GPUs, where ``nvidia-ml-py`` (``pynvml``) is installed, the SM clock and the
clock-throttle reasons are read after each round (see :class:`GpuClockProbe`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_WAIT_SHARE",
    "DRIFT_TOLERANCE",
    "MIN_STEAL_S",
    "MIN_WAIT_S",
    "ROOM_SLACK",
    "SLOWDOWN_BITS",
    "WAKE_ALLOWANCE_S",
    "CpuTimes",
    "GpuClockProbe",
    "RoundNoise",
    "WaitProbe",
    "cpu_times",
    "disturbed",
    "drift_beyond",
    "others_running",
    "pressure_s",
    "process_cpu_s",
    "process_schedstat",
    "process_wait_s",
    "settle",
    "slowdown_reasons",
    "stolen_s",
    "wait_for_quiet",
]

#: A round is set aside when its threads waited for a CPU longer than this share of its
#: wall time. Quiet rounds here wait 0.1-1% (thread wake-ups); beside a neighbour holding
#: one of two cores, 30-60%. 5% sits well above the first and far below the second.
DEFAULT_WAIT_SHARE = 0.05
#: ... and longer than this: a single scheduler tick on a round of a few microseconds is a
#: large share but no real loss.
MIN_WAIT_S = 50e-6
#: The wait each timeslice of this process's threads may start with before it counts: a
#: sleeping thread's wake-up. Woken on an idle virtual CPU, a thread waits for the host to
#: run that CPU again (tens of microseconds); a neighbour keeps a thread waiting for its own
#: timeslice to end (milliseconds).
WAKE_ALLOWANCE_S = 100e-6
#: The share of its CPUs' time a process may seem to leave unused while it keeps them all
#: busy (its CPU time and the wall clock are read microseconds apart): busy BLAS threads
#: outnumbering the 2-core VM's CPUs left 0.0-0.2 ms of 45 unused by the threads' clocks.
ROOM_SLACK = 0.05
#: How far one library's rounds may stray when another library's rounds run between them
#: (the paired baseline's median over its own cell's) before the speedup's interval covers
#: the unpaired reading too. At 300 on 2 cores numpy ran 11-19% slower right after torch's
#: rounds in all six runs of docs/results/noisy-neighbour; below 10% the difference is
#: within a quiet cell's spread.
DRIFT_TOLERANCE = 0.10

_TASKS = Path("/proc/self/task")
_PSI = Path("/proc/pressure/cpu")
_STAT = Path("/proc/stat")
_LOADAVG = Path("/proc/loadavg")
#: The unit of ``/proc/stat``: one scheduler tick (USER_HZ, 100 per second on Linux).
TICK_S = 1 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
#: Steal below this is no evidence: a reading of one tick may be a few microseconds that
#: crossed a tick's edge, so a round must show two ticks at least.
MIN_STEAL_S = 1.5 * TICK_S


def _schedstat_totals(tasks: Path, skip: str = "") -> list[int] | None:
    """The three fields of every thread's ``schedstat`` summed (nanoseconds on a CPU,
    nanoseconds waiting on a run queue, timeslices run), leaving out thread ``skip``; None
    off Linux.

    A thread that exits between the listing and the read is skipped (its share is gone
    from the sum, which can only make a round look quieter, never busier)."""
    try:
        entries = [entry for entry in tasks.iterdir() if entry.name != skip]
    except OSError:
        return None
    totals = [0, 0, 0]
    for entry in entries:
        try:
            fields = (entry / "schedstat").read_bytes().split()
        except OSError:
            continue
        for index, value in enumerate(fields[:3]):
            totals[index] += int(value)
    return totals


def _schedstat_sum(field: int, tasks: Path, skip: str = "") -> float | None:
    """Seconds summed over one field of every thread's ``schedstat`` (0: on a CPU, 1:
    waiting on a run queue), leaving out thread ``skip``; None off Linux."""
    totals = _schedstat_totals(tasks, skip)
    return None if totals is None else totals[field] / 1e9


def process_wait_s(tasks: Path = _TASKS) -> float | None:
    """Seconds all threads of this process have waited on a run queue; None off Linux."""
    return _schedstat_sum(1, tasks)


def _thread_clock(tid: int) -> int:
    """The CPU-time clock of thread ``tid`` (Linux's MAKE_THREAD_CPUCLOCK(tid, SCHED))."""
    return (~tid << 3) | 6


def process_cpu_s(tasks: Path = _TASKS) -> float:
    """Seconds on a CPU of all this process's threads, each read up to now. The process
    clock (``time.process_time``) reads a thread running on another CPU as of its last
    scheduler tick, 4 ms stale per thread at 250 Hz; each thread's own clock is exact.
    Falls back to the process clock off Linux."""
    try:
        tids = [int(entry.name) for entry in tasks.iterdir()]
    except (OSError, ValueError):
        return time.process_time()
    total = 0.0
    for tid in tids:
        try:
            total += time.clock_gettime(_thread_clock(tid))
        except OSError:  # the thread exited: its time left the sum, as in the process clock
            continue
    return total


def process_schedstat(tasks: Path = _TASKS) -> tuple[float, int] | None:
    """Seconds all threads of this process have waited on a run queue, and the timeslices
    they ran (each began with a wait, if only a wake-up's); None off Linux."""
    totals = _schedstat_totals(tasks)
    return None if totals is None else (totals[1] / 1e9, totals[2])


def helper_threads_cpu_s(tasks: Path = _TASKS) -> float | None:
    """Seconds on a CPU of this process's threads other than the calling one (its worker
    pools: BLAS, OpenMP, torch); None off Linux. A running thread's figure advances at
    scheduler ticks, so compare readings more than two ticks apart."""
    return _schedstat_sum(0, tasks, skip=str(threading.get_native_id()))


#: How long :func:`settle` waits at most for worker threads to go idle. OpenBLAS threads
#: spin for about 0.1 s after each call before they sleep.
SETTLE_MAX_S = 0.25
#: The window in which they must use under a tenth of a CPU to count as idle: longer than
#: two scheduler ticks (4 ms at 250 Hz), or a spinning thread reads as idle.
SETTLE_WINDOW_S = 0.01


def settle(
    busy: Callable[[], float | None] = helper_threads_cpu_s,
    max_s: float = SETTLE_MAX_S,
    window_s: float = SETTLE_WINDOW_S,
) -> float:
    """Wait, untimed, until this process's worker threads stop using CPU (at most
    ``max_s``); returns the seconds waited.

    Between the rounds of a pair the library that just ran keeps its pool threads spinning
    (OpenBLAS about 0.1 s, OpenMP a while): on a machine with few cores they take the other
    library's cores and its round waits for a CPU, an artefact of pairing that a program
    using one library never sees (on 2 cores, 233 of 235 torch rounds right after numpy
    rounds waited 80-98% of their time)."""
    start = time.perf_counter()
    before = busy()
    if before is None:
        return 0.0
    while time.perf_counter() - start < max_s:
        time.sleep(window_s)
        now = busy()
        if now is None or now - before < 0.1 * window_s:
            break
        before = now
    return time.perf_counter() - start


def pressure_s(path: Path = _PSI) -> float | None:
    """Seconds (cumulative) that some task on this machine waited for a CPU (PSI)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some "):
            for field in line.split():
                if field.startswith("total="):
                    return int(field[6:]) / 1e6
    return None


@dataclass(frozen=True)
class CpuTimes:
    """Seconds since boot that some CPUs spent busy (user, nice, system, irq, softirq) and
    stolen by the hypervisor, from ``/proc/stat`` (resolution: :data:`TICK_S`)."""

    busy_s: float
    steal_s: float


def _own_cpus() -> Collection[int] | None:
    """The CPUs this process may run on; None where the platform cannot say."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None


def cpu_times(cpus: Collection[int] | None = None, path: Path = _STAT) -> CpuTimes | None:
    """:class:`CpuTimes` summed over ``cpus`` (default: the CPUs this process may run on);
    None off Linux or when ``/proc/stat`` lists none of them."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    wanted = _own_cpus() if cpus is None else cpus
    busy = steal = 0
    found = False
    for line in lines:
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        if wanted is not None and int(name[3:]) not in wanted:
            continue
        ticks = [int(v) for v in rest.split()]
        ticks += [0] * (8 - len(ticks))  # kernels before 2.6.11 have no steal column
        user, nice, system, _idle, _iowait, irq, softirq, stolen = ticks[:8]
        busy += user + nice + system + irq + softirq
        steal += stolen
        found = True
    return CpuTimes(busy * TICK_S, steal * TICK_S) if found else None


def stolen_s(path: Path = _STAT) -> float | None:
    """Seconds (cumulative) the hypervisor took from the CPUs this process may use."""
    times = cpu_times(path=path)
    return times.steal_s if times is not None else None


def others_running(loadavg: Path = _LOADAVG, tasks: Path = _TASKS) -> int | None:
    """Tasks on the machine's run queues right now that are not this process's threads
    (``/proc/loadavg``'s running count less its own threads in state R); None off Linux."""
    try:
        running = int(loadavg.read_text().split()[3].split("/")[0])
        entries = list(tasks.iterdir())
    except (OSError, IndexError, ValueError):
        return None
    own = 0
    for entry in entries:
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        if text[text.rindex(")") + 2 : text.rindex(")") + 3] == "R":
            own += 1
    return max(0, running - own)


#: How long :func:`wait_for_quiet` watches the CPUs at a time: ten ticks, so that a
#: neighbour using a whole CPU shows as ten, and rounding as one at most per CPU.
QUIET_WINDOW_S = 0.1
#: Other processes' CPU use, in CPUs, below which the machine counts as quiet: two ticks of
#: rounding per window are not a neighbour, a busy one is a whole CPU.
QUIET_SHARE = 0.25


def wait_for_quiet(
    max_s: float,
    times: Callable[[], CpuTimes | None] = cpu_times,
    own_cpu: Callable[[], float] = time.process_time,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    window_s: float = QUIET_WINDOW_S,
    running: Callable[[], int | None] = others_running,
) -> float:
    """Sleep, untimed, until other processes use under :data:`QUIET_SHARE` of a CPU over
    one window on this process's CPUs (its own CPU time taken out), at most ``max_s``;
    returns the seconds waited. Returns at once when no other task is running right now
    (:func:`others_running`), or where ``/proc/stat`` cannot be read."""
    start = clock()
    if running() == 0:
        return clock() - start
    before, own_before = times(), own_cpu()
    if before is None:
        return 0.0
    while clock() - start < max_s:
        sleep(min(window_s, max(0.0, max_s - (clock() - start))))
        now, own_now = times(), own_cpu()
        if now is None:
            break
        others = (now.busy_s - before.busy_s) - (own_now - own_before)
        if others < QUIET_SHARE * window_s:
            break
        before, own_before = now, own_now
    return clock() - start


@dataclass(frozen=True)
class RoundNoise:
    """What was read beside one round: the process's run-queue wait (None where there is no
    counter), the machine's CPU pressure, the process's CPU seconds, the time the hypervisor
    stole from its CPUs, and on a GPU its SM clock (MHz) and throttle reasons (NVML's bit
    mask, 0 when running free)."""

    wait_s: float | None = None
    pressure_s: float | None = None
    cpu_s: float | None = None
    sm_clock_mhz: float | None = None
    throttle: int | None = None
    steal_s: float | None = None
    #: timeslices this process's threads ran, and the CPUs it may run on
    slices: int | None = None
    cpus: int | None = None

    def foreign_wait_s(self, round_s: float) -> float | None:
        """The part of the wait that other work on the machine can have caused: what is
        beyond :data:`WAKE_ALLOWANCE_S` a timeslice, and at most the CPU time this process
        left unused on the CPUs it may run on. Another process that held a CPU for ``t``
        seconds kept one thread of this one waiting ``t`` at most; waits beyond that were
        this process's threads waiting for each other (more runnable threads than CPUs),
        which the same workload meets in any program."""
        if self.wait_s is None:
            return None
        wait = self.wait_s
        if self.slices is not None:
            wait = max(0.0, wait - self.slices * WAKE_ALLOWANCE_S)
        if self.cpus and self.cpu_s is not None:
            room = self.cpus * round_s * (1 - ROOM_SLACK) - self.cpu_s
            wait = min(wait, max(0.0, room))
        return wait


def disturbed(
    round_s: float,
    noise: RoundNoise,
    wait_share: float = DEFAULT_WAIT_SHARE,
    min_clock_share: float | None = None,
    default_clock_mhz: float | None = None,
) -> str | None:
    """Why a round is set aside, or None when it is clean.

    A round is disturbed when its threads waited for a CPU longer than ``wait_share`` of
    its wall time (and :data:`MIN_WAIT_S`), counting only the wait that another process can
    have caused (:meth:`RoundNoise.foreign_wait_s`), when the hypervisor stole more than that share
    and more than one tick (a one-tick reading may be rounding) from its CPUs, or, on a GPU,
    when its SM clock was below ``min_clock_share`` of the default clock or a slowdown
    throttle was active. ``wait_share`` of ``inf`` switches both CPU tests off.
    """
    foreign = noise.foreign_wait_s(round_s)
    if foreign is not None and foreign > max(wait_share * round_s, MIN_WAIT_S):
        return f"waited {foreign * 1e3:.2f} ms for a CPU in a {round_s * 1e3:.2f} ms round"
    if noise.steal_s is not None and noise.steal_s > max(wait_share * round_s, MIN_STEAL_S):
        return (
            f"the hypervisor stole {noise.steal_s * 1e3:.0f} ms of CPU in a "
            f"{round_s * 1e3:.2f} ms round"
        )
    if noise.throttle:
        reasons = slowdown_reasons(noise.throttle)
        if reasons:
            return f"GPU throttled ({', '.join(reasons)})"
    if (
        min_clock_share is not None
        and default_clock_mhz
        and noise.sm_clock_mhz is not None
        and noise.sm_clock_mhz < min_clock_share * default_clock_mhz
    ):
        return (
            f"GPU SM clock {noise.sm_clock_mhz:.0f} MHz, below {min_clock_share:.0%} of its "
            f"default {default_clock_mhz:.0f} MHz"
        )
    return None


#: NVML clock-throttle (clocks-event) bits that mean the GPU was slowed by something other
#: than the workload itself: thermal or hardware slowdowns and power braking. A software
#: power cap is left out: under a steady heavy load it is the GPU's normal state.
SLOWDOWN_BITS = {
    0x8: "hardware slowdown",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "power brake",
}


def slowdown_reasons(mask: int) -> list[str]:
    """The names of the slowdown bits set in an NVML throttle-reason ``mask``."""
    return [name for bit, name in SLOWDOWN_BITS.items() if mask & bit]


class WaitProbe:
    """Reads the counters of :class:`RoundNoise` before and after a round.

    ``start()`` before the clock starts, ``stop()`` after it stopped; ``gpu`` (a
    :class:`GpuClockProbe`) adds the SM clock and throttle reasons on NVIDIA devices.
    ``quiet(max_s)``, between rounds, waits until the machine's other work has paused.
    """

    def __init__(
        self,
        wait: Callable[[], float | None] | None = None,
        pressure: Callable[[], float | None] = pressure_s,
        cpu: Callable[[], float] = process_cpu_s,
        gpu: GpuClockProbe | None = None,
        steal: Callable[[], float | None] = stolen_s,
        quiet: Callable[[float], float] = wait_for_quiet,
        schedstat: Callable[[], tuple[float, int] | None] = process_schedstat,
        cpus: int | None = None,
    ) -> None:
        """``wait`` replaces ``schedstat`` (the wait and the timeslices) with a wait alone;
        ``cpus`` defaults to the CPUs this process may run on."""
        if wait is not None:
            counter = wait
            schedstat = lambda: None if (w := counter()) is None else (w, -1)  # noqa: E731
        self._schedstat, self._pressure, self._cpu, self.gpu = schedstat, pressure, cpu, gpu
        self._steal, self._quiet = steal, quiet
        own = _own_cpus()
        self.cpus = cpus if cpus is not None else (len(own) if own else None)
        self._before: tuple[Any, float | None, float, float | None] = (None, None, 0.0, None)

    def start(self) -> None:
        self._before = (self._schedstat(), self._pressure(), self._cpu(), self._steal())

    def stop(self) -> RoundNoise:
        sched, pressure = self._schedstat(), self._pressure()
        cpu, steal = self._cpu(), self._steal()
        sched0, pressure0, cpu0, steal0 = self._before
        clock, throttle = self.gpu.read() if self.gpu is not None else (None, None)
        wait = slices = None
        if sched is not None and sched0 is not None:
            wait = max(0.0, sched[0] - sched0[0])
            if sched[1] >= 0 and sched0[1] >= 0:  # -1: a wait counter without timeslices
                slices = max(0, sched[1] - sched0[1])
        return RoundNoise(
            wait_s=wait,
            pressure_s=_delta(pressure0, pressure),
            cpu_s=max(0.0, cpu - cpu0),
            sm_clock_mhz=clock,
            throttle=throttle,
            steal_s=_delta(steal0, steal),
            slices=slices,
            cpus=self.cpus,
        )

    def quiet(self, max_s: float) -> float:
        """Wait, untimed, at most ``max_s`` for other work to pause; the seconds waited."""
        return self._quiet(max_s) if max_s > 0 else 0.0


def _delta(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    return max(0.0, after - before)


class GpuClockProbe:
    """The SM clock and clock-throttle reasons of one NVIDIA GPU, through NVML.

    ``nvml`` is the ``pynvml`` module (from ``nvidia-ml-py``); ``index`` the CUDA device
    ordinal. :meth:`create` returns None where NVML or the GPU is missing, so that callers
    record no clock instead of failing.
    """

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml = nvml
        self.handle = handle
        self.default_clock_mhz = _default_sm_clock(nvml, handle)

    @classmethod
    def create(cls, index: int = 0, nvml: Any = None) -> GpuClockProbe | None:
        if nvml is None:
            if "pynvml" not in sys.modules and not _importable("pynvml"):
                return None
            import pynvml as nvml
        try:
            nvml.nvmlInit()
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            physical = _physical_index(index, visible)
            return cls(nvml, nvml.nvmlDeviceGetHandleByIndex(physical))
        except Exception:  # no driver, no GPU, an NVML of another version: no clock data
            return None

    def read(self) -> tuple[float | None, int | None]:
        try:
            clock = float(self.nvml.nvmlDeviceGetClockInfo(self.handle, self.nvml.NVML_CLOCK_SM))
        except Exception:
            clock = None
        try:
            reasons = _throttle_reasons(self.nvml, self.handle)
        except Exception:
            reasons = None
        return clock, reasons


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _physical_index(index: int, visible: str) -> int:
    """NVML numbers all GPUs; CUDA only the visible ones, in ``CUDA_VISIBLE_DEVICES`` order."""
    ids: Iterable[str] = [v.strip() for v in visible.split(",") if v.strip()]
    ids = list(ids)
    if index < len(ids) and ids[index].isdigit():
        return int(ids[index])
    return index


def _default_sm_clock(nvml: Any, handle: Any) -> float | None:
    for name in ("nvmlDeviceGetDefaultApplicationsClock", "nvmlDeviceGetMaxClockInfo"):
        try:
            value = float(getattr(nvml, name)(handle, nvml.NVML_CLOCK_SM))
        except Exception:
            continue
        if value > 0:
            return value
    return None


def _throttle_reasons(nvml: Any, handle: Any) -> int:
    # renamed "clocks event reasons" in NVML 12.2; both names exist in current bindings
    for name in (
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
    ):
        getter = getattr(nvml, name, None)
        if getter is not None:
            return int(getter(handle))
    raise AttributeError("NVML has no clock-throttle reason query")


def drift_beyond(drift: float, tolerance: float = DRIFT_TOLERANCE) -> bool:
    """Whether a baseline drift (a ratio of medians) strays more than ``tolerance``."""
    return not (1 / (1 + tolerance) <= drift <= 1 + tolerance)
