"""A new user's first run: each unusable device's reason once, short, with the command that
installs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench import devices
from pytest_gpubench.devices import TORCH_CPU_INSTALL, Device
from pytest_gpubench.report import render_markdown, render_terminal
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.settings import select_devices
from pytest_gpubench.speedup import build_rows


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import <module>`` fail, and forget the cached probes."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setattr(devices, "_PROBED", {})


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
    return deepest


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("torch-cpu", TORCH_CPU_INSTALL),
        ("cupy", "pip install 'pytest-gpubench[cuda]', [cuda13] for CUDA 13"),
        ("torch-cuda", "pip install torch, the CUDA build on Linux"),
    ],
)
def test_a_missing_library_names_the_command_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, name: str, command: str
) -> None:
    _without(monkeypatch, "torch", "cupy")
    device = devices.get_device(name)
    assert not device.available
    assert device.reason.endswith(f"is not installed: {command}")
    assert _nesting(device.describe()["status"]) == 1  # only the n/a (...) around it


def test_torch_cpu_comes_from_pytorchs_cpu_index() -> None:
    assert TORCH_CPU_INSTALL == (
        "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    )


def test_the_cuda_alias_lists_each_back_end_reason_without_nesting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without(monkeypatch, "torch", "cupy")
    [cuda] = select_devices("cuda")
    assert cuda.reason == (
        "none usable: cupy: cupy is not installed: pip install 'pytest-gpubench[cuda]', "
        "[cuda13] for CUDA 13; torch-cuda: torch is not installed: pip install torch, the "
        "CUDA build on Linux"
    )
    assert _nesting(cuda.describe()["status"]) == 1


def _run_with_an_absent_device(reason: str) -> tuple[RunResults, list[Any]]:
    run = RunResults()
    absent = Device("cupy", "gpu", "cupy", reason=reason)
    for experiment in ("fit", "copy"):
        for size, value in (("1k", 1e3), ("4k", 4e3)):
            info = {"device": "numpy", "processor": "x86"}
            run.add(
                Measurement(
                    experiment, size, "numpy", (1.0, 1.1, 0.9), size_value=value, device_info=info
                )
            )
            run.add(Measurement(experiment, size, "cupy", (), size_value=value, reason=reason))
    run.devices["cupy"] = absent.describe()
    return run, build_rows(run.measurements, "numpy")


@pytest.mark.parametrize("render", [render_terminal, render_markdown])
def test_an_unusable_devices_reason_is_printed_once_per_report(render: Any) -> None:
    reason = "cupy is not installed: pip install 'pytest-gpubench[cuda]'"
    run, rows = _run_with_an_absent_device(reason)
    text = render(run, rows, "numpy")
    flat = re.sub(r"\s+", " ", text)
    assert flat.count("pip install") == 1, text
    assert f"cupy: n/a ({reason})" in flat  # under Hardware
    assert flat.count("cupy: n/a (see Hardware)") == 2  # under each experiment's table


def test_a_reason_the_hardware_lines_do_not_give_is_kept_under_the_table() -> None:
    run, rows = _run_with_an_absent_device("failed: RuntimeError: kaput")
    run.devices["cupy"] = {"device": "cupy", "status": "n/a (no GPU)"}
    flat = re.sub(r"\s+", " ", render_terminal(run, rows, "numpy"))
    assert flat.count("cupy: n/a (failed: RuntimeError: kaput)") == 2
    assert "see Hardware" not in flat


# --------------------------------------------------------------------------- nothing to run

NO_GPUBENCH_TEST = (
    "gpubench: no test here uses the gpubench fixture or the gpubench marker, so --gpubench "
    "had nothing to measure (it runs only those and deselects the other tests)"
)


def test_plain_benchmark_tests_under_gpubench_say_why_nothing_ran(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_sum(benchmark):
            benchmark(sum, range(10))

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest(
        "--gpubench", "--gpubench-markdown", "out.md", "--gpubench-plot", "out.png"
    )
    result.assert_outcomes(deselected=2)
    result.stdout.fnmatch_lines(
        [
            NO_GPUBENCH_TEST,
            "gpubench: plain pytest-benchmark tests (the benchmark fixture) run without --gpubench",
            'gpubench: to write a gpubench benchmark, see "Writing a benchmark" in the '
            "pytest-gpubench README",
            "gpubench: nothing was measured, so --gpubench-markdown out.md was not written",
            "gpubench: nothing was measured, so --gpubench-plot out.png was not written",
        ]
    )
    assert not (pytester.path / "out.md").exists()
    plain = pytester.runpytest()
    plain.assert_outcomes(passed=2)
    assert "nothing to measure" not in plain.stdout.str()


def test_an_empty_project_under_gpubench_says_so(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--gpubench", "--gpubench-github-json", "bench.json")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(
        [
            NO_GPUBENCH_TEST,
            "gpubench: nothing was measured, so --gpubench-github-json bench.json was not written",
        ]
    )


def test_a_selection_that_leaves_no_benchmark_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_matmul(gpubench):
            gpubench(sum, [1, 2])
        """
    )
    result = pytester.runpytest("--gpubench", "-k", "nomatch")
    result.stdout.fnmatch_lines(
        ["gpubench: no gpubench benchmark was selected (-k / -m left none)"]
    )
    assert NO_GPUBENCH_TEST not in result.stdout.str()


def test_a_collection_error_is_not_blamed_on_missing_benchmarks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("import no_such_module_here")
    result = pytester.runpytest("--gpubench")
    assert "no_such_module_here" in result.stdout.str()
    assert NO_GPUBENCH_TEST not in result.stdout.str()


# --------------------------------------------------------------------------- smaller items


def test_the_plugin_loads_without_numpy() -> None:
    """Every pytest run loads the plugin: numpy (0.1 s) waits until a device is used."""
    code = "import sys, pytest_gpubench.plugin; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_an_empty_storage_is_said_once(tmp_path: Path) -> None:
    from pytest_gpubench.storage import resolve_baseline

    storage = tmp_path / ".benchmarks"
    with pytest.raises(FileNotFoundError) as info:
        resolve_baseline(None, storage)
    assert str(info.value) == (
        f"no saved runs under {storage} (save one with --gpubench-save NAME)"
    )
    with pytest.raises(FileNotFoundError) as info:
        resolve_baseline("main", storage)
    assert str(info.value) == (
        f"no saved run 'main' under {storage}, which holds none yet (save one with "
        "--gpubench-save NAME)"
    )


def test_a_file_without_a_gpubench_section_names_gpubench_options(tmp_path: Path) -> None:
    from pytest_gpubench.report_json import load_results

    plain = tmp_path / "plain.json"
    plain.write_text('{"benchmarks": []}')
    with pytest.raises(ValueError) as info:
        load_results(plain)
    message = str(info.value)
    assert "--gpubench-json PATH" in message and "--gpubench-save NAME" in message
    assert "--benchmark-json" not in message


def test_one_ec2_option_without_ec2_only_applies_with_it(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--gpubench", "--gpubench-ec2-spot")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gpubench-ec2-spot only applies with --gpubench-ec2 TYPE*"])
