"""A few array-API operations that write into buffers the caller owns.

The standard has no ``out=`` argument, but numpy, CuPy and torch all accept one. Allocating
a fresh 2.5 MB weight gradient for every minibatch costs more than the matrix product on a
CPU (each allocation is new pages the kernel must zero), so where the namespace takes
``out=`` the training loop reuses its buffers; elsewhere (array-api-strict) the same calls
fall back to plain standard code that allocates.

The weight update adds the gradient product straight into the stored matrix. On numpy that
is one BLAS ``gemm`` with ``beta=1`` (through SciPy), which saves writing a 2.5 MB gradient
and reading it back on every minibatch. torch and CuPy do the same through their own
one-call updates (:mod:`.fused`); array-api-strict computes the product and adds it.

On numpy the training loop also keeps its matrices column-major (:meth:`ArrayOps.matrix`):
OpenBLAS runs every product of a 64-row minibatch faster with a column-major result and
weights (measured on this project's 2-core AVX-512 machine: the five large products of a
784-800-800-10 step take about 5-10% less time than with row-major arrays).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import array_api_compat

from .fused import fused_ops

__all__ = ["ArrayOps", "ColumnSums", "Product"]

#: Largest array (elements) for which :meth:`ArrayOps.relu_` keeps a same-shaped zero block.
_MAX_CACHED_ZEROS = 1 << 20


@dataclass(frozen=True)
class Product:
    """``alpha * (a @ b)``, not yet computed; ``out`` is scratch where it can't be added in
    place."""

    a: Any
    b: Any
    out: Any = None
    alpha: float = 1.0


@dataclass(frozen=True)
class ColumnSums:
    """``alpha * (src summed over its rows)``, not yet computed (a bias gradient)."""

    src: Any
    alpha: float = 1.0


def _blas_func(name: str, xp: ModuleType, like: Any) -> Callable[..., Any] | None:
    """SciPy's BLAS routine ``name`` for numpy float arrays, else None."""
    if not array_api_compat.is_numpy_namespace(xp):
        return None
    try:
        from scipy.linalg import get_blas_funcs
    except ImportError:
        return None
    return get_blas_funcs(name, dtype=like.dtype)


def _fortran_operand(x: Any) -> tuple[Any, int] | None:
    """``x`` as a column-major BLAS operand: (array, transpose flag), or None if strided."""
    if x.flags.f_contiguous:
        return x, 0
    if x.flags.c_contiguous:
        return x.T, 1
    return None


def _flat(x: Any) -> Any:
    """A 1-D view of a C- or Fortran-contiguous array, in memory order."""
    return x.reshape(-1) if x.flags.c_contiguous else x.T.reshape(-1)


def _keep(result: Any, target: Any) -> None:
    """Make a SciPy BLAS call's ``result`` land in ``target``: f2py writes in place when the
    array fits the routine (and then returns that same object), else it returns a copy,
    which is written back here. Callers pass ``target`` itself to the routine, so the
    identity test is the whole cost on the hot path (``ndarray.ctypes`` costs ~2 µs)."""
    if result is not target:
        target[...] = result


def _layout(x: Any) -> str:
    """The layout of a contiguous numpy array, "C" or "F"; "" for anything else."""
    flags = getattr(x, "flags", None)
    if flags is None or not hasattr(flags, "c_contiguous"):
        return ""
    return "C" if flags.c_contiguous else "F" if flags.f_contiguous else ""


def _accepts_out(xp: ModuleType, like: Any) -> bool:
    try:
        a = xp.ones((2, 2), dtype=like.dtype, device=array_api_compat.device(like))
        out = xp.empty_like(a)
        result = xp.matmul(a, a, out=out)
        xp.maximum(a, a, out=out)
    except TypeError:
        return False
    return bool(xp.all(result == out))


