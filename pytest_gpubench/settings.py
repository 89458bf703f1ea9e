"""What the ``--gpubench*`` options decide for a session: devices and baseline, the timing
profile, the saved run to compare with. Plain functions, so tests call them without a session;
:mod:`.plugin` only reads the options and stores the result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_gpubench.devices import ALIASES, Device, get_device, resolve_names
from pytest_gpubench.results import RunResults
from pytest_gpubench.timing import TimingSettings

__all__ = [
    "DEFAULT_DEVICES",
    "OUTPUT_OPTIONS",
    "PROFILES",
    "REPORT_THRESHOLD",
    "GpubenchState",
    "build_state",
    "check_output_paths",
    "check_plot_path",
    "choose_baseline",
    "compare_refusal",
    "parse_share",
    "parse_threads",
    "parse_threshold",
    "rows_of",
    "select_devices",
    "storage_path",
    "timing_settings",
    "typed_names",
    "xdist_workers",
]

DEFAULT_DEVICES = "numpy,torch-cpu,cuda"

#: Timing defaults per profile; ``--gpubench-warmup`` etc. override them one by one.
PROFILES: dict[str, TimingSettings] = {
    "quick": TimingSettings(warmup=2, min_rounds=5, max_rounds=30, max_time=20.0),
    "seed": TimingSettings(warmup=2, min_rounds=5, max_rounds=20, max_time=60.0),
}

#: Shown (never failed on) when --gpubench-compare comes without --gpubench-compare-fail.
REPORT_THRESHOLD = "speedup:10%"


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
    notes: list[str] = field(default_factory=list)
    report_errors: list[str] = field(default_factory=list)
    gate_failed: bool = False
    #: the session was interrupted: nothing of it is written, saved or gated (see .guard)
    interrupted: bool = False
    #: the session's exit status once the gate has run (for the verdict printed last)
    exit_status: int | None = None
    #: --gpubench-threads: every CPU back end's thread count (None: their own defaults)
    threads: int | None = None
    #: other processes' CPU use while the session starts (see .threads)
    other_load: Any = field(default_factory=lambda: _other_load())
    #: the line saying which cell is being timed (TTY only; see .progress)
    progress: Any = None
    #: the baseline's live workload of the size measured last, for pairing (see .timing)
    partners: Any = None
    _rows: tuple[int, list[Any]] | None = field(default=None, repr=False)
    _selected: tuple[str, list[Device], list[str]] | None = field(default=None, repr=False)

    def _select(self) -> tuple[str, list[Device], list[str]]:
        if self._selected is None:
            baseline, devices = choose_baseline(
                select_devices(self.device_names), self.baseline_spec
            )
            typed = typed_names(self.device_names)
            if self.baseline_spec:
                typed.setdefault(baseline, resolve_names(self.baseline_spec)[0])
            params = [typed.get(d.name, d.name) for d in devices]
            self._selected = (baseline, devices, params)
        return self._selected

    @property
    def devices(self) -> list[Device]:
        return self._select()[1]

    @property
    def baseline(self) -> str:
        return self._select()[0]

    @property
    def params(self) -> list[str]:
        """The ``device`` parameter (and test id) of each selected device: its name as typed.
        An alias stays ``cuda`` whichever library it picks on this machine, so a test id
        means the same test everywhere; an EC2 run relies on it (it sends the selected
        node ids to the instance, whose ``cuda`` may be another library than here)."""
        return self._select()[2]

    def device(self, name: str) -> Device:
        """The selected device whose parameter or name is ``name``; a test that parametrizes
        its own devices may name others (or an alias), which are probed as asked."""
        for device, param in zip(self.devices, self.params, strict=True):
            if name in (device.name, param):
                return device
        return get_device(name)

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
        device = _selected(name)
        devices.setdefault(device.name, device)
    return list(devices.values())


def typed_names(spec: str | Sequence[str]) -> dict[str, str]:
    """Each device :func:`select_devices` picks, mapped to its name as ``spec`` typed it."""
    typed: dict[str, str] = {}
    for name in resolve_names(spec):
        typed.setdefault(_selected(name).name, name)
    return typed


def _selected(name: str) -> Device:
    device = get_device(name)
    if name in ALIASES and not device.available:
        why = "; ".join(f"{target}: {get_device(target).reason}" for target in ALIASES[name])
        device = Device(name, device.kind, device.library, reason=f"none usable: {why}")
    return device


def _other_load() -> Any:
    from pytest_gpubench.threads import OtherLoad

    return OtherLoad()


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
    """A ``--gpubench-compare-fail`` expression parsed by :mod:`.gate`."""
    from pytest_gpubench.gate import parse_compare_fail

    return parse_compare_fail(expr)


#: Upper limits of the timing options: beyond them a run would never end (a typo's extra
#: zeros), and nothing is measured better.
MAX_WARMUP = 1_000
MAX_ROUNDS = 100_000
MAX_TIME_S = 86_400.0


def _positive_int(value: Any, option: str, minimum: int, maximum: int) -> int:
    if value is None:
        raise ValueError(f"{option} needs a value")
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not minimum <= number <= maximum or str(number) != str(value).strip():
        raise ValueError(f"{option} takes an integer from {minimum} to {maximum}, got {value!r}")
    return number


def parse_share(value: Any, option: str, *, off: float, low_inclusive: bool) -> float:
    """A share given as ``5%`` or ``0.05`` (or ``off``, which gives ``off``), as a fraction
    of 1; ``ValueError`` says what is accepted."""
    text = str(value).strip().lower()
    if text == "off":
        return off
    try:
        number = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        number = math.nan
    low_ok = number >= 0 if low_inclusive else number > 0
    if not (math.isfinite(number) and low_ok and number < 1):
        lowest = "0 (or off)" if low_inclusive else "just above 0"
        raise ValueError(
            f"{option} takes a share such as 5% or 0.05 (from {lowest} to below 100%, or off), "
            f"got {value!r}"
        )
    return number


def parse_threads(value: Any) -> int | None:
    """``--gpubench-threads``: the thread count of every CPU back end, or None (theirs)."""
    if value is None:
        return None
    return _positive_int(value, "--gpubench-threads", 1, 4096)


def timing_settings(
    profile: str,
    warmup: Any = None,
    min_rounds: Any = None,
    max_rounds: Any = None,
    max_time: Any = None,
    precision: Any = None,
    interference: Any = None,
) -> TimingSettings:
    """The profile's timing settings with the given options replacing single values.

    ``precision`` (``--gpubench-precision``: ``5%``; ``0`` or ``off`` fills the time budget)
    and ``interference`` (``--gpubench-interference``: the share of a round spent waiting
    for a CPU beyond which it is set aside; ``off`` keeps every round) are shares."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    base = PROFILES[profile]
    values = {
        "warmup": base.warmup
        if warmup is None
        else _positive_int(warmup, "--gpubench-warmup", 0, MAX_WARMUP),
        "min_rounds": base.min_rounds
        if min_rounds is None
        else _positive_int(min_rounds, "--gpubench-min-rounds", 1, MAX_ROUNDS),
        "max_rounds": base.max_rounds
        if max_rounds is None
        else _positive_int(max_rounds, "--gpubench-max-rounds", 1, MAX_ROUNDS),
        "max_time": base.max_time,
        "precision": base.precision
        if precision is None
        else parse_share(precision, "--gpubench-precision", off=0.0, low_inclusive=True),
        "wait_share": base.wait_share
        if interference is None
        else parse_share(
            interference, "--gpubench-interference", off=math.inf, low_inclusive=False
        ),
    }
    if max_time is not None:
        try:
            values["max_time"] = float(max_time)
        except ValueError:
            values["max_time"] = math.nan
        if not 0 < values["max_time"] <= MAX_TIME_S:
            raise ValueError(
                f"--gpubench-max-time takes seconds (> 0, at most {MAX_TIME_S:g}), got "
                f"{max_time!r}; for more rounds, raise --gpubench-min-rounds"
            )
    if (
        min_rounds is not None
        and max_rounds is not None
        and values["max_rounds"] < values["min_rounds"]
    ):
        raise ValueError(
            f"--gpubench-max-rounds {max_rounds} is below --gpubench-min-rounds {min_rounds}"
        )
    if min_rounds is not None and max_rounds is None:
        values["max_rounds"] = max(values["max_rounds"], values["min_rounds"])
    if max_rounds is not None and min_rounds is None:
        values["min_rounds"] = min(values["min_rounds"], values["max_rounds"])
    return replace(base, **values)


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


