"""``--gpubench-json``: pytest-benchmark's own JSON document with the ``gpubench`` section.

pytest-benchmark writes it (see :mod:`..benchmark_json`); ours is written only when it wrote
nothing, e.g. when every device was n/a.
"""

from __future__ import annotations

import json
from pathlib import Path

from pytest_gpubench.benchmark_json import put_in_place
from pytest_gpubench.outputs import KINDS, is_report
from pytest_gpubench.reporters.base import Report, ReportEnd, Reporter

__all__ = ["JsonReporter"]


class JsonReporter(Reporter):
    option = "--gpubench-json"
    help = "Write pytest-benchmark's JSON (with a 'gpubench' section) to PATH."
    example = "gpubench.json"
    kind = KINDS[option]
    measured_only = False  # its n/a rows are written too; it says itself when it was not

    def recognises(self, path: Path) -> bool:
        return is_report(self.option, path)

    def write(self, report: Report, path: Path) -> None:
        from pytest_gpubench.report_json import benchmark_document

        document = benchmark_document(report.results, report.rows, report.baseline)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    def finish(self, path: Path, end: ReportEnd) -> None:
        report, outcome = end.report, end.outcome
        if put_in_place(
            path, end.option, report.results, outcome, lambda file: self.write(report, file)
        ):
            outcome.written.append(str(getattr(end.option, self.dest)))
