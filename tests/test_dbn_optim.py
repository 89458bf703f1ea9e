"""The lazily scaled momentum updates equal gdbn's explicit ones, and backprop is right.

The references below are gdbn's ``step``/``stepNesterov`` written out plainly with an
explicit velocity, in float64 numpy.
"""

from __future__ import annotations

import itertools

import array_api_compat.numpy as xnp
import numpy as np
import pytest

from pytest_gpubench.dbn import DBN, optim
from pytest_gpubench.dbn.finetune import FineTuner
from pytest_gpubench.dbn.ops import ArrayOps
from pytest_gpubench.dbn.optim import RENORMALIZE_EVERY, ParameterState
from pytest_gpubench.dbn.params import NetConfig


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

    ops = ArrayOps(xnp, W0)
    state = ParameterState(ops, W0.copy(), nesterov)
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


def reference_backprop_step(
    Ws, bs, vWs, vbs, x, t, lr, mu, l2, relu, nesterov=True, f=1.0, drops=None, keeps=None
):
    """One gdbn ``stepNesterov`` (or, without ``nesterov``, ``step`` with factor ``f``) of
    a softmax network (float64, explicit velocities).

    With dropout, as gdbn's ``fpropDropout``/``bprop``/``gradients``: the state holds the
    kept activations unscaled, the forward product scales them by 1/(1-p), and the error
    signals and weight gradients are taken at the unscaled state.
    """
    drops = drops or [0.0] * len(Ws)
    keeps = keeps or [None] * len(Ws)
    lrs = list(lr) if isinstance(lr, (list, tuple)) else [lr] * len(Ws)
    vWs = [mu * v for v in vWs]
    vbs = [mu * v for v in vbs]
    if nesterov:
        la_W = [W + v for W, v in zip(Ws, vWs, strict=True)]
        la_b = [b + v for b, v in zip(bs, vbs, strict=True)]
    else:
        la_W, la_b, lrs = Ws, bs, [rate * f for rate in lrs]
    acts = [x if keeps[0] is None else x * keeps[0]]
    for i, (W, b) in enumerate(zip(la_W[:-1], la_b[:-1], strict=True)):
        z = acts[-1] / (1 - drops[i]) @ W + b
        h = np.maximum(z, 0) if relu else 1 / (1 + np.exp(-z))
        acts.append(h if keeps[i + 1] is None else h * keeps[i + 1])
    z = acts[-1] / (1 - drops[-1]) @ la_W[-1] + la_b[-1]
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
        vWs[i] = vWs[i] + lrs[i] * (grad_W / m - l2 * la_W[i])
        vbs[i] = vbs[i] + lrs[i] / m * grad_b
    return (
        [W + v for W, v in zip(Ws, vWs, strict=True)],
        [b + v for b, v in zip(bs, vbs, strict=True)],
        vWs,
        vbs,
    )


def small_net(rng: np.random.Generator, params: dict) -> tuple:
    """A 5-7-6-3 network's config, random weights and biases, and zero velocities."""
    sizes = params["layer_sizes"]
    cfg = NetConfig.from_params(params, n_samples=64, n_features=5, n_classes=3)
    Ws = [rng.normal(size=(a, b)) * 0.5 for a, b in itertools.pairwise(sizes)]
    bs = [rng.normal(size=b) * 0.1 for b in sizes[1:]]
    return cfg, Ws, bs, [np.zeros_like(W) for W in Ws], [np.zeros_like(b) for b in bs]


@pytest.mark.parametrize(
    ("relu", "nesterov", "nest_compare", "mu"),
    [
        (True, True, True, 0.9),
        (False, True, True, 0.9),
        (True, False, True, 0.9),
        (True, False, False, 0.9),
        (True, True, True, 0.0),  # plain SGD: the lazy scales must not divide by zero
        (True, False, True, 0.0),
    ],
)
def test_fine_tune_steps_match_gdbn_backprop(
    relu: bool, nesterov: bool, nest_compare: bool, mu: float
) -> None:
    rng = np.random.default_rng(2)
    sizes = [5, 7, 6, 3]
    rates = [0.2, 0.1, 0.05]  # per layer: each layer must use its own
    params = {
        **DBN().get_params(),
        "layer_sizes": sizes,
        "minibatch_size": 8,
        "use_re_lu": relu,
        "learn_rates": rates,
        "momentum": mu,
        "l2_costs": 0.01,
        "nesterov": nesterov,
        "nest_compare": nest_compare,
    }
    cfg, Ws, bs, vWs, vbs = small_net(rng, params)
    ops = ArrayOps(xnp, Ws[0])
    tuner = FineTuner(ops, None, cfg, [W.copy() for W in Ws], [b.copy() for b in bs])
    for _ in range(RENORMALIZE_EVERY + 3):
        x = rng.random((8, 5))
        t = np.eye(3)[rng.integers(0, 3, 8)]
        tuner.step(x, t, rates)
        f = 1.0 if nest_compare else 1.0 - mu
        Ws, bs, vWs, vbs = reference_backprop_step(
            Ws, bs, vWs, vbs, x, t, rates, mu, 0.01, relu, nesterov, f
        )
    for state, W in zip(tuner.weights, Ws, strict=True):
        np.testing.assert_allclose(state.weights(), W, rtol=1e-8, atol=1e-10)
    for state, b in zip(tuner.biases, bs, strict=True):
        np.testing.assert_allclose(state.weights(), b, rtol=1e-8, atol=1e-10)


