"""One library call per update where plain array-API code needs two or three: torch and CuPy.

On a GPU a minibatch step of the seed network is bound by kernel launches, not arithmetic
(an H100 spent about 0.9 ms per 784-800-800-10 step, where its products take microseconds).
The array API has no scaled or accumulating product, so ``dst = alpha * a @ b + beta * dst``
is a product, a scale and an add: three launches. BLAS does it in one, and so do a bias
gradient's scaled column sums (``gemv`` against a vector of ones), a bias added to every row
(``ger``) and a scaled add (``axpy``). torch exposes these as ``addmm_``, ``addmv_`` and
``add_(alpha=)``; CuPy as ``cupy.cublas``. numpy's counterparts are SciPy's BLAS, in
:mod:`.ops`.

Each method returns False where it does not apply (a dtype or shape the call would not
take), and the caller then runs plain array-API code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any

import array_api_compat

__all__ = ["CupyFusedOps", "FusedOps", "TorchFusedOps", "fused_ops"]


class FusedOps(ABC):
    """The four fused updates; subclasses implement them for one library."""

    def __init__(self) -> None:
        self._ones: Any = None

    def ones(self, n: int, like: Any) -> Any:
        """A cached vector of ``n`` ones of ``like``'s dtype and device."""
        if self._ones is None or self._ones.shape[0] != n or self._ones.dtype != like.dtype:
            self._ones = self._new_ones(n, like)
        return self._ones

    @abstractmethod
    def _new_ones(self, n: int, like: Any) -> Any: ...

    @abstractmethod
    def gemm(self, dst: Any, a: Any, b: Any, alpha: float, beta: float) -> bool:
        """``dst = alpha * a @ b + beta * dst`` (``dst`` is not read when ``beta`` is 0)."""

    @abstractmethod
    def column_sums(self, dst: Any, src: Any, alpha: float, beta: float) -> bool:
        """``dst = alpha * (src summed over its rows) + beta * dst`` for a vector ``dst``."""

    @abstractmethod
    def add_rows(self, z: Any, row: Any, alpha: float) -> bool:
        """``z += alpha * row``, the vector ``row`` added to every row of the matrix ``z``."""

    @abstractmethod
    def axpy(self, dst: Any, src: Any, alpha: float) -> bool:
        """``dst += alpha * src`` for arrays of one shape."""

    def take_rows(self, x: Any, rows: Any) -> Any:
        """``x[rows]`` for non-negative integer ``rows``; None where ``xp.take`` is as good."""
        return None


def _same_dtype(*arrays: Any) -> bool:
    return all(x.dtype == arrays[0].dtype for x in arrays)


class TorchFusedOps(FusedOps):
    """torch's in-place BLAS-style methods (one kernel each on CUDA)."""

    def _new_ones(self, n: int, like: Any) -> Any:
        import torch

        return torch.ones(n, dtype=like.dtype, device=like.device)

    def gemm(self, dst: Any, a: Any, b: Any, alpha: float, beta: float) -> bool:
        if dst.ndim != 2 or not _same_dtype(dst, a, b):
            return False
        dst.addmm_(a, b, beta=beta, alpha=alpha)
        return True

    def column_sums(self, dst: Any, src: Any, alpha: float, beta: float) -> bool:
        if dst.ndim != 1 or src.ndim != 2 or not _same_dtype(dst, src):
            return False
        dst.addmv_(src.mT, self.ones(src.shape[0], src), beta=beta, alpha=alpha)
        return True

    def add_rows(self, z: Any, row: Any, alpha: float) -> bool:
        if z.ndim != 2 or row.ndim != 1 or not _same_dtype(z, row):
            return False
        z.add_(row, alpha=alpha)
        return True

    def axpy(self, dst: Any, src: Any, alpha: float) -> bool:
        if dst.shape != src.shape or not _same_dtype(dst, src):
            return False
        dst.add_(src, alpha=alpha)
        return True

    def take_rows(self, x: Any, rows: Any) -> Any:
        # array-api-compat's take also maps negative indices (two more kernels); the
        # minibatch rows drawn here never are
        return x.index_select(0, rows)


def _memory_order(x: Any) -> str:
    """The memory order of a CuPy array: "C", "F", or "" where it is not contiguous."""
    return "C" if x.flags.c_contiguous else "F" if x.flags.f_contiguous else ""


class CupyFusedOps(FusedOps):
    """cuBLAS through ``cupy.cublas`` (``cublas`` is that module, or a stand-in in tests).

    Its ``gemm``, ``gemv`` and ``ger`` take C- or Fortran-ordered operands (transposed
    views included) without copies; ``axpy`` takes two vectors.
    """

    def __init__(self, cublas: Any, xp: ModuleType) -> None:
        super().__init__()
        self.cublas = cublas
        self.xp = xp

    def _new_ones(self, n: int, like: Any) -> Any:
        return self.xp.ones((n,), dtype=like.dtype)

    def gemm(self, dst: Any, a: Any, b: Any, alpha: float, beta: float) -> bool:
        if dst.ndim != 2 or not _same_dtype(dst, a, b) or not _memory_order(dst):
            return False
        self.cublas.gemm("N", "N", a, b, out=dst, alpha=alpha, beta=beta)
        return True

    def column_sums(self, dst: Any, src: Any, alpha: float, beta: float) -> bool:
        if dst.ndim != 1 or src.ndim != 2 or not _same_dtype(dst, src):
            return False
        if not dst.flags.c_contiguous:
            return False
        # dst = alpha * srcᵀ · ones + beta * dst
        self.cublas.gemv("T", alpha, src, self.ones(src.shape[0], src), beta, dst)
        return True

    def add_rows(self, z: Any, row: Any, alpha: float) -> bool:
        if z.ndim != 2 or row.ndim != 1 or not _same_dtype(z, row) or not _memory_order(z):
            return False
        if not row.flags.c_contiguous:
            return False
        self.cublas.ger(alpha, self.ones(z.shape[0], z), row, z)  # z += alpha * ones ⊗ row
        return True

    def axpy(self, dst: Any, src: Any, alpha: float) -> bool:
        order = _memory_order(dst)
        if dst.shape != src.shape or not _same_dtype(dst, src) or order != _memory_order(src):
            return False
        if not order:
            return False
        flat = (lambda x: x.reshape(-1)) if order == "C" else (lambda x: x.T.reshape(-1))
        self.cublas.axpy(alpha, flat(src), flat(dst))
        return True


def fused_ops(xp: ModuleType, like: Any) -> FusedOps | None:
    """The fused updates for arrays like ``like`` in namespace ``xp``; None for numpy (SciPy's
    BLAS serves it, in :mod:`.ops`), array-api-strict and anything else."""
    if array_api_compat.is_torch_namespace(xp):
        return TorchFusedOps()
    if array_api_compat.is_cupy_namespace(xp):
        try:
            import cupy.cublas as cublas
        except ImportError:
            return None
        if all(hasattr(cublas, name) for name in ("gemm", "gemv", "ger", "axpy")):
            return CupyFusedOps(cublas, xp)
    return None
