"""The ``--gpubench*`` command-line options and ini values, and the report formats'
options (one per :class:`~.reporters.Reporter`, built-in or added by a plugin). What the
options decide is :mod:`.settings`."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_gpubench.reporters import Reporters, builtin_reporters
from pytest_gpubench.settings import DEFAULT_DEVICES, PROFILES

__all__ = ["add_options", "reporters_of"]

_REPORTERS = pytest.StashKey[Reporters]()


def reporters_of(config: pytest.Config) -> Reporters:
    """The report formats of this run: the built-in ones and those plugins added."""
    return config.stash.get(_REPORTERS, None) or builtin_reporters()


def add_options(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Every gpubench option, in ``--help``'s order; the report formats' among them."""
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
        "--gpubench-round-time",
        metavar="SECONDS",
        default=None,
        help="Least seconds one round of back-to-back calls lasts; the calls per round are "
        "calibrated to it (default 0.01). 0: one call per round, so every figure, the "
        "speedups included, is that of an isolated (cold) call.",
    )
    add(
        "--gpubench-precision",
        metavar="SHARE",
        default=None,
        help="Time rounds until the 95%% interval of each speedup (or time) is within "
        "SHARE of it, e.g. 3%% (default), or until --gpubench-max-time; 0 fills the time.",
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
    _add_reporter_options(group, pluginmanager)
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
        "--benchmark-storage, or the latest saved run if none is given; 'history': every "
        "saved run since the history's latest change point, pooled.",
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
        "--gpubench-benchmark-table",
        action="store_true",
        default=False,
        help="Under --gpubench, also print pytest-benchmark's own table of the same rounds "
        "(about 160 columns wide) after the speedup tables; its JSON, storage and compare "
        "are kept either way.",
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


def _add_reporter_options(group: Any, pluginmanager: pytest.PytestPluginManager) -> None:
    """The built-in formats' options now; those of ``pytest_gpubench_add_reporters`` as
    each plugin or initial conftest loads (a historic hook, like ``pytest_addoption``)."""
    reporters = builtin_reporters()
    reporters.add_options(group)
    config = pluginmanager.get_plugin("pytestconfig")
    if config is None:  # a plugin manager without a pytest config: the built-ins only
        return
    config.stash[_REPORTERS] = reporters

    def added(found: Any) -> None:
        new = list(found)
        try:
            for reporter in new:
                reporters.add(reporter)
                try:
                    reporters.add_options(group, [reporter])
                except ValueError as exc:  # taken by an option that is no report's
                    name = type(reporter).__name__
                    raise ValueError(f"reporter {name}: {exc}; give it its own option") from None
        except ValueError as exc:  # a taken option, or not a Reporter: the plugin's mistake
            raise pytest.UsageError(f"pytest_gpubench_add_reporters: {exc}") from None

    hook = pluginmanager.hook.pytest_gpubench_add_reporters
    hook.call_historic(kwargs={"config": config}, result_callback=added)
