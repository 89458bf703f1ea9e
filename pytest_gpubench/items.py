"""What a collected test is to gpubench: a benchmark or not, its experiment, its size, the
regression thresholds its marker sets. Plain functions over pytest items."""

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
