"""pytest hooks of the gpubench plugin: options, the ``device`` and ``gpubench`` fixtures,
switching benchmarks on and off, and handing the session's results to the reports.

Hooks stay thin; what they decide lives in plain functions below them (device selection,
experiment and size of a test item, storage paths, the regression gate), so tests can call
them without a session. Timing is :mod:`.timing`; rows, reports and the gate are
:mod:`.speedup`, :mod:`.report` and :mod:`.baseline`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.devices import ALIASES, Device, get_device, resolve_names
from pytest_gpubench.results import Measurement, RunResults, results_of
from pytest_gpubench.timing import GpuBench, TimingSettings

__all__ = [
    "DEFAULT_DEVICES",
    "PROFILES",
    "GpubenchState",
    "build_state",
    "choose_baseline",
    "is_benchmark_item",
    "item_experiment",
    "item_size",
    "select_devices",
    "size_value_of",
    "state_of",
    "storage_path",
]

DEFAULT_DEVICES = "numpy,torch-cpu,cuda"

#: Timing defaults per profile; ``--gpubench-warmup`` etc. override them one by one.
PROFILES: dict[str, TimingSettings] = {
    "quick": TimingSettings(warmup=1, min_rounds=3, max_rounds=20, max_time=1.0),
    "seed": TimingSettings(warmup=1, min_rounds=3, max_rounds=10, max_time=30.0),
}

#: Shown (never failed on) when --gpubench-compare comes without --gpubench-compare-fail.
REPORT_THRESHOLD = "speedup:10%"

SKIP_WITHOUT = "gpubench benchmark: pass --gpubench to run it"
SKIP_OTHERS = "not a gpubench benchmark (--gpubench runs only those)"


# --------------------------------------------------------------------------- plain functions


@dataclass
class GpubenchState:
    """What the options decided for this session, plus what the session learns on the way.

    Devices are probed on first use (importing torch takes a while), so a plain ``pytest``
    run without ``--gpubench`` pays nothing for them.
    """

    enabled: bool
    device_names: list[str]
    baseline_spec: str | None
    profile: str
    settings: TimingSettings
    thresholds: list[Any] = field(default_factory=list)
    force: bool = False
    compare_path: Path | None = None
    compared: RunResults | None = None
    experiment_thresholds: dict[str, list[Any]] = field(default_factory=dict)
    comparison: Any = None
    compare_error: str | None = None
    written: list[str] = field(default_factory=list)
    gate_failed: bool = False
    _rows: tuple[int, list[Any]] | None = field(default=None, repr=False)
    _selected: tuple[str, list[Device]] | None = field(default=None, repr=False)

    def _select(self) -> tuple[str, list[Device]]:
        if self._selected is None:
            self._selected = choose_baseline(select_devices(self.device_names), self.baseline_spec)
        return self._selected

    @property
    def devices(self) -> list[Device]:
        return self._select()[1]

    @property
    def baseline(self) -> str:
        return self._select()[0]

    def device(self, name: str) -> Device:
        return next(d for d in self.devices if d.name == name)

    def rows(self, results: RunResults) -> list[Any]:
        """Speedup rows of ``results`` (cached while no measurement is added)."""
        if self._rows is None or self._rows[0] != len(results.measurements):
            self._rows = (len(results.measurements), rows_of(results, self.baseline))
        return self._rows[1]


def select_devices(spec: str | Sequence[str]) -> list[Device]:
    """The devices a comma-separated list names, probed, usable or not, without repeats.

    An alias becomes the device it picks here; when it picks none, a device named as the
    alias whose reason lists why each candidate is out. ``ValueError`` for unknown names.
    """
    devices: dict[str, Device] = {}
    for name in resolve_names(spec):
        device = get_device(name)
        if name in ALIASES and not device.available:
            why = "; ".join(f"{target}: {get_device(target).reason}" for target in ALIASES[name])
            device = Device(name, device.kind, device.library, reason=f"none usable ({why})")
        devices.setdefault(device.name, device)
    return list(devices.values())


def choose_baseline(devices: list[Device], spec: str | None) -> tuple[str, list[Device]]:
    """The baseline device's name (given, else the first CPU device) and the device list,
    with the baseline added in front when the list lacked it."""
    if spec is None:
        cpu = next((d for d in devices if not d.is_gpu), devices[0])
        return cpu.name, devices
    chosen = select_devices(spec)
    if len(chosen) != 1:
        raise ValueError(f"--gpubench-baseline takes one device name, got {spec!r}")
    if all(d.name != chosen[0].name for d in devices):
        devices = [chosen[0], *devices]
    return chosen[0].name, devices


def parse_threshold(expr: str) -> Any:
    """A ``--gpubench-compare-fail`` expression parsed by :mod:`.baseline`."""
    from pytest_gpubench.baseline import parse_compare_fail

    return parse_compare_fail(expr)


def _positive_int(value: Any, option: str, minimum: int) -> int:
    if value is None:
        raise ValueError(f"{option} needs a value")
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum or str(number) != str(value).strip():
        raise ValueError(f"{option} takes an integer >= {minimum}, got {value!r}")
    return number


def timing_settings(
    profile: str,
    warmup: Any = None,
    min_rounds: Any = None,
    max_rounds: Any = None,
    max_time: Any = None,
) -> TimingSettings:
    """The profile's timing settings with the given options replacing single values."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    base = PROFILES[profile]
    values = {
        "warmup": base.warmup if warmup is None else _positive_int(warmup, "--gpubench-warmup", 0),
        "min_rounds": base.min_rounds
        if min_rounds is None
        else _positive_int(min_rounds, "--gpubench-min-rounds", 1),
        "max_rounds": base.max_rounds
        if max_rounds is None
        else _positive_int(max_rounds, "--gpubench-max-rounds", 1),
        "max_time": base.max_time,
    }
    if max_time is not None:
        try:
            values["max_time"] = float(max_time)
        except ValueError:
            raise ValueError(
                f"--gpubench-max-time takes seconds (a number > 0), got {max_time!r}"
            ) from None
    if min_rounds is not None and max_rounds is None:
        values["max_rounds"] = max(values["max_rounds"], values["min_rounds"])
    if max_rounds is not None and min_rounds is None:
        values["min_rounds"] = min(values["min_rounds"], values["max_rounds"])
    return TimingSettings(**values)


