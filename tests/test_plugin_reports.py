"""The plugin's outputs: pytest-benchmark JSON with the gpubench section (read back by
``pytest-benchmark compare``), Markdown, PNG, github-action-benchmark JSON, saved runs and
the regression gate on speedups really measured twice."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_gpubench.report import load_results

# The work of array-api-strict is scaled by $SLOWDOWN, so its speedup vs numpy really
# drops when a run sets it: the same matmuls, more of them, timed.
BENCH = """
import os
import numpy as np
import pytest

@pytest.mark.parametrize("n", [64], ids=["64"])
def test_matmul(gpubench, device, n):
    repeat = 20 * (int(os.environ.get("SLOWDOWN", "1")) if device.name != "numpy" else 1)
    a = gpubench.transfer(np.ones((n, n)), "float32")

    def work():
        for _ in range(repeat):
            b = a @ a
        return b

    gpubench(work, units="GFLOP", units_per_round=2 * n**3 * repeat / 1e9)
    gpubench.metric("accuracy", 1.0)
"""

ROUNDS = ("--gpubench-min-rounds", "8", "--gpubench-max-rounds", "8")
CPU2 = ("--gpubench-devices", "numpy,array-api-strict")
HAS_CUPY = importlib.util.find_spec("cupy") is not None


@pytest.fixture(autouse=True)
def _lean_inner_sessions(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner sessions skip hypothesis' plugin (it re-imports hypothesis each run, ~1 s) and
    py-cpuinfo's probe of machine_info (~1 s per saved file; not under test here)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    monkeypatch.setattr("pytest_benchmark.plugin.get_cpu_info", lambda: {"brand_raw": "test"})


@pytest.fixture
def bench(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_bench=BENCH)
    return pytester


def test_json_is_pytest_benchmarks_own_file_with_the_gpubench_section(
    bench: pytest.Pytester,
) -> None:
    devices = "numpy,array-api-strict" + ("" if HAS_CUPY else ",cupy")
    result = bench.runpytest(
        "--gpubench", "--gpubench-devices", devices, *ROUNDS, "--gpubench-json", "out/run.json"
    )
    assert result.ret == 0
    path = bench.path / "out" / "run.json"
    document = json.loads(path.read_text())
    assert {b["name"] for b in document["benchmarks"]} == {
        "test_matmul[numpy-64]",
        "test_matmul[array-api-strict-64]",
    }
    section = document["gpubench"]
    assert section["baseline"] == "numpy"
    by_device = {m["device"]: m for m in section["measurements"]}
    numpy_rounds = next(b for b in document["benchmarks"] if "numpy" in b["name"])
    assert by_device["numpy"]["rounds_s"] == numpy_rounds["stats"]["data"]
    assert len(by_device["array-api-strict"]["rounds_s"]) == 8
    assert by_device["numpy"]["metrics"] == {"accuracy": 1.0}
    assert by_device["numpy"]["transfer_s"] is not None
    if not HAS_CUPY:
        assert by_device["cupy"]["rounds_s"] == []
        assert "cupy is not installed" in by_device["cupy"]["reason"]
    loaded = load_results(path)
    assert len(loaded.measurements) == len(section["measurements"])

    compare = shutil.which("pytest-benchmark") or shutil.which("py.test-benchmark")
    command = [compare] if compare else [sys.executable, "-m", "pytest_benchmark.cli"]
    listed = subprocess.run(
        [*command, "compare", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "test_matmul[array-api-strict-64]" in listed.stdout


def test_markdown_plot_and_github_files(bench: pytest.Pytester) -> None:
    result = bench.runpytest(
        "--gpubench",
        *CPU2,
        *ROUNDS,
        "--gpubench-markdown",
        "speedups.md",
        "--gpubench-plot",
        "speedups.png",
        "--gpubench-github-json",
        "gh.json",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*gpubench: wrote speedups.md*", "*gpubench: wrote gh.json*"])
    markdown = (bench.path / "speedups.md").read_text()
    assert "matmul" in markdown and "array-api-strict" in markdown and "|" in markdown
    assert (bench.path / "speedups.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (entry,) = json.loads((bench.path / "gh.json").read_text())
    assert entry["name"] == "matmul 64 array-api-strict speedup vs numpy"
    assert entry["unit"] == "x" and entry["value"] > 0


def test_a_report_that_cannot_be_written_does_not_stop_the_others(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_gpubench import report

    def fails(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(report, "render_markdown", fails)
    result = bench.runpytest(
        "--gpubench",
        *CPU2,
        *ROUNDS,
        "--gpubench-markdown",
        "blocked/report.md",
        "--gpubench-github-json",
        "gh.json",
        "--gpubench-plot",
        "speedups.svg",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*gpubench: could not write blocked/report.md: RuntimeError: the disk filled up*"]
    )
    assert json.loads((bench.path / "gh.json").read_text())
    assert (bench.path / "speedups.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("out", "*--gpubench-plot 'out' is a directory*"),
        ("speedups.jpg", "*the plot is written as png, svg, pdf*"),
    ],
)
def test_a_plot_that_could_not_be_written_is_refused_before_anything_runs(
    pytester: pytest.Pytester, path: str, message: str
) -> None:
    (pytester.path / "out").mkdir()
    result = pytester.runpytest("--gpubench", "--gpubench-plot", path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.filterwarnings("ignore:Not saving anything")  # pytest-benchmark's, in-process
def test_a_run_that_measures_nothing_leaves_an_earlier_json_as_it_was(
    bench: pytest.Pytester,
) -> None:
    first = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", "run.json")
    assert first.ret == pytest.ExitCode.OK
    first.stderr.fnmatch_lines(["*Wrote benchmark data in: run.json"])  # not the staged name
    earlier = (bench.path / "run.json").read_text()
    assert json.loads(earlier)["benchmarks"]
    assert [p.name for p in bench.path.iterdir() if "partial" in p.name] == []
    again = bench.runpytest("--gpubench", *CPU2, "--gpubench-json", "run.json", "-k", "nomatch")
    again.stdout.fnmatch_lines(["*gpubench: nothing was measured; run.json was left as it was*"])
    assert (bench.path / "run.json").read_text() == earlier
    assert [p.name for p in bench.path.iterdir() if "partial" in p.name] == []


def test_a_json_path_that_is_a_symlink_or_a_fifo_is_written_through(bench: pytest.Pytester) -> None:
    """The staged JSON must not replace a symlink (or a FIFO) with a plain file."""
    import os
    import stat
    import threading

    (bench.path / "target.json").write_text("{}")
    (bench.path / "link.json").symlink_to("target.json")
    result = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", "link.json")
    assert result.ret == pytest.ExitCode.OK
    assert (bench.path / "link.json").is_symlink()
    assert json.loads((bench.path / "target.json").read_text())["benchmarks"]

    fifo = bench.path / "pipe.json"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", str(fifo))
    reader.join(timeout=30)
    assert result.ret == pytest.ExitCode.OK
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["gpubench"]["measurements"]


def test_a_json_without_timing_is_refused(bench: pytest.Pytester) -> None:
    result = bench.runpytest("--gpubench", "--benchmark-disable", "--gpubench-json", "r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gpubench-json with --benchmark-disable would write*"])


def test_an_xfailed_benchmark_that_failed_after_timing_is_not_a_result(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.xfail(reason="known wrong on this back end")
        def test_wrong(gpubench, device):
            gpubench(lambda: sum(range(100)))
            assert False, "accuracy 0.1"
        """
    )
    result = pytester.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", "r.json")
    result.assert_outcomes(xfailed=2)
    section = json.loads((pytester.path / "r.json").read_text())["gpubench"]
    assert [m["rounds_s"] for m in section["measurements"]] == [[], []]
    assert all("AssertionError: accuracy 0.1" in m["reason"] for m in section["measurements"])


