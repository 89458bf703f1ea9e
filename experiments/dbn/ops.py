"""A few array-API operations that write into buffers the caller owns.

The standard has no ``out=`` argument, but numpy, CuPy and torch all accept one. Allocating
a fresh 2.5 MB weight gradient for every minibatch costs more than the matrix product on a
CPU (each allocation is new pages the kernel must zero), so where the namespace takes
``out=`` the training loop reuses its buffers; elsewhere (array-api-strict) the same calls
fall back to plain standard code that allocates.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat

__all__ = ["Kernels"]


def _accepts_out(xp: ModuleType, like: Any) -> bool:
    try:
        a = xp.ones((2, 2), dtype=like.dtype, device=array_api_compat.device(like))
        out = xp.empty_like(a)
        result = xp.matmul(a, a, out=out)
        xp.maximum(a, a, out=out)
    except TypeError:
        return False
    return bool(xp.all(result == out))


class Kernels:
    """Array-API operations on namespace ``xp`` for arrays like ``like`` (device, dtype)."""

    def __init__(self, xp: ModuleType, like: Any) -> None:
        self.xp = xp
        self.dtype = like.dtype
        self.device = array_api_compat.device(like)
        self.has_out = _accepts_out(xp, like)
        self._zero = xp.zeros((), dtype=self.dtype, device=self.device)

    def empty(self, shape: tuple[int, ...]) -> Any:
        """A scratch buffer on the device."""
        return self.xp.empty(shape, dtype=self.dtype, device=self.device)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        return self.xp.zeros(shape, dtype=self.dtype, device=self.device)

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        """``a @ b``, into ``out`` where supported (always use the returned array)."""
        if self.has_out and out is not None:
            return self.xp.matmul(a, b, out=out)
        return self.xp.matmul(a, b)

    def relu_(self, z: Any) -> Any:
        """``max(z, 0)``, in place where supported (always use the returned array)."""
        if self.has_out:
            return self.xp.maximum(z, self._zero, out=z)
        return self.xp.where(z > 0, z, self._zero)

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
        """``dst += alpha * src`` in place (``tmp``, if given, holds the product)."""
        if isinstance(alpha, (int, float)) and alpha == 1.0:
            dst += src
        elif self.has_out and tmp is not None:
            dst += self.xp.multiply(src, alpha, out=tmp)
        else:
            dst += src * alpha
        return dst
