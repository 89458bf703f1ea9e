"""The plugin's switches: --gpubench on and off, device selection and skipping, the marker,
profiles and timing options, usage errors. Inner sessions are tiny (numpy back ends)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from types import SimpleNamespace

import pytest

from pytest_gpubench.devices import get_device
from pytest_gpubench.items import size_value_of
from pytest_gpubench.settings import (
    choose_baseline,
    select_devices,
    storage_path,
    timing_settings,
)

BENCH = """
import numpy as np
import pytest

@pytest.mark.parametrize("n", [8, 32], ids=["8", "32"])
def test_matmul(gpubench, device, n):
    a = gpubench.transfer(np.ones((n, n)), "float32")
    gpubench(lambda: a @ a, units="GFLOP", units_per_round=2 * n**3 / 1e9)

def test_plain():
    pass
"""

FAST = ("--gpubench-max-time", "0.002", "--gpubench-min-rounds", "2", "--gpubench-max-rounds", "3")
CPU2 = ("--gpubench-devices", "numpy,array-api-strict")
HAS_CUPY = importlib.util.find_spec("cupy") is not None


@pytest.fixture(autouse=True)
def _lean_inner_sessions(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner sessions skip hypothesis' plugin, which re-imports hypothesis each run (~1 s)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


@pytest.fixture
def bench(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_bench=BENCH)
    return pytester


def test_without_the_flag_benchmarks_are_skipped_saying_how_to_run_them(
    bench: pytest.Pytester,
) -> None:
    result = bench.runpytest("-rs", *CPU2)
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines(["*gpubench benchmark: pass --gpubench to run it*"])
    result.stdout.no_fnmatch_line("*gpubench: speedup*")


def test_the_flag_runs_only_benchmarks_and_prints_the_speedup_table(
    bench: pytest.Pytester,
) -> None:
    result = bench.runpytest("-rs", "--gpubench", *CPU2, *FAST)
    result.assert_outcomes(passed=4, deselected=1)  # the plain test: deselected, not listed
    result.stdout.fnmatch_lines(["*gpubench: speedup vs numpy*", "*matmul*"])
    result.stdout.no_fnmatch_line("*SKIPPED*")


def test_devices_parametrize_the_test_with_their_names_as_ids(bench: pytest.Pytester) -> None:
    result = bench.runpytest("--gpubench", *CPU2, "--collect-only", "-q")
    collected = set(result.stdout.lines)
    for test_id in ("numpy-8", "array-api-strict-8", "numpy-32", "array-api-strict-32"):
        assert f"test_bench.py::test_matmul[{test_id}]" in collected


def test_ini_key_selects_devices(bench: pytest.Pytester) -> None:
    bench.makeini("[pytest]\ngpubench_devices = array-api-strict\n")
    result = bench.runpytest("--gpubench", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["*test_matmul[[]array-api-strict-8]", "*2/3 tests collected (1 deselected)*"]
    )


def test_baseline_option_picks_the_reference_device(bench: pytest.Pytester) -> None:
    result = bench.runpytest("--gpubench", *CPU2, *FAST, "--gpubench-baseline", "array-api-strict")
    result.assert_outcomes(passed=4, deselected=1)
    result.stdout.fnmatch_lines(["*gpubench: speedup vs array-api-strict*"])


@pytest.mark.skipif(HAS_CUPY, reason="cupy is installed here, so it is not an unusable device")
def test_an_unusable_device_is_skipped_with_its_reason_and_reported_na(
    bench: pytest.Pytester,
) -> None:
    result = bench.runpytest("-rs", "--gpubench", "--gpubench-devices", "numpy,cupy", *FAST)
    result.assert_outcomes(passed=2, skipped=2, deselected=1)
    result.stdout.fnmatch_lines(
        ["*gpubench: speedup vs numpy*", "*SKIPPED [[]2[]] *cupy: cupy is not installed*"]
    )
    assert "n/a (cupy is not installed" in result.stdout.str()


def test_marker_names_the_experiment_and_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gpubench(experiment="tiny-sum")
        def test_sum(gpubench, device):
            gpubench(lambda: sum(range(100)))
        """
    )
    result = pytester.runpytest("--gpubench", "--gpubench-devices", "numpy", *FAST)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*tiny-sum*"])
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines(
        ["@pytest.mark.gpubench(experiment=None, compare_fail=None, speedup=True)*"]
    )


