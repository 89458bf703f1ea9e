"""One ``pytest`` run as gpubench sees it: :class:`GpubenchSession`, created at configure
and kept in ``config.stash``. It holds the frozen configuration (:mod:`.settings`), the
run's outcome (:mod:`.outcome`) and the report formats (:mod:`.reporters`); each pytest hook
in :mod:`.plugin` hands off to one of its methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from pytest_gpubench.bench import GpuBench, Partners
from pytest_gpubench.benchmark_json import wire
from pytest_gpubench.devices import Device, get_device, register_specs, unregister_device
from pytest_gpubench.empty_run import why_nothing_measured
from pytest_gpubench.items import (
    check_marker,
    is_benchmark_item,
    item_experiment,
    item_size,
    item_versus_baseline,
    marker_thresholds,
    own_device_params,
    pair_items,
    size_value_of,
)
from pytest_gpubench.options import reporters_of
from pytest_gpubench.outcome import RunOutcome
from pytest_gpubench.remote.mode import runs_remotely
from pytest_gpubench.reporters import Report, ReportEnd, Reporters
from pytest_gpubench.reporters.terminal import TerminalTable, write_summary, write_verdict
from pytest_gpubench.results import Measurement, results_of
from pytest_gpubench.settings import (
    REPORT_THRESHOLD,
    GpubenchConfig,
    build_config,
    check_usage,
    parse_threshold,
    rows_of,
)

__all__ = ["SKIP_WITHOUT", "GpubenchSession", "note_call_outcome", "session_of"]

SKIP_WITHOUT = "gpubench benchmark: pass --gpubench to run it"

#: Why a test with the marker but without the ``gpubench`` fixture is warned about.
UNTIMED_MARKER = (
    "marked gpubench but does not take the gpubench fixture: it runs, but nothing it does is "
    "timed or shown in the speedup table (add a gpubench argument and call gpubench(fn))"
)

#: The n/a reason of a benchmark that passed without timing anything.
NEVER_TIMED = "not timed: the test never called gpubench(fn, ...)"

_SESSION = pytest.StashKey["GpubenchSession"]()
#: the exception that failed a test's call phase, for its benchmark's n/a row
_CALL_FAILURE = pytest.StashKey[str]()
_CALL_SKIP = pytest.StashKey[str]()


def session_of(config: pytest.Config) -> GpubenchSession | None:
    """The run's gpubench session, or ``None`` before (or without) configuration."""
    return config.stash.get(_SESSION, None)


def _other_load() -> Any:
    from pytest_gpubench.threads import OtherLoad

    return OtherLoad()


