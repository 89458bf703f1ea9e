"""What the terminal shows: the speedup table after pytest's summary sections, the files
written and the notes, and the regression gate's verdict after pytest's last line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_gpubench.outcome import RunOutcome
from pytest_gpubench.reporters.base import Report

__all__ = ["TerminalTable", "write_summary", "write_verdict"]


class TerminalTable:
    """The speedup table, as wide as the terminal (every ``--gpubench`` run that measured)."""

    def write(self, report: Report, terminal: Any) -> None:
        from pytest_gpubench.report import render_terminal

        terminal.write_sep("=", f"gpubench: speedup vs {report.baseline}")
        width = getattr(getattr(terminal, "_tw", None), "fullwidth", 120)
        text = render_terminal(report.results, report.rows, report.baseline, width=width)
        terminal.write_line(text.rstrip("\n"))


def write_summary(outcome: RunOutcome, terminal: Any) -> None:
    """The files written, the notes, and what could not be written (in red)."""
    for path in outcome.written:
        terminal.write_line(f"gpubench: wrote {path}")
    for note in outcome.notes:
        terminal.write_line(f"gpubench: {note}")
    for problem in outcome.report_errors:
        terminal.write_line(f"gpubench: {problem}", red=True)


def write_verdict(outcome: RunOutcome, compare_path: Path | None, terminal: Any) -> None:
    """The gate's verdict against ``compare_path``, or why it did not run."""
    if outcome.compare_error:
        terminal.write_sep("!", "gpubench: regression gate not run", red=True)
        terminal.write_line(outcome.compare_error, red=True)
        return
    comparison = outcome.comparison
    if comparison is None:
        return
    failed = outcome.gate_failed
    verdict = "compared"
    if failed:
        verdict = "speedup lost"
        if not (comparison.failures or comparison.missing) and not comparison.decided:
            verdict = "gate undecided"
    title = f"gpubench: {verdict} vs {compare_path}"
    terminal.write_sep("!" if failed else "=", title, red=failed, green=not failed)
    terminal.write_line(comparison.render().rstrip("\n"), red=failed)
    if failed:
        terminal.write_sep("!", f"gpubench: {verdict}: exit code {outcome.exit_status}", red=True)