def test_a_cost_marker_records_times_without_speedups_and_a_bad_value_stops_the_session(
    pytester: pytest.Pytester,
) -> None:
    test = """
        import pytest

        @pytest.mark.gpubench(experiment="copy", speedup={value})
        def test_copy(gpubench, device):
            gpubench(lambda: sum(range(100)))
        """
    pytester.makepyfile(test.format(value="False"))
    args = ("--gpubench", "--gpubench-devices", "numpy,array-api-strict", *FAST)
    result = pytester.runpytest(*args, "--gpubench-json", "run.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*not raced against numpy: no speedups*"])
    section = json.loads((pytester.path / "run.json").read_text())["gpubench"]
    assert [m["versus_baseline"] for m in section["measurements"]] == [False, False]
    assert all(c["speedup"] is None for row in section["rows"] for c in row["cells"])

    pytester.makepyfile(test.format(value='"no"'))
    refused = pytester.runpytest(*args)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*gpubench(speedup=...) takes True or False, got 'no'*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('gpubench("myexp")', "*the gpubench marker takes keyword arguments only, got ('myexp',)*"),
        ('gpubench(expriment="a")', "*unknown argument(s) expriment; it takes experiment, *"),
        ('gpubench(experiment=["a", "b"])', "*gpubench(experiment=...) takes a non-empty name*"),
        ("gpubench(compare_fail=5)", "*gpubench(compare_fail=...) takes an expression such as*"),
        (
            'gpubench(experiment="e", compare_fail="garbage!!")',
            "*test_b*gpubench(compare_fail=...): *",
        ),
    ],
)
def test_a_bad_marker_stops_the_session_before_it_runs(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    """Each test of an experiment is read, not only the first (test_b's spec was never
    parsed), and a typo is refused rather than ignored."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.gpubench(experiment="e", compare_fail="speedup:10%")
        def test_a(gpubench, device):
            gpubench(lambda: None)

        @pytest.mark.{marker}
        def test_b(gpubench, device):
            gpubench(lambda: None)
        """
    )
    result = pytester.runpytest("--gpubench", *FAST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_tests_of_one_experiment_must_agree_on_its_thresholds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gpubench(experiment="e", compare_fail="speedup:10%")
        def test_a(gpubench, device):
            gpubench(lambda: None)

        @pytest.mark.gpubench(experiment="e", compare_fail="speedup:50%")
        def test_b(gpubench, device):
            gpubench(lambda: None)
        """
    )
    result = pytester.runpytest("--gpubench", *FAST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*differs from *test_a*'s [[]'speedup:10%'] for experiment 'e'*"])


def test_profile_reaches_the_experiments(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_profile(gpubench_profile):
            assert gpubench_profile == "seed"
        """
    )
    pytester.runpytest("--gpubench-profile", "seed").assert_outcomes(passed=1)