def test_json_over_the_run_it_compares_with_is_refused(bench: pytest.Pytester) -> None:
    saved = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", "base.json")
    assert saved.ret == pytest.ExitCode.OK
    before = (bench.path / "base.json").read_text()
    result = bench.runpytest(
        "--gpubench", *CPU2, "--gpubench-compare", "base.json", "--gpubench-json", "base.json"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--gpubench-json 'base.json' is the saved run --gpubench-compare reads*"]
    )
    assert (bench.path / "base.json").read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--gpubench-markdown", "blocked/report.md"],
            "*--gpubench-markdown 'blocked/report.md' cannot be written: *writable directory*",
        ),
        (
            ["--gpubench-json", "out"],
            "*--gpubench-json 'out' is a directory; give a file such as out/gpubench.json*",
        ),
        (
            ["--gpubench-github-json", "/proc/x.json"],
            "*--gpubench-github-json '/proc/x.json' cannot be written*",
        ),
        (
            ["--gpubench-json", "same", "--gpubench-markdown", "./same"],
            "*--gpubench-json and --gpubench-markdown both write './same'; give each its own file*",
        ),
    ],
)
def test_report_paths_that_could_not_be_written_are_refused_before_anything_runs(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    (pytester.path / "out").mkdir()
    (pytester.path / "blocked").write_text("a file where a directory is wanted\n")
    result = pytester.runpytest("--gpubench", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize("flag", ["--gpubench-json", "--gpubench-markdown", "--gpubench-plot"])
def test_an_empty_report_path_is_refused(pytester: pytest.Pytester, flag: str) -> None:
    result = pytester.runpytest("--gpubench", flag, "")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{flag} '' names no file; give a path such as *"])


def test_report_paths_are_not_checked_or_touched_without_gpubench(
    pytester: pytest.Pytester,
) -> None:
    """``--gpubench-json`` in addopts must not break (or empty files in) plain test runs."""
    pytester.makepyfile("def test_plain():\n    pass\n")
    (pytester.path / "kept.json").write_text('{"earlier": "run"}')
    result = pytester.runpytest("--gpubench-json", "kept.json", "--gpubench-markdown", "/proc/x")
    assert result.ret == pytest.ExitCode.OK
    assert (pytester.path / "kept.json").read_text() == '{"earlier": "run"}'


def test_a_plot_without_matplotlib_is_refused_naming_the_extra(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a),
    )
    result = pytester.runpytest("--gpubench", "--gpubench-plot", "p.png")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gpubench-plot needs matplotlib: pip install*[[]plot[]]*"])


def save_then_compare(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, slowdown: int, *extra: str
) -> pytest.RunResult:
    saved = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-save", "before")
    assert saved.ret == 0
    (run,) = (bench.path / ".benchmarks").glob("*/0001_before.json")
    assert load_results(run).measurements
    monkeypatch.setenv("SLOWDOWN", str(slowdown))
    return bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-compare", "0001", *extra)


def test_gate_fails_the_session_when_a_speedup_is_really_lost(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = save_then_compare(bench, monkeypatch, 4, "--gpubench-compare-fail", "speedup:20%")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*gpubench: speedup lost vs *0001_before.json*",
            "*FAILED*",
            "Lost (beyond the limit and significant):",
            "*matmul 64 array-api-strict speedup: *× [[]*–*[]] → *× [[]*–*[]] "
            "(-*%, limit speedup:20%, p=*)",
        ]
    )
    # the verdict comes last, after pytest's "2 passed" line, so it does not scroll away
    lines = result.stdout.lines
    summary = max(i for i, line in enumerate(lines) if "2 passed" in line)
    verdict = max(i for i, line in enumerate(lines) if "gpubench: speedup lost vs" in line)
    assert summary < verdict
    assert "gpubench: speedup lost: exit code 1" in lines[-1]


