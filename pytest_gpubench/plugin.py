"""pytest hooks of the gpubench plugin: options, the ``device`` and ``gpubench`` fixtures,
switching benchmarks on and off, and handing the session's results to the reports.

Hooks stay thin: what the options decide is :mod:`.settings`, what a test item is to
gpubench is :mod:`.items`, the session's end (report files, regression gate) is
:mod:`.finish`. Timing is :mod:`.timing`; rows, reports and the gate's statistics are
:mod:`.speedup`, :mod:`.report` and :mod:`.baseline`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench import guard
from pytest_gpubench.devices import Device, get_device
from pytest_gpubench.empty_run import why_nothing_measured
from pytest_gpubench.finish import run_gate, write_reports
from pytest_gpubench.items import (
    check_marker,
    is_benchmark_item,
    item_experiment,
    item_size,
    item_versus_baseline,
    marker_thresholds,
    size_value_of,
)
from pytest_gpubench.outputs import write_failure
from pytest_gpubench.remote.mode import runs_remotely
from pytest_gpubench.results import Measurement, RunResults, results_of
from pytest_gpubench.settings import (
    DEFAULT_DEVICES,
    PROFILES,
    GpubenchState,
    build_state,
    compare_refusal,
    parse_threshold,
)
from pytest_gpubench.threads import limit_threads, other_load_note
from pytest_gpubench.timing import GpuBench, Partners, TimingSettings

__all__ = ["state_of"]

SKIP_WITHOUT = "gpubench benchmark: pass --gpubench to run it"

_STATE = pytest.StashKey[GpubenchState]()
#: the exception that failed a test's call phase, for its benchmark's n/a row
_CALL_FAILURE = pytest.StashKey[str]()
_CALL_SKIP = pytest.StashKey[str]()


def state_of(config: pytest.Config) -> GpubenchState | None:
    """The session's gpubench state, or ``None`` before (or without) configuration."""
    return config.stash.get(_STATE, None)


# --------------------------------------------------------------------------- hooks


#: pytest-benchmark's clock, the one every gpubench round is read on.
WALL_CLOCK = "time.perf_counter"

#: Why a test with the marker but without the ``gpubench`` fixture is warned about.
UNTIMED_MARKER = (
    "marked gpubench but does not take the gpubench fixture: it runs, but nothing it does is "
    "timed or shown in the speedup table (add a gpubench argument and call gpubench(fn))"
)

