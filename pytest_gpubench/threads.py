"""The CPU threads a benchmark run uses: set every CPU back end's thread count
(``--gpubench-threads``), and notice other processes on the cores the run uses."""

from __future__ import annotations

import os
import sys

__all__ = ["OTHER_LOAD", "limit_threads", "other_load_note", "usable_cores"]

#: A one-minute load average (runnable processes, beyond this run) from which a run is told
#: that other processes share its cores: half a core busy on average.
OTHER_LOAD = 0.5


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


def other_load_note(threads: int | None = None) -> str | None:
    """A line saying that other processes keep the cores busy, from the one-minute load
    average, or None when the machine looks quiet (or has no load average)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    if load < OTHER_LOAD:
        return None
    cores = usable_cores()
    uses = f"{threads} thread{'s' if threads != 1 else ''}" if threads else f"{cores} cores"
    return (
        f"load average {load:.2f} over the last minute on {cores} cores: other processes are "
        f"running where this run uses {uses}. Rounds that wait for a CPU are set aside and "
        "run again, and each device is paired with the baseline, but a quieter machine gives "
        "tighter speedups (see 'Busy machines' in the README)"
    )
