"""The ``gpubench`` JSON section: written into pytest-benchmark's JSON, read back for gates.

pytest-benchmark's ``--benchmark-json``/``--benchmark-save`` files carry ``machine_info``,
``commit_info`` and ``benchmarks``; the plugin adds a ``gpubench`` section (built here) with
every measurement's raw rounds, the speedup rows and a hardware fingerprint. A remote (cloud)
run writes the same document with :func:`benchmark_document`, so what reads it never knows
where a number was measured.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_benchmark.stats import Stats

from .results import ROUND_FIELDS, Measurement, RunResults
from .speedup import (
    CONFIDENCE,
    MIN_INTERVAL_ROUNDS,
    NOT_MEASURED,
    SpeedupRow,
    by_experiment,
    crossover,
    raced,
)

__all__ = [
    "HARDWARE_KEYS",
    "SCHEMA_VERSION",
    "SECTION_KEY",
    "benchmark_document",
    "device_descriptions",
    "github_action_benchmark",
    "gpubench_section",
    "hardware_facts",
    "hardware_fingerprint",
    "load_results",
    "write_json",
]

#: Version of the section layout; :func:`load_results` refuses any other.
SCHEMA_VERSION = 3
#: Versions :func:`load_results` reads. Version 1 (before paired rounds and interference
#: figures) reads as unpaired rounds with no waits recorded; version 2 (before calibrated
#: rounds) as one call per round, each of them cold.
READABLE_VERSIONS = (1, 2, 3)
#: Key of our section in a pytest-benchmark JSON document.
SECTION_KEY = "gpubench"
#: Description keys that identify hardware (not library versions, drivers or thread counts).
HARDWARE_KEYS = ("gpu", "memory", "processor", "cores")


# --------------------------------------------------------------------------- hardware


def device_descriptions(results: RunResults) -> dict[str, dict[str, str]]:
    """Each device's description: ``results.devices``, else the first measurement's info."""
    described = {name: dict(info) for name, info in results.devices.items()}
    for m in results.measurements:
        if m.device not in described and m.device_info:
            described[m.device] = dict(m.device_info)
    return described


def hardware_facts(info: Mapping[str, str]) -> dict[str, str]:
    """The hardware-identifying part of a device description (see :data:`HARDWARE_KEYS`)."""
    return {key: str(info[key]) for key in HARDWARE_KEYS if info.get(key)}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hardware_fingerprint(devices: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Stable hashes of the hardware facts: one per device that has any, and one overall."""
    per_device = {
        name: {"facts": facts, "fingerprint": _digest(facts)}
        for name, info in sorted(devices.items())
        if (facts := hardware_facts(info))
    }
    overall = _digest({name: entry["facts"] for name, entry in per_device.items()})
    return {"fingerprint": overall, "devices": per_device}


# --------------------------------------------------------------------------- writing


def _plain(value: Any) -> Any:
    """Numpy scalars to Python numbers; anything else unknown to its ``str``."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types, with NaN and infinities as ``null``: strict parsers
    (JavaScript's, Go's, serde) reject the bare ``NaN`` Python's json writes."""
    return _finite(json.loads(json.dumps(value, default=_plain, allow_nan=True)))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def gpubench_section(
    results: RunResults, rows: Sequence[SpeedupRow], baseline: str
) -> dict[str, Any]:
    """The ``gpubench`` section: devices, fingerprint, raw measurements, rows, crossovers."""
    devices = device_descriptions(results)
    crossovers = {
        experiment: {
            device: crossover(group, device)
            for device in dict.fromkeys(d for row in group for d in row.cells)
            if device != baseline
        }
        for experiment, group in by_experiment(rows).items()
        if raced(group)
    }
    read_back = ("baseline_device", "schema_version")  # what load_results adds
    extra = {k: v for k, v in results.extra.items() if k not in read_back}
    return _jsonable(
        {
            "schema_version": SCHEMA_VERSION,
            "baseline": baseline,
            "confidence": CONFIDENCE,
            "devices": devices,
            "hardware": hardware_fingerprint(devices),
            "measurements": [m.to_dict() for m in results.measurements],
            "rows": [row.to_dict() for row in rows],
            "crossovers": crossovers,
            "extra": extra,
        }
    )


def _benchmark_entry(m: Measurement) -> dict[str, Any]:
    """One measurement as a pytest-benchmark ``benchmarks`` entry (rounds as ``data``)."""
    stats = Stats()
    for duration in m.rounds_s:
        stats.update(duration)
    name = m.test_id.rsplit("::", 1)[-1] if m.test_id else f"{m.experiment}[{m.size}-{m.device}]"
    return {
        "group": m.experiment,
        "name": name,
        "fullname": m.test_id or name,
        "params": {"size": m.size, "device": m.device},
        "param": f"{m.size}-{m.device}",
        "extra_info": {"units": m.units, "units_per_round": m.units_per_round, **m.metrics},
        "options": {"timer": m.timer, "warmup": m.warmup_rounds},
        "stats": {**stats.as_dict(), "data": list(m.rounds_s), "iterations": 1},
    }


