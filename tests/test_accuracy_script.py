"""benchmarks/accuracy.py's pieces: the operations, the references and the verdict. The
script's own run (minutes of timing) is documented in docs/results/accuracy/."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.accuracy import (
    OPS,
    Op,
    make_call,
    median_ratio,
    render,
    summarise,
    timeit_per_call,
    wrong_side,
)
from pytest_gpubench.devices import get_device


@pytest.mark.parametrize("device_name", ["numpy", "array-api-strict"])
@pytest.mark.parametrize("name", ["add-16", "sum-1048576", "matmul-64"])
def test_every_operation_runs_on_the_cpu_back_ends(device_name: str, name: str) -> None:
    device = get_device(device_name)
    if not device.available:
        pytest.skip(f"{device_name}: {device.reason}")
    op = OPS[name]
    result = np.asarray(device.to_numpy(make_call(op, device)()))
    a = np.linspace(0.0, 1.0, op.n * (op.n if op.kind == "matmul" else 1), dtype=np.float32)
    expected = {"add": lambda: a + a, "sum": lambda: a.sum()}.get(op.kind)
    if expected is None:
        m = a.reshape(op.n, op.n)
        expected = lambda: m @ m  # noqa: E731
    np.testing.assert_allclose(result, expected(), rtol=1e-4)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown operation kind 'fft'"):
        make_call(Op("fft", 8), get_device("numpy"))


def test_the_operations_span_half_a_microsecond_to_milliseconds() -> None:
    numpy = get_device("numpy")
    fastest = timeit_per_call(make_call(OPS["add-16"], numpy), repeats=1)
    assert fastest < 20e-6  # a call of an add of 16 floats: about 0.5-1 µs


@pytest.mark.parametrize(
    ("reported", "true", "wrong"),
    [
        (0.9, 1.5, True),  # a 1.5x speedup reported as a loss
        (1.1, 1.5, False),
        (0.9, 1.1, False),  # within the margin: either side is honest
        (1.2, 0.5, True),
        (None, 2.0, False),
    ],
)
def test_a_speedup_on_the_wrong_side_of_one(reported, true, wrong) -> None:
    assert wrong_side(reported, true) is wrong


def test_the_verdict_takes_medians_over_passes_and_each_pass_ratio() -> None:
    ops = [OPS["add-16"]]
    devices = ["numpy", "torch-cpu"]
    # timeit: the machine slowed 2x in the second pass; each pass's ratio stays 0.5
    timeits = [
        {"add-16": {"numpy": 1e-6, "torch-cpu": 2e-6}},
        {"add-16": {"numpy": 2e-6, "torch-cpu": 4e-6}},
        {"add-16": {"numpy": 1e-6, "torch-cpu": 2e-6}},
    ]
    assert median_ratio(timeits, "add-16", "numpy", "torch-cpu") == 0.5
    pbs = [{"add-16": {"numpy": 2e-6, "torch-cpu": 2e-6}}] * 2
    cell = {"median_s": 1.05e-6, "speedup": 0.52, "calls_per_round": 9000, "cold_s": 1e-5}
    gbs = [{"add-16": {"numpy": cell, "torch-cpu": {**cell, "median_s": 2.1e-6}}}] * 2
    summary = summarise(ops, devices, timeits, pbs, gbs, [{}, {}])
    numpy_row, torch_row = summary["rows"]
    assert numpy_row["reference_s"] == 1e-6 and numpy_row["gpubench_ratio"] == 1.05
    assert torch_row["speedup_reference"] == 0.5
    assert torch_row["speedup_gpubench_ratio"] == pytest.approx(1.04)
    assert math.isclose(summary["worst_per_call"], 1.05)
    assert summary["held"] == {
        "per_call_within_target": True,
        "speedups_within_target": True,
        "no_speedup_on_the_wrong_side": True,
    }
    assert summary["pytest_benchmark_worst_per_call"] == 2.0
    text = render(summary, {"processor": "x"})
    assert "| add-16 | torch-cpu | 0.50× | 1.00× | 0.52× (1.04×) |" in text


def test_a_flipped_speedup_fails_the_verdict() -> None:
    timeits = [{"add-16": {"numpy": 3e-6, "torch-cpu": 2e-6}}]
    cell = {"median_s": 3e-6, "speedup": 0.8}
    gbs = [{"add-16": {"numpy": cell, "torch-cpu": {**cell, "median_s": 3.7e-6}}}]
    summary = summarise([OPS["add-16"]], ["numpy", "torch-cpu"], timeits, [{}], gbs, [{}])
    assert summary["wrong_side"] == ["add-16 torch-cpu"]
    assert not summary["held"]["no_speedup_on_the_wrong_side"]
    assert "**wrong side**" in render(summary, {})


def test_a_gpus_reference_is_events_around_as_many_launches_as_fill_the_time() -> None:
    """The GPU path, run through a CPU device with host-clock "events": one sync before and
    after each block of launches, the elapsed time over the launches."""
    import time

    from benchmarks.accuracy import events_per_call, reference
    from pytest_gpubench.devices import Device, NumpyBackend

    syncs: list[int] = []

    class Events:
        def start(self) -> None:
            self.begin = time.perf_counter()

        def stop(self) -> None:
            self.end = time.perf_counter()

        def elapsed_s(self) -> float:
            return self.end - self.begin

    class FakeGpu(NumpyBackend):
        def synchronize(self) -> None:
            syncs.append(1)

        def event_timer(self) -> Events:
            return Events()

    device = Device("fake-gpu", "gpu", "numpy", backend=FakeGpu())
    launches: list[int] = []

    def launch() -> None:
        launches.append(1)
        time.sleep(1e-4)

    per_call = reference(launch, device)
    assert 1e-4 <= per_call < 1e-3
    assert len(launches) >= 2000  # 0.2 s blocks, seven of them
    assert len(syncs) < len(launches) / 100  # a sync per block, not per launch
    with pytest.raises(ValueError, match="no CUDA events"):
        events_per_call(launch, get_device("numpy"))