def test_gate_passes_when_nothing_changed(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, with a limit no machine noise reaches (a 4x loss): two real runs on a
    shared machine can differ by 20% or more, and a timed test must not fail on that. The
    statistics that keep noise from failing a tight limit are pinned, deterministically, in
    test_gate.py (seeded noise from one distribution passes)."""
    result = save_then_compare(bench, monkeypatch, 1, "--gpubench-compare-fail", "speedup:75%")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*gpubench: compared vs *0001_before.json*", "*: ok; *"])


def test_marker_thresholds_gate_their_experiment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_bench=BENCH.replace(
            '@pytest.mark.parametrize("n"',
            '@pytest.mark.gpubench(compare_fail="speedup:20%")\n@pytest.mark.parametrize("n"',
        )
    )
    result = save_then_compare(pytester, monkeypatch, 4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*matmul 64 array-api-strict speedup:*limit speedup:20%*"])


def test_compare_without_thresholds_shows_but_never_fails(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = save_then_compare(bench, monkeypatch, 4)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*gpubench: compared vs *", "*limit speedup:10%*"])


def test_a_marker_threshold_does_not_gate_the_other_experiments(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    marked = BENCH.replace("def test_matmul(", "def test_steady(").replace(
        '@pytest.mark.parametrize("n"',
        '@pytest.mark.gpubench(compare_fail="speedup:90%")\n@pytest.mark.parametrize("n"',
    )
    pytester.makepyfile(test_bench=BENCH, test_marked=marked.replace("SLOWDOWN", "UNSET"))
    result = save_then_compare(pytester, monkeypatch, 4)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*gpubench: compared vs *",
            "Beyond the report threshold and significant (shown, not gated):",
            "*matmul 64 array-api-strict speedup:*limit speedup:10%*",
        ]
    )


def test_a_device_measured_before_and_na_now_fails_the_gate(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken install of a gated device must not pass as "no speedup lost"."""
    from pytest_gpubench import devices

    def broken() -> devices.Backend:
        raise devices.DeviceUnavailableError("array_api_strict is broken (injected)")

    saved = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-save", "before")
    assert saved.ret == 0
    monkeypatch.setitem(
        devices._REGISTRY, "array-api-strict", devices._Entry("cpu", "array_api_strict", broken)
    )
    monkeypatch.setattr(devices, "_PROBED", {})
    gate = ("--gpubench-compare", "0001", "--gpubench-compare-fail", "speedup:75%")
    result = bench.runpytest("--gpubench", *CPU2, *ROUNDS, *gate)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*gpubench: speedup lost vs *0001_before.json*",
            "Measured in the saved run, n/a now (fails the gate):",
            "*matmul 64 array-api-strict: n/a in the current run (*broken (injected))",
        ]
    )


