"""What a ``--gpubench`` run that measured nothing says, instead of only "54 deselected"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pytest_gpubench.items import is_benchmark_item

__all__ = ["WRITING_A_BENCHMARK", "nothing_measured_notes", "why_nothing_measured"]

#: Where a user learns to write a gpubench benchmark.
WRITING_A_BENCHMARK = 'see "Writing a benchmark" in the pytest-gpubench README'


def nothing_measured_notes(
    option: Any,
    items: Sequence[pytest.Item],
    collect_failed: bool,
    measured: bool,
    unwritten: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Lines for a ``--gpubench`` run with no measurement: why there was none (no test uses
    the ``gpubench`` fixture or marker, or a ``-k``/``-m`` left none), and which report files
    (``unwritten``: option and file) were not written. Empty when something was measured or
    collection failed."""
    if measured:
        return []
    notes = []
    if not collect_failed and not any(is_benchmark_item(item) for item in items):
        if getattr(option, "keyword", "") or getattr(option, "markexpr", ""):
            notes.append("no gpubench benchmark was selected (-k / -m left none)")
        else:
            notes += [
                "no test here uses the gpubench fixture or the gpubench marker, so --gpubench "
                "had nothing to measure (it runs only those and deselects the other tests)",
                "plain pytest-benchmark tests (the benchmark fixture) run without --gpubench",
                f"to write a gpubench benchmark, {WRITING_A_BENCHMARK}",
            ]
    for flag, target in unwritten:
        notes.append(f"nothing was measured, so {flag} {target} was not written")
    return notes


def why_nothing_measured(
    session: pytest.Session, measured: bool, unwritten: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """:func:`nothing_measured_notes` for a finished session."""
    items = getattr(session, "items", [])
    failed = session.testsfailed > 0
    return nothing_measured_notes(session.config.option, items, failed, measured, unwritten)
