"""``--gpubench-plot``: speedup against size, one panel per experiment (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path

from pytest_gpubench.outputs import KINDS, is_report
from pytest_gpubench.reporters.base import Report, Reporter

__all__ = ["PlotReporter"]


class PlotReporter(Reporter):
    option = "--gpubench-plot"
    help = "Plot speedup vs size to PATH (PNG; needs matplotlib)."
    example = "speedups.png"
    kind = KINDS[option]

    def check(self, path: Path) -> None:
        """matplotlib is installed, and the extension is one it writes here."""
        import importlib.util

        from pytest_gpubench.plot import plot_format

        if importlib.util.find_spec("matplotlib") is None:
            raise ValueError(
                "--gpubench-plot needs matplotlib: pip install 'pytest-gpubench[plot]'"
            )
        plot_format(path)

    def recognises(self, path: Path) -> bool:
        return is_report(self.option, path)

    def write(self, report: Report, path: Path) -> None:
        from pytest_gpubench.plot import plot_speedups

        plot_speedups(report.rows, path, report.baseline, report.results.devices)