def storage_path(uri: str) -> Path:
    """The directory of a pytest-benchmark ``--benchmark-storage`` URI (file storage only)."""
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if "://" in uri:
        raise ValueError(
            f"--gpubench-compare needs a file storage (file://PATH), "
            f"got --benchmark-storage {uri!r}"
        )
    return Path(uri)


def build_state(option: Any, ini_devices: str, ini_profile: str) -> GpubenchState:
    """Validate the ``--gpubench*`` options into a state; ``ValueError`` says what is accepted.

    Device names are checked here; the devices themselves are probed on first use.
    """
    names = resolve_names(option.gpubench_devices or ini_devices or DEFAULT_DEVICES)
    if option.gpubench_baseline is not None:
        baseline = resolve_names(option.gpubench_baseline)
        if len(baseline) != 1:
            raise ValueError(
                f"--gpubench-baseline takes one device name, got {option.gpubench_baseline!r}"
            )
    profile = option.gpubench_profile or ini_profile or "quick"
    settings = timing_settings(
        profile,
        option.gpubench_warmup,
        option.gpubench_min_rounds,
        option.gpubench_max_rounds,
        option.gpubench_max_time,
    )
    state = GpubenchState(option.gpubench, names, option.gpubench_baseline, profile, settings)
    state.thresholds = [parse_threshold(expr) for expr in option.gpubench_compare_fail]
    state.force = option.gpubench_compare_force
    if option.gpubench_compare is not None:
        if not option.gpubench:
            raise ValueError("--gpubench-compare compares benchmark runs; add --gpubench")
        from pytest_gpubench.baseline import resolve_baseline
        from pytest_gpubench.report import load_results

        spec = None if option.gpubench_compare is True else option.gpubench_compare
        storage = storage_path(option.benchmark_storage)
        state.compare_path = Path(resolve_baseline(spec, storage))
        state.compared = load_results(state.compare_path)
    elif state.thresholds:
        raise ValueError(
            "--gpubench-compare-fail needs --gpubench-compare [RUN|PATH] to compare against"
        )
    return state


_STATE = pytest.StashKey[GpubenchState]()


def state_of(config: pytest.Config) -> GpubenchState | None:
    """The session's gpubench state, or ``None`` before (or without) configuration."""
    return config.stash.get(_STATE, None)


def is_benchmark_item(item: pytest.Item) -> bool:
    """A gpubench benchmark: uses the ``gpubench`` fixture or carries the marker."""
    names = getattr(item, "fixturenames", ())
    return "gpubench" in names or item.get_closest_marker("gpubench") is not None


