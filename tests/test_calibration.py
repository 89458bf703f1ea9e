"""Calibrated rounds: k back-to-back calls per round, one cold call before each block, every
figure per call, the opt-out, and the harness's floor. Timed on a virtual clock that the
workload itself advances, so nothing here depends on the machine's speed."""

from __future__ import annotations

import math
import weakref
from typing import Any

import pytest

from pytest_gpubench.bench import GpuBench, record_rounds
from pytest_gpubench.devices import Device, NumpyBackend, get_device
from pytest_gpubench.interference import RoundNoise
from pytest_gpubench.report import format_cold, format_rounds
from pytest_gpubench.report_json import load_results
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.settings import parse_round_time
from pytest_gpubench.speedup import build_rows
from pytest_gpubench.timing import (
    MAX_CALLS,
    SyncedTarget,
    TimingSettings,
    calibrate,
    harness_floor,
    measure,
    time_round,
)

NUMPY = get_device("numpy")


class Virtual:
    """A clock that only the workload advances: a hot call costs ``hot_s``, the first call
    after an untimed wait (the probe's start, as in every round) costs ``cold_s``."""

    def __init__(self, hot_s: float = 1e-6, cold_s: float = 5e-3) -> None:
        self.now = 0.0
        self.hot_s, self.cold_s = hot_s, cold_s
        self.cold = True
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> str:
        self.calls += 1
        self.now += self.cold_s if self.cold else self.hot_s
        self.cold = False
        return "done"

    # the WaitProbe interface: the untimed reads and waits between rounds
    def start(self) -> None:
        self.cold = True

    def stop(self) -> RoundNoise:
        return RoundNoise(wait_s=0.0)

    def quiet(self, max_s: float) -> float:
        return 0.0


def settings(**kwargs: Any) -> TimingSettings:
    values = {"warmup": 1, "min_rounds": 4, "max_rounds": 4, "precision": 0, **kwargs}
    return TimingSettings(**{"wait_share": math.inf, **values})


def test_calibration_grows_the_calls_until_a_round_lasts_the_round_time() -> None:
    clock = Virtual(cold_s=1e-6)
    synced = SyncedTarget(NUMPY, clock.work)
    calls = calibrate(synced, 0.01, clock, first_s=50e-6)  # a cold first call: a low guess
    assert synced.calls == calls
    assert 10_000 <= calls <= 12_100  # 1 µs a call: 10 ms takes 10,000, 1.2x over at most


def test_one_stalled_block_does_not_end_the_calibration() -> None:
    """A 30 µs call whose first block stalls for 10 ms (the host took the CPU): the next
    block at that count falls short, so the calls keep growing."""
    clock = Virtual(hot_s=30e-6, cold_s=30e-6)
    real = clock.work

    def work() -> str:
        if clock.calls == 1:  # the first call of the first block, after its cold call
            clock.now += 0.01
        return real()

    synced = SyncedTarget(NUMPY, work)
    assert calibrate(synced, 0.01, clock, first_s=0.005) >= 333  # 10 ms of 30 µs calls


def test_a_call_as_long_as_a_round_keeps_one_call_per_round_and_costs_no_calibration() -> None:
    clock = Virtual()
    synced = SyncedTarget(NUMPY, clock.work)
    assert calibrate(synced, 0.01, clock, first_s=0.02) == 1
    assert clock.calls == 0
    assert calibrate(synced, 0.0, clock, first_s=1e-6) == 1  # round time 0: one call


def test_calibration_stops_at_the_most_calls_for_an_empty_call() -> None:
    synced = SyncedTarget(NUMPY, lambda: None)
    assert calibrate(synced, 0.01, lambda: 0.0, first_s=0.0) == MAX_CALLS


def test_rounds_are_per_call_and_the_cold_call_stays_out_of_the_timed_block() -> None:
    """Each round wakes up cold (5 ms); the block after its cold call is hot (1 µs a call).
    Timed with the cold call inside, a 10,000-call round would read 1.5 µs a call."""
    clock = Virtual()
    timing = measure(NUMPY, clock.work, settings(), clock=clock, probe=clock)
    k = timing.calls_per_round
    assert k >= 10_000
    assert timing.rounds_s == pytest.approx((1e-6,) * 4, rel=1e-6)
    assert timing.cold_s == pytest.approx((5e-3,) * 4)
    assert timing.result == "done"