def xdist_workers(option: Any) -> str | None:
    """The pytest-xdist option that will run tests in parallel (``-n 2``, ``--tx popen``), as
    given; None when xdist is absent or off (``-n 0``)."""
    count = getattr(option, "numprocesses", None)
    if count not in (None, 0, "0"):
        return f"-n {count}"
    gateways = getattr(option, "tx", None)
    return f"--tx {','.join(gateways)}" if gateways else None


def check_plot_path(path: str) -> None:
    """Refuse, before anything runs, a ``--gpubench-plot`` that could not be written."""
    import importlib.util

    from pytest_gpubench.plot import plot_format

    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError("--gpubench-plot needs matplotlib: pip install 'pytest-gpubench[plot]'")
    plot_format(path)


#: The report options and an example file name for each (for the messages below).
OUTPUT_OPTIONS = {
    "gpubench_json": "gpubench.json",
    "gpubench_markdown": "speedups.md",
    "gpubench_plot": "speedups.png",
    "gpubench_github_json": "github-benchmark.json",
}


def check_output_paths(option: Any, compare_path: Path | None) -> None:
    """Refuse, before anything runs, report paths that name no file, that could not be
    written, that name the same file twice, that would overwrite the saved run
    ``--gpubench-compare`` reads, or that hold a file which is not a report of this tool
    (unless ``--gpubench-overwrite``; see :mod:`.outputs`)."""
    import tempfile

    from pytest_gpubench.outputs import overwrite_refusal

    seen: dict[Path, str] = {}
    for attr, example in OUTPUT_OPTIONS.items():
        value = getattr(option, attr, None)
        if value is None:
            continue
        flag = "--" + attr.replace("_", "-")
        if not str(value).strip():
            raise ValueError(f"{flag} {value!r} names no file; give a path such as {example}")
        path = Path(value)
        if path.is_dir():
            raise ValueError(
                f"{flag} {value!r} is a directory; give a file such as {path / example}"
            )
        if path.exists():  # a file (or /dev/stdout) this user may write to is fine as it is
            if not os.access(path, os.W_OK):
                raise ValueError(
                    f"{flag} {value!r} cannot be written: permission denied; give a path "
                    "you may write to"
                )
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=path.parent):
                    pass
            except OSError as exc:
                raise ValueError(
                    f"{flag} {value!r} cannot be written: {exc.strerror or exc} "
                    f"({path.parent}); give a path in a writable directory"
                ) from None
        key = path.resolve()
        if key in seen:
            raise ValueError(f"{seen[key]} and {flag} both write {value!r}; give each its own file")
        if compare_path is not None and key == compare_path.resolve():
            raise ValueError(
                f"{flag} {value!r} is the saved run --gpubench-compare reads; writing it would "
                "overwrite the baseline before it is compared. Write the new run elsewhere"
            )
        seen[key] = flag
        refusal = (
            None if getattr(option, "gpubench_overwrite", False) else overwrite_refusal(flag, path)
        )
        if refusal:
            raise ValueError(refusal)


