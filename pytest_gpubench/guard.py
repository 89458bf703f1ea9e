"""What pytest-benchmark writes at the session's end, guarded.

pytest-benchmark writes ``--benchmark-json`` (which ``--gpubench-json`` stages) and saves
``--benchmark-save``/``--benchmark-autosave`` runs in its own ``pytest_sessionfinish``,
whatever the session's outcome. This plugin's wrapper runs just before it:

- an interrupted session (Ctrl-C, a collection error, ``pytest.exit``, an internal error,
  or one stopped early by ``-x``/``--maxfail``) measured only part of the benchmarks, so
  nothing is written or saved: its reports would replace good ones, and a saved run would
  become the baseline the next gate compares with;
- a write that fails (a full disk) is an error in the summary, never a traceback, and leaves
  neither a partial file nor a partial saved run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.outcome import RunOutcome
from pytest_gpubench.outputs import write_failure, write_reason
from pytest_gpubench.reporters import Reporters
from pytest_gpubench.session import GpubenchSession, session_of

__all__ = ["INTERRUPTED", "held_outputs", "pytest_sessionfinish"]

#: Session outcomes whose results are partial: nothing of them is written or saved.
INTERRUPTED = (
    pytest.ExitCode.INTERRUPTED,
    pytest.ExitCode.INTERNAL_ERROR,
    pytest.ExitCode.USAGE_ERROR,
)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outside pytest-benchmark's wrapper
def pytest_sessionfinish(session: pytest.Session) -> Iterator[None]:
    gpubench = session_of(session.config)
    if gpubench is not None and gpubench.config.enabled:
        benchmarks = getattr(session.config, "_benchmarksession", None)
        stopped = session.shouldfail or session.shouldstop  # -x, --maxfail, --sw
        if session.exitstatus in INTERRUPTED:
            _hold(session.config, gpubench, benchmarks, "interrupted")
        elif stopped:
            _hold(session.config, gpubench, benchmarks, f"stopped early ({stopped})")
        elif benchmarks is not None:
            _guard_writes(benchmarks, gpubench.outcome)
    yield


def held_outputs(option: Any, reporters: Reporters) -> list[str]:
    """What this session was asked to write or save: report paths, saved runs, the gate."""
    held = reporters.held(option)
    if getattr(option, "benchmark_json", None) and not getattr(option, "gpubench_json", None):
        held.append(str(option.benchmark_json))
    save = getattr(option, "benchmark_save", None) or getattr(option, "gpubench_save", None)
    if save:
        held.append(f"the run {save!r}")
    elif getattr(option, "benchmark_autosave", None) or getattr(option, "gpubench_autosave", None):
        held.append("the autosaved run")
    return held


def _hold(config: pytest.Config, gpubench: GpubenchSession, benchmarks: Any, why: str) -> None:
    """Nothing of an interrupted session is written, saved or gated."""
    held = held_outputs(config.option, gpubench.reporters)
    if benchmarks is not None:
        benchmarks.json = benchmarks.save = benchmarks.autosave = None
    outcome, compared = gpubench.outcome, gpubench.config.compared
    outcome.interrupted = True
    if held or compared is not None:
        kept = f" ({', '.join(held)} left as they were)" if held else ""
        gate = "; regression gate not run" if compared is not None else ""
        outcome.notes.append(f"{why}: nothing written or saved{kept}{gate}")


def _guard_writes(benchmarks: Any, outcome: RunOutcome) -> None:
    """pytest-benchmark's JSON and saved run: a failed write is reported and cleaned up."""
    save_json = getattr(benchmarks, "save_json", None)
    if save_json is not None:

        def guarded_json(output_json: Any) -> None:
            target = benchmarks.json
            try:
                save_json(output_json)
            except OSError as exc:
                staged = getattr(target, "staged", None)
                final = getattr(target, "final", target)
                if staged is not None and staged != Path(final).resolve():
                    with contextlib.suppress(OSError):
                        staged.unlink()
                if staged is not None:
                    target.failure = write_failure(final, exc)
                outcome.report_errors.append(write_failure(final, exc))

        benchmarks.save_json = guarded_json
    storage = getattr(benchmarks, "storage", None)
    save = getattr(storage, "save", None)
    if save is not None:

        def guarded_save(output_json: Any, name: str) -> None:
            folder = Path(getattr(storage, "path", "."))
            before = set(folder.rglob("*.json")) if folder.is_dir() else set()
            try:
                save(output_json, name)
            except OSError as exc:
                for partial in set(folder.rglob("*.json")) - before if folder.is_dir() else ():
                    with contextlib.suppress(OSError):
                        partial.unlink()
                outcome.report_errors.append(
                    f"could not save the run {name!r} into {folder}: {write_reason(exc)}; "
                    "nothing was saved"
                )

        storage.save = guarded_save
