"""What a collected test is to gpubench: a benchmark or not, its experiment, its size, the
regression thresholds its marker sets, its devices, and the order benchmarks run in. Plain
functions over pytest items."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pytest

__all__ = [
    "MARKER_ARGUMENTS",
    "check_marker",
    "is_benchmark_item",
    "item_experiment",
    "item_size",
    "item_versus_baseline",
    "marker_thresholds",
    "own_device_params",
    "pair_items",
    "size_value_of",
]


def is_benchmark_item(item: pytest.Item) -> bool:
    """A gpubench benchmark: uses the ``gpubench`` fixture or carries the marker."""
    names = getattr(item, "fixturenames", ())
    return "gpubench" in names or item.get_closest_marker("gpubench") is not None


#: The ``gpubench`` marker's arguments, all keywords.
MARKER_ARGUMENTS = ("experiment", "compare_fail", "speedup")


def check_marker(item: pytest.Item) -> None:
    """``ValueError`` for a ``gpubench`` marker the plugin would misread: positional or
    unknown arguments (a typo would be ignored silently), or values of the wrong type."""
    marker = item.get_closest_marker("gpubench")
    if marker is None:
        return
    usage = "gpubench(experiment='name', compare_fail='speedup:10%', speedup=True)"
    if marker.args:
        raise ValueError(
            f"{item.nodeid}: the gpubench marker takes keyword arguments only, got "
            f"{marker.args!r}; write {usage}"
        )
    unknown = sorted(set(marker.kwargs) - set(MARKER_ARGUMENTS))
    if unknown:
        raise ValueError(
            f"{item.nodeid}: gpubench marker: unknown argument(s) {', '.join(unknown)}; it takes "
            f"{', '.join(MARKER_ARGUMENTS)}"
        )
    experiment = marker.kwargs.get("experiment")
    if experiment is not None and not (isinstance(experiment, str) and experiment.strip()):
        raise ValueError(
            f"{item.nodeid}: gpubench(experiment=...) takes a non-empty name, got {experiment!r}"
        )
    spec = marker.kwargs.get("compare_fail")
    exprs = [spec] if isinstance(spec, str) else spec
    if spec is not None and not (
        isinstance(exprs, (list, tuple)) and all(isinstance(e, str) for e in exprs)
    ):
        raise ValueError(
            f"{item.nodeid}: gpubench(compare_fail=...) takes an expression such as "
            f"'speedup:10%' or a list of them, got {spec!r}"
        )


def item_experiment(item: pytest.Item) -> str:
    """The marker's ``experiment=``, else the test function's name without ``test_``."""
    marker = item.get_closest_marker("gpubench")
    if marker and marker.kwargs.get("experiment"):
        return str(marker.kwargs["experiment"])
    name = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    return name.removeprefix("test_")


def item_versus_baseline(item: pytest.Item) -> bool:
    """The marker's ``speedup=`` (default True); False makes the benchmark a cost that each
    device pays its own way (a host→device copy), shown without speedups."""
    marker = item.get_closest_marker("gpubench")
    value = marker.kwargs.get("speedup", True) if marker else True
    if not isinstance(value, bool):
        raise ValueError(f"{item.nodeid}: gpubench(speedup=...) takes True or False, got {value!r}")
    return value


def item_size(item: pytest.Item, device: str) -> str:
    """The test's parameter ids without the device's: ``test_fit[800-800-numpy]`` → ``800-800``."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return "-"
    ids = list(getattr(callspec, "_idlist", callspec.id.split("-")))
    if device in ids:
        ids.remove(device)
    return "-".join(ids) or "-"


_NUMBER = r"\d+(?:\.\d*)?(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?"


def size_value_of(size: str) -> float:
    """A number that orders sizes (and places them on the plot's x axis): the sum over the
    size's ``-``-separated parts, each the product of its numbers (``800-800`` → 1600,
    ``1024x1024`` → 1048576, ``0.5`` → 0.5, ``1e3`` → 1000); 0 without numbers."""
    total = 0.0
    for part in re.split(r"(?<![0-9][eE])-", size):  # not the minus of an exponent
        numbers = [float(n) for n in re.findall(_NUMBER, part, flags=re.IGNORECASE)]
        if numbers:
            total += math.prod(numbers)
    return total


def marker_thresholds(items: Sequence[pytest.Item], parse: Any) -> dict[str, list[Any]]:
    """Per-experiment ``compare_fail=`` thresholds from the ``gpubench`` markers, parsed."""
    found: dict[str, list[Any]] = {}
    given: dict[str, tuple[str, list[str]]] = {}  # the first test's expressions, to compare
    for item in items:
        marker = item.get_closest_marker("gpubench")
        spec = marker.kwargs.get("compare_fail") if marker else None
        if not spec:
            continue
        exprs = [spec] if isinstance(spec, str) else list(spec)
        experiment = item_experiment(item)
        try:
            parsed = [parse(expr) for expr in exprs]
        except ValueError as exc:
            raise ValueError(f"{item.nodeid}: gpubench(compare_fail=...): {exc}") from exc
        if experiment in found and given[experiment][1] != exprs:
            first, first_exprs = given[experiment]
            raise ValueError(
                f"{item.nodeid}: gpubench(compare_fail={spec!r}) differs from {first}'s "
                f"{first_exprs!r} for experiment {experiment!r}; give each test of an experiment "
                "the same thresholds"
            )
        found[experiment] = parsed
        given.setdefault(experiment, (item.nodeid, exprs))
    return found


def own_device_params(definition: Any) -> bool:
    """Whether the test parametrizes ``device`` itself; it must do so with ``indirect=True``
    (the ``device`` fixture turns each name into a device), else the test fails to collect."""
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
            return True
    return False


def _device_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("device") if callspec is not None else None
    return param if isinstance(param, str) else None


def pair_items(items: list[pytest.Item], baseline: str, typed: dict[str, str]) -> None:
    """Order the benchmarks so that each (experiment, size)'s devices run back to back,
    baseline first, each group where its first item was: the other devices' rounds then
    interleave with the baseline's (see :class:`~.bench.Partners`). ``typed`` maps each
    ``device`` parameter to the device it selects."""
    groups: dict[tuple[str, ...], list[pytest.Item]] = {}
    for item in items:
        param = _device_param(item)
        if not is_benchmark_item(item) or param is None:
            key: tuple[str, ...] = (item.nodeid,)
        else:
            module = getattr(getattr(item, "module", None), "__name__", "")
            key = (module, item_experiment(item), item_size(item, param))
        groups.setdefault(key, []).append(item)

    def baseline_first(item: pytest.Item) -> int:
        param = _device_param(item)
        return 0 if typed.get(param or "", param) == baseline else 1

    items[:] = [item for group in groups.values() for item in sorted(group, key=baseline_first)]
