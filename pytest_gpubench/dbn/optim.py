"""gdbn's momentum updates of a weight matrix or bias vector, in few passes over memory.

gdbn keeps the weights ``W`` and a velocity ``v``. Per minibatch, with ``G`` the learn-rate
scaled negative gradient (``lr/m * A.T @ d``) and ``c = lr * l2``:

* Nesterov (the default), gradient taken at the look-ahead ``Θ = W + μv``::

      v' = μv + G - cΘ;   W' = W + v'   (then W' is column-RMS limited)

* classic momentum (``f = 1`` with ``nest_compare``, else ``1 - μ``)::

      v' = μv + f(G - cW); W' = W + v'

Written as above each step makes ~17 passes over the matrix and allocates temporaries, which
on a CPU costs as much as the matrix products themselves. The same recurrences hold in
exact arithmetic with two stored matrices, each carrying a lazy per-column scale (a Python
float, or a device vector once ``rms_lims`` rescales columns):

* Nesterov stores ``Θ`` and ``W``: ``W'ᵤ = (1-c)Θ + G``, ``W' = rW'ᵤ``,
  ``Θ' = W' + μ(W'ᵤ - W) = (r+μ)W'ᵤ - μW``;
* classic stores ``W`` and ``P = W - v``: ``W'ᵤ = (1+μ-fc)W - μP + fG``, ``W' = rW'ᵤ``,
  ``P' = W' - v' = W + (r-1)W'ᵤ``.

Folding the scales into the small operands of the matrix products (the error signal, the
layer outputs), a step is then three in-place passes (``B *= k; B += A; A += G``); on numpy,
torch and CuPy, ``A += G`` happens inside the BLAS product and ``B = k(B + A/k)`` is one
``axpy`` (SciPy's BLAS, torch's ``add_``, cuBLAS: :mod:`.ops`, :mod:`.fused`). The
scales are multiplied back into the matrices before they can overflow: once a scalar scale
leaves ``[1/SCALE_LIMIT, SCALE_LIMIT]`` (with Nesterov momentum, every few hundred steps),
and every :data:`RENORMALIZE_EVERY` steps for per-column scales.

Biases follow the same rule without L2 or RMS limit (``c = 0``, ``r = 1``), so they are
kept the same way: the column sums of the error signal are added by one ``gemv`` and the
forward pass adds the scaled look-ahead by one ``ger``, two BLAS calls per layer and step.
"""

from __future__ import annotations

from typing import Any

from .ops import ArrayOps, ColumnSums, Product

__all__ = ["RENORMALIZE_EVERY", "SCALE_LIMIT", "ParameterState"]

#: A scalar lazy scale is folded back into its matrix once its magnitude leaves
#: ``[1/SCALE_LIMIT, SCALE_LIMIT]``. Floats keep their relative precision at any scale, so
#: only the range matters; scales change by at most 2x per step, far from float32's 2**127.
SCALE_LIMIT = 2.0**20

#: Steps between folding per-column scales (device vectors, which the host can't check for
#: free) back into the matrices.
RENORMALIZE_EVERY = 16


def _is_one(scale: Any) -> bool:
    return isinstance(scale, float) and scale == 1.0


