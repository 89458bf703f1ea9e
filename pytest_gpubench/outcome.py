"""What one ``--gpubench`` run produced and decided, filled in as it goes: the
measurements, the report files written or not, the notes, the regression gate's verdict and
the exit status. The configuration that shaped the run is :class:`.settings.GpubenchConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_gpubench.results import RunResults

__all__ = ["RunOutcome"]


@dataclass
class RunOutcome:
    """The run's outcomes; reporters and the gate add to it, the terminal prints it."""

    #: every measurement, local or fetched from a remote run (pytest's ``results_of``)
    results: RunResults = field(default_factory=RunResults)
    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: reports asked for that could not be written, and why (they fail the run)
    report_errors: list[str] = field(default_factory=list)
    #: the gate's :class:`~.gate.Comparison` with the saved run, or why there is none
    comparison: Any = None
    compare_error: str | None = None
    gate_failed: bool = False
    #: the run was interrupted: nothing of it is written, saved or gated (see .guard)
    interrupted: bool = False
    #: the exit status once the gate has run (for the verdict printed last)
    exit_status: int | None = None
