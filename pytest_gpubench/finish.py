"""The end of a benchmark session: the report files asked for, and the regression gate
against a saved run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_gpubench.results import RunResults
from pytest_gpubench.settings import REPORT_THRESHOLD, GpubenchState

__all__ = ["run_gate", "write_reports"]


def write_reports(option: Any, results: RunResults, rows: list[Any], baseline: str) -> list[str]:
    """Write the Markdown, PNG and github-action-benchmark files asked for; their paths."""
    from pytest_gpubench import report

    written = []
    if option.gpubench_markdown:
        path = Path(option.gpubench_markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.render_markdown(results, rows, baseline), encoding="utf-8")
        written.append(str(path))
    if option.gpubench_plot:
        plot = report.plot_speedups(rows, option.gpubench_plot, baseline, results.devices)
        written.append(str(plot))
    if option.gpubench_github_json:
        path = Path(option.gpubench_github_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = report.github_action_benchmark(rows)
        path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
        written.append(str(path))
    return written


def run_gate(state: GpubenchState, results: RunResults) -> bool:
    """Compare with the saved run; True when the gate fails the session.

    ``--gpubench-compare-fail`` gates every experiment, a marker's ``compare_fail=`` its
    own; the others are compared with :data:`REPORT_THRESHOLD`, whose losses are shown but
    fail nothing. The outcome, or why there is none (e.g. other hardware), is kept on
    ``state``.
    """
    if state.compared is None:
        return False
    from pytest_gpubench import baseline as gate

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
