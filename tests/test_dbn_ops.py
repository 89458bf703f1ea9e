"""The DBN's array operations: products into buffers and added in place, on any back end."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_gpubench.dbn.ops import ArrayOps, ColumnSums, Product
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
    ops = ArrayOps(xp, c_dev)
    out = ops.add_(c_dev, Product(xp.matrix_transpose(a_dev), b_dev, ops.empty((30, 20))))
    assert out is c_dev
    np.testing.assert_allclose(device.to_numpy(c_dev), expected, rtol=1e-5, atol=1e-5)


def test_matmul_writes_into_the_buffer(device) -> None:
    a, b, _ = operands()
    xp = device.namespace()
    ops = ArrayOps(xp, device.asarray(a))
    out = ops.matmul(device.asarray(a.T), device.asarray(b), out=ops.empty((30, 20)))
    np.testing.assert_allclose(device.to_numpy(out), a.T @ b, rtol=1e-5, atol=1e-5)


def test_numpy_adds_products_with_blas_and_falls_back_for_strided_or_other_dtypes() -> None:
    import array_api_compat.numpy as xp

    a, b, c = operands()
    ops = ArrayOps(xp, c)
    assert ops.adds_products_in_place
    expected = c + a[::2].T @ b[::2]  # strided rows: no BLAS view, the plain path
    ops.add_(c, Product(a[::2].T, b[::2]))
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)
    c64 = c.astype(np.float64)  # a dtype the float32 gemm must not touch
    ops.add_(c64, Product(a.T.astype(np.float64), b.astype(np.float64)))
    np.testing.assert_allclose(c64, expected + a.T.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
    ops64 = ArrayOps(xp, c64)  # float64 networks get the double-precision gemm
    product = ops64.matmul(a.T.astype(np.float64), b.astype(np.float64), out=np.empty_like(c64))
    np.testing.assert_allclose(product, a.T.astype(np.float64) @ b.astype(np.float64), rtol=1e-12)


def test_add_scaled_is_one_call_on_numpy_torch_and_cupy_and_plain_elsewhere(device) -> None:
    rng = np.random.default_rng(1)
    dst, src = (rng.standard_normal((30, 20)).astype(np.float32) for _ in range(2))
    expected = dst - 2.5 * src
    xp = device.namespace()
    dst_dev = device.asarray(dst)
    ops = ArrayOps(xp, dst_dev)
    assert ops.fast_axpy == (device.name != "array-api-strict")
    out = ops.add_scaled_(dst_dev, device.asarray(src), -2.5, tmp=ops.empty((30, 20)))
    assert out is dst_dev
    np.testing.assert_allclose(device.to_numpy(dst_dev), expected, rtol=1e-6, atol=1e-6)


def test_matrix_is_column_major_on_numpy_and_plain_elsewhere(device) -> None:
    xp = device.namespace()
    ops = ArrayOps(xp, device.asarray(np.zeros((2, 2), np.float32)))
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    copy = ops.as_matrix(device.asarray(values))
    assert tuple(ops.matrix((3, 4)).shape) == (3, 4)
    np.testing.assert_array_equal(device.to_numpy(copy), values)
    assert ops.column_major == (device.name == "numpy")
    if ops.column_major:
        assert copy.flags.f_contiguous and not copy.flags.c_contiguous


@pytest.mark.parametrize("layout", ["row-major", "column-major"])
def test_products_scales_and_vector_updates_give_the_same_numbers_in_either_layout(
    device, layout
) -> None:
    """alpha-scaled products into (and added to) matrices, bias rows added, column sums
    accumulated: on numpy each is one BLAS call whatever the layout; elsewhere plain code."""
    a, b, c = operands()
    rng = np.random.default_rng(2)
    row, v = rng.standard_normal(20).astype(np.float32), rng.standard_normal(20).astype(np.float32)
    xp = device.namespace()
    ops = ArrayOps(xp, device.asarray(c))

    def place(x):
        x_dev = device.asarray(x.copy())  # numpy's asarray would share ``x``, which changes
        return ops.as_matrix(x_dev) if layout == "column-major" else x_dev

    a_dev, b_dev, c_dev = place(a), place(b), place(c)
    product = ops.matmul(xp.matrix_transpose(a_dev), b_dev, ops.matrix((30, 20)), 0.5)
    np.testing.assert_allclose(device.to_numpy(product), 0.5 * a.T @ b, rtol=1e-5, atol=1e-5)
    ops.add_(c_dev, Product(xp.matrix_transpose(a_dev), b_dev, ops.empty((30, 20)), -2.0))
    np.testing.assert_allclose(device.to_numpy(c_dev), c - 2.0 * a.T @ b, rtol=1e-5, atol=1e-5)

    with_row = ops.add_to_rows_(b_dev, device.asarray(row))
    np.testing.assert_allclose(device.to_numpy(with_row), b + row, rtol=1e-6)
    with_row = ops.add_to_rows_(b_dev, device.asarray(row), alpha=-0.5)
    np.testing.assert_allclose(device.to_numpy(with_row), b + 0.5 * row, rtol=1e-5, atol=1e-6)
    v_dev = device.asarray(v.copy())
    ops.add_column_sums_(v_dev, with_row, 0.25, 0.9)
    expected_v = 0.9 * v + 0.25 * (b + 0.5 * row).sum(axis=0)
    np.testing.assert_allclose(device.to_numpy(v_dev), expected_v, rtol=1e-5, atol=1e-5)
    ops.add_(v_dev, ColumnSums(with_row, -1.5))  # a bias gradient, added in place
    expected_v = expected_v - 1.5 * (b + 0.5 * row).sum(axis=0)
    np.testing.assert_allclose(device.to_numpy(v_dev), expected_v, rtol=1e-5, atol=1e-5)

    dst = place(c)
    ops.add_scaled_(dst, c_dev, 3.0, tmp=ops.empty((30, 20)))
    np.testing.assert_allclose(
        device.to_numpy(dst), c + 3.0 * (c - 2.0 * a.T @ b), rtol=1e-5, atol=1e-5
    )


def test_relu_keeps_its_zero_block_in_the_array_layout() -> None:
    import array_api_compat.numpy as xp

    z = np.asfortranarray(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
    ops = ArrayOps(xp, z)
    expected = np.maximum(z, 0)
    out = ops.relu_(z)
    assert out is z
    np.testing.assert_array_equal(z, expected)
    (zeros,) = ops._zeros.values()
    assert zeros.flags.f_contiguous and not zeros.flags.c_contiguous


def test_blas_results_that_f2py_had_to_copy_are_written_back() -> None:
    """float64 arrays handed to the float32 routines: SciPy returns a converted copy, and
    the ops must still update the caller's arrays in place."""
    import array_api_compat.numpy as xp

    ops = ArrayOps(xp, np.zeros((2, 2), np.float32))
    rng = np.random.default_rng(3)
    src = rng.standard_normal((6, 4))
    v, row = rng.standard_normal(4), rng.standard_normal(4).astype(np.float32)
    expected_v = 0.5 * v + 2.0 * src.sum(axis=0)
    assert ops.add_column_sums_(v, src, 2.0, 0.5) is v
    np.testing.assert_allclose(v, expected_v, rtol=1e-5)
    z = np.asfortranarray(rng.standard_normal((6, 4)))
    expected_z = z + row
    assert ops.add_to_rows_(z, row) is z
    np.testing.assert_allclose(z, expected_z, rtol=1e-5)


def test_take_rows_gathers_minibatch_rows_with_repeats(device) -> None:
    values = np.arange(24, dtype=np.float32).reshape(6, 4)
    rows = np.array([5, 0, 5, 2])
    xp = device.namespace()
    ops = ArrayOps(xp, device.asarray(values))
    taken = ops.take_rows(device.asarray(values), device.asarray(rows))
    np.testing.assert_array_equal(device.to_numpy(taken), values[rows])
