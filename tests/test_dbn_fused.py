"""torch's and CuPy's one-call updates (``pytest_gpubench.dbn.fused``).

The CuPy class runs here against a numpy stand-in for ``cupy.cublas`` that does what that
module documents (and refuses what it would refuse), so the calls' conventions (which
operand is transposed, the argument order of ``gemv`` and ``ger``, ``axpy`` on views) are
checked without a GPU; on a GPU machine ``tests/test_dbn_ops.py`` runs the real module.
"""

from __future__ import annotations

import array_api_compat.numpy as xp_numpy
import numpy as np
import pytest

from pytest_gpubench.dbn.fused import CupyFusedOps, TorchFusedOps, fused_ops


class NumpyCublas:
    """``cupy.cublas``'s gemm, gemv, ger and axpy, on numpy arrays."""

    @staticmethod
    def _op(x: np.ndarray, trans: str) -> np.ndarray:
        assert trans in "NT"
        return x.T if trans == "T" else x

    def gemm(self, transa, transb, a, b, out=None, alpha=1.0, beta=0.0):
        assert a.ndim == b.ndim == out.ndim == 2 and a.dtype == b.dtype == out.dtype
        product = alpha * (self._op(a, transa) @ self._op(b, transb))
        out[...] = product if beta == 0.0 else product + beta * out
        return out

    def gemv(self, transa, alpha, a, x, beta, y):
        assert a.ndim == 2 and x.ndim == y.ndim == 1 and a.dtype == x.dtype == y.dtype
        y[...] = alpha * (self._op(a, transa) @ x) + beta * y

    def ger(self, alpha, x, y, a):
        assert a.ndim == 2 and x.ndim == y.ndim == 1
        assert a.shape == (x.shape[0], y.shape[0])
        a += alpha * np.outer(x, y)

    def axpy(self, a, x, y):
        assert x.ndim == y.ndim == 1 and x.size == y.size and x.dtype == y.dtype
        y += a * x


@pytest.fixture
def ops() -> CupyFusedOps:
    return CupyFusedOps(NumpyCublas(), xp_numpy)


def arrays(order: str, *shapes: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.standard_normal(s), dtype=np.float32, order=order) for s in shapes]


@pytest.mark.parametrize("order", ["C", "F"])
def test_cupy_gemm_scales_and_accumulates_with_transposed_operands(ops, order) -> None:
    a, b, c = arrays(order, (64, 30), (64, 20), (30, 20))
    expected = 0.5 * a.T @ b - 2.0 * c
    assert ops.gemm(c, a.T, b, alpha=0.5, beta=-2.0)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)
    c[...] = np.nan  # beta = 0: the old contents are not read
    assert ops.gemm(c, a.T, b, alpha=1.0, beta=0.0)
    np.testing.assert_allclose(c, a.T @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", ["C", "F"])
def test_cupy_column_sums_and_rows_match_plain_numpy(ops, order) -> None:
    (src,) = arrays(order, (64, 20))
    dst, row = arrays("C", (20,), (20,), seed=1)
    expected = 0.9 * dst + 0.25 * src.sum(axis=0)
    assert ops.column_sums(dst, src, alpha=0.25, beta=0.9)
    np.testing.assert_allclose(dst, expected, rtol=1e-5, atol=1e-5)
    expected_z = src - 0.5 * row
    assert ops.add_rows(src, row, alpha=-0.5)
    np.testing.assert_allclose(src, expected_z, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("order", ["C", "F"])
def test_cupy_axpy_updates_the_matrix_itself(ops, order) -> None:
    dst, src = arrays(order, (30, 20), (30, 20))
    expected = dst + 3.0 * src
    assert ops.axpy(dst, src, 3.0)
    np.testing.assert_allclose(dst, expected, rtol=1e-6)


def test_cupy_ops_decline_what_cublas_would_not_take(ops) -> None:
    c_order, f_order = arrays("C", (30, 20))[0], arrays("F", (30, 20))[0]
    assert not ops.axpy(c_order, f_order, 2.0)  # two memory orders: no shared flat view
    assert not ops.axpy(c_order, c_order.astype(np.float64), 2.0)
    assert not ops.gemm(c_order[:, ::2], c_order[:, ::2].T, c_order[:, ::2], 1.0, 0.0)
    assert not ops.column_sums(np.zeros(40, np.float32)[::2], c_order, 1.0, 1.0)
    assert not ops.add_rows(c_order, np.zeros(40, np.float32)[::2], 1.0)


def test_fused_ops_serve_torch_and_cupy_only() -> None:
    assert fused_ops(xp_numpy, np.zeros(2, np.float32)) is None  # SciPy's BLAS serves numpy
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as xp_torch

    assert isinstance(fused_ops(xp_torch, torch.zeros(2)), TorchFusedOps)


def test_torch_gemm_ignores_an_uninitialised_buffer_when_beta_is_zero() -> None:
    torch = pytest.importorskip("torch")
    a, b = (torch.from_numpy(x) for x in arrays("C", (8, 5), (5, 3)))
    out = torch.full((8, 3), float("nan"))
    assert TorchFusedOps().gemm(out, a, b, alpha=2.0, beta=0.0)
    np.testing.assert_allclose(out.numpy(), 2.0 * (a @ b).numpy(), rtol=1e-6)
    assert not TorchFusedOps().gemm(out, a.double(), b.double(), 1.0, 0.0)


def test_cupy_gets_the_cublas_updates_where_a_gpu_is_usable() -> None:
    from pytest_gpubench.devices import get_device

    device = get_device("cupy")
    if not device.available:
        pytest.skip(f"cupy: {device.reason}")
    ops = fused_ops(device.namespace(), device.asarray(np.zeros(2, np.float32)))
    assert isinstance(ops, CupyFusedOps)  # not silently the plain path
