"""The DBN's buffer-reusing kernels: products into buffers and added in place, on any back end."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.dbn.ops import Kernels, Product
from pytest_gpubench.devices import get_device

BACKENDS = ["numpy", "array-api-strict", "torch-cpu", "cupy", "torch-cuda"]


@pytest.fixture(params=BACKENDS)
def device(request):
    device = get_device(request.param)
    if not device.available:
        pytest.skip(f"{request.param}: {device.reason}")
    return device


def operands(dtype=np.float32):
    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((64, 30)).astype(dtype),
        rng.standard_normal((64, 20)).astype(dtype),
        rng.standard_normal((30, 20)).astype(dtype),
    )


def test_a_product_is_added_in_place_with_transposed_operands(device) -> None:
    a, b, c = operands()
    expected = c + a.T @ b  # before: on numpy, c_dev is c itself
    xp = device.namespace()
    a_dev, b_dev, c_dev = (device.asarray(x) for x in (a, b, c))
    kernels = Kernels(xp, c_dev)
    out = kernels.add_(c_dev, Product(xp.matrix_transpose(a_dev), b_dev, kernels.empty((30, 20))))
    assert out is c_dev
    np.testing.assert_allclose(device.to_numpy(c_dev), expected, rtol=1e-5, atol=1e-5)


def test_matmul_writes_into_the_buffer(device) -> None:
    a, b, _ = operands()
    xp = device.namespace()
    kernels = Kernels(xp, device.asarray(a))
    out = kernels.matmul(device.asarray(a.T), device.asarray(b), out=kernels.empty((30, 20)))
    np.testing.assert_allclose(device.to_numpy(out), a.T @ b, rtol=1e-5, atol=1e-5)


def test_numpy_adds_products_with_blas_and_falls_back_for_strided_or_other_dtypes() -> None:
    import array_api_compat.numpy as xp

    a, b, c = operands()
    kernels = Kernels(xp, c)
    assert kernels.adds_products_in_place
    expected = c + a[::2].T @ b[::2]  # strided rows: no BLAS view, the plain path
    kernels.add_(c, Product(a[::2].T, b[::2]))
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)
    c64 = c.astype(np.float64)  # a dtype the float32 gemm must not touch
    kernels.add_(c64, Product(a.T.astype(np.float64), b.astype(np.float64)))
    np.testing.assert_allclose(c64, expected + a.T.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
    kernels64 = Kernels(xp, c64)  # float64 networks get the double-precision gemm
    product = kernels64.matmul(a.T.astype(np.float64), b.astype(np.float64), out=np.empty_like(c64))
    np.testing.assert_allclose(product, a.T.astype(np.float64) @ b.astype(np.float64), rtol=1e-12)


def test_add_scaled_is_one_axpy_on_numpy_and_plain_elsewhere(device) -> None:
    rng = np.random.default_rng(1)
    dst, src = (rng.standard_normal((30, 20)).astype(np.float32) for _ in range(2))
    expected = dst - 2.5 * src
    xp = device.namespace()
    dst_dev = device.asarray(dst)
    kernels = Kernels(xp, dst_dev)
    assert kernels.fast_axpy == (device.name == "numpy")
    out = kernels.add_scaled_(dst_dev, device.asarray(src), -2.5, tmp=kernels.empty((30, 20)))
    assert out is dst_dev
    np.testing.assert_allclose(device.to_numpy(dst_dev), expected, rtol=1e-6, atol=1e-6)