def item_experiment(item: pytest.Item) -> str:
    """The marker's ``experiment=``, else the test function's name without ``test_``."""
    marker = item.get_closest_marker("gpubench")
    if marker and marker.kwargs.get("experiment"):
        return str(marker.kwargs["experiment"])
    name = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    return name.removeprefix("test_")


def item_size(item: pytest.Item, device: str) -> str:
    """The test's parameter ids without the device's: ``test_fit[800-800-numpy]`` → ``800-800``."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return "-"
    ids = list(getattr(callspec, "_idlist", callspec.id.split("-")))
    if device in ids:
        ids.remove(device)
    return "-".join(ids) or "-"


def size_value_of(size: str) -> float:
    """A number that orders sizes: the sum of the integers in the size (``800-800`` → 1600)."""
    return float(sum(int(n) for n in re.findall(r"\d+", size)))


def marker_thresholds(items: Sequence[pytest.Item], parse: Any) -> dict[str, list[Any]]:
    """Per-experiment ``compare_fail=`` thresholds from the ``gpubench`` markers, parsed."""
    found: dict[str, list[Any]] = {}
    for item in items:
        marker = item.get_closest_marker("gpubench")
        spec = marker.kwargs.get("compare_fail") if marker else None
        if not spec:
            continue
        exprs = [spec] if isinstance(spec, str) else list(spec)
        experiment = item_experiment(item)
        parsed = found.setdefault(experiment, [])
        if not parsed:
            try:
                parsed.extend(parse(expr) for expr in exprs)
            except ValueError as exc:
                raise ValueError(f"{item.nodeid}: gpubench(compare_fail=...): {exc}") from exc
    return found


def rows_of(results: RunResults, baseline: str) -> list[Any]:
    from pytest_gpubench.speedup import build_rows

    return build_rows(results.measurements, baseline)


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

    Without ``--gpubench-compare-fail`` (or a marker's ``compare_fail=``) the comparison is
    shown with :data:`REPORT_THRESHOLD` but fails nothing. The outcome, or why there is
    none (e.g. other hardware), is kept on ``state``.
    """
    if state.compared is None:
        return False
    from pytest_gpubench import baseline as gate

    gating = bool(state.thresholds or state.experiment_thresholds)
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
        )
    except ValueError as exc:
        state.compare_error = f"cannot compare with {state.compare_path}: {exc}"
        return True
    return gating and bool(state.comparison.failures)