class ReplayedUniforms:
    """Stands in for the device RNG: hands out pre-drawn uniforms, in the order asked."""

    def __init__(self, draws: list[np.ndarray]) -> None:
        self.draws = list(draws)

    def uniform(self, shape, dtype):
        draw = self.draws.pop(0)
        assert draw.shape == tuple(shape)
        return draw.astype(dtype)


@pytest.mark.parametrize("relu", [True, False])
def test_fine_tune_steps_with_dropout_match_gdbn(relu: bool) -> None:
    """nolearn's dropout trains with gdbn's update, whose gradients leave out the 1/(1-p) of
    the forward pass (2-5x smaller than the true ones for dropouts 0.2, 0.5, 0.5), so learn
    rates tuned on nolearn carry over."""
    rng = np.random.default_rng(3)
    sizes, drops, m = [5, 7, 6, 3], [0.2, 0.5, 0.5], 8
    params = {
        **DBN().get_params(),
        "layer_sizes": sizes,
        "minibatch_size": m,
        "use_re_lu": relu,
        "learn_rates": 0.2,
        "l2_costs": 0.01,
        "dropouts": drops,
    }
    cfg, Ws, bs, vWs, vbs = small_net(rng, params)
    steps = 5
    draws = [rng.random((m, n)) for _ in range(steps) for n in sizes[:-1]]
    tuner = FineTuner(
        ArrayOps(xnp, Ws[0]),
        ReplayedUniforms(draws),
        cfg,
        [W.copy() for W in Ws],
        [b.copy() for b in bs],
    )
    for step in range(steps):
        x = rng.random((m, 5))
        t = np.eye(3)[rng.integers(0, 3, m)]
        tuner.step(x, t, [0.2, 0.2, 0.2])
        layer_draws = draws[step * 3 : step * 3 + 3]
        keeps = [(u >= p).astype(float) for u, p in zip(layer_draws, drops, strict=True)]
        Ws, bs, vWs, vbs = reference_backprop_step(
            Ws, bs, vWs, vbs, x, t, 0.2, 0.9, 0.01, relu, drops=drops, keeps=keeps
        )
    for state, W in zip(tuner.weights, Ws, strict=True):
        np.testing.assert_allclose(state.weights(), W, rtol=1e-8, atol=1e-10)
    for state, b in zip(tuner.biases, bs, strict=True):
        np.testing.assert_allclose(state.weights(), b, rtol=1e-8, atol=1e-10)


