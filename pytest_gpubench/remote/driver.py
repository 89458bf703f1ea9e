"""A pytest session run on a rented machine: up → the job over SSH → fetch the JSON → down.

Any :class:`.provider.Provider` runs through here; a cloud's plugin only reads its options
and builds the provider. :func:`run_on` is the flow without pytest; :func:`run_remote`
wraps it for a session (the selection sent, the results merged, the exit code set).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.remote.document import keep_instance_document, merge_results
from pytest_gpubench.remote.errors import CloudError, CloudUsageError
from pytest_gpubench.remote.lifecycle import rented
from pytest_gpubench.remote.provider import Machine, Provider
from pytest_gpubench.remote.summary import CLOUD_KEY, cloud_record, format_summary
from pytest_gpubench.results import results_of

log = logging.getLogger("pytest_gpubench.remote")

#: Seconds kept in hand before the machine's time to live, to fetch results and tear down.
TTL_MARGIN_S = 120.0


@dataclass(frozen=True)
class Outcome:
    """What :func:`run_on` brings back: the job's result (None if it never ended) and the
    problem that stopped the run (None if none), already torn down either way."""

    job: Any  # job.JobResult | None
    problem: CloudError | None


def seconds_left(machine: Machine, now: datetime) -> float | None:
    """Seconds until the machine powers itself off, less :data:`TTL_MARGIN_S`."""
    if machine.expires is None:
        return None
    return (machine.expires - now).total_seconds() - TTL_MARGIN_S


def explain(provider: Provider, exc: Exception) -> str:
    """What went wrong in words a user can act on, for an error no layer mapped."""
    said = provider.explain(exc)
    if said:
        return said
    if isinstance(exc, OSError | EOFError) or type(exc).__module__.startswith("paramiko"):
        return (
            f"lost the SSH connection to the instance ({type(exc).__name__}: {exc}); the "
            "instance was terminated. Run again; if it recurs, check the network and the TTL"
        )
    return f"{type(exc).__name__}: {exc}"


def run_on(
    provider: Provider,
    job: Any,
    local_root: Path,
    *,
    say: Callable[[str], None] = log.info,
    on_step: Callable[[str], None] = lambda name: None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> Outcome:
    """Rent a machine, run ``job`` there (output streamed to ``say``), fetch what it wrote
    into ``local_root/NAME/SESSION``, and tear down. Errors are returned, not raised (the
    machine is gone by then); Ctrl-C and SIGTERM are raised, after the teardown."""
    from pytest_gpubench.remote.job import run_job

    label = f"gpubench-{provider.name}"
    result = None
    try:
        with rented(provider, say=say, on_step=on_step) as live:
            machine = live.machine
            say(f"{label}: running {len(job.node_ids)} tests on {machine.address}")
            result = run_job(
                live.remote,
                job,
                local_root / provider.name / machine.session_id,
                live.scratch,
                say,
                live.step,
                timeout_s=seconds_left(machine, now()),
                label=label,
            )
    except CloudError as exc:  # a teardown's error included
        return Outcome(result, exc)
    except Exception as exc:  # torn down already; say what happened, not a traceback
        return Outcome(result, CloudError(explain(provider, exc)))
    return Outcome(result, None)


def exit_code(problem: CloudError) -> int:
    if isinstance(problem, CloudUsageError):
        return pytest.ExitCode.USAGE_ERROR
    return pytest.ExitCode.TESTS_FAILED


def run_remote(
    session: pytest.Session,
    provider: Provider,
    make_job: Callable[[], Any],
    *,
    say: Callable[[str], None],
) -> None:
    """The session's whole selection on a rented machine, its measurements merged into
    this session's results; an error ends the session with what to do about it."""
    config = session.config
    label = f"gpubench-{provider.name}"
    if session.testsfailed and not config.option.continue_on_collection_errors:
        raise session.Interrupted(
            f"{session.testsfailed} error{'s' if session.testsfailed != 1 else ''} during "
            f"collection; no {provider.title} instance started"
        )
    if not session.items:
        say(f"{label}: no tests selected; no instance started")
        return
    try:
        job = make_job()
    except CloudError as exc:  # e.g. the project to upload is not where pytest runs
        pytest.exit(f"{label}: {exc}", returncode=exit_code(exc))
    results = results_of(config)
    try:
        outcome = run_on(provider, job, config.rootpath / ".gpubench", say=say)
    finally:
        results.extra[CLOUD_KEY] = provider.summary()
    if outcome.job is not None:
        fetched = outcome.job.results_json
        if fetched is not None:
            merge_results(results, fetched)
            keep_instance_document(config, fetched, results.extra[CLOUD_KEY], say, label)
        else:
            say(f"{label}: the remote run wrote no results JSON")
        if outcome.job.exit_code not in (0, 5):
            session.testsfailed = max(session.testsfailed, 1)
            say(f"{label}: remote pytest exited {outcome.job.exit_code}")
        say(
            f"{label}: the {len(session.items)} selected tests were sent to the instance (its "
            "pytest summary is above); this machine ran none itself"
        )
    if outcome.problem is not None:
        pytest.exit(f"{label}: {outcome.problem}", returncode=exit_code(outcome.problem))


def terminal_summary(terminalreporter: Any, config: pytest.Config, name: str) -> None:
    """Where it ran and the cost, when the speedup table (which says so) is not printed,
    and any teardown failure, in red."""
    results = results_of(config)
    cloud = cloud_record(results.extra)
    if not cloud:
        return
    if not results.measurements:
        terminalreporter.write_sep("-", f"gpubench {name}")
        terminalreporter.write_line(format_summary(cloud))
    for error in cloud.get("teardown_errors", []):
        terminalreporter.write_line(f"gpubench-{name} TEARDOWN FAILED: {error}", red=True)
