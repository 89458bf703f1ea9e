"""What every report format is: a :class:`Reporter` with its option, its check before the
run and its ``write``, fed a :class:`Report` (the run's results and speedup rows)."""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_gpubench.outputs import overwrite_refusal, write_failure, write_whole
from pytest_gpubench.results import RunResults

if TYPE_CHECKING:
    from pytest_gpubench.outcome import RunOutcome
    from pytest_gpubench.speedup import SpeedupRow

__all__ = ["Report", "ReportEnd", "Reporter"]


@dataclass(frozen=True)
class Report:
    """What a format renders: the measurements, one speedup row per (experiment, size), and
    the device the speedups are relative to."""

    results: RunResults
    rows: Sequence[SpeedupRow]
    baseline: str


@dataclass(frozen=True)
class ReportEnd:
    """The end of a run as a format sees it: the report, where written files and failures
    are recorded, and the parsed command line (pytest's ``config.option``)."""

    report: Report
    outcome: RunOutcome
    option: Any


class Reporter(ABC):
    """One report file, asked for with its option and written at the end of a ``--gpubench``
    run (replaced whole or not at all; a failure is reported and stops no other report).

    A new format is a subclass that sets ``option`` and ``help`` and implements
    :meth:`write`; a plugin adds an instance through ``pytest_gpubench_add_reporters``.
    """

    #: the command-line option naming the file, e.g. ``--gpubench-markdown``
    option: str = ""
    help: str = ""
    metavar: str = "PATH"
    #: a file name for the messages that ask for a path
    example: str = "report.txt"
    #: what a file of this format holds, for the refusal to overwrite another file
    kind: str = "a report of pytest-gpubench"
    #: written where the results are gathered, never forwarded to a remote (cloud) run
    local_only: bool = True
    #: written only when something was measured (the run then says it was not written)
    measured_only: bool = True

    @property
    def dest(self) -> str:
        """The option's attribute on ``config.option``: ``gpubench_markdown``."""
        return self.option.lstrip("-").replace("-", "_")

    def target(self, option: Any) -> Path | None:
        """The file this run asked for, or None."""
        value = getattr(option, self.dest, None)
        return Path(value) if value else None

    def check(self, path: Path) -> None:
        """Refuse, before anything runs, a path this format cannot write (``ValueError``
        naming the fix); run with or without ``--gpubench``. Nothing to check by default."""
        return None

    def recognises(self, path: Path) -> bool:
        """Whether ``path`` holds an earlier report of this format, which may be replaced
        without ``--gpubench-overwrite``. By default nothing is recognised."""
        return False

    @abstractmethod
    def write(self, report: Report, path: Path) -> None:
        """Write the complete report to ``path`` (a hidden file beside the target)."""

    def check_path(self, value: str) -> None:
        """Refuse a path that names no file, a directory, or a file this user cannot write
        (its directory is created when missing)."""
        flag, example = self.option, self.example
        if not str(value).strip():
            raise ValueError(f"{flag} {value!r} names no file; give a path such as {example}")
        path = Path(value)
        if path.is_dir():
            raise ValueError(
                f"{flag} {value!r} is a directory; give a file such as {path / example}"
            )
        if path.exists():  # a file (or /dev/stdout) this user may write to is fine as it is
            if not os.access(path, os.W_OK):
                raise ValueError(
                    f"{flag} {value!r} cannot be written: permission denied; give a path "
                    "you may write to"
                )
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as exc:
            raise ValueError(
                f"{flag} {value!r} cannot be written: {exc.strerror or exc} "
                f"({path.parent}); give a path in a writable directory"
            ) from None

    def overwrite_refusal(self, path: Path) -> str | None:
        """Why ``path`` must not be replaced: it holds another file (see :mod:`.outputs`)."""
        return overwrite_refusal(self.option, path, is_ours=self.recognises, kind=self.kind)

    def finish(self, path: Path, end: ReportEnd) -> None:
        """Write ``path`` at the end of the run, when something was measured."""
        if not end.report.results.measurements:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, lambda file: self.write(end.report, file))
        except Exception as exc:
            end.outcome.report_errors.append(write_failure(path, exc))
        else:
            end.outcome.written.append(str(path))