def test_the_cold_call_comes_right_before_the_block_after_the_device_synchronised() -> None:
    log: list[str] = []

    class Logged(NumpyBackend):
        def synchronize(self) -> None:
            log.append("sync")

    def clock() -> float:
        log.append("clock")
        return len(log) * 1e-3

    synced = SyncedTarget(Device("logged", "gpu", "numpy", backend=Logged()), lambda: None)
    synced.target = lambda: log.append("work")
    synced.calls = 3
    r = time_round(synced, clock)
    cold = ["sync", "clock", "work", "sync", "clock"]  # synced, then the cold call
    assert log == [*cold, "work", "work", "work", "sync", "clock"]
    assert r.calls == 3 and r.cold_s is not None
    assert r.total_s == pytest.approx(r.seconds * 3 + r.cold_s)


def test_a_fixed_number_of_calls_skips_calibration() -> None:
    clock = Virtual()
    timing = measure(NUMPY, clock.work, settings(calls_per_round=7), clock=clock, probe=clock)
    assert timing.calls_per_round == 7
    # the warm-up, a cold call and 7 per round, then one untimed call for the result (the
    # rounds of short calls keep none alive between them)
    assert clock.calls == 1 + 4 * (1 + 7) + 1


def test_one_call_per_round_has_no_cold_call_and_every_round_is_cold() -> None:
    clock = Virtual()
    timing = measure(NUMPY, clock.work, settings(calls_per_round=1), clock=clock, probe=clock)
    assert clock.calls == 1 + 4
    assert timing.cold_s == ()
    assert timing.rounds_s == pytest.approx((5e-3,) * 4)


def test_a_round_holds_one_result_at_a_time() -> None:
    """Each result is dropped before the next call, as a program's loop drops it: a result
    kept alive through the next call doubled the memory and refaulted torch's pages."""

    class Result:
        pass

    alive: list[weakref.ref[Result]] = []
    most = []

    def work() -> Result:
        most.append(sum(ref() is not None for ref in alive) + 1)
        result = Result()
        alive.append(weakref.ref(result))
        return result

    timing = measure(NUMPY, work, settings(calls_per_round=5))
    assert max(most) == 1
    assert isinstance(timing.result, Result)


def test_cuda_events_bracket_the_block_and_are_divided_by_its_calls() -> None:
    class Events:
        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        def elapsed_s(self) -> float:
            return 0.01

    class WithEvents(NumpyBackend):
        def event_timer(self) -> Any:
            return Events()

    device = Device("evented", "gpu", "numpy", backend=WithEvents())
    timing = measure(device, lambda: None, settings(calls_per_round=4))
    assert timing.event_rounds_s == pytest.approx((0.0025,) * 4)


@pytest.mark.parametrize("calls", [0, -1, 1.5, True, "3", MAX_CALLS + 1])
def test_a_bad_number_of_calls_per_round_names_the_value_and_the_fix(calls: Any) -> None:
    with pytest.raises(ValueError, match=r"calls_per_round must be a whole number .*1: one call"):
        TimingSettings(calls_per_round=calls)


@pytest.mark.parametrize("value", ["-1", "abc", "11", "nan"])
def test_a_bad_round_time_names_the_value_and_the_default(value: str) -> None:
    with pytest.raises(ValueError, match=r"--gpubench-round-time takes seconds .*default"):
        parse_round_time(value)
    with pytest.raises(ValueError, match="round_time must be finite seconds"):
        TimingSettings(round_time=-1.0)


# --------------------------------------------------------------------------- the fixture


def test_gpubench_opts_out_of_repeated_calls_per_callable() -> None:
    calls: list[int] = []
    bench = GpuBench(NUMPY, experiment="e", size="1", settings=settings(), floor=_no_floor)
    bench(lambda: calls.append(1), calls_per_round=1)
    m = bench.measurement()
    assert m is not None and m.calls_per_round == 1 and m.cold_rounds_s == ()
    assert len(calls) == 1 + 4
    with pytest.raises(ValueError, match="calls_per_round must be a whole number"):
        GpuBench(NUMPY, experiment="e", size="1")(lambda: None, calls_per_round=0)


