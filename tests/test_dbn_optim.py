"""The lazily scaled momentum updates equal gdbn's explicit ones, and backprop is right.

The references below are gdbn's ``step``/``stepNesterov`` written out plainly with an
explicit velocity, in float64 numpy.
"""

from __future__ import annotations

import itertools

import array_api_compat.numpy as xnp
import numpy as np
import pytest

from experiments.dbn import DBN, optim
from experiments.dbn.finetune import FineTuner
from experiments.dbn.ops import Kernels
from experiments.dbn.optim import RENORMALIZE_EVERY, ParameterState
from experiments.dbn.params import NetConfig


def limit_rms(W: np.ndarray, lim: float | None) -> np.ndarray:
    if lim is None:
        return W
    scale = lim / np.sqrt(np.mean(W * W, axis=0))
    return W * np.where(scale < 1, scale, 1.0)


def reference_step(W, v, neg_grad_at, lr, mu, l2, nesterov, nest_compare, lim):
    """gdbn: returns (W', v'); ``neg_grad_at(weights)`` is the negative gradient / m."""
    if nesterov:
        v = mu * v
        lookahead = W + v
        v = v + lr * (neg_grad_at(lookahead) - l2 * lookahead)
    else:
        f = 1.0 if nest_compare else 1.0 - mu
        v = mu * v + lr * f * (neg_grad_at(W) - l2 * W)
    return limit_rms(W + v, lim), v


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("nest_compare", [True, False])
@pytest.mark.parametrize("lim", [None, 0.3])
@pytest.mark.parametrize("scale_limit", [optim.SCALE_LIMIT, 2.0], ids=["default", "tight"])
def test_lazy_scaled_updates_match_gdbn(
    nesterov: bool, nest_compare: bool, lim, scale_limit: float, monkeypatch
) -> None:
    """Also with a scale limit so tight that the scales are folded back every step or two."""
    monkeypatch.setattr(optim, "SCALE_LIMIT", scale_limit)
    folds = []
    monkeypatch.setattr(
        ParameterState,
        "renormalize",
        lambda self, fold=ParameterState.renormalize: (folds.append(1), fold(self)),
    )
    rng = np.random.default_rng(1)
    W0 = rng.normal(size=(6, 4)) * 0.5
    target = rng.normal(size=(6, 4))
    lr, mu, l2 = 0.05, 0.9, 0.01

    def neg_grad_at(weights: np.ndarray) -> np.ndarray:
        return (target - weights) * 2.0 + np.sin(weights)

    kernels = Kernels(xnp, W0)
    state = ParameterState(kernels, W0.copy(), nesterov)
    W_ref, v_ref = W0.copy(), np.zeros_like(W0)
    for _ in range(3 * RENORMALIZE_EVERY + 5):
        matrix, scale = state.forward
        g_scale = state.gradient_scale(lr, 1, mu, l2, nest_compare)
        state.step(neg_grad_at(matrix * scale) * g_scale, lr, mu, l2, nest_compare, lim)
        W_ref, v_ref = reference_step(
            W_ref, v_ref, neg_grad_at, lr, mu, l2, nesterov, nest_compare, lim
        )
        np.testing.assert_allclose(state.weights(), W_ref, rtol=1e-9, atol=1e-10)
    if scale_limit == 2.0 or lim is not None or not nesterov:
        assert folds  # the folding ran, and the weights stayed right across it
    if lim is not None:
        assert np.all(np.sqrt(np.mean(W_ref**2, axis=0)) <= lim + 1e-9)


def reference_backprop_step(Ws, bs, vWs, vbs, x, t, lr, mu, l2, relu, nesterov=True, f=1.0):
    """One gdbn ``stepNesterov`` (or, without ``nesterov``, ``step`` with factor ``f``) of
    a softmax network (float64, explicit velocities)."""
    vWs = [mu * v for v in vWs]
    vbs = [mu * v for v in vbs]
    if nesterov:
        la_W = [W + v for W, v in zip(Ws, vWs, strict=True)]
        la_b = [b + v for b, v in zip(bs, vbs, strict=True)]
    else:
        la_W, la_b, lr = Ws, bs, lr * f
    acts = [x]
    for W, b in zip(la_W[:-1], la_b[:-1], strict=True):
        z = acts[-1] @ W + b
        acts.append(np.maximum(z, 0) if relu else 1 / (1 + np.exp(-z)))
    z = acts[-1] @ la_W[-1] + la_b[-1]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = t - p
    m = x.shape[0]
    for i in reversed(range(len(Ws))):
        grad_W = acts[i].T @ delta
        grad_b = delta.sum(0)
        if i > 0:
            back = delta @ la_W[i].T
            h = acts[i]
            delta = back * ((h > 0) if relu else h * (1 - h))
        vWs[i] = vWs[i] + lr * (grad_W / m - l2 * la_W[i])
        vbs[i] = vbs[i] + lr / m * grad_b
    return (
        [W + v for W, v in zip(Ws, vWs, strict=True)],
        [b + v for b, v in zip(bs, vbs, strict=True)],
        vWs,
        vbs,
    )


@pytest.mark.parametrize(
    ("relu", "nesterov", "nest_compare"),
    [(True, True, True), (False, True, True), (True, False, True), (True, False, False)],
)
def test_fine_tune_steps_match_gdbn_backprop(relu: bool, nesterov: bool, nest_compare) -> None:
    rng = np.random.default_rng(2)
    sizes = [5, 7, 6, 3]
    params = {
        **DBN().get_params(),
        "layer_sizes": sizes,
        "minibatch_size": 8,
        "use_re_lu": relu,
        "learn_rates": 0.2,
        "l2_costs": 0.01,
        "nesterov": nesterov,
        "nest_compare": nest_compare,
    }
    cfg = NetConfig.from_params(params, n_samples=64, n_features=5, n_classes=3)
    Ws = [rng.normal(size=(a, b)) * 0.5 for a, b in itertools.pairwise(sizes)]
    bs = [rng.normal(size=b) * 0.1 for b in sizes[1:]]
    vWs = [np.zeros_like(W) for W in Ws]
    vbs = [np.zeros_like(b) for b in bs]
    kernels = Kernels(xnp, Ws[0])
    tuner = FineTuner(kernels, None, cfg, [W.copy() for W in Ws], [b.copy() for b in bs])
    for _ in range(RENORMALIZE_EVERY + 3):
        x = rng.random((8, 5))
        t = np.eye(3)[rng.integers(0, 3, 8)]
        tuner.step(x, t, [0.2, 0.2, 0.2])
        f = 1.0 if nest_compare else 0.1
        Ws, bs, vWs, vbs = reference_backprop_step(
            Ws, bs, vWs, vbs, x, t, 0.2, 0.9, 0.01, relu, nesterov, f
        )
    for state, W in zip(tuner.weights, Ws, strict=True):
        np.testing.assert_allclose(state.weights(), W, rtol=1e-8, atol=1e-10)
    for state, b in zip(tuner.biases, bs, strict=True):
        np.testing.assert_allclose(state.weights(), b, rtol=1e-8, atol=1e-10)
