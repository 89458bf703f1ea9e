"""timing.py without a pytest session: sync order, warm-up, calibration, transfer, records."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest

from pytest_gpubench.bench import GpuBench
from pytest_gpubench.devices import Device, NumpyBackend, get_device
from pytest_gpubench.timing import (
    TimingSettings,
    measure,
    measure_transfer,
)


class LoggedBackend(NumpyBackend):
    """A numpy back end that writes every synchronize and event into a shared log."""

    def __init__(self, log: list[str], events: bool = False) -> None:
        self.log = log
        self.events = events

    def synchronize(self) -> None:
        self.log.append("sync")

    def event_timer(self) -> Any:
        return LoggedEvents(self.log) if self.events else None

    def asarray(self, x: Any, dtype: str | None) -> Any:
        self.log.append("copy")
        return np.array(np.asarray(x), dtype=dtype, copy=True)


class LoggedEvents:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def start(self) -> None:
        self.log.append("event-start")

    def stop(self) -> None:
        self.log.append("event-stop")

    def elapsed_s(self) -> float:
        self.log.append("event-read")
        return 0.5


class FakeClock:
    """A clock that advances by ``step`` seconds per read and logs each read."""

    def __init__(self, log: list[str], step: float = 0.1) -> None:
        self.log = log
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.log.append("clock")
        self.now += self.step
        return self.now


def fake_device(log: list[str], events: bool = False) -> Device:
    return Device("fake-gpu", "gpu", "numpy", backend=LoggedBackend(log, events))


def test_device_is_synchronised_before_every_clock_read() -> None:
    log: list[str] = []
    settings = TimingSettings(
        warmup=2, min_rounds=3, max_rounds=3, wait_share=math.inf, round_time=0
    )
    measure(fake_device(log), lambda: log.append("work"), settings, clock=FakeClock(log))
    assert log.count("work") == 5
    reads = [i for i, entry in enumerate(log) if entry == "clock"]
    assert len(reads) == 10
    for i in reads:
        assert log[i - 1] == "sync", f"clock read at {i} not preceded by a sync: {log}"
    # the stop read follows the work, never queued work: work → sync → clock
    assert log[:5] == ["sync", "clock", "work", "sync", "clock"]


def test_warmup_rounds_are_excluded_from_the_measured_rounds() -> None:
    calls = []

    def work() -> int:
        calls.append(1)
        time.sleep(0.02 if len(calls) == 1 else 0.0)  # the first call pays a one-off cost
        return len(calls)

    settings = TimingSettings(
        warmup=1, min_rounds=4, max_rounds=4, wait_share=math.inf, round_time=0
    )
    timing = measure(get_device("numpy"), work, settings)
    assert len(calls) == 5
    assert len(timing.warmup_s) == 1 and timing.warmup_s[0] >= 0.02
    assert len(timing.rounds_s) == 4
    assert max(timing.rounds_s) < 0.02
    assert timing.result == 5


def test_cuda_events_are_recorded_per_measured_round_only() -> None:
    log: list[str] = []
    settings = TimingSettings(
        warmup=1, min_rounds=2, max_rounds=2, wait_share=math.inf, round_time=0
    )
    device = fake_device(log, events=True)
    timing = measure(device, lambda: log.append("work"), settings, clock=FakeClock(log))
    assert timing.event_rounds_s == (0.5, 0.5)
    assert timing.timer == "perf_counter+cuda-event"
    first_round = log[log.index("clock") - 1 : log.index("event-read") + 1]  # after warm-up
    assert first_round == [
        "sync",
        "clock",
        "event-start",
        "work",  # the events bracket the work itself
        "event-stop",
        "sync",
        "clock",
        "event-read",
    ]


def test_rounds_fill_the_time_budget_when_precision_is_off() -> None:
    log: list[str] = []
    settings = TimingSettings(warmup=1, min_rounds=1, max_rounds=100, max_time=1.0, precision=0)
    timing = measure(fake_device(log), lambda: None, settings, clock=FakeClock(log, step=0.1))
    # each round is one clock step (0.1 s) between its two reads: 1 s of rounds is 10
    assert timing.warmup_s == pytest.approx((0.1,))
    assert len(timing.rounds_s) == 10
    assert timing.stop == "time budget"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"warmup": -1},
        {"min_rounds": 0},
        {"min_rounds": 5, "max_rounds": 4},
        {"max_time": 0},
        {"max_time": float("inf")},
        {"max_time": float("nan")},
        {"precision": 1.0},
        {"precision": -0.1},
        {"wait_share": 0},
        {"busy_time": -1},
    ],
)
def test_bad_settings_name_the_value(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TimingSettings(**kwargs)


def test_transfer_copies_every_round_and_returns_the_device_array() -> None:
    log: list[str] = []
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    settings = TimingSettings(
        warmup=1, min_rounds=3, max_rounds=3, wait_share=math.inf, round_time=0
    )
    timing = measure_transfer(fake_device(log), host, "float32", settings)
    assert log.count("copy") == 4
    assert timing.result.dtype == np.float32
    np.testing.assert_array_equal(timing.result, host)


def test_transfer_refuses_data_already_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import array_api_compat

    log: list[str] = []
    on_gpu = np.ones(3)  # stands in for a CuPy array: no GPU here
    monkeypatch.setattr(array_api_compat, "is_cupy_array", lambda x: x is on_gpu)
    with pytest.raises(ValueError, match=r"already on a GPU .*pass the host array"):
        measure_transfer(fake_device(log), on_gpu)
    assert "copy" not in log
    measure_transfer(fake_device(log), np.ones(3), settings=TimingSettings(0, 1, 1, round_time=0))
    assert log.count("copy") == 1


def test_transfer_tells_torch_host_tensors_from_device_tensors() -> None:
    torch = pytest.importorskip("torch")
    log: list[str] = []
    # a tensor off the host without a GPU: torch's "meta" device takes the non-CPU branch
    with pytest.raises(ValueError, match=r"already on a GPU \(torch\.Tensor\)"):
        measure_transfer(fake_device(log), torch.empty(3, device="meta"))
    assert "copy" not in log
    timing = measure_transfer(
        fake_device(log), torch.ones(3), settings=TimingSettings(0, 1, 1, round_time=0)
    )
    assert log.count("copy") == 1
    np.testing.assert_array_equal(timing.result, np.ones(3))


def test_gpubench_records_a_measurement_with_units_transfer_and_metrics() -> None:
    device = get_device("numpy")
    bench = GpuBench(
        device,
        experiment="matmul",
        size="64",
        settings=TimingSettings(
            warmup=1, min_rounds=3, max_rounds=3, wait_share=math.inf, round_time=0
        ),
    )
    assert bench.measurement() is None
    a = bench.transfer(np.ones((64, 64)), "float32")
    result = bench(lambda x: x @ x, a, units="GFLOP", units_per_round=2 * 64**3 / 1e9)
    bench.metric("checksum", float(result.sum()))
    m = bench.measurement()
    assert m is not None
    assert (m.experiment, m.size, m.device) == ("matmul", "64", "numpy")
    assert len(m.rounds_s) == 3 and all(t > 0 for t in m.rounds_s)
    assert m.warmup_rounds == 1
    assert m.transfer_s is not None and m.transfer_s >= 0
    assert m.throughput == pytest.approx(m.units_per_round / m.median_s)
    assert m.metrics == {"checksum": 64.0**3}
    assert m.device_info["device"] == "numpy"
    with pytest.raises(RuntimeError, match="one workload per test"):
        bench(lambda: None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"units_per_round": float("nan")}, r"units_per_round must be a finite number >= 0"),
        ({"units_per_round": -5}, r"units_per_round must be a finite number >= 0 .*got -5"),
        ({"units_per_round": float("inf")}, r"units_per_round must be a finite number"),
        ({"size_value": float("inf")}, r"size_value must be a finite number \(the x axis\)"),
    ],
)
def test_gpubench_refuses_nonsense_numbers_before_timing(kwargs: dict, match: str) -> None:
    calls = []
    bench = GpuBench(get_device("numpy"), experiment="e", size="1")
    with pytest.raises(ValueError, match=match):
        bench(lambda: calls.append(1), **kwargs)
    assert calls == [] and bench.measurement() is None


def test_gpubench_rejects_a_non_numeric_metric() -> None:
    bench = GpuBench(get_device("numpy"), experiment="e", size="1")
    with pytest.raises(ValueError, match="metric 'accuracy' must be a number"):
        bench.metric("accuracy", "high")  # type: ignore[arg-type]