class ArrayOps:
    """The array operations the DBN's training loop calls, bound to one namespace ``xp``
    and to arrays like ``like`` (device, dtype): plain array-API code, with ``out=``
    buffers and one-call BLAS updates where the back end offers them."""

    def __init__(self, xp: ModuleType, like: Any) -> None:
        self.xp = xp
        self.dtype = like.dtype
        self.device = array_api_compat.device(like)
        self.has_out = _accepts_out(xp, like)
        self._gemm = _blas_func("gemm", xp, like)
        self._axpy = _blas_func("axpy", xp, like) if self._gemm is not None else None
        self._gemv = _blas_func("gemv", xp, like) if self._gemm is not None else None
        self._ger = _blas_func("ger", xp, like) if self._gemm is not None else None
        self._ones: Any = None
        #: torch's and CuPy's one-call updates (None on numpy, which has SciPy's BLAS)
        self._fused = fused_ops(xp, like)
        #: whether :meth:`add_` adds a :class:`Product` without a scratch buffer
        self.adds_products_in_place = self._gemm is not None or self._fused is not None
        #: whether :meth:`matrix` gives column-major arrays (numpy with SciPy's BLAS)
        self.column_major = self._gemm is not None
        self._zero = xp.zeros((), dtype=self.dtype, device=self.device)
        self._zeros: dict[tuple[tuple[int, ...], str], Any] = {}

    def empty(self, shape: tuple[int, ...]) -> Any:
        """A scratch buffer on the device."""
        return self.xp.empty(shape, dtype=self.dtype, device=self.device)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        return self.xp.zeros(shape, dtype=self.dtype, device=self.device)

    def matrix(self, shape: tuple[int, int]) -> Any:
        """A scratch matrix in the layout the products here run fastest on (column-major
        on numpy: the transpose of a row-major array, which every namespace can view)."""
        if not self.column_major:
            return self.empty(shape)
        return self.xp.matrix_transpose(self.empty((shape[1], shape[0])))

    def as_matrix(self, values: Any) -> Any:
        """A copy of the 2-D array ``values`` laid out like :meth:`matrix`."""
        if not self.column_major:
            return self.xp.asarray(values, copy=True)
        out = self.matrix(tuple(values.shape))
        out[...] = values
        return out

    def matmul(self, a: Any, b: Any, out: Any = None, alpha: float = 1.0) -> Any:
        """``alpha * (a @ b)``, into ``out`` where supported (always use the returned array).

        On numpy, torch and CuPy the scale is BLAS's ``alpha``, free; elsewhere it is one
        more pass.
        """
        if out is not None and self._gemm_into(out, a, b, alpha=alpha, beta=0.0):
            return out
        if self.has_out and out is not None:
            result = self.xp.matmul(a, b, out=out)
        else:
            result = self.xp.matmul(a, b)
        if alpha != 1.0:
            result *= alpha
        return result

    def take_rows(self, x: Any, rows: Any) -> Any:
        """``x``'s rows at the non-negative indices ``rows`` (a new array)."""
        if self._fused is not None:
            taken = self._fused.take_rows(x, rows)
            if taken is not None:
                return taken
        return self.xp.take(x, rows, axis=0)

    def relu_(self, z: Any) -> Any:
        """``max(z, 0)``, in place where supported (always use the returned array)."""
        if self.has_out:
            return self.xp.maximum(z, self._zeros_shaped(z), out=z)
        return self.xp.where(z > 0, z, self._zero)

    def _zeros_shaped(self, like: Any) -> Any:
        """Zeros of ``like``'s shape for a minibatch-sized ``like``, else the 0-d zero.

        numpy's ``maximum`` against a broadcast scalar runs 4x slower than against a
        same-shaped array (measured: 20 vs 5 µs on a 64 x 800 block), and a ReLU runs on
        every hidden layer of every minibatch.
        """
        shape = tuple(like.shape)
        if math.prod(shape) > _MAX_CACHED_ZEROS:
            return self._zero
        key = (shape, _layout(like))
        if key not in self._zeros:  # same layout as ``like``, or the loop runs strided
            self._zeros[key] = self.xp.zeros_like(like)
        return self._zeros[key]

    def multiply(self, a: Any, b: Any, out: Any = None) -> Any:
        """``a * b``, into ``out`` where supported (always use the returned array)."""
        if self.has_out and out is not None:
            return self.xp.multiply(a, b, out=out)
        return a * b

    def mask_(self, keep: Any, values: Any) -> Any:
        """``values`` where ``keep`` is true, else 0, in place where supported."""
        if self.has_out:
            return self.xp.multiply(values, keep, out=values)
        return self.xp.where(keep, values, self._zero)

    def mask(self, keep: Any, values: Any) -> Any:
        """``values`` where ``keep`` is true, else 0 (a new array)."""
        return self.xp.where(keep, values, self._zero)

    def sigmoid(self, z: Any) -> Any:
        """The logistic function."""
        return 1.0 / (1.0 + self.xp.exp(-z))

    def add_scaled_(self, dst: Any, src: Any, alpha: Any, tmp: Any = None) -> Any:
        """``dst += alpha * src`` in place: one BLAS ``axpy`` pass on numpy for a scalar
        ``alpha``; elsewhere ``tmp``, if given, holds the product."""
        scalar = isinstance(alpha, (int, float))
        if scalar and alpha == 1.0:
            dst += src
        elif scalar and self._axpy_fits(dst, src):
            flat_dst = _flat(dst)
            _keep(self._axpy(_flat(src), flat_dst, a=alpha), flat_dst)
        elif scalar and self._fused is not None and self._fused.axpy(dst, src, float(alpha)):
            pass  # done: torch's add_(alpha=) or cuBLAS axpy
        elif self.has_out and tmp is not None:
            dst += self.xp.multiply(src, alpha, out=tmp)
        else:
            dst += src * alpha
        return dst

    def add_(self, dst: Any, grad: Any) -> Any:
        """``dst += grad`` in place, where ``grad`` is an array, a :class:`Product` or
        :class:`ColumnSums`."""
        if isinstance(grad, ColumnSums):
            return self.add_column_sums_(dst, grad.src, grad.alpha, 1.0)
        if not isinstance(grad, Product):
            dst += grad
            return dst
        if not self._gemm_into(dst, grad.a, grad.b, alpha=grad.alpha, beta=1.0):
            dst += self.matmul(grad.a, grad.b, out=grad.out, alpha=grad.alpha)
        return dst

    def add_to_rows_(self, z: Any, row: Any, alpha: float = 1.0) -> Any:
        """``z += alpha * row`` (the vector added to every row of the matrix ``z``), in place.

        On numpy that is one BLAS rank-1 update (``ger``) with a vector of ones: a
        broadcast add over a column-major matrix runs about 3x slower (measured: 17.5 vs
        5.9 µs on 64 x 800).
        """
        if self._ger is not None and _layout(z) and row.flags.c_contiguous:
            ones = self._ones_of(z.shape[0])
            if _layout(z) == "F":  # column-major z: z += ones ⊗ row
                _keep(self._ger(alpha, ones, row, a=z, overwrite_a=1), z)
            else:  # row-major z: zᵀ is column-major, zᵀ += row ⊗ ones
                z_t = z.T
                _keep(self._ger(alpha, row, ones, a=z_t, overwrite_a=1), z_t)
            return z
        if self._fused is not None and self._fused.add_rows(z, row, alpha):
            return z
        z += row if alpha == 1.0 else row * alpha
        return z

    def _ones_of(self, n: int) -> Any:
        if self._ones is None or self._ones.shape[0] != n:
            self._ones = self.xp.ones((n,), dtype=self.dtype)
        return self._ones

    def add_column_sums_(self, dst: Any, src: Any, alpha: float, beta: float) -> Any:
        """``dst = beta * dst + alpha * (src summed over its rows)``, in place.

        On numpy that is one BLAS ``gemv`` against a vector of ones, instead of a sum, a
        scaled copy and two in-place passes (a bias update, on every layer of every
        minibatch).
        """
        rows = src.shape[0]
        if self._gemv is not None and _layout(src) and dst.flags.c_contiguous:
            ones = self._ones_of(rows)
            # column-major src: ones @ src is srcᵀ·ones; row-major: src.T is column-major
            a, trans = (src, 1) if _layout(src) == "F" else (src.T, 0)
            _keep(self._gemv(alpha, a, ones, beta=beta, y=dst, overwrite_y=1, trans=trans), dst)
            return dst
        if self._fused is not None and self._fused.column_sums(dst, src, alpha, beta):
            return dst
        if beta != 1.0:
            dst *= beta
        dst += self.xp.sum(src, axis=0) * alpha
        return dst

    def _gemm_into(self, dst: Any, a: Any, b: Any, alpha: float, beta: float) -> bool:
        """``dst = alpha * a @ b + beta * dst`` by one BLAS call where possible; False if not
        done.

        All products of a fit go through the same BLAS (SciPy's on numpy, so two libraries'
        thread pools never take turns spinning on the same cores; torch's or cuBLAS through
        :mod:`.fused` elsewhere).
        """
        if self._fused is not None:
            return self._fused.gemm(dst, a, b, alpha, beta)
        if self._gemm is None or not _layout(dst) or dst.dtype != self.dtype:
            return False
        if dst.flags.c_contiguous:  # row-major dst = a @ b is column-major dstᵀ = bᵀ @ aᵀ
            c, first, second = dst.T, _fortran_operand(b.T), _fortran_operand(a.T)
        else:
            c, first, second = dst, _fortran_operand(a), _fortran_operand(b)
        if first is None or second is None:
            return False
        (fa, ta), (fb, tb) = first, second
        _keep(self._gemm(alpha, fa, fb, beta=beta, c=c, trans_a=ta, trans_b=tb, overwrite_c=1), c)
        return True

    @property
    def fast_axpy(self) -> bool:
        """Whether :meth:`add_scaled_` makes a single pass for a scalar ``alpha``."""
        return self._axpy is not None or self._fused is not None

    def _axpy_fits(self, dst: Any, src: Any) -> bool:
        return (
            self._axpy is not None
            and _layout(dst) != ""
            and _layout(dst) == _layout(src)
            and dst.dtype == src.dtype == self.dtype
            and dst.shape == src.shape
        )