def test_a_gate_with_nothing_to_compare_fails(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-save", "before")
    assert saved.ret == 0
    bench.makepyfile(test_plain="def test_plain():\n    assert True\n")
    gate = ("--gpubench-compare", "0001", "--gpubench-compare-fail", "speedup:75%")
    result = bench.runpytest("--gpubench", *CPU2, "test_plain.py", *gate)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*gpubench: speedup lost vs *", "Nothing compared: *"])


def test_a_benchmark_that_fails_before_it_is_timed_shows_as_failed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_bench=BENCH.replace(
            '    a = gpubench.transfer(np.ones((n, n)), "float32")',
            '    if device.name != "numpy":\n        raise RuntimeError("no kernel for this")\n'
            '    a = gpubench.transfer(np.ones((n, n)), "float32")',
        )
    )
    result = pytester.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-markdown", "out.md")
    result.assert_outcomes(passed=1, failed=1)
    expected = "failed: RuntimeError: no kernel for this"
    result.stdout.fnmatch_lines([f"*array-api-strict*{expected}*"])
    assert expected in (pytester.path / "out.md").read_text()


def test_benchmarks_that_time_nothing_or_fail_after_timing_are_not_shown_as_results(
    pytester: pytest.Pytester,
) -> None:
    """A test that never calls gpubench vanished from every report; one whose check failed
    after timing showed a normal row (a speedup of a wrong result); one that skipped itself
    vanished too."""
    pytester.makepyfile(
        test_odd="""
        import pytest

        def test_forgot(gpubench, device):
            pass

        def test_wrong(gpubench, device):
            gpubench(lambda: sum(range(100)))
            assert device.name == "numpy", "accuracy 0.1 < 0.9"

        @pytest.mark.gpubench(experiment="only_marked")
        def test_marker_only(device):
            pass

        def test_too_big(gpubench, device):
            if device.name != "numpy":
                pytest.skip("needs 80 GiB")
            gpubench(lambda: sum(range(100)))
        """
    )
    result = pytester.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", "run.json")
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*gpubench: not timed: the test never called gpubench(fn, ...)*"])
    result.stdout.fnmatch_lines(["*gpubench: marked gpubench but does not take the gpubench*"])
    section = json.loads((pytester.path / "run.json").read_text())["gpubench"]
    reasons = {(m["experiment"], m["device"]): m["reason"] for m in section["measurements"]}
    assert reasons[("forgot", "numpy")] == "not timed: the test never called gpubench(fn, ...)"
    assert reasons[("wrong", "numpy")] is None
    assert reasons[("wrong", "array-api-strict")] == (
        "failed after it was timed: AssertionError: accuracy 0.1 < 0.9"
    )
    assert reasons[("too_big", "array-api-strict")] == "skipped: needs 80 GiB"
    ran = {(m["experiment"], m["device"]) for m in section["measurements"] if m["rounds_s"]}
    assert ran == {("wrong", "numpy"), ("too_big", "numpy")}