#: The n/a reason of a benchmark that passed without timing anything.
NEVER_TIMED = "not timed: the test never called gpubench(fn, ...)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gpubench", "gpubench: CPU vs GPU speedups")
    add = group.addoption
    add(
        "--gpubench",
        action="store_true",
        default=False,
        help="Run the gpubench benchmarks, and only them (they are skipped without it).",
    )
    add(
        "--gpubench-devices",
        metavar="LIST",
        default=None,
        help="Comma-separated devices to benchmark on (ini: gpubench_devices; default: "
        f"{DEFAULT_DEVICES}). 'cuda' is the first usable of cupy, torch-cuda.",
    )
    add(
        "--gpubench-baseline",
        metavar="DEVICE",
        default=None,
        help="Device the speedups are relative to (default: the first CPU device).",
    )
    add(
        "--gpubench-profile",
        choices=sorted(PROFILES),
        default=None,
        help="Experiment scale: quick (small data, seconds) or seed (the classic scale). "
        "Ini: gpubench_profile; default: quick.",
    )
    add(
        "--gpubench-warmup",
        metavar="N",
        default=None,
        help="Warm-up rounds before timing (default 2; the first GPU call compiles, "
        "allocates and fills caches).",
    )
    add("--gpubench-min-rounds", metavar="N", default=None, help="Fewest kept rounds (default 5).")
    add(
        "--gpubench-max-rounds",
        metavar="N",
        default=None,
        help="Most kept rounds (default: quick 30, seed 20).",
    )
    add(
        "--gpubench-max-time",
        metavar="SECONDS",
        default=None,
        help="Most seconds of kept rounds per benchmark, when --gpubench-precision is not "
        "reached first (default: quick 20, seed 60).",
    )
    add(
        "--gpubench-precision",
        metavar="SHARE",
        default=None,
        help="Time rounds until the 95%% interval of each speedup (or time) is within "
        "SHARE of it, e.g. 5%% (default), or until --gpubench-max-time; 0 fills the time.",
    )
    add(
        "--gpubench-interference",
        metavar="SHARE",
        default=None,
        help="Set aside, and run again, a round whose threads waited for a CPU longer than "
        "SHARE of it (default 5%%; 'off' keeps every round).",
    )
    add(
        "--gpubench-threads",
        metavar="N",
        default=None,
        help="Threads of every CPU back end (BLAS via threadpoolctl, torch.set_num_threads); "
        "default: the libraries' own.",
    )
    add(
        "--gpubench-json",
        metavar="PATH",
        default=None,
        help="Write pytest-benchmark's JSON (with a 'gpubench' section) to PATH.",
    )
    add(
        "--gpubench-markdown",
        metavar="PATH",
        default=None,
        help="Write the speedup report as Markdown to PATH.",
    )
    add(
        "--gpubench-plot",
        metavar="PATH",
        default=None,
        help="Plot speedup vs size to PATH (PNG; needs matplotlib).",
    )
    add(
        "--gpubench-github-json",
        metavar="PATH",
        default=None,
        help="Write speedups for github-action-benchmark (customBiggerIsBetter) to PATH.",
    )
    add(
        "--gpubench-save",
        metavar="NAME",
        default=None,
        help="Save the run into --benchmark-storage as NNNN_NAME.json (with the section).",
    )
    add(
        "--gpubench-autosave",
        action="store_true",
        default=False,
        help="Save the run into --benchmark-storage under a commit/time tag.",
    )
    add(
        "--gpubench-compare",
        metavar="RUN|PATH",
        nargs="?",
        const=True,
        default=None,
        help="Compare speedups with a saved run: a JSON path, a run number or name in "
        "--benchmark-storage, or the latest saved run if none is given.",
    )
    add(
        "--gpubench-compare-fail",
        metavar="EXPR",
        action="append",
        default=[],
        help="Fail the session when a speedup regresses by EXPR, e.g. speedup:10%% or "
        "time:5%% (repeatable; needs --gpubench-compare). A row fails only when the loss "
        "is beyond EXPR and significant.",
    )
    add(
        "--gpubench-compare-force",
        action="store_true",
        default=False,
        help="Compare with a run saved on different hardware (refused otherwise).",
    )
    add(
        "--gpubench-overwrite",
        action="store_true",
        default=False,
        help="Let the report options replace an existing file that is not a report of "
        "pytest-gpubench (refused otherwise, e.g. a pyproject.toml given by mistake).",
    )
    parser.addini("gpubench_devices", f"gpubench devices (default {DEFAULT_DEVICES})", default="")
    parser.addini("gpubench_profile", "gpubench profile: quick or seed", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gpubench(experiment=None, compare_fail=None, speedup=True): a gpubench benchmark; "
        "experiment names its table, compare_fail its own regression thresholds (e.g. "
        "'speedup:10%'), speedup=False makes it a cost each device pays (a host->device "
        "copy), shown without speedups.",
    )
    option = config.option
    try:
        state = build_state(
            option, config.getini("gpubench_devices"), config.getini("gpubench_profile")
        )
    except (ValueError, FileNotFoundError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = state
    if not config.pluginmanager.has_plugin("gpubench-guard"):  # before pytest-benchmark's end
        config.pluginmanager.register(guard, "gpubench-guard")
    if state.enabled and not config.pluginmanager.hasplugin("benchmark"):
        raise pytest.UsageError(
            "--gpubench times through pytest-benchmark, which is disabled here "
            "(-p no:benchmark); drop that option to run the benchmarks"
        )
    timer = str(getattr(option, "benchmark_timer", WALL_CLOCK))
    if state.enabled and timer != WALL_CLOCK:
        raise pytest.UsageError(
            f"--gpubench times wall-clock seconds ({WALL_CLOCK}) between device "
            f"synchronisations; --benchmark-timer {timer} would leave out the device's work or "
            "change the unit. Drop --benchmark-timer"
        )
    local = not runs_remotely(config)  # on a rented machine: the devices are its own
    if state.enabled and option.gpubench_baseline and local:
        _require_usable_baseline(state, option.gpubench_baseline)
    refusal = compare_refusal(state, devices_here=local) if state.enabled else None
    if refusal:
        raise pytest.UsageError(f"--gpubench-compare {state.compare_path}: {refusal}")
    if state.enabled:  # saved with the run: the gate never compares quick with seed
        results_of(config).extra["profile"] = state.profile
    _wire_benchmark_output(config)


def _require_usable_baseline(state: GpubenchState, spec: str) -> None:
    """A baseline that cannot run here makes every speedup n/a: refuse it before the run
    (in a remote run the devices are the machine's, so this is not checked here)."""
    device = next(d for d in state.devices if d.name == state.baseline)
    if not device.available:
        raise pytest.UsageError(
            f"--gpubench-baseline {spec}: {device.name} cannot run here ({device.reason}), so "
            "every speedup would be n/a; pick a device that runs here, such as numpy"
        )


def _wire_benchmark_output(config: pytest.Config) -> None:
    """Point pytest-benchmark's own JSON and save options at ours, before it reads them."""
    from pytest_benchmark.utils import get_tag, parse_save

    option = config.option
    if option.gpubench and getattr(option, "benchmark_skip", False):
        raise pytest.UsageError(
            "--gpubench with --benchmark-skip would run nothing (every gpubench test is a "
            "benchmark); drop --benchmark-skip"
        )
    if option.gpubench and option.gpubench_json and getattr(option, "benchmark_disable", False):
        raise pytest.UsageError(
            "--gpubench-json with --benchmark-disable would write a run with no rounds over "
            "--gpubench-json's file (nothing is timed); drop one of them"
        )
    if (option.gpubench_save or option.gpubench_autosave) and getattr(
        option, "benchmark_disable", False
    ):
        raise pytest.UsageError(
            "--gpubench-save/--gpubench-autosave with --benchmark-disable would save nothing "
            "(nothing is timed); drop one of them"
        )
    if option.gpubench_json:
        if getattr(option, "benchmark_json", None):
            raise pytest.UsageError("give --gpubench-json or --benchmark-json, not both")
        if option.gpubench:  # pytest-benchmark writes beside it; the session end moves it
            final = Path(option.gpubench_json)
            option.benchmark_json = _StagedJson(_staged(final), final)
    if option.gpubench_save is not None:
        name = option.gpubench_save
        if not re.fullmatch(r"[\w.-]+", name):
            raise pytest.UsageError(
                f"--gpubench-save {name!r}: a run name is letters, digits, '.', '_' or '-' "
                "(so that --gpubench-compare NAME finds it again)"
            )
        if getattr(option, "benchmark_save", None):
            raise pytest.UsageError("give --gpubench-save or --benchmark-save, not both")
        try:
            option.benchmark_save = parse_save(name)
        except Exception as exc:
            raise pytest.UsageError(f"--gpubench-save {name!r}: {exc}") from None
    if option.gpubench_autosave and not getattr(option, "benchmark_autosave", None):
        option.benchmark_autosave = get_tag()


def _staged(path: Path) -> Path:
    """Where pytest-benchmark writes the ``--gpubench-json`` document: beside the file (the
    target of a symlink), which is replaced only by a run that measured something, never
    emptied by one that did not. A FIFO, a device or a file in a directory this user may not
    add to is written in place (the path itself is returned)."""
    real = path.resolve()
    if real.exists() and (not real.is_file() or not os.access(real.parent, os.W_OK)):
        return real
    return real.with_name(f".{real.name}.partial")


class _StagedJson:
    """What pytest-benchmark's ``--benchmark-json`` holds for a ``--gpubench-json`` file.

    It writes to the staged path: 5.3 opens it through ``os.fspath``; 5.2 writes into it as
    a context manager, so it is opened only then (5.2 expects a file opened at configure
    time, which would truncate the target before anything ran). Its "Wrote benchmark data
    in" line names the final path.
    """

    def __init__(self, staged: Path, final: Path) -> None:
        self.staged = staged
        self.final = final
        self._file: Any = None
        #: why pytest-benchmark could not write it (set by .guard), else None
        self.failure: str | None = None

    def __fspath__(self) -> str:
        return str(self.staged)

    def __enter__(self) -> Any:
        self._file = self.staged.open("wb")
        return self._file

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def __str__(self) -> str:
        return str(self.final)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = state_of(config)
    if state is None or not state.enabled:
        return None
    devices = ", ".join(
        d.name if d.available else f"{d.name} (n/a: why under Hardware)" for d in state.devices
    )
    lines = [f"gpubench: profile {state.profile}, baseline {state.baseline}, devices {devices}"]
    if state.threads:
        lines[0] += f", {state.threads} CPU thread{'s' if state.threads > 1 else ''} each"
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = state_of(metafunc.config)
    if state is None or "device" not in metafunc.fixturenames:
        return
    definition = metafunc.definition
    if "gpubench" not in metafunc.fixturenames and not definition.get_closest_marker("gpubench"):
        return  # a fixture called "device" outside gpubench benchmarks is not ours to fill
    for marker in definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if "device" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            indirect = marker.kwargs.get("indirect", False)
            if indirect is not True and "device" not in (indirect or ()):
                pytest.fail(
                    f"{definition.nodeid}: parametrize 'device' with indirect=True, e.g. "
                    "@pytest.mark.parametrize('device', ['numpy', 'cuda'], indirect=True): the "
                    "device fixture turns each name into a device (passed directly, the test "
                    "gets the bare string)",
                    pytrace=False,
                )
            return  # the test chose its own devices
    # skipped anyway without --gpubench: don't probe (import torch) for them
    names = state.params if state.enabled else state.device_names
    metafunc.parametrize("device", names, indirect=True, ids=names)


def pytest_sessionstart(session: pytest.Session) -> None:
    state = state_of(session.config)
    if state is not None and state.enabled:  # the terminal reporter exists from here on
        from pytest_gpubench.progress import Progress

        state.progress = Progress.for_config(session.config)
        state.other_load.start()  # read again once collected: others' CPU meanwhile


def pytest_collection_finish(session: pytest.Session) -> None:
    state = state_of(session.config)
    tr = session.config.pluginmanager.getplugin("terminalreporter")
    if state is None or not state.enabled or tr is None:
        return
    note = other_load_note(state.other_load.cores(), state.threads)
    if note:
        tr.write_line(f"gpubench: WARNING {note}", yellow=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = state_of(config)
    if state is None:
        return
    if state.enabled:  # the other tests are deselected: a benchmark run lists only benchmarks
        others = [item for item in items if not is_benchmark_item(item)]
        if others:
            config.hook.pytest_deselected(items=others)
            items[:] = [item for item in items if is_benchmark_item(item)]
    else:  # the benchmarks are skipped, with the reason saying how to run them
        skip = pytest.mark.skip(reason=SKIP_WITHOUT)
        for item in items:
            if is_benchmark_item(item):
                item.add_marker(skip)
    try:
        for item in items:  # a bad gpubench marker stops the session before it runs
            check_marker(item)
            item_versus_baseline(item)
            if state.enabled and "gpubench" not in getattr(item, "fixturenames", ()):
                item.warn(pytest.PytestWarning(f"gpubench: {UNTIMED_MARKER}"))
        state.experiment_thresholds = marker_thresholds(items, parse_threshold)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if state.enabled:
        _pair_items(state, items)
        _rounds_for_the_gate(state)


def _pair_items(state: GpubenchState, items: list[pytest.Item]) -> None:
    """Order the benchmarks so that each (experiment, size)'s devices run back to back,
    baseline first, each group where its first item was: the other devices' rounds then
    interleave with the baseline's (see :class:`~.timing.Partners`)."""
    if not any(is_benchmark_item(item) for item in items):
        return
    state.partners = Partners(state.baseline)
    typed = dict(zip(state.params, (d.name for d in state.devices), strict=True))

    def device_of(item: pytest.Item) -> str | None:
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("device") if callspec is not None else None
        return param if isinstance(param, str) else None

    groups: dict[tuple[str, ...], list[pytest.Item]] = {}
    for item in items:
        param = device_of(item)
        if not is_benchmark_item(item) or param is None:
            key: tuple[str, ...] = (item.nodeid,)
        else:
            module = getattr(getattr(item, "module", None), "__name__", "")
            key = (module, item_experiment(item), item_size(item, param))
        groups.setdefault(key, []).append(item)

    def baseline_first(item: pytest.Item) -> int:
        param = device_of(item)
        return 0 if typed.get(param or "", param) == state.baseline else 1

    items[:] = [item for group in groups.values() for item in sorted(group, key=baseline_first)]


def _rounds_for_the_gate(state: GpubenchState) -> None:
    """With a gate active, each cell takes at least the rounds its test needs to be able
    to fail (5 a side at alpha 0.01): a gate of 3-round cells could never decide."""
    if state.compared is None or not (state.thresholds or state.experiment_thresholds):
        return
    from pytest_gpubench.baseline import DEFAULT_ALPHA, rounds_for

    need = rounds_for(DEFAULT_ALPHA)
    settings = state.settings
    if settings.min_rounds < need:
        state.settings = replace(
            settings, min_rounds=need, max_rounds=max(settings.max_rounds, need)
        )


@pytest.fixture
def device(request: pytest.FixtureRequest) -> Device:
    """The device this test runs on: one of ``--gpubench-devices``, skipped if unusable."""
    state = state_of(request.config)
    name = getattr(request, "param", None)
    if state is None or name is None:
        return get_device("numpy")
    chosen = state.device(name) if state.enabled else get_device(name)
    if not chosen.available:
        if is_benchmark_item(request.node):
            _record_not_measured(request, chosen, chosen.reason or "unavailable")
        pytest.skip(f"{chosen.name}: {chosen.reason}")
    return chosen


def _device_param(request: pytest.FixtureRequest, device: Device) -> str:
    """The ``device`` parameter in the test's id: the name as typed (``cuda``), which may
    differ from the device it picked (``cupy``)."""
    callspec = getattr(request.node, "callspec", None)
    param = callspec.params.get("device") if callspec is not None else None
    return param if isinstance(param, str) else device.name


def _record_not_measured(request: pytest.FixtureRequest, device: Device, reason: str) -> None:
    """An n/a row for this benchmark on ``device``, saying why (shown in every report)."""
    size = item_size(request.node, _device_param(request, device))
    results_of(request.config).add(
        Measurement(
            experiment=item_experiment(request.node),
            size=size,
            device=device.name,
            size_value=size_value_of(size),
            device_info=device.describe(),
            test_id=request.node.nodeid,
            reason=reason,
            versus_baseline=item_versus_baseline(request.node),
        )
    )


@pytest.hookimpl(hookwrapper=True)  # old-style wrapper: works with pytest 7.4's pluggy too
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    xfailed = hasattr(report, "wasxfail") and report.skipped  # failed, as it was expected to
    if report.when == "call" and (report.failed or xfailed) and call.excinfo is not None:
        item.stash[_CALL_FAILURE] = call.excinfo.exconly().splitlines()[0][:200]
    elif report.when == "call" and report.skipped and call.excinfo is not None:
        item.stash[_CALL_SKIP] = str(call.excinfo.value)[:200] or "no reason given"


@pytest.fixture(scope="session")
def gpubench_profile(request: pytest.FixtureRequest) -> str:
    """The experiment scale chosen with ``--gpubench-profile``: ``quick`` or ``seed``."""
    state = state_of(request.config)
    return state.profile if state else "quick"


@pytest.fixture
def gpubench(request: pytest.FixtureRequest, device: Device, benchmark: Any) -> Iterator[GpuBench]:
    """Time one workload on ``device`` through pytest-benchmark and record the measurement."""
    state = state_of(request.config)
    settings = state.settings if state else TimingSettings()
    size = item_size(request.node, _device_param(request, device))
    if state is not None and state.enabled and state.threads and not device.is_gpu:
        limit_threads(state.threads)
    versus_baseline = item_versus_baseline(request.node)
    bench = GpuBench(
        device,
        experiment=item_experiment(request.node),
        size=size,
        size_value=size_value_of(size),
        settings=settings,
        benchmark=benchmark,
        test_id=request.node.nodeid,
        partners=state.partners if state is not None and state.enabled else None,
        versus_baseline=versus_baseline,
        progress=state.progress if state is not None and state.enabled else None,
    )
    yield bench
    measurement = bench.measurement()
    failure = request.node.stash.get(_CALL_FAILURE, None)
    if measurement is not None and failure is None:
        results_of(request.config).add(replace(measurement, versus_baseline=versus_baseline))
    elif failure is not None:  # a failed test's time is no result (its check failed): n/a
        after = "" if measurement is None else " after it was timed"
        _record_not_measured(request, device, f"failed{after}: {failure}")
    elif _CALL_SKIP in request.node.stash:  # the test skipped itself (e.g. out of memory)
        _record_not_measured(request, device, f"skipped: {request.node.stash[_CALL_SKIP]}")
    elif state is not None and state.enabled:  # passed without timing anything: say so
        _record_not_measured(request, device, NEVER_TIMED)
        request.node.warn(pytest.PytestWarning(f"gpubench: {NEVER_TIMED}"))


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's hook: absent under -p no:benchmark
def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    state = state_of(config)
    results = results_of(config)
    if state is None or not results.measurements:
        return
    from pytest_gpubench.report import gpubench_section

    output_json["gpubench"] = gpubench_section(results, state.rows(results), state.baseline)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = state_of(config)
    if state is None:
        return
    if state.interrupted:  # partial results: nothing written, saved or gated (see .guard)
        return
    results = results_of(config)
    if state.enabled:  # a run that measured nothing says why, and which files it left
        state.notes += why_nothing_measured(session, bool(results.measurements))
    json_written = _finish_json(config, state, results)
    if results.measurements:
        written, errors = write_reports(config.option, results, state.rows(results), state.baseline)
        state.written += written
        state.report_errors += errors
    if json_written:
        state.written.insert(0, str(config.option.gpubench_json))
    state.gate_failed = run_gate(state, results)  # also when nothing ran: that fails a gate
    # the gate's verdict replaces a pass, and "no tests" (all deselected): that gate failed too
    passing = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if state.gate_failed and session.exitstatus in passing:
        lost = state.compare_error is None
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if lost else pytest.ExitCode.USAGE_ERROR
    if state.report_errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a report asked for is missing
    state.exit_status = int(session.exitstatus)


def _finish_json(config: pytest.Config, state: GpubenchState, results: RunResults) -> bool:
    """Put this run's ``--gpubench-json`` document in place; True when it was written.

    pytest-benchmark wrote it beside the target when a benchmark ran; when none did (every
    device n/a) ours is written, with its n/a rows. A run that measured nothing leaves an
    earlier file as it was. In a remote run the machine's document is written instead.
    """
    option = config.option
    if not (option.gpubench_json and state.enabled):
        return False
    path = Path(option.gpubench_json)
    real, staged = path.resolve(), _staged(path)
    if staged != real:
        if staged.exists() and staged.stat().st_size:
            staged.replace(real)
            return True
        staged.unlink(missing_ok=True)
    if getattr(getattr(option, "benchmark_json", None), "failure", None):  # see .guard
        return False
    if not getattr(option, "benchmark_json", None):  # remote run: keep_instance_document
        failed = any(str(path) in problem for problem in state.report_errors)
        return bool(results.measurements) and path.exists() and not failed  # the instance's
    if not results.measurements:
        state.notes.append(f"nothing was measured; {path} was left as it was")
        return False
    if staged == real and any(m.ran for m in results.measurements):
        return True  # written in place by pytest-benchmark
    from pytest_gpubench.report import write_json

    try:
        write_json(path, results, state.rows(results), state.baseline)
    except OSError as exc:
        state.report_errors.append(write_failure(path, exc))
        return False
    return True


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = state_of(config)
    if state is None:
        return
    results = results_of(config)
    tr = terminalreporter
    if results.measurements:
        from pytest_gpubench.report import render_terminal

        tr.write_sep("=", f"gpubench: speedup vs {state.baseline}")
        width = getattr(getattr(tr, "_tw", None), "fullwidth", 120)
        text = render_terminal(results, state.rows(results), state.baseline, width=width)
        tr.write_line(text.rstrip("\n"))
    for path in state.written:
        tr.write_line(f"gpubench: wrote {path}")
    for note in state.notes:
        tr.write_line(f"gpubench: {note}")
    for problem in state.report_errors:
        tr.write_line(f"gpubench: {problem}", red=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The regression gate's verdict, last on screen: after pytest's own summary line, so
    a failed gate does not end on a green "passed" (the exit code is already non-zero)."""
    state = state_of(config)
    tr = config.pluginmanager.getplugin("terminalreporter")
    if state is None or tr is None or state.interrupted:
        return
    if state.compare_error:
        tr.write_sep("!", "gpubench: regression gate not run", red=True)
        tr.write_line(state.compare_error, red=True)
    elif state.comparison is not None:
        failed = state.gate_failed
        comparison = state.comparison
        verdict = "compared"
        if failed:
            verdict = "speedup lost"
            if not (comparison.failures or comparison.missing) and not comparison.decided:
                verdict = "gate undecided"
        title = f"gpubench: {verdict} vs {state.compare_path}"
        tr.write_sep("!" if failed else "=", title, red=failed, green=not failed)
        tr.write_line(comparison.render().rstrip("\n"), red=failed)
        if failed:
            tr.write_sep("!", f"gpubench: {verdict}: exit code {state.exit_status}", red=True)