class ParameterState:
    """One weight matrix or bias vector under gdbn's Nesterov or classic momentum, updated
    in place (biases: with ``l2 = 0`` and no ``rms_lim``, as gdbn updates them)."""

    def __init__(
        self,
        ops: ArrayOps,
        W: Any,
        nesterov: bool,
        velocity: Any = None,
        momentum: float = 0.0,
    ) -> None:
        """Train ``W`` in place, from rest or, given an earlier run's :meth:`velocity`,
        with that momentum (``momentum`` is the coming steps')."""
        self.ops = ops
        self.nesterov = nesterov
        # Nesterov: a = Θ = W + μv (look-ahead), b = W. Classic: a = W, b = P = W - v.
        self.b, self.b_scale = ops.xp.asarray(W, copy=True), 1.0
        if velocity is not None and nesterov:
            W += velocity * momentum
        elif velocity is not None:
            self.b -= velocity
        self.a, self.a_scale = W, 1.0
        self._steps = 0
        self._tmp: Any = None

    @property
    def forward(self) -> tuple[Any, Any]:
        """The array the forward pass uses and its scale (per column with ``rms_lims``)."""
        return self.a, self.a_scale

    def gradient_scale(
        self, learn_rate: float, minibatch: int, momentum: float, l2: float, nest_compare: bool
    ) -> Any:
        """What to multiply the error signal by so the gradient (the weight product, or the
        bias column sums) comes out ready to add (unit coefficient) into the stored array."""
        c = learn_rate * l2
        if self.nesterov:
            return learn_rate / (minibatch * (1.0 - c) * self.a_scale)
        f = 1.0 if nest_compare else 1.0 - momentum
        return f * learn_rate / (minibatch * (1.0 + momentum - f * c) * self.a_scale)

    def step(
        self,
        grad: Any | Product | ColumnSums,
        learn_rate: float,
        momentum: float,
        l2: float,
        nest_compare: bool,
        rms_lim: float | None,
    ) -> None:
        """Apply one update; ``grad`` is the gradient scaled by :meth:`gradient_scale` (an
        array, or a :class:`Product` or :class:`ColumnSums` that is added into the stored
        array without a temporary)."""
        c = learn_rate * l2
        if self.nesterov:
            self._step_nesterov(grad, c, momentum, rms_lim)
        else:
            f = 1.0 if nest_compare else 1.0 - momentum
            self._step_classic(grad, c * f, momentum, rms_lim)
        self._steps += 1
        if self._scales_drifted():
            self.renormalize()

    def _scales_drifted(self) -> bool:
        a, b = self.a_scale, self.b_scale
        if isinstance(a, float) and isinstance(b, float):  # checked every step: no genexpr
            low = 1.0 / SCALE_LIMIT
            return not (low <= abs(a) <= SCALE_LIMIT and low <= abs(b) <= SCALE_LIMIT)
        return self._steps % RENORMALIZE_EVERY == 0

    def _rms_factor(self, matrix: Any, scale: Any, rms_lim: float | None) -> Any:
        if rms_lim is None:
            return 1.0
        xp = self.ops.xp
        rms = xp.sqrt(xp.vecdot(matrix, matrix, axis=-2) / matrix.shape[0]) * xp.abs(
            xp.asarray(scale, dtype=matrix.dtype, device=self.ops.device)
        )
        return rms_lim / xp.maximum(
            rms, xp.asarray(rms_lim, dtype=rms.dtype, device=self.ops.device)
        )

    def _step_nesterov(self, grad: Any, c: float, mu: float, rms_lim: float | None) -> None:
        theta, w = self.a, self.b
        unconstrained_scale = (1.0 - c) * self.a_scale
        self.ops.add_(theta, grad)  # now W'ᵤ / unconstrained_scale
        r = self._rms_factor(theta, unconstrained_scale, rms_lim)
        lookahead_scale = (r + mu) * unconstrained_scale
        k = (-mu * self.b_scale) / lookahead_scale
        if isinstance(k, float) and k != 0.0 and self.ops.fast_axpy:
            # Θ'/lookahead_scale = k·w + θ = k·(w + θ/k): one axpy pass instead of two
            self.ops.add_scaled_(w, theta, 1.0 / k)
            lookahead_scale = lookahead_scale * k
        else:
            w *= k
            w += theta  # now Θ' / lookahead_scale
        self.a, self.a_scale = w, lookahead_scale
        self.b, self.b_scale = theta, r * unconstrained_scale

    def _step_classic(self, grad: Any, fc: float, mu: float, rms_lim: float | None) -> None:
        W, P = self.a, self.b
        s = (1.0 + mu - fc) * self.a_scale
        P *= (-mu * self.b_scale) / s
        P += W
        self.ops.add_(P, grad)  # now W'ᵤ / s
        r = self._rms_factor(P, s, rms_lim)
        if rms_lim is not None:  # P' = W + (r - 1) W'ᵤ
            if self._tmp is None:
                self._tmp = self.ops.empty(W.shape)
            self.ops.add_scaled_(W, P, (r - 1.0) * s / self.a_scale, tmp=self._tmp)
        self.a, self.a_scale, self.b, self.b_scale = P, r * s, W, self.a_scale

    def renormalize(self) -> None:
        """Multiply the lazy scales into the matrices."""
        if not _is_one(self.a_scale):
            self.a *= self.a_scale
            self.a_scale = 1.0
        if not _is_one(self.b_scale):
            self.b *= self.b_scale
            self.b_scale = 1.0

    def velocity(self, momentum: float) -> Any:
        """The momentum to carry into a later run, as a new array: the last unconstrained
        step ``W'ᵤ - W``, which is ``(Θ - W) / μ`` (Nesterov) or ``W - P`` (classic)."""
        a, b = self.a * self.a_scale, self.b * self.b_scale
        if not self.nesterov:
            return a - b
        if momentum == 0.0:  # Θ = W: no step is remembered
            return self.ops.xp.zeros_like(b)
        return (a - b) / momentum

    def weights(self) -> Any:
        """The current parameters ``W`` (not the look-ahead), as a new array."""
        matrix, scale = (self.b, self.b_scale) if self.nesterov else (self.a, self.a_scale)
        return matrix * scale
