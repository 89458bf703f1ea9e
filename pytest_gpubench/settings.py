"""What the ``--gpubench*`` options decide for a run: devices and baseline, the timing
profile, the saved run to compare with, each checked before anything runs. The result is a
frozen :class:`GpubenchConfig`; what the run produces is :class:`.outcome.RunOutcome`. Plain
functions, so tests call them without a pytest session.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pytest_gpubench.devices import ALIASES, Device, get_device, resolve_names
from pytest_gpubench.integers import parse_int
from pytest_gpubench.results import RunResults
from pytest_gpubench.storage import storage_path
from pytest_gpubench.timing import TimingSettings

if TYPE_CHECKING:
    from pytest_gpubench.reporters import Reporters

__all__ = [
    "DEFAULT_DEVICES",
    "PROFILES",
    "REPORT_THRESHOLD",
    "WALL_CLOCK",
    "GpubenchConfig",
    "build_config",
    "check_benchmark_options",
    "check_usage",
    "choose_baseline",
    "compare_refusal",
    "parse_round_time",
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


#: pytest-benchmark's clock, the one every gpubench round is read on.
WALL_CLOCK = "time.perf_counter"


@dataclass(frozen=True)
class GpubenchConfig:
    """What the options (and, once collected, the markers) decided for this run.

    Frozen: collection makes a new one with the markers' thresholds
    (:meth:`with_marker_thresholds`). Devices are probed on first use (importing torch
    takes a while), so a plain ``pytest`` run without ``--gpubench`` pays nothing for them.
    """

    enabled: bool
    device_names: tuple[str, ...]
    baseline_spec: str | None
    profile: str
    settings: TimingSettings
    thresholds: tuple[Any, ...] = ()
    force: bool = False
    compare_path: Path | None = None
    #: the saved run of --gpubench-compare, as loaded
    compared: RunResults | None = None
    experiment_thresholds: Mapping[str, tuple[Any, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: --gpubench-threads: every CPU back end's thread count (None: their own defaults)
    threads: int | None = None

    @cached_property
    def _selection(self) -> tuple[str, list[Device], list[str]]:
        baseline, devices = choose_baseline(select_devices(self.device_names), self.baseline_spec)
        typed = typed_names(self.device_names)
        if self.baseline_spec:
            typed.setdefault(baseline, resolve_names(self.baseline_spec)[0])
        params = [typed.get(d.name, d.name) for d in devices]
        return baseline, devices, params

    @property
    def devices(self) -> list[Device]:
        return self._selection[1]

    @property
    def baseline(self) -> str:
        return self._selection[0]

    @property
    def params(self) -> list[str]:
        """The ``device`` parameter (and test id) of each selected device: its name as typed.
        An alias stays ``cuda`` whichever library it picks on this machine, so a test id
        means the same test everywhere; a remote run relies on it (it sends the selected
        node ids to the instance, whose ``cuda`` may be another library than here)."""
        return self._selection[2]

    def device(self, name: str) -> Device:
        """The selected device whose parameter or name is ``name``; a test that parametrizes
        its own devices may name others (or an alias), which are probed as asked."""
        for device, param in zip(self.devices, self.params, strict=True):
            if name in (device.name, param):
                return device
        return get_device(name)

    def with_marker_thresholds(self, found: Mapping[str, Sequence[Any]]) -> GpubenchConfig:
        """This configuration with the markers' ``compare_fail=`` thresholds. With a gate
        active, each cell takes at least the rounds its test needs to be able to fail (5 a
        side at alpha 0.01): a gate of 3-round cells could never decide."""
        marked = MappingProxyType({name: tuple(given) for name, given in found.items()})
        config = replace(self, experiment_thresholds=marked)
        if config.compared is None or not (config.thresholds or marked):
            return config
        from pytest_gpubench.gate import DEFAULT_ALPHA, rounds_for

        need = rounds_for(DEFAULT_ALPHA)
        settings = config.settings
        if settings.min_rounds >= need:
            return config
        settings = replace(settings, min_rounds=need, max_rounds=max(settings.max_rounds, need))
        return replace(config, settings=settings)


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
    return parse_int(value, "--gpubench-threads", 1, 4096)


def timing_settings(
    profile: str,
    warmup: Any = None,
    min_rounds: Any = None,
    max_rounds: Any = None,
    max_time: Any = None,
    precision: Any = None,
    interference: Any = None,
    round_time: Any = None,
) -> TimingSettings:
    """The profile's timing settings with the given options replacing single values.

    ``precision`` (``--gpubench-precision``: ``3%``; ``0`` or ``off`` fills the time budget)
    and ``interference`` (``--gpubench-interference``: the share of a round spent waiting
    for a CPU beyond which it is set aside; ``off`` keeps every round) are shares;
    ``round_time`` (``--gpubench-round-time``) is seconds, 0 for one call per round."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    base = PROFILES[profile]
    values = {
        "warmup": base.warmup
        if warmup is None
        else parse_int(warmup, "--gpubench-warmup", 0, MAX_WARMUP),
        "min_rounds": base.min_rounds
        if min_rounds is None
        else parse_int(min_rounds, "--gpubench-min-rounds", 1, MAX_ROUNDS),
        "max_rounds": base.max_rounds
        if max_rounds is None
        else parse_int(max_rounds, "--gpubench-max-rounds", 1, MAX_ROUNDS),
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
    if round_time is not None:
        values["round_time"] = parse_round_time(round_time)
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


#: The longest --gpubench-round-time: a round is one sample of many, not a whole run.
MAX_ROUND_TIME_S = 10.0


def parse_round_time(value: Any) -> float:
    """``--gpubench-round-time``: seconds from 0 (one call per round) to
    :data:`MAX_ROUND_TIME_S`."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 <= seconds <= MAX_ROUND_TIME_S:
        raise ValueError(
            f"--gpubench-round-time takes seconds from 0 (one call per round) to "
            f"{MAX_ROUND_TIME_S:g}, got {value!r}; the default is 0.01"
        )
    return seconds


def xdist_workers(option: Any) -> str | None:
    """The pytest-xdist option that will run tests in parallel (``-n 2``, ``--tx popen``), as
    given; None when xdist is absent or off (``-n 0``)."""
    count = getattr(option, "numprocesses", None)
    if count not in (None, 0, "0"):
        return f"-n {count}"
    gateways = getattr(option, "tx", None)
    return f"--tx {','.join(gateways)}" if gateways else None


def build_config(
    option: Any, ini_devices: str, ini_profile: str, reporters: Reporters | None = None
) -> GpubenchConfig:
    """Validate the ``--gpubench*`` options into a configuration; ``ValueError`` says what is
    accepted. ``reporters`` (default: the built-in formats) check their paths.

    Device names are checked here; the devices themselves are probed on first use.
    """
    if reporters is None:
        from pytest_gpubench.reporters import builtin_reporters

        reporters = builtin_reporters()
    workers = xdist_workers(option)
    if option.gpubench and workers:
        raise ValueError(
            f"--gpubench cannot run under pytest-xdist ({workers}): benchmarks timed side "
            "by side on the same cores slow each other down, and each worker would report "
            "only its own share of the results. Run --gpubench without -n (or with -n 0)."
        )
    reporters.check_formats(option)
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
        getattr(option, "gpubench_round_time", None),
    )
    threads = parse_threads(getattr(option, "gpubench_threads", None))
    thresholds = tuple(parse_threshold(expr) for expr in option.gpubench_compare_fail)
    force = bool(option.gpubench_compare_force)
    compare_path, compared = None, None
    if option.gpubench_compare is not None:
        if not option.gpubench:
            raise ValueError("--gpubench-compare compares benchmark runs; add --gpubench")
        from pytest_gpubench.storage import load_run, resolve_baseline

        spec = None if option.gpubench_compare is True else option.gpubench_compare
        if spec is not None and not spec.strip():
            raise ValueError(
                f"--gpubench-compare {spec!r} names no saved run; give a NAME, a NUMBER or "
                "the PATH of its JSON, or --gpubench-compare alone for the latest saved run"
            )
        storage = storage_path(option.benchmark_storage)
        if spec is not None and spec.strip() == "history":  # the last stable stretch
            from pytest_gpubench.history.stretch import stable_stretch

            compare_path, compared = storage, stable_stretch(storage)
        else:
            compare_path = Path(resolve_baseline(spec, storage))
            compared = load_run(compare_path)
    elif thresholds:
        raise ValueError(
            "--gpubench-compare-fail needs --gpubench-compare [RUN|PATH] to compare against"
        )
    elif force and option.gpubench:  # in addopts, a plain run must still work
        raise ValueError(
            "--gpubench-compare-force applies to --gpubench-compare [RUN|PATH]; add it or drop "
            "the force"
        )
    if option.gpubench:  # without it nothing is written: the paths are not ours to touch
        reporters.check_paths(option, compare_path)
    return GpubenchConfig(
        enabled=bool(option.gpubench),
        device_names=tuple(names),
        baseline_spec=option.gpubench_baseline,
        profile=profile,
        settings=settings,
        thresholds=thresholds,
        force=force,
        compare_path=compare_path,
        compared=compared,
        threads=threads,
    )


def compare_refusal(config: GpubenchConfig, devices_here: bool) -> str | None:
    """Why the saved run of ``--gpubench-compare`` would be refused at the end (another
    profile; other hardware, where ``devices_here``: not in a remote run, whose devices are the
    instance's), known before anything runs; None when it may be compared."""
    if config.compared is None or config.force:
        return None
    from pytest_gpubench.gate import hardware_mismatches, hardware_refusal, profile_mismatch
    from pytest_gpubench.report_json import device_descriptions

    problem = profile_mismatch(config.profile, config.compared.extra.get("profile"))
    if problem or not devices_here:
        return problem
    saved = {m.device for m in config.compared.measurements if m.ran}
    now = {d.name: d.describe() for d in config.devices if d.available and d.name in saved}
    mismatches = hardware_mismatches(now, device_descriptions(config.compared), now)
    return hardware_refusal(mismatches) if mismatches else None


def check_usage(
    config: GpubenchConfig, option: Any, *, benchmark_plugin: bool, local: bool
) -> None:
    """Refuse, before anything runs, a ``--gpubench`` run that could not measure what it was
    asked to: without pytest-benchmark, on another clock, against a baseline device that
    cannot run here (``local``: not in a remote run, whose devices are the instance's), against
    a saved run that would be refused at the end, or with pytest-benchmark options that
    contradict ours (:func:`check_benchmark_options`)."""
    if config.enabled and not benchmark_plugin:
        raise ValueError(
            "--gpubench times through pytest-benchmark, which is disabled here "
            "(-p no:benchmark); drop that option to run the benchmarks"
        )
    timer = str(getattr(option, "benchmark_timer", WALL_CLOCK))
    if config.enabled and timer != WALL_CLOCK:
        raise ValueError(
            f"--gpubench times wall-clock seconds ({WALL_CLOCK}) between device "
            f"synchronisations; --benchmark-timer {timer} would leave out the device's work or "
            "change the unit. Drop --benchmark-timer"
        )
    if config.enabled and option.gpubench_baseline and local:
        device = next(d for d in config.devices if d.name == config.baseline)
        if not device.available:
            raise ValueError(
                f"--gpubench-baseline {option.gpubench_baseline}: {device.name} cannot run here "
                f"({device.reason}), so every speedup would be n/a; pick a device that runs "
                "here, such as numpy"
            )
    refusal = compare_refusal(config, devices_here=local) if config.enabled else None
    if refusal:
        raise ValueError(f"--gpubench-compare {config.compare_path}: {refusal}")
    check_benchmark_options(option)


def check_benchmark_options(option: Any) -> None:
    """Refuse pytest-benchmark options that contradict ours: a run that would time nothing,
    or two options for one file or saved run; and a ``--gpubench-save`` name that
    ``--gpubench-compare NAME`` could not find again."""
    disabled = getattr(option, "benchmark_disable", False)
    if option.gpubench and getattr(option, "benchmark_skip", False):
        raise ValueError(
            "--gpubench with --benchmark-skip would run nothing (every gpubench test is a "
            "benchmark); drop --benchmark-skip"
        )
    if option.gpubench and option.gpubench_json and disabled:
        raise ValueError(
            "--gpubench-json with --benchmark-disable would write a run with no rounds over "
            "--gpubench-json's file (nothing is timed); drop one of them"
        )
    if (option.gpubench_save or option.gpubench_autosave) and disabled:
        raise ValueError(
            "--gpubench-save/--gpubench-autosave with --benchmark-disable would save nothing "
            "(nothing is timed); drop one of them"
        )
    if option.gpubench_json and getattr(option, "benchmark_json", None):
        raise ValueError("give --gpubench-json or --benchmark-json, not both")
    name = option.gpubench_save
    if name is None:
        return
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(
            f"--gpubench-save {name!r}: a run name is letters, digits, '.', '_' or '-' "
            "(so that --gpubench-compare NAME finds it again)"
        )
    if getattr(option, "benchmark_save", None):
        raise ValueError("give --gpubench-save or --benchmark-save, not both")
    from pytest_benchmark.utils import parse_save

    try:
        parse_save(name)
    except Exception as exc:
        raise ValueError(f"--gpubench-save {name!r}: {exc}") from None


def rows_of(results: RunResults, baseline: str) -> list[Any]:
    """One speedup row per (experiment, size) of ``results``."""
    from pytest_gpubench.speedup import build_rows

    return build_rows(results.measurements, baseline)
