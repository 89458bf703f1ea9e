"""A session that does not finish writes and saves nothing: Ctrl-C (a real SIGINT to a real
pytest), a KeyboardInterrupt or pytest.exit() inside a benchmark. Every report stays
byte-identical, no run is stored, and the screen says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pytest_gpubench

# numpy is timed first; array-api-strict then stops the session the way $STOP says, after
# its rounds were timed (so the run holds real, partial results)
BENCH = """
import os
import pathlib
import time

import numpy as np
import pytest

@pytest.mark.parametrize("n", [32], ids=["32"])
def test_matmul(gpubench, device, n):
    a = np.ones((n, n))
    gpubench(lambda: a @ a)
    stop = os.environ.get("STOP", "") if device.name == "array-api-strict" else ""
    if stop == "sigint":
        pathlib.Path("started").touch()
        time.sleep(60)
    elif stop == "keyboardinterrupt":
        raise KeyboardInterrupt
    elif stop == "exit":
        pytest.exit("stopped by the test")
    elif stop == "fail":
        raise AssertionError("a wrong result")
"""

REPORTS = (
    "--gpubench-json",
    "r.json",
    "--gpubench-markdown",
    "r.md",
    "--gpubench-github-json",
    "gh.json",
    "--gpubench-save",
    "base",
)
ARGS = (
    "--gpubench",
    "--gpubench-devices",
    "numpy,array-api-strict",
    "--gpubench-min-rounds",
    "3",
    "--gpubench-max-rounds",
    "3",
    "-p",
    "no:cacheprovider",
    *REPORTS,
)
HELD = "*gpubench: interrupted: nothing written or saved (r.json, r.md, gh.json, the run 'base'*"


@pytest.fixture
def earlier(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> dict[Path, bytes]:
    """A complete run's reports and saved run, as bytes by path."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    monkeypatch.setattr("pytest_benchmark.plugin.get_cpu_info", lambda: {"brand_raw": "test"})
    pytester.makepyfile(test_bench=BENCH)
    first = pytester.runpytest(*ARGS)
    assert first.ret == pytest.ExitCode.OK
    files = _files(pytester.path)
    assert {p.name for p in files} >= {"r.json", "r.md", "gh.json", "0001_base.json"}
    return files


def _files(root: Path) -> dict[Path, bytes]:
    return {
        p: p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name != "started"
    }


def test_ctrl_c_during_a_run_writes_and_saves_nothing(
    pytester: pytest.Pytester, earlier: dict[Path, bytes]
) -> None:
    root = Path(pytest_gpubench.__file__).parents[1]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "STOP": "sigint", "PYTHONPATH": path}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:hypothesispytest", *ARGS]
    child = subprocess.Popen(
        command,
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pytester.path / "started").exists():
            assert child.poll() is None, child.communicate()[0]
            assert time.monotonic() < deadline, "the benchmark never started"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    pytest.LineMatcher(output.splitlines()).fnmatch_lines([HELD])
    for claim in ("gpubench: wrote", "Wrote benchmark data", "Saved benchmark data"):
        assert claim not in output
    assert _files(pytester.path) == earlier  # byte-identical, no .partial, no 0002_base.json


@pytest.mark.parametrize("stop", ["keyboardinterrupt", "exit"])
def test_a_benchmark_that_stops_the_session_writes_and_saves_nothing(
    pytester: pytest.Pytester,
    earlier: dict[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
    stop: str,
) -> None:
    monkeypatch.setenv("STOP", stop)
    result = pytester.runpytest(*ARGS, no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([HELD])
    result.stdout.no_fnmatch_line("*gpubench: wrote*")
    assert "Wrote benchmark data" not in result.stderr.str()
    assert _files(pytester.path) == earlier


def test_an_interrupted_gate_is_not_run_and_says_so(
    pytester: pytest.Pytester, earlier: dict[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOP", "keyboardinterrupt")
    args = (
        *ARGS[: -len(REPORTS)],
        "--gpubench-compare",
        "base",
        "--gpubench-compare-fail",
        "speedup:50%",
    )
    result = pytester.runpytest(*args, no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*gpubench: interrupted: nothing written or saved; regression gate not run"]
    )
    result.stdout.no_fnmatch_line("*gpubench: compared*")
    assert _files(pytester.path) == earlier


def test_a_session_stopped_by_x_writes_and_saves_nothing(
    pytester: pytest.Pytester, earlier: dict[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """-x (or --maxfail) stops after a failure: the rows still to run are missing, so the
    run is partial like an interrupted one, and its saved run must not become a baseline."""
    monkeypatch.setenv("STOP", "fail")
    result = pytester.runpytest(*ARGS, "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*gpubench: stopped early (stopping after 1 failures): nothing written or saved (r.json*"]
    )
    result.stdout.no_fnmatch_line("*gpubench: wrote*")
    assert _files(pytester.path) == earlier
