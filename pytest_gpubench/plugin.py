"""pytest hooks of the gpubench plugin: each hands off to the run's
:class:`~.session.GpubenchSession` in a line or two. The options are :mod:`.options`, the
hooks other plugins implement :mod:`.hookspec`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_gpubench import guard, hookspec
from pytest_gpubench.bench import GpuBench
from pytest_gpubench.devices import Device
from pytest_gpubench.options import add_options
from pytest_gpubench.session import GpubenchSession, note_call_outcome, session_of

__all__: list[str] = []

MARKER = (
    "gpubench(experiment=None, compare_fail=None, speedup=True): a gpubench benchmark; "
    "experiment names its table, compare_fail its own regression thresholds (e.g. "
    "'speedup:10%'), speedup=False makes it a cost each device pays (a host->device copy), "
    "shown without speedups."
)


def _session(config: pytest.Config) -> GpubenchSession:
    session = session_of(config)
    if session is None:
        pytest.skip("gpubench was not configured in this run")
    return session


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    add_options(parser, pluginmanager)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    GpubenchSession.create(config)
    if not config.pluginmanager.has_plugin("gpubench-guard"):  # before pytest-benchmark's end
        config.pluginmanager.register(guard, "gpubench-guard")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    session = session_of(config)
    return session.report_header() if session else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = session_of(metafunc.config)
    if session is not None:
        session.parametrize(metafunc)


def pytest_sessionstart(session: pytest.Session) -> None:
    gpubench = session_of(session.config)
    if gpubench is not None:
        gpubench.start(session)


def pytest_collection_finish(session: pytest.Session) -> None:
    gpubench = session_of(session.config)
    if gpubench is not None:
        gpubench.warn_other_load(session.config.pluginmanager.getplugin("terminalreporter"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session = session_of(config)
    if session is not None:
        session.select(config, items)


@pytest.hookimpl(hookwrapper=True)  # old-style wrapper: works with pytest 7.4's pluggy too
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    note_call_outcome(item, call, outcome.get_result())


@pytest.fixture
def device(request: pytest.FixtureRequest) -> Device:
    """The device this test runs on: one of ``--gpubench-devices``, skipped if unusable."""
    return _session(request.config).device_for(request)


@pytest.fixture(scope="session")
def gpubench_profile(request: pytest.FixtureRequest) -> str:
    """The experiment scale chosen with ``--gpubench-profile``: ``quick`` or ``seed``."""
    session = session_of(request.config)
    return session.config.profile if session else "quick"


@pytest.fixture
def gpubench(request: pytest.FixtureRequest, device: Device, benchmark: Any) -> Iterator[GpuBench]:
    """Time one workload on ``device`` through pytest-benchmark and record the measurement."""
    yield from _session(request.config).bench(request, device, benchmark)


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's hook: absent under -p no:benchmark
def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    session = session_of(config)
    section = session.json_section() if session else None
    if section is not None:
        output_json["gpubench"] = section


def pytest_sessionfinish(session: pytest.Session) -> None:
    gpubench = session_of(session.config)
    if gpubench is not None:
        gpubench.finish(session)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = session_of(config)
    if session is not None:
        session.summary(terminalreporter)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The regression gate's verdict, last on screen: after pytest's own summary line, so
    a failed gate does not end on a green "passed" (the exit code is already non-zero)."""
    session = session_of(config)
    if session is not None:
        session.verdict(config.pluginmanager.getplugin("terminalreporter"))
        session.close()