class GpubenchSession:
    """The configuration, the outcome and the reporters of one run, and what the hooks do."""

    def __init__(
        self,
        config: GpubenchConfig,
        reporters: Reporters,
        outcome: RunOutcome,
        added_devices: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.reporters = reporters
        self.outcome = outcome
        self.table = TerminalTable()
        #: other processes' CPU use while the run starts (see .threads)
        self.other_load = _other_load()
        #: the line saying which cell is being timed (TTY only; see .progress)
        self.progress: Any = None
        #: the baseline's live workload of the size measured last, for pairing (see .timing)
        self.partners: Partners | None = None
        self._added_devices = added_devices
        self._rows: tuple[int, list[Any]] | None = None

    # ----------------------------------------------------------------------- configure

    @classmethod
    def create(cls, pytest_config: pytest.Config) -> GpubenchSession:
        """Add plugins' devices, read and check the options (``pytest.UsageError`` with the
        reason), point pytest-benchmark's outputs at ours, and keep the session in the
        stash."""
        option = pytest_config.option
        reporters = reporters_of(pytest_config)
        added = _add_plugin_devices(pytest_config)
        try:
            config = build_config(
                option,
                pytest_config.getini("gpubench_devices"),
                pytest_config.getini("gpubench_profile"),
                reporters,
            )
            check_usage(
                config,
                option,
                benchmark_plugin=pytest_config.pluginmanager.hasplugin("benchmark"),
                local=not runs_remotely(pytest_config),
            )
        except (ValueError, FileNotFoundError) as exc:
            for name in added:
                unregister_device(name)
            raise pytest.UsageError(str(exc)) from None
        wire(option)
        outcome = RunOutcome(results_of(pytest_config))
        if config.enabled:  # saved with the run: the gate never compares quick with seed
            outcome.results.extra["profile"] = config.profile
        session = cls(config, reporters, outcome, added)
        pytest_config.stash[_SESSION] = session
        return session

    def close(self) -> None:
        """Remove the devices plugins added for this run."""
        for name in self._added_devices:
            unregister_device(name)

    def report_header(self) -> list[str] | None:
        config = self.config
        if not config.enabled:
            return None
        devices = ", ".join(
            d.name if d.available else f"{d.name} (n/a: why under Hardware)" for d in config.devices
        )
        line = f"gpubench: profile {config.profile}, baseline {config.baseline}, devices {devices}"
        if config.threads:
            line += f", {config.threads} CPU thread{'s' if config.threads > 1 else ''} each"
        return [line]

    # ----------------------------------------------------------------------- collection

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize a benchmark's ``device`` over the selected devices, unless the test
        chose its own (a fixture called ``device`` outside benchmarks is not ours)."""
        definition = metafunc.definition
        if "device" not in metafunc.fixturenames:
            return
        if "gpubench" not in metafunc.fixturenames and not definition.get_closest_marker(
            "gpubench"
        ):
            return
        if own_device_params(definition):
            return
        # skipped anyway without --gpubench: don't probe (import torch) for them
        names = self.config.params if self.config.enabled else list(self.config.device_names)
        metafunc.parametrize("device", names, indirect=True, ids=names)

    def start(self, session: pytest.Session) -> None:
        """The terminal exists from here on: the progress line, and the other load's clock.
        pytest-benchmark's own table is left out of a ``--gpubench`` run's end, which then
        closes on the speedup tables (see :func:`hide_benchmark_table`)."""
        if self.config.enabled:
            hide_benchmark_table(session.config)
            from pytest_gpubench.progress import Progress

            self.progress = Progress.for_config(session.config)
            self.other_load.start()  # read again once collected: others' CPU meanwhile

    def warn_other_load(self, terminal: Any) -> None:
        """Name other processes that kept the cores busy during collection."""
        from pytest_gpubench.threads import other_load_note

        if not self.config.enabled or terminal is None:
            return
        note = other_load_note(self.other_load.cores(), self.config.threads)
        if note:
            terminal.write_line(f"gpubench: WARNING {note}", yellow=True)

    def select(self, pytest_config: pytest.Config, items: list[pytest.Item]) -> None:
        """With ``--gpubench`` only the benchmarks run, each size's devices back to back;
        without it they are skipped, saying how to run them. A bad marker stops the run."""
        enabled = self.config.enabled
        if enabled:
            others = [item for item in items if not is_benchmark_item(item)]
            if others:
                pytest_config.hook.pytest_deselected(items=others)
                items[:] = [item for item in items if is_benchmark_item(item)]
        else:
            skip = pytest.mark.skip(reason=SKIP_WITHOUT)
            for item in items:
                if is_benchmark_item(item):
                    item.add_marker(skip)
        try:
            for item in items:
                check_marker(item)
                item_versus_baseline(item)
                if enabled and "gpubench" not in getattr(item, "fixturenames", ()):
                    item.warn(pytest.PytestWarning(f"gpubench: {UNTIMED_MARKER}"))
            found = marker_thresholds(items, parse_threshold)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.config = self.config.with_marker_thresholds(found)
        if enabled and any(is_benchmark_item(item) for item in items):
            config = self.config
            self.partners = Partners(config.baseline)
            typed = dict(zip(config.params, (d.name for d in config.devices), strict=True))
            pair_items(items, config.baseline, typed)

    # ----------------------------------------------------------------------- measuring

    def device_for(self, request: pytest.FixtureRequest) -> Device:
        """The ``device`` fixture's value; an unusable one is an n/a row, then a skip."""
        name = getattr(request, "param", None)
        if name is None:
            return get_device("numpy")
        chosen = self.config.device(name) if self.config.enabled else get_device(name)
        if not chosen.available:
            if is_benchmark_item(request.node):
                self._not_measured(request, chosen, chosen.reason or "unavailable")
            pytest.skip(f"{chosen.name}: {chosen.reason}")
        return chosen

    def bench(
        self, request: pytest.FixtureRequest, device: Device, benchmark: Any
    ) -> Iterator[GpuBench]:
        """The ``gpubench`` fixture: a :class:`~.bench.GpuBench`, then its measurement
        recorded (or, for a test that failed, skipped or timed nothing, an n/a row)."""
        config, enabled = self.config, self.config.enabled
        if enabled and config.threads and not device.is_gpu:
            from pytest_gpubench.threads import limit_threads

            limit_threads(config.threads)
        versus_baseline = item_versus_baseline(request.node)
        size = item_size(request.node, _device_param(request, device))
        bench = GpuBench(
            device,
            experiment=item_experiment(request.node),
            size=size,
            size_value=size_value_of(size),
            settings=config.settings,
            benchmark=benchmark,
            test_id=request.node.nodeid,
            partners=self.partners if enabled else None,
            versus_baseline=versus_baseline,
            progress=self.progress if enabled else None,
        )
        yield bench
        measurement = bench.measurement()
        failure = request.node.stash.get(_CALL_FAILURE, None)
        if measurement is not None and failure is None:
            self.outcome.results.add(replace(measurement, versus_baseline=versus_baseline))
        elif failure is not None:  # a failed test's time is no result (its check failed): n/a
            after = "" if measurement is None else " after it was timed"
            self._not_measured(request, device, f"failed{after}: {failure}")
        elif _CALL_SKIP in request.node.stash:  # the test skipped itself (e.g. out of memory)
            self._not_measured(request, device, f"skipped: {request.node.stash[_CALL_SKIP]}")
        elif enabled:  # passed without timing anything: say so
            self._not_measured(request, device, NEVER_TIMED)
            request.node.warn(pytest.PytestWarning(f"gpubench: {NEVER_TIMED}"))

    def _not_measured(self, request: pytest.FixtureRequest, device: Device, reason: str) -> None:
        """An n/a row for this benchmark on ``device``, saying why (shown in every report)."""
        size = item_size(request.node, _device_param(request, device))
        self.outcome.results.add(
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

    # ----------------------------------------------------------------------- the end

    def rows(self) -> list[Any]:
        """Speedup rows of the results (cached while no measurement is added)."""
        results = self.outcome.results
        if self._rows is None or self._rows[0] != len(results.measurements):
            self._rows = (len(results.measurements), rows_of(results, self.config.baseline))
        return self._rows[1]

    def report(self) -> Report:
        results = self.outcome.results
        rows = self.rows() if results.measurements else []
        return Report(results, rows, self.config.baseline)

    def json_section(self) -> dict[str, Any] | None:
        """The ``gpubench`` section of pytest-benchmark's JSON, once something was measured."""
        results = self.outcome.results
        if not results.measurements:
            return None
        from pytest_gpubench.report_json import gpubench_section

        return gpubench_section(results, self.rows(), self.config.baseline)

    def finish(self, session: pytest.Session) -> None:
        """Write the reports, run the gate, and set the exit status from both."""
        outcome = self.outcome
        if outcome.interrupted:  # partial results: nothing written, saved or gated (.guard)
            return
        option = session.config.option
        if self.config.enabled:  # a run that measured nothing says why, and which files
            measured = bool(outcome.results.measurements)
            unwritten = self.reporters.unmeasured(option)
            outcome.notes += why_nothing_measured(session, measured, unwritten)
            self.reporters.finish(ReportEnd(self.report(), outcome, option))
        outcome.gate_failed = self._run_gate()  # also when nothing ran: that fails a gate
        # the gate's verdict replaces a pass, and "no tests" (all deselected): that failed too
        passing = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if outcome.gate_failed and session.exitstatus in passing:
            lost = outcome.compare_error is None
            session.exitstatus = (
                pytest.ExitCode.TESTS_FAILED if lost else pytest.ExitCode.USAGE_ERROR
            )
        if outcome.report_errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a report asked for is missing
        outcome.exit_status = int(session.exitstatus)

    def _run_gate(self) -> bool:
        """Compare with the saved run; True when the gate fails the run.

        ``--gpubench-compare-fail`` gates every experiment, a marker's ``compare_fail=`` its
        own; the others are compared with :data:`.settings.REPORT_THRESHOLD`, whose losses
        are shown but fail nothing. The outcome, or why there is none (e.g. other
        hardware), is kept in :attr:`outcome`.
        """
        config, outcome = self.config, self.outcome
        if config.compared is None:
            return False
        from pytest_gpubench import gate

        thresholds = list(config.thresholds) or [gate.parse_compare_fail(REPORT_THRESHOLD)]
        try:
            outcome.comparison = gate.compare(
                outcome.results,
                config.compared,
                thresholds,
                {name: list(given) for name, given in config.experiment_thresholds.items()},
                force=config.force,
                baseline_device=config.baseline,
                source=str(config.compare_path),
                gated=bool(config.thresholds),
            )
        except ValueError as exc:
            outcome.compare_error = f"cannot compare with {config.compare_path}: {exc}"
            return True
        return not outcome.comparison.ok

    def summary(self, terminal: Any) -> None:
        """The speedup table, the files written, the notes and the failed writes."""
        if self.outcome.results.measurements:
            self.table.write(self.report(), terminal)
        write_summary(self.outcome, terminal)

    def verdict(self, terminal: Any) -> None:
        """The gate's verdict, last on screen (after pytest's own summary line)."""
        if terminal is not None and not self.outcome.interrupted:
            write_verdict(self.outcome, self.config.compare_path, terminal)


def note_call_outcome(item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
    """Keep why a test's call phase failed or skipped, for its benchmark's n/a row."""
    xfailed = hasattr(report, "wasxfail") and report.skipped  # failed, as it was expected to
    if report.when == "call" and (report.failed or xfailed) and call.excinfo is not None:
        item.stash[_CALL_FAILURE] = call.excinfo.exconly().splitlines()[0][:200]
    elif report.when == "call" and report.skipped and call.excinfo is not None:
        item.stash[_CALL_SKIP] = str(call.excinfo.value)[:200] or "no reason given"


def _device_param(request: pytest.FixtureRequest, device: Device) -> str:
    """The ``device`` parameter in the test's id: the name as typed (``cuda``), which may
    differ from the device it picked (``cupy``)."""
    callspec = getattr(request.node, "callspec", None)
    param = callspec.params.get("device") if callspec is not None else None
    return param if isinstance(param, str) else device.name


def _add_plugin_devices(config: pytest.Config) -> tuple[str, ...]:
    """Register the devices of ``pytest_gpubench_add_devices``; their names."""
    found = config.hook.pytest_gpubench_add_devices(config=config)
    try:
        return register_specs([spec for specs in found for spec in specs or ()])
    except ValueError as exc:
        raise pytest.UsageError(f"pytest_gpubench_add_devices: {exc}") from None


def hide_benchmark_table(pytest_config: pytest.Config) -> bool:
    """Keep pytest-benchmark from printing its own table (160 columns of the same rounds,
    which wrap into about 40 lines on an 80-column terminal below the speedup tables),
    unless ``--gpubench-benchmark-table`` or ``--benchmark-compare`` (whose comparison is
    that table) asks for it. Its JSON, storage and regression checks are untouched: only
    its display reads the flag. True when it was hidden."""
    option = pytest_config.option
    if getattr(option, "gpubench_benchmark_table", False):
        return False
    if getattr(option, "benchmark_compare", None):
        return False
    benchmark_session = getattr(pytest_config, "_benchmarksession", None)
    if benchmark_session is None or not hasattr(benchmark_session, "quiet"):
        return False
    benchmark_session.quiet = True
    return True
