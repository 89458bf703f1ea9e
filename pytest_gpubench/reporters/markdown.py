"""``--gpubench-markdown``: the speedup tables as Markdown, for a CI job summary or a PR."""

from __future__ import annotations

from pathlib import Path

from pytest_gpubench.outputs import KINDS, is_report
from pytest_gpubench.reporters.base import Report, Reporter

__all__ = ["MarkdownReporter"]


class MarkdownReporter(Reporter):
    option = "--gpubench-markdown"
    help = "Write the speedup report as Markdown to PATH."
    example = "speedups.md"
    kind = KINDS[option]

    def recognises(self, path: Path) -> bool:
        return is_report(self.option, path)

    def write(self, report: Report, path: Path) -> None:
        from pytest_gpubench import report as render

        text = render.render_markdown(report.results, report.rows, report.baseline)
        path.write_text(text, encoding="utf-8")