def test_warmup_and_rounds_options_set_the_rounds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        calls = []

        def test_count(gpubench, device):
            gpubench(lambda: calls.append(1))
            assert len(gpubench.timing.warmup_s) == 2
            assert len(gpubench.timing.rounds_s) == 4
            assert len(calls) == 6
        """
    )
    result = pytester.runpytest(
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        "--gpubench-warmup",
        "2",
        "--gpubench-min-rounds",
        "4",
        "--gpubench-max-rounds",
        "4",
        "--gpubench-round-time",
        "0",
    )
    result.assert_outcomes(passed=1)


def test_rounds_run_through_pytest_benchmark_with_the_device_synchronised_at_each_read(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import time
        import pytest
        from pytest_gpubench.devices import Device, NumpyBackend

        LOG = []

        class Logged(NumpyBackend):
            def synchronize(self):
                LOG.append("sync")

        def clock():
            LOG.append("clock")
            return time.perf_counter()

        @pytest.fixture
        def device():
            return Device("logged", "gpu", "numpy", backend=Logged())

        @pytest.mark.benchmark(timer=clock)
        def test_sync(gpubench, benchmark):
            gpubench(lambda: LOG.append("work"))
            reads = [i for i, entry in enumerate(LOG) if entry == "clock"]
            calls = gpubench.timing.calls_per_round
            assert calls > 1  # a call of a microsecond: calibrated blocks of calls
            # 2 warm-up rounds, the calibration's blocks, then 3 kept: a cold call and a block
            assert len(reads) > 2 * 2 + 3 * 3
            assert all(LOG[i - 1] == "sync" for i in reads), LOG
            kept = gpubench.measurement().rounds_s
            assert list(benchmark.stats.stats.data) == pytest.approx(list(kept))
            assert benchmark.stats.iterations == calls
        """
    )
    result = pytester.runpytest(
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        "--gpubench-min-rounds",
        "3",
        "--gpubench-max-rounds",
        "3",
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gpubench-devices", "numpy,nope"), "*unknown device 'nope'; expected one of numpy*"),
        (("--gpubench-baseline", "gpu9"), "*unknown device 'gpu9'; expected one of*"),
        (("--gpubench-baseline", "numpy,cupy"), "*--gpubench-baseline takes one device name*"),
        (("--gpubench-warmup", "-1"), "*--gpubench-warmup must be an integer from 0 to 1000*"),
        (("--gpubench-min-rounds", "x"), "*--gpubench-min-rounds must be an integer from 1 to*"),
        # a typo's extra zeros: the run would never end (it hung)
        (("--gpubench-warmup", "99999999999999999999"), "*from 0 to 1000, got '9999*"),
        (("--gpubench-max-rounds", "1000000"), "*from 1 to 100000, got '1000000'*"),
        (("--gpubench-max-time", "1e308"), "*(> 0, at most 86400), got '1e308'*"),
        (
            ("--gpubench-min-rounds", "5", "--gpubench-max-rounds", "2"),
            "*--gpubench-max-rounds 2 is below --gpubench-min-rounds 5*",
        ),
        (("--gpubench-max-time", "0"), "*--gpubench-max-time takes seconds (> 0*"),
        (
            ("--benchmark-timer", "time.process_time"),
            "*--benchmark-timer time.process_time would leave out the device's work*",
        ),
        (("--gpubench-max-time", "soon"), "*--gpubench-max-time takes seconds*"),
        (("--gpubench-max-time", "inf"), "*got 'inf'; for more rounds, raise*"),
        (("--gpubench-save", "a/b"), "*--gpubench-save 'a/b': a run name is letters, *"),
        (("--gpubench-save", ""), "*--gpubench-save '': a run name is letters*"),
        (("--gpubench-save", "has space"), "*--gpubench-save 'has space': a run name is*"),
        (
            ("--gpubench-save", "main", "--benchmark-save", "other"),
            "*give --gpubench-save or --benchmark-save, not both*",
        ),
        (("--gpubench-devices", ""), "*--gpubench-devices '' names no device*"),
        (("--gpubench-devices", "nope"), "*--gpubench-devices: unknown device 'nope'*"),
        (("--gpubench-compare-force",), "*--gpubench-compare-force applies to --gpubench-comp*"),
        (("--benchmark-skip",), "*--gpubench with --benchmark-skip would run nothing*"),
    ],
)
def test_bad_option_values_are_usage_errors_saying_what_is_accepted(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest("--gpubench", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_baseline_that_cannot_run_here_is_refused_before_the_run(
    bench: pytest.Pytester,
) -> None:
    """Every speedup would be n/a, after a whole run (the README promised a usage error)."""
    from pytest_gpubench.devices import get_device

    if get_device("cuda").available:
        pytest.skip("cuda runs here")
    result = bench.runpytest("--gpubench", "--gpubench-baseline", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--gpubench-baseline cuda: cuda cannot run here (*), so every speedup would be n/a*"]
    )


def test_gpubench_options_in_addopts_leave_a_plain_run_working(bench: pytest.Pytester) -> None:
    bench.makeini("[pytest]\naddopts = --gpubench-compare-force --gpubench-json r.json\n")
    result = bench.runpytest(*CPU2)
    assert result.ret == pytest.ExitCode.OK  # the plain test passes, benchmarks skip
    result.assert_outcomes(passed=1, skipped=4)


def test_unknown_profile_is_refused_by_the_option_parser(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--gpubench-profile", "huge")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gpubench-profile: invalid choice: 'huge'*"])


# --------------------------------------------------------------------------- plain functions


def test_select_devices_keeps_order_drops_repeats_and_explains_an_unusable_alias() -> None:
    devices = select_devices("numpy, array-api-strict,cpu")
    assert [d.name for d in devices] == ["numpy", "array-api-strict"]
    cuda = get_device("cuda")
    (picked,) = select_devices("cuda")
    if cuda.available:
        assert picked.name == cuda.name
    else:
        assert picked.name == "cuda" and not picked.available
        assert "cupy:" in picked.reason and "torch-cuda:" in picked.reason


def test_choose_baseline_defaults_to_the_first_cpu_and_adds_a_missing_one() -> None:
    devices = select_devices("cupy,array-api-strict,numpy")
    assert choose_baseline(devices, None)[0] == "array-api-strict"
    name, extended = choose_baseline(select_devices("array-api-strict"), "numpy")
    assert name == "numpy"
    assert [d.name for d in extended] == ["numpy", "array-api-strict"]


def test_timing_settings_follow_the_profile_and_single_overrides() -> None:
    assert timing_settings("seed").max_time == 60.0
    quick = timing_settings("quick", warmup="0", min_rounds="40")
    assert (quick.warmup, quick.min_rounds, quick.max_rounds) == (0, 40, 40)
    assert timing_settings("quick", max_rounds="2").min_rounds == 2


def test_size_value_and_storage_path() -> None:
    assert size_value_of("800-800") == 1600
    assert size_value_of("-") == 0
    assert size_value_of("1024x1024") == 1024 * 1024
    assert size_value_of("46900x784") == 46900 * 784
    assert [size_value_of(s) for s in ("0.25", "0.5", "1.0", "2.0")] == [0.25, 0.5, 1.0, 2.0]
    assert size_value_of("1e3") == 1000 and size_value_of("n1.5e-2") == 0.015
    assert storage_path("file://./.benchmarks").as_posix() == ".benchmarks"
    assert storage_path("runs").as_posix() == "runs"
    with pytest.raises(ValueError, match="needs a file storage"):
        storage_path("elasticsearch+http://host/index")


def test_config_probes_devices_only_when_asked() -> None:
    from pytest_gpubench.settings import build_config

    option = SimpleNamespace(
        gpubench=False,
        gpubench_devices="numpy,array-api-strict",
        gpubench_baseline=None,
        gpubench_profile=None,
        gpubench_warmup=None,
        gpubench_min_rounds=None,
        gpubench_max_rounds=None,
        gpubench_max_time=None,
        gpubench_compare_fail=[],
        gpubench_compare=None,
        gpubench_compare_force=False,
        benchmark_storage="file://./.benchmarks",
    )
    config = build_config(option, "", "")
    assert "_selection" not in vars(config)
    assert config.baseline == "numpy"
    assert "_selection" in vars(config)


def test_the_configuration_is_frozen_and_collection_makes_a_new_one() -> None:
    """Nothing changes a run's configuration in place: the markers' thresholds (and the
    rounds a gate needs) come in a new one, the first left as it was."""
    import dataclasses

    from pytest_gpubench.gate import parse_compare_fail
    from pytest_gpubench.results import RunResults
    from pytest_gpubench.settings import PROFILES, GpubenchConfig

    config = GpubenchConfig(
        enabled=True,
        device_names=("numpy",),
        baseline_spec=None,
        profile="quick",
        settings=dataclasses.replace(PROFILES["quick"], min_rounds=2, max_rounds=3),
        compared=RunResults(),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.profile = "seed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.settings.min_rounds = 50  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.experiment_thresholds["fit"] = ()  # type: ignore[index]
    threshold = parse_compare_fail("speedup:10%")
    marked = config.with_marker_thresholds({"fit": [threshold]})
    assert dict(marked.experiment_thresholds) == {"fit": (threshold,)}
    assert (marked.settings.min_rounds, marked.settings.max_rounds) == (5, 5)
    assert dict(config.experiment_thresholds) == {} and config.settings.min_rounds == 2
    unmarked = dataclasses.replace(config, compared=None).with_marker_thresholds({})
    assert unmarked.settings.min_rounds == 2  # no gate: the rounds asked for


@pytest.mark.parametrize(
    ("numprocesses", "tx", "workers"),
    [
        (None, None, None),
        (0, None, None),
        (2, None, "-n 2"),
        ("auto", None, "-n auto"),
        (None, ["popen", "popen"], "--tx popen,popen"),
    ],
)
def test_xdist_workers(numprocesses: object, tx: object, workers: str | None) -> None:
    from pytest_gpubench.settings import xdist_workers

    assert xdist_workers(SimpleNamespace(numprocesses=numprocesses, tx=tx)) == workers
    assert xdist_workers(SimpleNamespace()) is None  # xdist not installed


def test_disabling_pytest_benchmark_leaves_plain_runs_working(pytester: pytest.Pytester) -> None:
    """The plugin loads for every pytest run once installed: ``-p no:benchmark`` must not
    break a project's plain tests; ``--gpubench`` then says what it needs."""
    pytester.makepyfile("def test_plain():\n    pass\n")
    assert pytester.runpytest_subprocess("-p", "no:benchmark").ret == pytest.ExitCode.OK
    result = pytester.runpytest_subprocess("-p", "no:benchmark", "--gpubench")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gpubench times through pytest-benchmark, which is disabled*"])


def test_gpubench_under_xdist_is_a_usage_error_naming_the_fix(pytester: pytest.Pytester) -> None:
    """Benchmarks timed side by side slow each other, and each worker would report only its
    share: refused before anything runs (pytest-xdist's own options faked here)."""
    pytester.makeconftest(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--numprocesses', dest='numprocesses', default=None)\n"
    )
    result = pytester.runpytest("--gpubench", "--numprocesses", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gpubench cannot run under pytest-xdist (-n 2)*without -n*"])
    assert pytester.runpytest("--numprocesses", "2").ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_test_choosing_its_own_devices_gets_them_even_outside_the_selection(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("device", ["numpy", "array-api-strict"], indirect=True)
        def test_own(gpubench, device):
            gpubench(lambda: device.namespace().ones(4))
        """
    )
    result = pytester.runpytest("--gpubench", "--gpubench-devices", "numpy", *FAST)
    result.assert_outcomes(passed=2)


def test_a_device_parametrized_without_indirect_says_how_to_fix_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("device", ["numpy"])
        def test_own(gpubench, device):
            gpubench(lambda: device.namespace().ones(4))
        """
    )
    result = pytester.runpytest("--gpubench", *FAST)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_own: parametrize 'device' with indirect=True, e.g.*"])
    result.stdout.no_fnmatch_line("*event_timer*")


def test_a_cell_whose_every_round_waited_is_machine_busy_and_the_json_still_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every round waits 1 s for a CPU (a fake counter): none is kept, pytest-benchmark gets
    no empty statistics (it crashed on them), and the JSON and table say machine busy."""
    import dataclasses
    import itertools

    import pytest_gpubench.settings as settings
    import pytest_gpubench.timing as timing
    from pytest_gpubench.interference import WaitProbe

    quick = dataclasses.replace(settings.PROFILES["quick"], busy_time=0.2)
    monkeypatch.setitem(settings.PROFILES, "quick", quick)
    waited = itertools.count()
    monkeypatch.setattr(
        timing, "WaitProbe", lambda gpu=None: WaitProbe(wait=lambda: float(next(waited)), gpu=gpu)
    )
    pytester.makepyfile(
        """
        import time

        def test_sleep(gpubench, device):
            gpubench(time.sleep, 0.01)
        """
    )
    result = pytester.runpytest(
        "--gpubench", "--gpubench-devices", "numpy", "--gpubench-json", "r.json"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*numpy: n/a (machine busy: every round waited for a CPU*"])
    section = json.loads((pytester.path / "r.json").read_text())["gpubench"]
    (measurement,) = section["measurements"]
    assert measurement["stop"] == "machine busy" and measurement["rounds_s"] == []
    assert len(measurement["set_aside_s"]) >= 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gpubench-precision", "150%"), "*--gpubench-precision takes a share such as 5%*"),
        (("--gpubench-precision", "-1"), "*--gpubench-precision takes a share*got '-1'*"),
        (("--gpubench-interference", "0"), "*--gpubench-interference takes a share*got '0'*"),
        (("--gpubench-interference", "lots"), "*--gpubench-interference takes a share*"),
        (("--gpubench-threads", "0"), "*--gpubench-threads must be an integer from 1*"),
    ],
)
def test_bad_precision_interference_or_threads_is_a_usage_error(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    pytester.makepyfile("def test_x(gpubench, device):\n    gpubench(lambda: None)\n")
    result = pytester.runpytest("--gpubench", "--gpubench-devices", "numpy", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_precision_and_interference_reach_the_timing_settings() -> None:
    from pytest_gpubench.settings import timing_settings

    settings = timing_settings("quick", precision="2%", interference="off")
    assert settings.precision == pytest.approx(0.02) and settings.wait_share == math.inf
    assert timing_settings("quick", precision="0").precision == 0
    assert timing_settings("seed", interference="0.1").wait_share == pytest.approx(0.1)
    assert timing_settings("quick", min_rounds=4).busy_time is None  # the profile's own


def test_each_sizes_devices_run_together_baseline_first_and_pair(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", [8, 16], ids=["8", "16"])
        def test_mm(gpubench, device, n):
            gpubench(lambda: sum(range(n)))
            m = gpubench.measurement()
            if device.name == "numpy":
                assert not m.paired
            else:
                assert m.paired and m.pairing == "paired", m.pairing
        """
    )
    result = pytester.runpytest(
        "--gpubench",
        "--gpubench-devices",
        "array-api-strict,numpy",
        "--gpubench-baseline",
        "numpy",
        "--gpubench-max-rounds",
        "6",
        "-v",
    )
    if "array-api-strict: n/a" in result.stdout.str():
        pytest.skip("array-api-strict is not installed")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_mm?numpy-8? PASSED*",
            "*test_mm?array-api-strict-8? PASSED*",
            "*test_mm?numpy-16? PASSED*",
            "*test_mm?array-api-strict-16? PASSED*",
        ]
    )


