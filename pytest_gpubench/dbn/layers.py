"""Weight initialisation, activations and the forward pass, written against the array API.

Every function takes the namespace ``xp`` of the arrays it works on; nothing here imports
numpy, CuPy or torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from .ops import ArrayOps

__all__ = [
    "init_weights",
    "output_activation",
    "output_forward",
    "predict_batches",
]


def init_weights(
    xp: ModuleType,
    rng: Any,
    shape: tuple[int, int],
    scale: float,
    fan_in: int | None,
    uniform: bool,
    dtype: Any,
) -> Any:
    """gdbn's initial weights: ``scale`` times uniform(-1, 1) or normal noise.

    With ``fan_in`` set, each column (hidden unit) keeps only ``fan_in`` randomly chosen
    non-zero incoming weights (gdbn calls it ``fan_outs``/``maxNonZeroPerColumn``).
    """
    if uniform:
        weights = (2.0 * rng.uniform(shape, dtype) - 1.0) * scale
    else:
        weights = rng.normal(shape, dtype) * scale
    if fan_in is not None and fan_in < shape[0]:
        order = xp.argsort(rng.uniform(shape, dtype), axis=0)
        rank = xp.argsort(order, axis=0)  # each row's rank within its column
        weights = xp.where(rank < fan_in, weights, xp.zeros_like(weights))
    return weights


def output_activation(xp: ModuleType, name: str, z: Any) -> Any:
    """The output units' activation of net input ``z`` (softmax, sigmoid or linear)."""
    if name == "softmax":
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        return e / xp.sum(e, axis=1, keepdims=True)
    if name == "sigmoid":
        return 1.0 / (1.0 + xp.exp(-z))
    return z


def output_forward(xp: ModuleType, name: str, z: Any, targets: Any) -> tuple[Any, Any]:
    """The output activations and gdbn's summed error for net input ``z``, sharing work."""
    if name == "softmax":
        shifted = z - xp.max(z, axis=1, keepdims=True)
        e = xp.exp(shifted)
        norm = xp.sum(e, axis=1, keepdims=True)
        error = xp.sum(xp.log(norm)) - xp.sum(targets * shifted)
        return e / norm, error
    if name == "sigmoid":  # log(1 + e^z) - t z, computed without overflow
        softplus = xp.maximum(z, xp.zeros_like(z)) + xp.log(1.0 + xp.exp(-xp.abs(z)))
        return 1.0 / (1.0 + xp.exp(-z)), xp.sum(softplus - targets * z)
    diff = targets - z
    return z, 0.5 * xp.sum(diff * diff)


def predict_batches(
    ops: ArrayOps,
    X: Any,
    weights: Sequence[Any],
    biases: Sequence[Any],
    use_re_lu: bool,
    output: str,
    batch_size: int,
) -> Any:
    """Output activations for every row of ``X``, ``batch_size`` rows at a time."""
    xp = ops.xp
    parts = []
    for start in range(0, X.shape[0], batch_size):
        acts = X[start : min(start + batch_size, X.shape[0]), ...]
        for W, b in zip(weights[:-1], biases[:-1], strict=True):
            z = ops.matmul(acts, W)
            z += b
            acts = ops.relu_(z) if use_re_lu else ops.sigmoid(z)
        z = ops.matmul(acts, weights[-1])
        z += biases[-1]
        parts.append(output_activation(xp, output, z))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