def benchmark_document(
    results: RunResults,
    rows: Sequence[SpeedupRow],
    baseline: str,
    machine_info: Mapping[str, Any] | None = None,
    commit_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole pytest-benchmark JSON document (``benchmarks`` plus our section).

    For runs whose JSON pytest-benchmark did not write itself (a remote run, a script);
    devices that did not run have no ``benchmarks`` entry, as pytest-benchmark leaves out
    errored benchmarks, but keep their measurement (with the reason) in the section.
    """
    from pytest_benchmark import __version__
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

    return _jsonable(
        {
            "machine_info": dict(machine_info or pytest_benchmark_generate_machine_info()),
            "commit_info": dict(commit_info or {}),
            "benchmarks": [_benchmark_entry(m) for m in results.measurements if m.ran],
            "datetime": datetime.now(timezone.utc).isoformat(),
            "version": __version__,
            SECTION_KEY: gpubench_section(results, rows, baseline),
        }
    )


def write_json(
    path: str | Path,
    results: RunResults,
    rows: Sequence[SpeedupRow],
    baseline: str,
    machine_info: Mapping[str, Any] | None = None,
    commit_info: Mapping[str, Any] | None = None,
) -> Path:
    """Write :func:`benchmark_document` to ``path`` (parents created, an earlier file replaced
    whole or not at all); return the path."""
    from .outputs import write_whole

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = benchmark_document(results, rows, baseline, machine_info, commit_info)
    text = json.dumps(document, indent=2) + "\n"
    write_whole(path, lambda file: file.write_text(text, encoding="utf-8"))
    return path


# --------------------------------------------------------------------------- reading


def load_results(source: str | Path | Mapping[str, Any]) -> RunResults:
    """Read our JSON back: a pytest-benchmark file with a ``gpubench`` section, or the section.

    ``source`` is a path or an already parsed document. Raises ``ValueError`` for a document
    without the section or of another schema version; the saved baseline device name is
    kept in ``extra["baseline_device"]``.
    """
    where = "the given mapping"
    if isinstance(source, (str, Path)):
        where = str(source)
        try:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not JSON ({exc}); expected a gpubench JSON file") from exc
        except UnicodeDecodeError:
            raise ValueError(f"{where} is not a text file; expected a gpubench JSON file") from None
        except RecursionError:
            raise ValueError(
                f"{where} is nested too deeply to be read (no gpubench JSON file is); expected "
                "a gpubench JSON file"
            ) from None
        except OSError as exc:
            raise ValueError(f"{where} cannot be read: {exc.strerror or exc}") from None
    else:
        document = source
    if not isinstance(document, Mapping):
        raise ValueError(f"{where} holds a JSON {type(document).__name__}, not an object")
    if SECTION_KEY in document:
        section = _checked(document[SECTION_KEY], Mapping, f"{where}: {SECTION_KEY}")
    elif "schema_version" in document and "measurements" in document:
        section = document
    else:
        kind = "a pytest-benchmark file" if "benchmarks" in document else "a JSON object"
        raise ValueError(
            f"{where} is {kind} without a {SECTION_KEY!r} section; write results with "
            "`pytest --gpubench --gpubench-json PATH` (or --gpubench-save NAME) to get one"
        )
    version = section.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"{where} has gpubench schema version {version!r}; this pytest-gpubench reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}: save a new baseline with "
            "this release (--gpubench-save NAME), or use the release that wrote it"
        )
    results = RunResults(
        measurements=[
            _measurement(m, f"{where}: {SECTION_KEY}.measurements[{i}]")
            for i, m in enumerate(_part(section, "measurements", list, where))
        ],
        devices={
            str(name): dict(_description(info, f"{where}: {SECTION_KEY}.devices[{name!r}]"))
            for name, info in _part(section, "devices", Mapping, where).items()
        },
        extra=dict(_part(section, "extra", Mapping, where)),
    )
    if section.get("baseline"):
        _checked(section["baseline"], str, f"{where}: {SECTION_KEY}.baseline")
        results.extra["baseline_device"] = section["baseline"]
    results.extra.setdefault("schema_version", version)
    return results


def _checked(value: Any, kind: type, what: str) -> Any:
    """``value`` if it is a ``kind`` (a JSON object, list or string), else a ``ValueError``
    naming it."""
    if not isinstance(value, kind):
        wanted = {list: "a list", str: "a string"}.get(kind, "an object")
        raise ValueError(f"{what} must be {wanted}, got {_json_type(value)}")
    return value


def _description(info: Any, what: str) -> Mapping[str, Any]:
    """A device description: an object of plain values (strings, numbers), no lists."""
    _checked(info, Mapping, what)
    for key, value in info.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise ValueError(f"{what}.{key} must be a string, got {_json_type(value)}")
    return info


def _json_type(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {str(value)[:60]!r}"


def _part(section: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    default = [] if kind is list else {}
    return _checked(section.get(key, default), kind, f"{where}: {SECTION_KEY}.{key}")


def _measurement(data: Any, what: str) -> Measurement:
    """One saved measurement, checked: a saved run is read to gate CI, so a damaged one is
    refused naming the file and the field, never half-read."""
    _checked(data, Mapping, what)
    for name in ("experiment", "size", "device"):
        if not isinstance(data.get(name), str):
            raise ValueError(f"{what}.{name} must be a string, got {_json_type(data.get(name))}")
    _check_fields(data, what)
    for name in ROUND_FIELDS:
        rounds = data.get(name, [])
        if not isinstance(rounds, list) or not all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r >= 0
            for r in rounds
        ):
            raise ValueError(
                f"{what}.{name} must be a list of seconds (finite numbers >= 0), got "
                f"{_json_type(rounds)}"
            )
    calls = data.get("calls_per_round", 1)
    if isinstance(calls, int) and not isinstance(calls, bool) and calls < 1:
        raise ValueError(f"{what}.calls_per_round must be 1 or more, got {calls}")
    orders = data.get("baseline_first", [])
    if not isinstance(orders, list) or not all(isinstance(b, bool) for b in orders):
        raise ValueError(
            f"{what}.baseline_first must be a list of true/false, got {_json_type(orders)}"
        )
    try:
        return Measurement.from_dict(data)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ValueError(f"{what}: {exc}") from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: What a JSON value of each plain ``Measurement`` field type must be, and its name.
_FIELD_CHECKS: dict[str, tuple[Any, str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "float": (_number, "a finite number"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "Mapping[str, float]": (
        lambda v: isinstance(v, Mapping) and all(x is None or _number(x) for x in v.values()),
        "an object of numbers (or nulls)",
    ),
}


def _check_fields(data: Mapping[str, Any], what: str) -> None:
    """Each field present in ``data`` has its ``Measurement`` type (``X | None``: or null),
    read from the dataclass, so a field added there is checked as soon as its type is one
    of :data:`_FIELD_CHECKS`; other types are left to ``Measurement.from_dict``."""
    for name, spec in Measurement.__dataclass_fields__.items():
        if name not in data:
            continue
        kind = str(spec.type).replace("typing.", "")
        value = data[name]
        if kind == "Mapping[str, str]":
            _description(value, f"{what}.{name}")
            continue
        optional = kind.endswith(" | None")
        check = _FIELD_CHECKS.get(kind.removesuffix(" | None"))
        if check is None or (optional and value is None):
            continue
        accepts, wanted = check
        if not accepts(value):
            wanted += " or null" if optional else ""
            raise ValueError(f"{what}.{name} must be {wanted}, got {_json_type(value)}")


# --------------------------------------------------------------------------- CI charts


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def github_action_benchmark(rows: Sequence[SpeedupRow]) -> list[dict[str, Any]]:
    """Speedups in github-action-benchmark's ``customBiggerIsBetter`` format.

    One entry per non-baseline device and size of a raced experiment, named with the
    baseline (a series must not change its denominator); ``range`` is the bootstrap
    interval, ``extra`` the medians, rounds and hardware behind the number. A device that
    could not run (not installed, failed) is entered as 0 with its reason: the action only
    alerts on entries of the current run, so a series that just stopped would never alert.
    Sizes a device was not parametrized for, and cost-only experiments, are left out.
    """
    entries = []
    for row in rows:
        if not row.versus_baseline:
            continue
        base = row.cells.get(row.baseline)
        for device, cell in row.cells.items():
            if device == row.baseline or cell.reason == NOT_MEASURED:
                continue
            name = f"{row.experiment} {row.size} {device} speedup vs {row.baseline}"
            if cell.speedup is None or not math.isfinite(cell.speedup):
                why = cell.reason or cell.speedup_reason or "no speedup"
                entries.append(
                    {"name": name, "unit": "x", "value": 0, "range": "n/a", "extra": f"n/a: {why}"}
                )
                continue
            if cell.speedup_low is not None and cell.speedup_high is not None:
                spread = f"{_fmt(cell.speedup_low)}-{_fmt(cell.speedup_high)}"
                value_range = f"{spread} ({CONFIDENCE:.0%} CI)"
            else:
                value_range = f"n/a (fewer than {MIN_INTERVAL_ROUNDS} rounds)"
            extra = [f"vs {row.baseline}"]
            if base is not None and base.median_s is not None and cell.median_s is not None:
                extra.append(f"median {_fmt(base.median_s)} s vs {_fmt(cell.median_s)} s")
                extra.append(f"rounds {base.rounds}/{cell.rounds}")
            if cell.hardware:
                extra.append(cell.hardware)
            entries.append(
                {
                    "name": name,
                    "unit": "x",
                    "value": round(cell.speedup, 6),
                    "range": value_range,
                    "extra": "; ".join(extra),
                }
            )
    return entries
