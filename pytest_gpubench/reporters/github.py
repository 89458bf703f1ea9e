"""``--gpubench-github-json``: speedups for github-action-benchmark's trend charts."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_gpubench.outputs import KINDS, is_report
from pytest_gpubench.reporters.base import Report, Reporter

__all__ = ["GithubReporter"]


class GithubReporter(Reporter):
    option = "--gpubench-github-json"
    help = "Write speedups for github-action-benchmark (customBiggerIsBetter) to PATH."
    example = "github-benchmark.json"
    kind = KINDS[option]

    def recognises(self, path: Path) -> bool:
        return is_report(self.option, path)

    def write(self, report: Report, path: Path) -> None:
        from pytest_gpubench.report_json import github_action_benchmark

        entries = github_action_benchmark(report.rows)
        path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