def test_gpubench_times_the_users_callable_itself_and_passes_arguments() -> None:
    """No wrapper of the plugin's is timed around a callable that takes nothing: a
    wrapper's call is a tenth of a sub-microsecond operation."""
    seen: list[tuple[Any, ...]] = []

    def work(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))

    bench = GpuBench(NUMPY, experiment="e", size="1", settings=settings(), floor=lambda d, t: 1e-9)
    bench(work, 1, 2, scale=3, calls_per_round=2)
    assert seen and all(entry == ((1, 2), {"scale": 3}) for entry in seen)
    bare = GpuBench(NUMPY, experiment="e", size="1", settings=settings(), floor=lambda d, t: 1e-9)
    bare(work, calls_per_round=2)
    assert bare.timing is not None and bare.timing.target is not None
    assert bare.timing.target.target is work


def _no_floor(device: Device, round_time: float) -> float:
    raise AssertionError("no floor is measured for one call per round")


def test_a_cell_near_the_harness_floor_says_so() -> None:
    bench = GpuBench(NUMPY, experiment="e", size="1", settings=settings(), floor=lambda d, t: 1e-3)
    bench(lambda: None)  # some ns a call: far below 10x a (pretended) 1 ms floor
    m = bench.measurement()
    assert m is not None and m.floor_s == 1e-3 and m.calls_per_round > 1
    (row,) = build_rows([m], "numpy")
    cell = row.cells["numpy"]
    assert cell.near_floor and cell.calls_per_round == m.calls_per_round
    assert f"× {m.calls_per_round} calls" in format_rounds(cell)
    assert "near the floor (1.00 ms)" in format_rounds(cell)


def test_the_harness_floor_of_numpy_is_an_empty_call_and_is_measured_once() -> None:
    floor = harness_floor(NUMPY, 0.002)
    assert 0 < floor < 2e-6  # a Python call and a loop step
    assert harness_floor(NUMPY, 0.002) == floor


# --------------------------------------------------------------------------- reports


def _measured(device: str, rounds: float, cold: float, gpu: bool = False) -> Measurement:
    info = {"gpu": "H100"} if gpu else {"processor": "x"}
    return Measurement(
        experiment="add",
        size="16",
        device=device,
        rounds_s=(rounds,) * 6,
        calls_per_round=1000,
        cold_rounds_s=(cold,) * 6,
        device_info=info,
    )


def test_the_cold_call_gets_a_line_where_it_differs_and_gpu_cells_a_launch_overhead() -> None:
    rows = build_rows(
        [_measured("numpy", 1e-6, 1.1e-6), _measured("cupy", 2e-6, 52e-6, gpu=True)], "numpy"
    )
    numpy, cupy = rows[0].cells["numpy"], rows[0].cells["cupy"]
    assert not numpy.cold_differs and format_cold(numpy) == ""
    assert numpy.launch_overhead_s is None  # a CPU's excess is a wake-up, not a launch
    assert cupy.cold_s == pytest.approx(52e-6)
    assert cupy.launch_overhead_s == pytest.approx(50e-6)
    assert format_cold(cupy) == "52.0 µs (+50.0)"


def test_calls_and_cold_calls_travel_through_the_json(tmp_path: Any) -> None:
    from pytest_gpubench.report_json import gpubench_section

    results = RunResults()
    results.add(_measured("numpy", 1e-6, 3e-6))
    rows = build_rows(results.measurements, "numpy")
    section = gpubench_section(results, rows, "numpy")
    (m,) = section["measurements"]
    assert m["calls_per_round"] == 1000 and m["cold_rounds_s"] == [3e-6] * 6
    (cell,) = section["rows"][0]["cells"]
    assert cell["cold_s"] == pytest.approx(3e-6) and cell["calls_per_round"] == 1000
    loaded = load_results({"gpubench": section})
    assert loaded.measurements[0] == results.measurements[0]
    section["measurements"][0]["calls_per_round"] = 0
    with pytest.raises(ValueError, match="calls_per_round must be 1 or more"):
        load_results({"gpubench": section})


def test_pytest_benchmark_gets_per_call_statistics_and_the_iterations() -> None:
    class Stats:
        def __init__(self) -> None:
            self.data: list[float] = []

        def update(self, total: float) -> None:
            self.data.append(total / self.iterations)

    class Benchmark:
        _mode = None

        def _make_stats(self, iterations: int) -> Stats:
            self.stats = Stats()
            self.stats.iterations = iterations  # type: ignore[attr-defined]
            return self.stats

    benchmark = Benchmark()
    record_rounds(benchmark, [1e-6, 2e-6], calls_per_round=1000)
    assert benchmark.stats.data == pytest.approx([1e-6, 2e-6])
    assert benchmark.stats.iterations == 1000  # type: ignore[attr-defined]