class RecordingRng:
    """Stands in for the device RNG: draws from numpy and keeps each draw for a reference."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.draws: list[np.ndarray] = []

    def normal(self, shape, dtype):
        self.draws.append(self.rng.standard_normal(shape))
        return self.draws[-1].astype(dtype)

    def uniform(self, shape, dtype):
        self.draws.append(self.rng.random(shape))
        return self.draws[-1].astype(dtype)


def reference_cd_step(W, hb, vb, dW, dhb, dvb, vis, draw, lr, mu, l2, nest_compare, gauss, relu):
    """gdbn's ``CDStep`` with ``CD1`` (float64): ``draw`` is the hidden sample's noise (ReLU:
    standard normal) or uniform (binary units)."""
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    act = (lambda a: np.maximum(a, 0)) if relu else sigmoid
    pos_hid = act(vis @ W + hb)
    if relu:  # gdbn's ReLU.sampleStates: relu(a + sqrt(sigmoid(a) + tiny) * noise)
        sample = np.maximum(pos_hid + np.sqrt(sigmoid(pos_hid) + 1e-30) * draw, 0)
    else:  # Binary.sampleStates: acts > uniform
        sample = (draw <= pos_hid).astype(float)
    neg_vis = sample @ W.T + vb
    if not gauss:  # the visible units are the hidden units below: same type
        neg_vis = act(neg_vis)
    neg_hid = act(neg_vis @ W + hb)
    stats = vis.T @ pos_hid - neg_vis.T @ neg_hid
    factor = 1.0 if nest_compare else 1.0 - mu
    dW = mu * dW + factor * stats
    dvb = mu * dvb + factor * (vis.sum(0) - neg_vis.sum(0))
    dhb = mu * dhb + factor * (pos_hid.sum(0) - neg_hid.sum(0))
    m = vis.shape[0]
    W = W * (1 - l2 * lr * factor) + lr / m * dW
    return W, hb + lr / m * dhb, vb + lr / m * dvb, dW, dhb, dvb, ((vis - neg_vis) ** 2).sum()


@pytest.mark.parametrize("nest_compare", [True, False])
@pytest.mark.parametrize(
    ("gauss", "relu"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_rbm_cd1_steps_match_gdbn(gauss: bool, relu: bool, nest_compare: bool) -> None:
    from pytest_gpubench.dbn.params import StepConfig
    from pytest_gpubench.dbn.rbm import RBMTrainer

    rng = np.random.default_rng(5)
    W = rng.normal(size=(6, 4)) * 0.3
    hb = rng.normal(size=4) * 0.1
    draws = RecordingRng(7)
    trainer = RBMTrainer(ArrayOps(xnp, W), draws, W.copy(), hb.copy(), gauss, relu)
    ref = (W, hb, np.zeros(6), np.zeros_like(W), np.zeros(4), np.zeros(6))
    step = StepConfig(
        learn_rates=(0.05,), momentum=0.9, l2_costs=(0.01,), nest_compare=nest_compare
    )
    for _ in range(4):
        vis = rng.random((8, 6)) if gauss else (rng.random((8, 6)) > 0.5).astype(float)
        error = trainer.step(vis, 0.05, step, 0.01)
        *ref, ref_error = reference_cd_step(
            *ref, vis, draws.draws[-1], 0.05, 0.9, 0.01, nest_compare, gauss, relu
        )
        assert float(error) == pytest.approx(ref_error, rel=1e-9)
    np.testing.assert_allclose(trainer.W, ref[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(trainer.hb, ref[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(trainer.vb, ref[2], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("nesterov", "mu"), [(True, 0.9), (False, 0.9), (True, 0.0)])
def test_a_resumed_fine_tuner_carries_the_momentum_on(nesterov: bool, mu: float) -> None:
    """``partial_fit`` hands the weights and velocities of one FineTuner to the next: the
    velocities are gdbn's, and the steps after the pause are gdbn's, as if none happened."""
    rng = np.random.default_rng(3)
    params = {
        **DBN().get_params(),
        "layer_sizes": [5, 7, 6, 3],
        "minibatch_size": 8,
        "momentum": mu,
        "l2_costs": 0.01,
        "nesterov": nesterov,
    }
    cfg, Ws, bs, vWs, vbs = small_net(rng, params)
    ops = ArrayOps(xnp, Ws[0])
    tuner = FineTuner(ops, None, cfg, Ws, bs)
    for k in range(2 * RENORMALIZE_EVERY):
        if k == RENORMALIZE_EVERY + 3:  # the lazy scales are not 1 here
            (W_now, b_now), (vW_now, vb_now) = tuner.parameters(), tuner.velocities()
            if mu:
                for got, expected in zip(vW_now + vb_now, vWs + vbs, strict=True):
                    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-10)
            else:  # without momentum no step is carried over
                assert not any(np.any(v) for v in vW_now + vb_now)
            tuner = FineTuner(ops, None, cfg, W_now, b_now, (vW_now, vb_now))
        x = rng.random((8, 5))
        t = np.eye(3)[rng.integers(0, 3, 8)]
        tuner.step(x, t, cfg.fine_tune.learn_rates)
        Ws, bs, vWs, vbs = reference_backprop_step(
            Ws, bs, vWs, vbs, x, t, 0.1, mu, 0.01, True, nesterov, 1.0
        )
    for state, W in zip(tuner.weights + tuner.biases, Ws + bs, strict=True):
        np.testing.assert_allclose(state.weights(), W, rtol=1e-8, atol=1e-10)
