"""Report formats: one small :class:`Reporter` class per file format, listed in a
:class:`Reporters` registry, plus the terminal table.

A new format is one module with a ``Reporter`` subclass, added to :func:`builtin_reporters`
(or, from another package or a ``conftest.py``, returned by the
``pytest_gpubench_add_reporters`` hook; see :mod:`..hookspec`).
"""

from __future__ import annotations

from pytest_gpubench.reporters.base import Report, ReportEnd, Reporter
from pytest_gpubench.reporters.figure import PlotReporter
from pytest_gpubench.reporters.github import GithubReporter
from pytest_gpubench.reporters.json_doc import JsonReporter
from pytest_gpubench.reporters.markdown import MarkdownReporter
from pytest_gpubench.reporters.registry import Reporters

__all__ = [
    "GithubReporter",
    "JsonReporter",
    "MarkdownReporter",
    "PlotReporter",
    "Report",
    "ReportEnd",
    "Reporter",
    "Reporters",
    "builtin_reporters",
    "local_only_options",
]


def builtin_reporters() -> Reporters:
    """The formats pytest-gpubench ships, in the order of ``--help`` and of the end of a run."""
    return Reporters([JsonReporter(), MarkdownReporter(), PlotReporter(), GithubReporter()])


def local_only_options() -> tuple[str, ...]:
    """The built-in report options a remote (cloud) run is not given."""
    return builtin_reporters().local_only()