def test_k_that_leaves_one_device_says_its_rounds_are_unpaired(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_mm(gpubench, device):\n    gpubench(lambda: None)\n")
    result = pytester.runpytest(
        "--gpubench",
        "--gpubench-devices",
        "numpy,array-api-strict",
        "--gpubench-json",
        "r.json",
        "-k",
        "strict",
    )
    if "array-api-strict: n/a" in result.stdout.str():
        pytest.skip("array-api-strict is not installed")
    result.assert_outcomes(passed=1)
    section = json.loads((pytester.path / "r.json").read_text())["gpubench"]
    (measurement,) = section["measurements"]
    assert measurement["pairing"].startswith("unpaired: numpy was not timed at this size")


def test_threads_set_every_cpu_back_end_and_show_in_the_header(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from threadpoolctl import threadpool_info

        def test_threads(gpubench, device):
            gpubench(lambda: None)
            assert {pool["num_threads"] for pool in threadpool_info()} == {1}
        """
    )
    result = pytester.runpytest(
        "--gpubench", "--gpubench-devices", "numpy", "--gpubench-threads", "1"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["gpubench: profile quick, *, 1 CPU thread each"])


def test_other_processes_on_the_cores_are_named_after_collection(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Others' CPU time is read across collection, own time taken out: 1.5 busy cores are
    named, with the load average; a quiet machine says nothing."""
    import pytest_gpubench.session as session
    from pytest_gpubench.threads import OtherLoad

    busy = iter([100.0, 100.0 + 1.5 * 0.5 + 0.1])  # 1.5 cores over 0.5 s, and 0.1 s our own
    clock, own = iter([0.0, 0.5]), iter([1.0, 1.1])
    fake = OtherLoad(busy=lambda: next(busy), clock=lambda: next(clock), own=lambda: next(own))
    monkeypatch.setattr(session, "_other_load", lambda: fake)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 2.0, 1.0))
    pytester.makepyfile("def test_x(gpubench, device):\n    gpubench(lambda: None)\n")
    result = pytester.runpytest_inprocess("--gpubench", "--gpubench-devices", "numpy")
    result.stdout.fnmatch_lines(
        [
            "gpubench: WARNING other processes kept 1.5 cores busy while this run started "
            "(load average 3.50), on * cores*"
        ]
    )


def test_other_load_note_rules() -> None:
    from pytest_gpubench.threads import OtherLoad, other_load_note

    assert other_load_note(0.1) is None  # quiet now, whatever the load average
    assert "kept 0.8 cores busy" in other_load_note(0.8, threads=1)
    assert "this run uses 1 thread." in other_load_note(0.8, threads=1)
    readings = iter([10.0, 10.2])
    probe = OtherLoad(busy=lambda: next(readings))
    probe.start()
    assert probe.cores(min_window_s=10) is None  # too short a window to tell
    assert OtherLoad(busy=lambda: None).cores(min_window_s=0) is None
