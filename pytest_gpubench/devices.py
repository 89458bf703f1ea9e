"""Array back ends on processors: which exist here, and why the others don't.

A :class:`Device` is one back end (numpy, torch, cupy, array-api-strict) on one processor.
Compute code asks it for its array namespace, moves host data onto it once, draws random
numbers on it, and synchronises it before a clock is read. Unusable devices are still
listed, with the reason, so reports can show ``n/a (reason)``.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # numpy is imported on first use: the plugin loads in every pytest run
    import numpy as np

__all__ = [
    "ALIASES",
    "Backend",
    "CudaEventTimer",
    "Device",
    "DeviceSpec",
    "DeviceUnavailableError",
    "EventTimer",
    "all_devices",
    "blas_description",
    "blas_owner",
    "device_names",
    "get_device",
    "register_device",
    "register_specs",
    "require_device",
    "resolve_names",
    "unregister_device",
]


class DeviceUnavailableError(RuntimeError):
    """A known device cannot be used on this machine; the message says how to fix it."""


class DeviceRandom(Protocol):
    """Random numbers drawn on the device itself, so no mask crosses the bus."""

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any: ...
    def normal(self, shape: tuple[int, ...], dtype: Any) -> Any: ...
    def integers(self, high: int, size: int) -> Any: ...


class EventTimer(Protocol):
    """Device-side elapsed time between two recorded events (CUDA events)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def elapsed_s(self) -> float: ...