def build_state(option: Any, ini_devices: str, ini_profile: str) -> GpubenchState:
    """Validate the ``--gpubench*`` options into a state; ``ValueError`` says what is accepted.

    Device names are checked here; the devices themselves are probed on first use.
    """
    workers = xdist_workers(option)
    if option.gpubench and workers:
        raise ValueError(
            f"--gpubench cannot run under pytest-xdist ({workers}): benchmarks timed side "
            "by side on the same cores slow each other down, and each worker would report "
            "only its own share of the results. Run --gpubench without -n (or with -n 0)."
        )
    if getattr(option, "gpubench_plot", None):
        check_plot_path(option.gpubench_plot)
    if option.gpubench_devices is not None and not option.gpubench_devices.strip(", "):
        raise ValueError(
            f"--gpubench-devices {option.gpubench_devices!r} names no device; give a "
            f"comma-separated list such as {DEFAULT_DEVICES}"
        )
    try:
        names = resolve_names(option.gpubench_devices or ini_devices or DEFAULT_DEVICES)
    except ValueError as exc:
        source = "--gpubench-devices" if option.gpubench_devices else "ini gpubench_devices"
        raise ValueError(f"{source}: {exc}") from None
    if option.gpubench_baseline is not None:
        baseline = resolve_names(option.gpubench_baseline)
        if len(baseline) != 1:
            raise ValueError(
                f"--gpubench-baseline takes one device name, got {option.gpubench_baseline!r}"
            )
    profile = option.gpubench_profile or ini_profile or "quick"
    if profile not in PROFILES:
        source = "--gpubench-profile" if option.gpubench_profile else "ini gpubench_profile"
        raise ValueError(
            f"{source}: unknown profile {profile!r}; expected one of {', '.join(PROFILES)}"
        )
    settings = timing_settings(
        profile,
        option.gpubench_warmup,
        option.gpubench_min_rounds,
        option.gpubench_max_rounds,
        option.gpubench_max_time,
        getattr(option, "gpubench_precision", None),
        getattr(option, "gpubench_interference", None),
    )
    state = GpubenchState(option.gpubench, names, option.gpubench_baseline, profile, settings)
    state.threads = parse_threads(getattr(option, "gpubench_threads", None))
    state.thresholds = [parse_threshold(expr) for expr in option.gpubench_compare_fail]
    state.force = option.gpubench_compare_force
    if option.gpubench_compare is not None:
        if not option.gpubench:
            raise ValueError("--gpubench-compare compares benchmark runs; add --gpubench")
        from pytest_gpubench.gate import resolve_baseline
        from pytest_gpubench.report import load_results

        spec = None if option.gpubench_compare is True else option.gpubench_compare
        if spec is not None and not spec.strip():
            raise ValueError(
                f"--gpubench-compare {spec!r} names no saved run; give a NAME, a NUMBER or "
                "the PATH of its JSON, or --gpubench-compare alone for the latest saved run"
            )
        storage = storage_path(option.benchmark_storage)
        state.compare_path = Path(resolve_baseline(spec, storage))
        state.compared = load_results(state.compare_path)
    elif state.thresholds:
        raise ValueError(
            "--gpubench-compare-fail needs --gpubench-compare [RUN|PATH] to compare against"
        )
    elif state.force and option.gpubench:  # in addopts, a plain run must still work
        raise ValueError(
            "--gpubench-compare-force applies to --gpubench-compare [RUN|PATH]; add it or drop "
            "the force"
        )
    if option.gpubench:  # without it nothing is written: the paths are not ours to touch
        check_output_paths(option, state.compare_path)
    return state


def compare_refusal(state: GpubenchState, devices_here: bool) -> str | None:
    """Why the saved run of ``--gpubench-compare`` would be refused at the end (another
    profile; other hardware, where ``devices_here``: not in EC2 mode, whose devices are the
    instance's), known before anything runs; None when it may be compared."""
    if state.compared is None or state.force:
        return None
    from pytest_gpubench.gate import hardware_mismatches, hardware_refusal, profile_mismatch
    from pytest_gpubench.report_json import device_descriptions

    problem = profile_mismatch(state.profile, state.compared.extra.get("profile"))
    if problem or not devices_here:
        return problem
    saved = {m.device for m in state.compared.measurements if m.ran}
    now = {d.name: d.describe() for d in state.devices if d.available and d.name in saved}
    mismatches = hardware_mismatches(now, device_descriptions(state.compared), now)
    return hardware_refusal(mismatches) if mismatches else None


def rows_of(results: RunResults, baseline: str) -> list[Any]:
    """One speedup row per (experiment, size) of ``results``."""
    from pytest_gpubench.speedup import build_rows

    return build_rows(results.measurements, baseline)
