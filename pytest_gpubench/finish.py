"""The end of a benchmark session: the report files asked for, and the regression gate
against a saved run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_gpubench.outputs import write_failure, write_whole
from pytest_gpubench.results import RunResults
from pytest_gpubench.settings import REPORT_THRESHOLD, GpubenchState

__all__ = ["run_gate", "write_reports"]


def write_reports(
    option: Any, results: RunResults, rows: list[Any], baseline: str
) -> tuple[list[str], list[str]]:
    """Write the Markdown, plot and github-action-benchmark files asked for: (the paths
    written, what could not be written and why). Each is replaced whole or not at all (a
    full disk leaves the earlier file); one failing stops neither the others nor the gate."""
    from pytest_gpubench import report

    def markdown(path: Path) -> None:
        path.write_text(report.render_markdown(results, rows, baseline), encoding="utf-8")

    def plot(path: Path) -> None:
        report.plot_speedups(rows, path, baseline, results.devices)

    def github(path: Path) -> None:
        entries = report.github_action_benchmark(rows)
        path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")

    written, failed = [], []
    for target, write in (
        (option.gpubench_markdown, markdown),
        (option.gpubench_plot, plot),
        (option.gpubench_github_json, github),
    ):
        if not target:
            continue
        path = Path(target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, write)
        except Exception as exc:
            failed.append(write_failure(path, exc))
        else:
            written.append(str(path))
    return written, failed


def run_gate(state: GpubenchState, results: RunResults) -> bool:
    """Compare with the saved run; True when the gate fails the session.

    ``--gpubench-compare-fail`` gates every experiment, a marker's ``compare_fail=`` its
    own; the others are compared with :data:`REPORT_THRESHOLD`, whose losses are shown but
    fail nothing. The outcome, or why there is none (e.g. other hardware), is kept on
    ``state``.
    """
    if state.compared is None:
        return False
    from pytest_gpubench import gate

    thresholds = state.thresholds or [gate.parse_compare_fail(REPORT_THRESHOLD)]
    try:
        state.comparison = gate.compare(
            results,
            state.compared,
            thresholds,
            state.experiment_thresholds,
            force=state.force,
            baseline_device=state.baseline,
            source=str(state.compare_path),
            gated=bool(state.thresholds),
        )
    except ValueError as exc:
        state.compare_error = f"cannot compare with {state.compare_path}: {exc}"
        return True
    return not state.comparison.ok