class Backend(Protocol):
    """What a library must provide to become a :class:`Device`."""

    def namespace(self) -> ModuleType: ...
    def asarray(self, x: Any, dtype: str | None) -> Any: ...
    def to_numpy(self, x: Any) -> np.ndarray: ...
    def synchronize(self) -> None: ...
    def random(self, seed: int) -> DeviceRandom: ...
    def event_timer(self) -> EventTimer | None: ...
    def describe(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Device:
    """One array back end on one processor, usable here or not (then ``reason`` says why)."""

    name: str
    kind: str  # "cpu" or "gpu"
    library: str
    reason: str | None = None
    backend: Backend | None = field(default=None, repr=False, compare=False)

    @property
    def available(self) -> bool:
        return self.backend is not None

    @property
    def is_gpu(self) -> bool:
        return self.kind == "gpu"

    def _usable(self) -> Backend:
        if self.backend is None:
            raise DeviceUnavailableError(f"device {self.name!r} is not usable here: {self.reason}")
        return self.backend

    def namespace(self) -> ModuleType:
        """The array-API namespace of this back end."""
        return self._usable().namespace()

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        """Copy host data (anything numpy reads) onto the device, as ``dtype`` if given."""
        return self._usable().asarray(x, dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Copy a device array back to a numpy array on the host."""
        return self._usable().to_numpy(x)

    def synchronize(self) -> None:
        """Wait until all queued work on the device is done (no-op on CPU back ends)."""
        self._usable().synchronize()

    def random(self, seed: int) -> DeviceRandom:
        """A seeded random generator that draws on the device."""
        return self._usable().random(seed)

    def event_timer(self) -> EventTimer | None:
        """A CUDA-event timer on GPU back ends; ``None`` where the host clock is exact."""
        return self._usable().event_timer()

    def describe(self) -> dict[str, str]:
        """Hardware and library facts for reports: processor, memory, BLAS, versions."""
        if self.backend is None:
            return {"device": self.name, "status": f"n/a ({self.reason})"}
        return {"device": self.name, **self.backend.describe()}


# --------------------------------------------------------------------------- host facts


def cpu_model() -> str:
    """The CPU's model name as the OS reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: How a BLAS library's owner is named in the hardware line.
_BLAS_OWNERS = {"numpy": "numpy's", "scipy": "SciPy's", "torch": "torch's"}


def blas_owner(filepath: str) -> str:
    """The package a BLAS library ships in, from its path (``…/numpy.libs/libscipy_openblas…``
    is numpy's own, ``…/scipy.libs/…`` SciPy's); ``""`` for a system library."""
    parts = filepath.replace("\\", "/").split("/")
    for part in reversed(parts[:-1]):
        name = part.removesuffix(".libs")
        if name in _BLAS_OWNERS:
            return name
        if part in ("site-packages", "dist-packages"):
            break
    return ""


def blas_description(infos: list[dict[str, Any]] | None = None) -> str:
    """Which BLAS library, kernel and thread count numpy runs with (threadpoolctl), first;
    each other BLAS loaded (SciPy ships its own) after it, named by its owner."""
    if infos is None:
        from threadpoolctl import threadpool_info

        infos = threadpool_info()
    blas = [info for info in infos if info.get("user_api") == "blas"]
    owners = [blas_owner(str(info.get("filepath", ""))) for info in blas]
    ordered = sorted(zip(owners, blas, strict=True), key=lambda pair: pair[0] != "numpy")
    parts = []
    for owner, info in ordered:
        text = (
            f"{info.get('internal_api')} {info.get('version') or ''} "
            f"{info.get('architecture') or ''} ({info.get('num_threads')} threads)"
        )
        label = _BLAS_OWNERS.get(owner, "")
        text = " ".join(text.split())
        parts.append(f"{label} {text}" if label and len(blas) > 1 else text)
    return "; ".join(parts) or "unknown"


def _cpu_facts() -> dict[str, str]:
    return {"processor": cpu_model(), "cores": str(os.cpu_count())}


# --------------------------------------------------------------------------- back ends


def _numpy_cast(draw: np.ndarray, dtype: Any) -> np.ndarray:
    return draw if dtype is None else draw.astype(dtype, copy=False)


class _NumpyRandom:
    def __init__(self, seed: int, cast: Callable[[np.ndarray, Any], Any] = _numpy_cast) -> None:
        import numpy as np

        self._rng = np.random.default_rng(seed)
        self._float32 = np.float32
        self._cast = cast

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._cast(self._rng.random(shape, dtype=self._float32), dtype)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._cast(self._rng.standard_normal(shape, dtype=self._float32), dtype)

    def integers(self, high: int, size: int) -> Any:
        return self._cast(self._rng.integers(0, high, size=size), None)


class NumpyBackend:
    """numpy through array-api-compat: the CPU baseline."""

    def namespace(self) -> ModuleType:
        import array_api_compat.numpy

        return array_api_compat.numpy

    def asarray(self, x: Any, dtype: str | None) -> Any:
        import numpy as np

        return np.ascontiguousarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        import numpy as np

        return np.asarray(x)

    def synchronize(self) -> None:
        return None

    def random(self, seed: int) -> DeviceRandom:
        return _NumpyRandom(seed)

    def event_timer(self) -> EventTimer | None:
        return None

    def describe(self) -> dict[str, str]:
        import numpy as np

        return {**_cpu_facts(), "blas": blas_description(), "library": f"numpy {np.__version__}"}


class ArrayApiStrictBackend(NumpyBackend):
    """array-api-strict: numpy underneath, but only the standard is allowed (for tests)."""

    def namespace(self) -> ModuleType:
        import array_api_strict

        return array_api_strict

    def asarray(self, x: Any, dtype: str | None) -> Any:
        import array_api_strict as xps
        import numpy as np

        return xps.asarray(np.ascontiguousarray(x, dtype=dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        import numpy as np

        return np.from_dlpack(x)

    def random(self, seed: int) -> DeviceRandom:
        import array_api_strict as xps

        return _NumpyRandom(seed, cast=lambda draw, dtype: xps.asarray(draw, dtype=dtype))

    def describe(self) -> dict[str, str]:
        import array_api_strict

        return {**super().describe(), "library": f"array-api-strict {array_api_strict.__version__}"}


class _TorchRandom:
    def __init__(self, torch: ModuleType, device: Any, seed: int) -> None:
        self._torch = torch
        self._device = device
        self._gen = torch.Generator(device=device)
        self._gen.manual_seed(seed)

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._torch.rand(shape, generator=self._gen, device=self._device, dtype=dtype)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._torch.randn(shape, generator=self._gen, device=self._device, dtype=dtype)

    def integers(self, high: int, size: int) -> Any:
        return self._torch.randint(
            0, high, (size,), generator=self._gen, device=self._device, dtype=self._torch.int64
        )


class CudaEventTimer:
    """An :class:`EventTimer` over two CUDA events of one library (torch's or CuPy's):
    anything with ``record()`` and ``synchronize()``, and that library's function giving
    the milliseconds between two recorded events."""

    def __init__(self, start: Any, end: Any, elapsed_ms: Callable[[Any, Any], float]) -> None:
        self._start, self._end, self._elapsed_ms = start, end, elapsed_ms

    def start(self) -> None:
        self._start.record()

    def stop(self) -> None:
        self._end.record()

    def elapsed_s(self) -> float:
        self._end.synchronize()
        return self._elapsed_ms(self._start, self._end) / 1e3


class TorchBackend:
    """torch on the CPU or on a CUDA device, through array-api-compat."""

    def __init__(self, torch_device: str) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(torch_device)

    def namespace(self) -> ModuleType:
        import array_api_compat.torch

        return array_api_compat.torch

    def _dtype(self, dtype: str | None) -> Any:
        import numpy as np

        return None if dtype is None else getattr(self._torch, np.dtype(dtype).name)

    def asarray(self, x: Any, dtype: str | None) -> Any:
        if isinstance(x, self._torch.Tensor):
            return x.to(device=self._device, dtype=self._dtype(dtype) or x.dtype)
        import numpy as np

        host = np.ascontiguousarray(x, dtype=dtype)
        return self._torch.from_numpy(host).to(self._device)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().numpy()

    def synchronize(self) -> None:
        if self._device.type == "cuda":
            self._torch.cuda.synchronize(self._device)

    def random(self, seed: int) -> DeviceRandom:
        return _TorchRandom(self._torch, self._device, seed)

    def event_timer(self) -> EventTimer | None:
        if self._device.type != "cuda":
            return None
        event = self._torch.cuda.Event
        return CudaEventTimer(
            event(enable_timing=True), event(enable_timing=True), lambda a, b: a.elapsed_time(b)
        )

    def describe(self) -> dict[str, str]:
        torch = self._torch
        facts = {"library": f"torch {torch.__version__}"}
        if self._device.type == "cuda":
            props = torch.cuda.get_device_properties(self._device)
            facts.update(
                gpu=props.name,
                memory=f"{props.total_memory / 2**30:.0f} GiB",
                cuda=str(torch.version.cuda),
                capability=f"{props.major}.{props.minor}",
            )
        else:
            facts.update(_cpu_facts(), threads=str(torch.get_num_threads()))
        return facts


class _CupyRandom:
    def __init__(self, cupy: ModuleType, seed: int) -> None:
        self._rng = cupy.random.default_rng(seed)

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._rng.random(shape, dtype=dtype)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._rng.standard_normal(shape, dtype=dtype)

    def integers(self, high: int, size: int) -> Any:
        return self._rng.integers(0, high, size=size)


class CupyBackend:
    """CuPy on the current CUDA device: cudamat's heir, numpy's API on the GPU."""

    def __init__(self) -> None:
        import cupy

        self._cupy = cupy

    def namespace(self) -> ModuleType:
        import array_api_compat.cupy

        return array_api_compat.cupy

    def asarray(self, x: Any, dtype: str | None) -> Any:
        return self._cupy.asarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        return self._cupy.asnumpy(x)

    def synchronize(self) -> None:
        # the whole device (cudaDeviceSynchronize), as torch.cuda.synchronize does: work a
        # benchmark queued on another stream must not escape the clock either
        self._cupy.cuda.Device().synchronize()

    def random(self, seed: int) -> DeviceRandom:
        return _CupyRandom(self._cupy, seed)

    def event_timer(self) -> EventTimer | None:
        cuda = self._cupy.cuda
        return CudaEventTimer(cuda.Event(), cuda.Event(), cuda.get_elapsed_time)

    def describe(self) -> dict[str, str]:
        cupy = self._cupy
        runtime = cupy.cuda.runtime
        props = runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        return {
            "gpu": name.decode() if isinstance(name, bytes) else str(name),
            "memory": f"{props['totalGlobalMem'] / 2**30:.0f} GiB",
            "driver": _cuda_version(runtime.driverGetVersion()),
            "cuda": _cuda_version(runtime.runtimeGetVersion()),
            "capability": f"{props['major']}.{props['minor']}",
            "library": f"cupy {cupy.__version__}",
        }


def _cuda_version(code: int) -> str:
    return f"{code // 1000}.{code % 1000 // 10}"


# --------------------------------------------------------------------------- probing


#: torch's CPU build; PyPI's Linux wheel is the CUDA build and pulls GBs of CUDA libraries.
TORCH_CPU_INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def _probe_numpy() -> Backend:
    return NumpyBackend()


def _probe_array_api_strict() -> Backend:
    _import_or_explain("array_api_strict", "pip install array-api-strict")
    return ArrayApiStrictBackend()


def _probe_torch_cpu() -> Backend:
    _import_or_explain("torch", TORCH_CPU_INSTALL)
    return TorchBackend("cpu")


def _probe_torch_cuda() -> Backend:
    torch = _import_or_explain("torch", "pip install torch, the CUDA build on Linux")
    if torch.version.cuda is None:
        raise DeviceUnavailableError(
            f"torch {torch.__version__} is a CPU-only build; install a CUDA build of torch"
        )
    if not torch.cuda.is_available():
        raise DeviceUnavailableError("torch found no CUDA device: no NVIDIA GPU or driver here")
    return TorchBackend("cuda")


def _probe_cupy() -> Backend:
    cupy = _import_or_explain("cupy", "pip install 'pytest-gpubench[cuda]', [cuda13] for CUDA 13")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError, or a missing libcuda
        raise DeviceUnavailableError(f"CuPy found no usable CUDA driver: {exc}") from exc
    if count == 0:
        raise DeviceUnavailableError("CuPy found no CUDA device")
    return CupyBackend()


def _import_or_explain(module: str, install: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DeviceUnavailableError(f"{module} is not installed: {install}") from exc


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Entry:
    kind: str
    library: str
    probe: Callable[[], Backend]


_REGISTRY: dict[str, _Entry] = {}
_PROBED: dict[str, Device] = {}

#: Short names users type: ``cpu`` is the numpy baseline, ``cuda`` the first usable GPU.
ALIASES: dict[str, tuple[str, ...]] = {"cpu": ("numpy",), "cuda": ("cupy", "torch-cuda")}


def register_device(name: str, kind: str, library: str, probe: Callable[[], Backend]) -> None:
    """Add a back end. ``probe`` returns a :class:`Backend` or raises with the reason why not."""
    if kind not in ("cpu", "gpu"):
        raise ValueError(f"kind must be 'cpu' or 'gpu', got {kind!r}")
    if name in ALIASES:
        raise ValueError(f"device name {name!r} is reserved as an alias")
    _REGISTRY[name] = _Entry(kind, library, probe)
    _PROBED.pop(name, None)


def unregister_device(name: str) -> None:
    """Remove a back end added by :func:`register_device` (a plugin's, when its run ends)."""
    _REGISTRY.pop(name, None)
    _PROBED.pop(name, None)


@dataclass(frozen=True)
class DeviceSpec:
    """A back end a plugin adds through the ``pytest_gpubench_add_devices`` hook: the
    arguments of :func:`register_device`, registered for one run."""

    name: str
    kind: str
    library: str
    probe: Callable[[], Backend]


def register_specs(specs: Sequence[DeviceSpec]) -> tuple[str, ...]:
    """Register a plugin's devices, all or none; their names. ``ValueError`` for one that
    is not a :class:`DeviceSpec`, whose name is taken, or whose kind is unknown."""
    names: list[str] = []
    for spec in specs:
        if not isinstance(spec, DeviceSpec):
            problem = f"{spec!r} is not a pytest_gpubench.devices.DeviceSpec"
        elif spec.name in _REGISTRY or spec.name in ALIASES or spec.name in names:
            problem = f"device {spec.name!r} exists already; give the new device another name"
        elif spec.kind not in ("cpu", "gpu"):
            problem = f"device {spec.name!r}: kind must be 'cpu' or 'gpu', got {spec.kind!r}"
        else:
            names.append(spec.name)
            continue
        raise ValueError(problem)
    for spec in specs:
        register_device(spec.name, spec.kind, spec.library, spec.probe)
    return tuple(names)


register_device("numpy", "cpu", "numpy", _probe_numpy)
register_device("torch-cpu", "cpu", "torch", _probe_torch_cpu)
register_device("array-api-strict", "cpu", "array_api_strict", _probe_array_api_strict)
register_device("cupy", "gpu", "cupy", _probe_cupy)
register_device("torch-cuda", "gpu", "torch", _probe_torch_cuda)


def device_names() -> list[str]:
    """Every registered device name, then the aliases."""
    return [*_REGISTRY, *ALIASES]


def _probe(name: str) -> Device:
    if name not in _PROBED:
        _PROBED[name] = _probe_uncached(name)
    return _PROBED[name]


def _probe_uncached(name: str) -> Device:
    entry = _REGISTRY[name]
    try:
        backend = entry.probe()
    except DeviceUnavailableError as exc:
        return Device(name, entry.kind, entry.library, reason=str(exc))
    except Exception as exc:  # a broken install must not break collection
        reason = f"{entry.library} failed to start: {type(exc).__name__}: {exc}"
        return Device(name, entry.kind, entry.library, reason=reason)
    return Device(name, entry.kind, entry.library, backend=backend)


def _unknown(name: object) -> ValueError:
    return ValueError(
        f"unknown device {name!r}; expected one of {', '.join(device_names())} "
        "(or register one with pytest_gpubench.devices.register_device)"
    )


def get_device(name: str) -> Device:
    """The device called ``name`` (an alias picks its first usable target), usable or not."""
    if not isinstance(name, str):
        raise _unknown(name)
    key = name.strip().lower()
    if key in ALIASES:
        candidates = [_probe(target) for target in ALIASES[key]]
        return next((d for d in candidates if d.available), candidates[0])
    if key not in _REGISTRY:
        raise _unknown(name)
    return _probe(key)


def require_device(name: str) -> Device:
    """Like :func:`get_device`, but raise :class:`DeviceUnavailableError` if it can't run here."""
    device = get_device(name)
    if not device.available:
        raise DeviceUnavailableError(f"device {name!r} is not usable here: {device.reason}")
    return device


def resolve_names(names: str | Sequence[str]) -> list[str]:
    """Parse a comma-separated list (or sequence) of device names; aliases stay as given.

    Raises ``ValueError`` naming an unknown entry and the accepted names.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    cleaned = [item.strip().lower() for item in items if item.strip()]
    if not cleaned:
        raise ValueError(f"no device named in {names!r}; expected e.g. 'numpy,torch-cpu'")
    for item in cleaned:
        if item not in _REGISTRY and item not in ALIASES:
            raise _unknown(item)
    return list(dict.fromkeys(cleaned))


def all_devices() -> list[Device]:
    """Every registered device, probed (cached), usable or not."""
    return [_probe(name) for name in _REGISTRY]
