"""The CPU threads a benchmark run uses: set every CPU back end's thread count
(``--gpubench-threads``), and notice other processes on the cores the run uses."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "OTHER_BUSY",
    "OTHER_LOAD",
    "OtherLoad",
    "limit_threads",
    "other_load_note",
    "usable_cores",
]

#: A one-minute load average (runnable processes) from which a run is told that other
#: processes share its cores, where their CPU time cannot be sampled: half a core busy.
OTHER_LOAD = 0.5
#: Cores that other processes kept busy while the run started, from which it is told so.
OTHER_BUSY = 0.3


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def limit_threads(threads: int) -> None:
    """Run every CPU back end on ``threads`` threads: the BLAS and OpenMP pools loaded now
    (threadpoolctl) and torch's intra-op pool when torch is imported. Idempotent; call it
    again after a back end is imported."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _machine_busy_s(stat: Path = Path("/proc/stat")) -> float | None:
    """CPU seconds all cores spent busy since boot (not idle, not waiting on I/O)."""
    try:
        fields = stat.read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(f) for f in fields[:8]]
    except (OSError, ValueError):
        return None
    if len(ticks) < 4:
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """Cores kept busy by other processes between :meth:`start` and :meth:`cores` (this
    process's own CPU time taken out). Read across collection it costs nothing, and unlike
    the load average it does not count the run just before this one."""

    def __init__(
        self,
        busy: Callable[[], float | None] = _machine_busy_s,
        clock: Callable[[], float] = time.monotonic,
        own: Callable[[], float] = time.process_time,
    ) -> None:
        self._busy, self._clock, self._own = busy, clock, own
        self._start: tuple[float | None, float, float] = (None, 0.0, 0.0)

    def start(self) -> None:
        self._start = (self._busy(), self._own(), self._clock())

    def cores(self, min_window_s: float = 0.2) -> float | None:
        """Other processes' busy cores since :meth:`start`; None over a window too short to
        tell (USER_HZ ticks) or without ``/proc/stat``."""
        before, own_before, when = self._start
        after, window = self._busy(), self._clock() - when
        if before is None or after is None or window < min_window_s:
            return None
        own = self._own() - own_before
        return max(0.0, (after - before - own) / window)


def other_load_note(busy: float | None, threads: int | None = None) -> str | None:
    """A line saying that other processes keep the cores busy (``busy`` cores sampled, see
    :class:`OtherLoad`; else the one-minute load average), or None when the machine looks
    quiet."""
    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    if busy is None:  # nothing sampled: the load average alone
        if load is None or load < OTHER_LOAD:
            return None
        seen = f"load average {load:.2f} over the last minute"
    else:
        if busy < OTHER_BUSY:
            return None
        average = f" (load average {load:.2f})" if load is not None else ""
        seen = f"other processes kept {busy:.1f} cores busy while this run started{average}"
    cores = usable_cores()
    uses = f"{threads} thread{'s' if threads != 1 else ''}" if threads else f"{cores} cores"
    return (
        f"{seen}, on {cores} cores where this run uses {uses}. Rounds that wait for a CPU are "
        "set aside and run again, and each device is paired with the baseline, but a quieter "
        "machine gives tighter speedups (see 'Busy machines' in the README)"
    )