# --------------------------------------------------------------------------- hooks


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
        help="Warm-up rounds before timing (default 1; the first GPU call compiles).",
    )
    add("--gpubench-min-rounds", metavar="N", default=None, help="Fewest timed rounds (default 3).")
    add(
        "--gpubench-max-rounds",
        metavar="N",
        default=None,
        help="Most timed rounds (default: quick 20, seed 10).",
    )
    add(
        "--gpubench-max-time",
        metavar="SECONDS",
        default=None,
        help="Timed seconds to aim for per benchmark; rounds are calibrated from the "
        "warm-up (default: quick 1.0, seed 30).",
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
    parser.addini("gpubench_devices", f"gpubench devices (default {DEFAULT_DEVICES})", default="")
    parser.addini("gpubench_profile", "gpubench profile: quick or seed", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gpubench(experiment=None, compare_fail=None): a gpubench benchmark; experiment "
        "names its table, compare_fail its own regression thresholds (e.g. 'speedup:10%').",
    )
    option = config.option
    try:
        state = build_state(
            option, config.getini("gpubench_devices"), config.getini("gpubench_profile")
        )
    except (ValueError, FileNotFoundError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = state
    _wire_benchmark_output(config)


def _wire_benchmark_output(config: pytest.Config) -> None:
    """Point pytest-benchmark's own JSON and save options at ours, before it reads them."""
    from pytest_benchmark.utils import get_tag, parse_save

    option = config.option
    if option.gpubench_json:
        if getattr(option, "benchmark_json", None):
            raise pytest.UsageError("give --gpubench-json or --benchmark-json, not both")
        path = Path(option.gpubench_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        option.benchmark_json = _benchmark_json_target(path)
    if option.gpubench_save:
        try:
            option.benchmark_save = parse_save(option.gpubench_save)
        except Exception as exc:
            raise pytest.UsageError(f"--gpubench-save {option.gpubench_save!r}: {exc}") from None
    if option.gpubench_autosave and not getattr(option, "benchmark_autosave", None):
        option.benchmark_autosave = get_tag()


def _benchmark_json_target(path: Path) -> Any:
    """What pytest-benchmark's ``--benchmark-json`` holds: a path from 5.3 on, else an open file."""
    from importlib.metadata import version

    major, minor = (int(part) for part in version("pytest-benchmark").split(".")[:2])
    return path if (major, minor) >= (5, 3) else path.open("wb")


def pytest_report_header(config: pytest.Config) -> str | None:
    state = state_of(config)
    if state is None or not state.enabled:
        return None
    devices = ", ".join(
        d.name if d.available else f"{d.name} (n/a: {d.reason})" for d in state.devices
    )
    return f"gpubench: profile {state.profile}, baseline {state.baseline}, devices {devices}"


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
            return  # the test chose its own devices
    # skipped anyway without --gpubench: don't probe (import torch) for them
    names = [d.name for d in state.devices] if state.enabled else state.device_names
    metafunc.parametrize("device", names, indirect=True, ids=names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = state_of(config)
    if state is None:
        return
    skip = pytest.mark.skip(reason=SKIP_OTHERS if state.enabled else SKIP_WITHOUT)
    for item in items:
        if is_benchmark_item(item) != state.enabled:
            item.add_marker(skip)
    try:
        state.experiment_thresholds = marker_thresholds(items, parse_threshold)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


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
            experiment = item_experiment(request.node)
            size = item_size(request.node, chosen.name)
            results_of(request.config).add(
                Measurement(
                    experiment=experiment,
                    size=size,
                    device=chosen.name,
                    size_value=size_value_of(size),
                    device_info=chosen.describe(),
                    test_id=request.node.nodeid,
                    reason=chosen.reason,
                )
            )
        pytest.skip(f"{chosen.name}: {chosen.reason}")
    return chosen


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
    size = item_size(request.node, device.name)
    bench = GpuBench(
        device,
        experiment=item_experiment(request.node),
        size=size,
        size_value=size_value_of(size),
        settings=settings,
        benchmark=benchmark,
        test_id=request.node.nodeid,
    )
    yield bench
    measurement = bench.measurement()
    if measurement is not None:
        results_of(request.config).add(measurement)


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
    results = results_of(config)
    _write_json_without_benchmarks(config, state, results)
    if not results.measurements:
        return
    state.written = write_reports(config.option, results, state.rows(results), state.baseline)
    if config.option.gpubench_json:
        state.written.insert(0, str(config.option.gpubench_json))
    state.gate_failed = run_gate(state, results)
    if state.gate_failed and session.exitstatus == pytest.ExitCode.OK:
        lost = state.compare_error is None
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if lost else pytest.ExitCode.USAGE_ERROR


def _write_json_without_benchmarks(
    config: pytest.Config, state: GpubenchState, results: RunResults
) -> None:
    """pytest-benchmark writes no JSON when no benchmark ran; still write ours (n/a rows)."""
    if not config.option.gpubench_json:
        return
    handle = config.option.benchmark_json
    if hasattr(handle, "closed") and not handle.closed:
        handle.close()
    path = Path(config.option.gpubench_json)
    if path.exists() and path.stat().st_size:
        return
    from pytest_gpubench.report import write_json

    write_json(path, results, state.rows(results), state.baseline)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = state_of(config)
    results = results_of(config)
    if state is None or not results.measurements:
        return
    from pytest_gpubench.report import render_terminal

    tr = terminalreporter
    tr.write_sep("=", f"gpubench: speedup vs {state.baseline}")
    width = getattr(getattr(tr, "_tw", None), "fullwidth", 120)
    text = render_terminal(results, state.rows(results), state.baseline, width=width)
    tr.write_line(text.rstrip("\n"))
    for path in state.written:
        tr.write_line(f"gpubench: wrote {path}")
    if state.compare_error:
        tr.write_sep("!", "gpubench: regression gate not run", red=True)
        tr.write_line(state.compare_error)
    elif state.comparison is not None:
        failed = state.gate_failed
        verdict = "speedup lost" if failed else "compared"
        title = f"gpubench: {verdict} vs {state.compare_path}"
        tr.write_sep("!" if failed else "=", title, red=failed, green=not failed)
        tr.write_line(state.comparison.render().rstrip("\n"))
