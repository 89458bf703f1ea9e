"""The report formats of one run, in order: the built-in ones, then those plugins add
through ``pytest_gpubench_add_reporters``. Everything that lists report options (the
command line, the checks before the run, the end of the run, what an interrupted run
leaves alone, what a remote run keeps local) reads this list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pytest_gpubench.reporters.base import ReportEnd, Reporter

__all__ = ["Reporters"]


class Reporters:
    """An ordered, checked list of :class:`Reporter` (one per option)."""

    def __init__(self, reporters: Iterable[Reporter] = ()) -> None:
        self._all: list[Reporter] = []
        for reporter in reporters:
            self.add(reporter)

    def __iter__(self) -> Iterator[Reporter]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def add(self, reporter: Reporter) -> None:
        """Append ``reporter``; ``ValueError`` for something that is not one, or whose
        option is missing or taken."""
        if not isinstance(reporter, Reporter):
            raise ValueError(
                f"pytest_gpubench_add_reporters returned {reporter!r}; return instances of "
                "pytest_gpubench.reporters.Reporter subclasses"
            )
        name = type(reporter).__name__
        if not reporter.option.startswith("--") or len(reporter.option) < 3:
            raise ValueError(
                f"reporter {name}: option {reporter.option!r} is not a long option; set "
                "option = '--my-report' on the class"
            )
        if any(other.option == reporter.option for other in self._all):
            raise ValueError(
                f"reporter {name}: option {reporter.option} is taken by another report format; "
                "give it its own option"
            )
        self._all.append(reporter)

    def add_options(self, group: Any, reporters: Iterable[Reporter] | None = None) -> None:
        """Add each reporter's option to the command line's ``group``."""
        for reporter in self._all if reporters is None else reporters:
            group.addoption(
                reporter.option, metavar=reporter.metavar, default=None, help=reporter.help
            )

    def asked(self, option: Any) -> list[tuple[Reporter, Path]]:
        """The reporters this run asked for, each with its file."""
        found = ((reporter, reporter.target(option)) for reporter in self._all)
        return [(reporter, path) for reporter, path in found if path is not None]

    def check_formats(self, option: Any) -> None:
        """Each asked-for format's own check (e.g. the plot's matplotlib and extension)."""
        for reporter, path in self.asked(option):
            reporter.check(path)

    def check_paths(self, option: Any, compare_path: Path | None) -> None:
        """Refuse, before anything runs, report paths that name no file, that could not be
        written, that name the same file twice, that would overwrite the saved run
        ``--gpubench-compare`` reads, or that hold a file which is not a report of this
        format (unless ``--gpubench-overwrite``; see :mod:`..outputs`)."""
        seen: dict[Path, str] = {}
        for reporter in self._all:
            value = getattr(option, reporter.dest, None)
            if value is None:
                continue
            flag = reporter.option
            reporter.check_path(value)
            path = Path(value)
            key = path.resolve()
            if key in seen:
                raise ValueError(
                    f"{seen[key]} and {flag} both write {value!r}; give each its own file"
                )
            if compare_path is not None and key == compare_path.resolve():
                raise ValueError(
                    f"{flag} {value!r} is the saved run --gpubench-compare reads; writing it "
                    "would overwrite the baseline before it is compared. Write the new run "
                    "elsewhere"
                )
            seen[key] = flag
            overwrite = getattr(option, "gpubench_overwrite", False)
            refusal = None if overwrite else reporter.overwrite_refusal(path)
            if refusal:
                raise ValueError(refusal)

    def held(self, option: Any) -> list[str]:
        """The report files this run asked for, as given (for an interrupted run's note)."""
        return [str(getattr(option, r.dest)) for r in self._all if getattr(option, r.dest, None)]

    def unmeasured(self, option: Any) -> list[tuple[str, str]]:
        """(option, file) of each asked-for report that a run which measured nothing does
        not write, and says so."""
        return [
            (reporter.option, str(getattr(option, reporter.dest)))
            for reporter in self._all
            if reporter.measured_only and getattr(option, reporter.dest, None)
        ]

    def local_only(self) -> tuple[str, ...]:
        """The options a remote (cloud) run is not given: written here, from its results."""
        return tuple(reporter.option for reporter in self._all if reporter.local_only)

    def finish(self, end: ReportEnd) -> None:
        """Write every asked-for report; one failing stops neither the others nor the gate."""
        for reporter, path in self.asked(end.option):
            reporter.finish(path, end)
