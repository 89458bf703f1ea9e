"""Extending gpubench from outside: a report format and a device added through the hooks
of ``pytest_gpubench.hookspec``, in a conftest of an inner run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_gpubench.devices import get_device

ROOT = Path(__file__).resolve().parents[1]

BENCH = """
import numpy as np

def test_matmul(gpubench, device):
    a = device.asarray(np.ones((16, 16)), "float32")
    gpubench(lambda: a @ a)
"""

FAST = ("--gpubench-max-time", "0.002", "--gpubench-min-rounds", "2", "--gpubench-max-rounds", "3")

#: A whole report format: one class and one registration.
TOY_FORMAT = """
from pytest_gpubench.reporters import Reporter

class ToyReporter(Reporter):
    option = "--toy-report"
    help = "Write one line per speedup row to PATH."

    def write(self, report, path):
        lines = [f"{row.experiment} {row.size} vs {report.baseline}" for row in report.rows]
        path.write_text("\\n".join(lines) + "\\n", encoding="utf-8")

def pytest_gpubench_add_reporters(config):
    return [ToyReporter()]
"""

TOY_DEVICE = """
from pytest_gpubench.devices import DeviceSpec, DeviceUnavailableError, NumpyBackend

def missing():
    raise DeviceUnavailableError("toylib is not installed: pip install toylib")

def pytest_gpubench_add_devices(config):
    return [
        DeviceSpec("toy-cpu", "cpu", "numpy", NumpyBackend),
        DeviceSpec("toy-gpu", "gpu", "toylib", missing),
    ]
"""


@pytest.fixture(autouse=True)
def _lean_inner_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner sessions skip hypothesis' plugin, which re-imports hypothesis each run (~1 s)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def test_a_format_added_by_a_plugin_is_written_at_the_end_of_the_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(TOY_FORMAT)
    pytester.makepyfile(test_bench=BENCH)
    args = ("--gpubench-devices", "numpy,array-api-strict", *FAST, "--toy-report", "out/toy.txt")
    result = pytester.runpytest("--gpubench", *args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*gpubench: wrote out/toy.txt*"])
    assert (pytester.path / "out" / "toy.txt").read_text() == "matmul - vs numpy\n"

    (pytester.path / "out" / "toy.txt").write_text("someone else's notes\n")
    refused = pytester.runpytest("--gpubench", *args)  # not a report it recognises
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--toy-report 'out/toy.txt' exists and is not a report*"])

    skipped = pytester.runpytest(*args[:-2], "--toy-report", "plain.txt")  # no --gpubench
    skipped.assert_outcomes(skipped=2)
    assert not (pytester.path / "plain.txt").exists()


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("--gpubench-markdown", "option --gpubench-markdown is taken by another report format"),
        ("--gpubench-save", "option names {'--gpubench-save'} already added"),
        ("toy", "option 'toy' is not a long option"),
    ],
)
def test_a_format_whose_option_cannot_be_added_is_refused_naming_it(
    pytester: pytest.Pytester, option: str, why: str
) -> None:
    pytester.makeconftest(TOY_FORMAT.replace('"--toy-report"', repr(option)))
    result = pytester.runpytest("--gpubench")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: pytest_gpubench_add_reporters: reporter ToyReporter: {why}*"]
    )


def test_devices_added_by_a_plugin_run_and_leave_with_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(TOY_DEVICE)
    pytester.makepyfile(test_bench=BENCH)
    result = pytester.runpytest(
        "--gpubench", "--gpubench-devices", "numpy,toy-cpu,toy-gpu", "-v", *FAST
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "gpubench: profile quick, baseline numpy, devices numpy, toy-cpu, toy-gpu (n/a*",
            "*[[]toy-cpu[]] PASSED*",
            "*toy-gpu*toylib is not installed: pip install toylib*",
        ]
    )
    with pytest.raises(ValueError, match="unknown device 'toy-cpu'"):
        get_device("toy-cpu")


def test_a_device_that_exists_already_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(TOY_DEVICE.replace('"toy-cpu"', '"numpy"'))
    result = pytester.runpytest("--gpubench")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*pytest_gpubench_add_devices: device 'numpy' exists already; give the new device*"]
    )
    assert get_device("numpy").available
    with pytest.raises(ValueError, match="unknown device 'toy-gpu'"):
        get_device("toy-gpu")


def test_the_example_in_the_docs_runs_and_replaces_its_own_file(
    pytester: pytest.Pytester,
) -> None:
    text = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    section = text.split("## Adding a device or a report format", 1)[1]
    pytester.makeconftest(section.split("```python\n", 1)[1].split("```", 1)[0])
    pytester.makepyfile(test_bench=BENCH)
    args = ("--gpubench", "--gpubench-devices", "numpy,my-gpu", *FAST, "--gpubench-csv", "s.csv")
    for _ in range(2):  # the second run recognises the first one's file, and replaces it
        result = pytester.runpytest(*args)
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*my-gpu*mylib is not installed*", "*wrote s.csv*"])
    assert (pytester.path / "s.csv").read_text() == "experiment,size\nmatmul,-\n"
