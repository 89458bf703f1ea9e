"""The device registry: names, aliases, availability reasons, and the same API on each back end."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_gpubench import devices
from pytest_gpubench.devices import (
    Device,
    DeviceSpec,
    DeviceUnavailableError,
    all_devices,
    device_names,
    get_device,
    register_device,
    register_specs,
    require_device,
    resolve_names,
    unregister_device,
)

#: Every built-in back end; those unusable here are skipped with their reason.
BACKENDS = ["numpy", "array-api-strict", "torch-cpu", "cupy", "torch-cuda"]


def usable(name: str) -> Device:
    device = get_device(name)
    if not device.available:
        pytest.skip(f"{name}: {device.reason}")
    return device


def test_every_builtin_device_is_listed_usable_or_with_a_reason() -> None:
    listed = {d.name: d for d in all_devices()}
    assert {"numpy", "torch-cpu", "array-api-strict", "cupy", "torch-cuda"} <= set(listed)
    for device in listed.values():
        assert device.available or device.reason, device
    assert listed["numpy"].available


def test_aliases_resolve_to_backends() -> None:
    assert get_device("cpu").name == "numpy"
    assert get_device("CPU").name == "numpy"
    assert get_device("cuda").name in ("cupy", "torch-cuda")


def test_unknown_device_names_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'tpu'.*numpy.*torch-cpu"):
        get_device("tpu")
    with pytest.raises(ValueError, match="unknown device 'nump'"):
        resolve_names("numpy, nump")
    with pytest.raises(ValueError, match="no device named"):
        resolve_names(" , ")


def test_resolve_names_keeps_order_and_drops_repeats() -> None:
    assert resolve_names("torch-cpu, numpy,torch-cpu") == ["torch-cpu", "numpy"]
    assert resolve_names(["cuda", "cpu"]) == ["cuda", "cpu"]


def test_gpu_devices_without_a_gpu_say_what_to_install() -> None:
    for name in ("cupy", "torch-cuda"):
        device = get_device(name)
        if device.available:
            continue
        assert device.is_gpu
        with pytest.raises(DeviceUnavailableError, match=name):
            require_device(name)
        assert "install" in device.reason or "CUDA" in device.reason
        assert device.describe()["status"].startswith("n/a (")


@pytest.mark.parametrize("name", BACKENDS)
def test_roundtrip_matmul_and_rng_on_each_backend(name: str) -> None:
    device = usable(name)
    xp = device.namespace()
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    on_device = device.asarray(host, "float32")
    product = xp.matmul(on_device, xp.permute_dims(on_device, (1, 0)))
    device.synchronize()
    np.testing.assert_allclose(device.to_numpy(product), host @ host.T)
    assert device.to_numpy(on_device).dtype == np.float32

    draws = device.random(7)
    uniform = device.to_numpy(draws.uniform((1000,), xp.float32))
    normal = device.to_numpy(draws.normal((1000,), xp.float32))
    picks = device.to_numpy(draws.integers(5, 1000))
    assert uniform.dtype == np.float32 and uniform.min() >= 0 and uniform.max() < 1
    assert abs(normal.mean()) < 0.2 and 0.8 < normal.std() < 1.2
    assert set(np.unique(picks)) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("name", BACKENDS)
def test_same_seed_same_draws(name: str) -> None:
    device = usable(name)
    xp = device.namespace()
    first = device.to_numpy(device.random(3).uniform((5,), xp.float32))
    again = device.to_numpy(device.random(3).uniform((5,), xp.float32))
    other = device.to_numpy(device.random(4).uniform((5,), xp.float32))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_cpu_devices_describe_processor_and_blas() -> None:
    facts = get_device("numpy").describe()
    assert facts["device"] == "numpy"
    assert facts["processor"] and int(facts["cores"]) >= 1
    assert "threads" in facts["blas"]
    assert get_device("numpy").event_timer() is None


def test_third_party_backend_registers_and_reports_its_reason() -> None:
    def broken_probe() -> devices.Backend:
        raise DeviceUnavailableError("the frobnicator driver is missing")

    register_device("frob", "gpu", "frob", broken_probe)
    try:
        assert "frob" in device_names()
        frob = get_device("frob")
        assert not frob.available and frob.reason == "the frobnicator driver is missing"
        with pytest.raises(DeviceUnavailableError, match="frobnicator"):
            frob.asarray([1.0])
    finally:
        devices._REGISTRY.pop("frob")
        devices._PROBED.pop("frob", None)


def test_a_crashing_probe_becomes_a_reason_not_an_error() -> None:
    def crashing_probe() -> devices.Backend:
        raise OSError("libcuda.so: cannot open shared object file")

    register_device("crashy", "gpu", "crashy", crashing_probe)
    try:
        assert "OSError: libcuda.so" in get_device("crashy").reason
    finally:
        devices._REGISTRY.pop("crashy")
        devices._PROBED.pop("crashy", None)


def test_register_rejects_bad_kind_and_alias_names() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        register_device("x", "tpu", "x", devices._probe_numpy)
    with pytest.raises(ValueError, match="reserved as an alias"):
        register_device("cuda", "gpu", "x", devices._probe_numpy)


def test_a_plugins_devices_register_all_or_none_and_leave_again() -> None:
    spec = DeviceSpec("plug-cpu", "cpu", "numpy", devices._probe_numpy)
    for bad, why in [
        ([spec, ("plug-gpu", "gpu")], "is not a pytest_gpubench.devices.DeviceSpec"),
        ([spec, DeviceSpec("numpy", "cpu", "numpy", devices._probe_numpy)], "'numpy' exists"),
        ([spec, DeviceSpec("cuda", "gpu", "x", devices._probe_numpy)], "'cuda' exists"),
        ([spec, spec], "'plug-cpu' exists already"),
        ([DeviceSpec("plug-tpu", "tpu", "x", devices._probe_numpy)], "kind must be"),
    ]:
        with pytest.raises(ValueError, match=why):
            register_specs(bad)
        assert "plug-cpu" not in device_names()
    assert register_specs([spec]) == ("plug-cpu",)
    try:
        assert get_device("plug-cpu").available
    finally:
        unregister_device("plug-cpu")
    assert "plug-cpu" not in device_names()
    with pytest.raises(ValueError, match="unknown device 'plug-cpu'"):
        get_device("plug-cpu")


def test_a_cuda_event_timer_waits_for_the_end_event_and_reports_seconds() -> None:
    calls: list[str] = []

    class Event:
        def __init__(self, name: str) -> None:
            self.name = name

        def record(self) -> None:
            calls.append(f"record {self.name}")

        def synchronize(self) -> None:
            calls.append(f"synchronize {self.name}")

    def elapsed_ms(start: Event, end: Event) -> float:
        calls.append(f"elapsed {start.name}-{end.name}")
        return 250.0

    timer = devices.CudaEventTimer(Event("start"), Event("end"), elapsed_ms)
    timer.start()
    timer.stop()
    assert timer.elapsed_s() == 0.25
    assert calls == ["record start", "record end", "synchronize end", "elapsed start-end"]


@pytest.mark.parametrize("name", ["cupy", "torch-cuda"])
def test_gpu_devices_time_with_cuda_events_and_name_the_card(name: str) -> None:
    device = usable(name)
    xp = device.namespace()
    a = device.random(0).normal((2048, 2048), xp.float32)
    timer = device.event_timer()
    assert timer is not None
    timer.start()
    for _ in range(5):
        a = xp.matmul(a, a) / 2048
    timer.stop()
    assert 0 < timer.elapsed_s() < 10
    facts = device.describe()
    assert facts["gpu"] and facts["memory"].endswith("GiB") and facts["cuda"]


def test_the_blas_line_names_numpys_library_first_and_scipys_apart() -> None:
    from pytest_gpubench.devices import blas_description, blas_owner

    site = "/venv/lib/python3.11/site-packages"
    infos = [
        {"user_api": "openmp", "internal_api": "openmp", "filepath": f"{site}/torch/lib/gomp.so"},
        {
            "user_api": "blas",
            "internal_api": "openblas",
            "version": "0.3.30",
            "architecture": "SkylakeX",
            "num_threads": 2,
            "filepath": f"{site}/scipy.libs/libscipy_openblas-6cdc3b4a.so",
        },
        {
            "user_api": "blas",
            "internal_api": "openblas",
            "version": "0.3.31",
            "architecture": "SkylakeX",
            "num_threads": 2,
            "filepath": f"{site}/numpy.libs/libscipy_openblas64_-32a4b2a6.so",
        },
    ]
    assert blas_description(infos) == (
        "numpy's openblas 0.3.31 SkylakeX (2 threads); SciPy's openblas 0.3.30 SkylakeX (2 threads)"
    )
    assert blas_description(infos[2:]) == "openblas 0.3.31 SkylakeX (2 threads)"  # numpy's alone
    assert blas_owner("/usr/lib/x86_64-linux-gnu/libopenblas.so.0") == ""
    assert blas_description([]) == "unknown"