def test_a_run_of_another_profile_is_not_compared(bench: pytest.Pytester) -> None:
    saved = bench.runpytest(
        "--gpubench", *CPU2, *ROUNDS, "--gpubench-profile", "seed", "--gpubench-save", "s"
    )
    assert saved.ret == 0
    (run,) = (bench.path / ".benchmarks").glob("*/0001_s.json")
    assert load_results(run).extra["profile"] == "seed"
    gate = ("--gpubench-compare", "0001", "--gpubench-compare-fail", "speedup:75%")
    result = bench.runpytest("--gpubench", *CPU2, *ROUNDS, *gate)
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # before anything ran
    result.stderr.fnmatch_lines(
        ["*saved run used profile 'seed' and this one 'quick'*--gpubench-compare-force*"]
    )
    forced = bench.runpytest("--gpubench", *CPU2, *ROUNDS, *gate, "--gpubench-compare-force")
    forced.stdout.fnmatch_lines(["*compared across profiles (forced): saved seed, now quick*"])


def test_a_run_saved_on_other_hardware_is_refused_before_anything_runs(
    bench: pytest.Pytester,
) -> None:
    saved = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", "other.json")
    assert saved.ret == 0
    document = json.loads((bench.path / "other.json").read_text())
    for info in document["gpubench"]["devices"].values():
        info["processor"] = "A CPU from another machine"
    for m in document["gpubench"]["measurements"]:
        m["device_info"] = {**m["device_info"], "processor": "A CPU from another machine"}
    (bench.path / "other.json").write_text(json.dumps(document))
    result = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-compare", "other.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*measured on different hardware (*numpy: saved on *--gpubench-compare-force*"]
    )


def test_autosave_writes_a_run_with_the_section(bench: pytest.Pytester) -> None:
    result = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-autosave")
    assert result.ret == 0
    (run,) = (bench.path / ".benchmarks").glob("*/0001_*.json")
    assert "gpubench" in json.loads(run.read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gpubench-compare-fail", "speed:10%"), "*cannot parse compare-fail expression*"),
        (("--gpubench-compare-fail", "speedup:10%"), "*needs --gpubench-compare*"),
        (("--gpubench-compare", "0007"), "*no saved run '0007'*"),
        (("--gpubench-compare", "missing.json"), "*baseline file 'missing.json' does not exist*"),
        (("--gpubench-save", "x", "--benchmark-disable"), "*would save nothing*drop one*"),
        (("--gpubench-compare", ""), "*--gpubench-compare '' names no saved run*"),
        (
            ("--gpubench-compare-fail", "time:" + "9" * 400),
            "*compare-fail expression 'time:999*' has no finite limit (999*)*could never fail*",
        ),
    ],
)
def test_bad_gate_options_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest("--gpubench", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_file_without_the_section_is_refused_early(pytester: pytest.Pytester) -> None:
    Path(pytester.path / "plain.json").write_text(json.dumps({"benchmarks": []}))
    result = pytester.runpytest("--gpubench", "--gpubench-compare", "plain.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*plain.json is a pytest-benchmark file without a 'gpubench'*"])


def test_marker_with_a_bad_threshold_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gpubench(compare_fail="fast:1")
        def test_x(gpubench, device):
            gpubench(lambda: None)
        """
    )
    result = pytester.runpytest("--gpubench", "--gpubench-devices", "numpy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x*gpubench(compare_fail=...): cannot parse*"])


# --------------------------------------------------------------------------- one table


@pytest.mark.parametrize("asked", [False, True])
def test_an_80_column_run_ends_with_the_speedup_tables_alone(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, asked: bool
) -> None:
    """pytest-benchmark's own table (about 160 columns) is left out unless asked for; its
    JSON is written either way."""
    monkeypatch.setenv("COLUMNS", "80")
    extra = ("--gpubench-benchmark-table",) if asked else ()
    result = bench.runpytest("--gpubench", *CPU2, *ROUNDS, "--gpubench-json", "out.json", *extra)
    result.assert_outcomes(passed=2)
    text = "\n".join(result.outlines)
    assert "matmul (baseline numpy)" in text
    assert json.loads(Path(bench.path, "out.json").read_text())["benchmarks"]
    if asked:
        assert "Name (time in" in text
        return
    assert "Name (time in" not in text
    tables = next(i for i, line in enumerate(result.outlines) if line.startswith("Hardware"))
    wide = [line for line in result.outlines[tables:] if len(line) > 80]
    assert not wide, wide
    table_end = max(
        i
        for i, line in enumerate(result.outlines)
        if "crossover" in line or line.startswith("  array-api-strict:")
    )
    tail = [line for line in result.outlines[table_end + 1 :] if line.strip()]
    assert all(line.startswith(("gpubench: wrote", "=")) for line in tail), tail
