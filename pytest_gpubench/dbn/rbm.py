"""Greedy layer-wise pretraining: each weight layer trained as an RBM by CD-1 (gdbn's CDStep).

Layer 0 has Gaussian visible units when the inputs are real valued; every other layer's
visible units are the hidden units below it. Hidden units are noisy ReLUs (sampled as
``relu(a + sqrt(sigmoid(a)) * noise)``) or binary (sampled Bernoulli of their sigmoid).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .diagnostics import TrainingDivergedError
from .log import TrainingLog
from .ops import ArrayOps
from .params import NetConfig, StepConfig

__all__ = ["RBMTrainer", "hidden_forward", "pretrain"]


class RBMTrainer:
    """CD-1 updates of one weight layer, its hidden biases and its visible biases."""

    def __init__(
        self,
        ops: ArrayOps,
        rng: Any,
        W: Any,
        hidden_bias: Any,
        gaussian_visible: bool,
        relu_hidden: bool,
    ) -> None:
        self.ops = ops
        self.rng = rng
        self.W = W
        self.hb = hidden_bias
        self.vb = ops.zeros((W.shape[0],))  # gdbn's generative (visible) biases
        self.gaussian_visible = gaussian_visible
        self.relu_hidden = relu_hidden
        self.dW = ops.zeros(W.shape)
        self.dvb = ops.zeros(self.vb.shape)
        self.dhb = ops.zeros(self.hb.shape)
        self._stats = ops.empty(W.shape)
        self._tmp = ops.empty(W.shape)

    def _hidden(self, vis: Any) -> Any:
        z = self.ops.matmul(vis, self.W)
        z += self.hb
        return self.ops.relu_(z) if self.relu_hidden else self.ops.sigmoid(z)

    def _sample_hidden(self, acts: Any) -> Any:
        xp = self.ops.xp
        if self.relu_hidden:
            noise = self.rng.normal(acts.shape, acts.dtype)
            return self.ops.relu_(acts + xp.sqrt(self.ops.sigmoid(acts) + 1e-30) * noise)
        return xp.astype(self.rng.uniform(acts.shape, acts.dtype) <= acts, acts.dtype)

    def _visible(self, hidden: Any, gaussian: bool) -> Any:
        z = self.ops.matmul(hidden, self.ops.xp.matrix_transpose(self.W))
        z += self.vb
        if gaussian:
            return z
        return self.ops.relu_(z) if self.relu_hidden else self.ops.sigmoid(z)

    def step(self, vis: Any, learn_rate: float, step: StepConfig, l2: float) -> Any:
        """One CD-1 update on minibatch ``vis``; returns its summed squared reconstruction
        error (a device scalar)."""
        ops, xp = self.ops, self.ops.xp
        m = vis.shape[0]
        pos_hid = self._hidden(vis)
        neg_vis = self._visible(self._sample_hidden(pos_hid), self.gaussian_visible)
        neg_hid = self._hidden(neg_vis)
        # vis.T @ pos_hid - neg_vis.T @ neg_hid as one product over the stacked minibatches
        stacked_vis = xp.concat([vis, neg_vis], axis=0)
        stacked_hid = xp.concat([pos_hid, -neg_hid], axis=0)
        stats = ops.matmul(xp.matrix_transpose(stacked_vis), stacked_hid, out=self._stats)
        mu = step.momentum
        factor = 1.0 if step.nest_compare else 1.0 - mu
        self.dW *= mu
        ops.add_scaled_(self.dW, stats, factor, tmp=self._tmp)
        self.dvb *= mu
        self.dvb += (xp.sum(vis, axis=0) - xp.sum(neg_vis, axis=0)) * factor
        self.dhb *= mu
        self.dhb += (xp.sum(pos_hid, axis=0) - xp.sum(neg_hid, axis=0)) * factor
        if l2 > 0:
            self.W *= 1.0 - l2 * learn_rate * factor
        rate = learn_rate / m
        ops.add_scaled_(self.W, self.dW, rate, tmp=self._tmp)
        self.vb += self.dvb * rate
        self.hb += self.dhb * rate
        diff = vis - neg_vis
        return xp.sum(diff * diff)

    def epoch(
        self,
        visible_of: Callable[[Any], Any],
        X: Any,
        minibatch_size: int,
        n_minibatches: int,
        learn_rate: float,
        step: StepConfig,
        l2: float,
        tick: Callable[[], None],
    ) -> Any:
        """One epoch; ``visible_of`` maps input rows to this layer's visible units.
        Returns the mean squared reconstruction error per case (a device scalar)."""
        xp = self.ops.xp
        order = self.rng.integers(X.shape[0], n_minibatches * minibatch_size)
        total = xp.zeros((), dtype=X.dtype, device=self.ops.device)
        for j in range(n_minibatches):
            rows = self.ops.take_rows(X, order[j * minibatch_size : (j + 1) * minibatch_size])
            total = total + self.step(visible_of(rows), learn_rate, step, l2)
            tick()
        return total / (n_minibatches * minibatch_size)


def hidden_forward(
    ops: ArrayOps, weights: Sequence[Any], biases: Sequence[Any], relu: bool
) -> Callable[[Any], Any]:
    """Deterministic forward pass through the given (lower) layers: the next RBM's input."""

    def forward(rows: Any) -> Any:
        acts = rows
        for W, b in zip(weights, biases, strict=True):
            z = ops.matmul(acts, W)
            z += b
            acts = ops.relu_(z) if relu else ops.sigmoid(z)
        return acts

    return forward


def pretrain(
    ops: ArrayOps,
    rng: Any,
    cfg: NetConfig,
    X: Any,
    weights: Sequence[Any],
    biases: Sequence[Any],
    log: TrainingLog,
    to_host: Callable[[Any], Any],
    after_epoch: Callable[[int, int, float], None],
) -> None:
    """gdbn's greedy CD-1 pretraining of every weight layer, bottom up, in place.

    ``after_epoch(layer, epoch, error)`` hears each epoch's mean squared reconstruction
    error (``layer`` from 0, ``epoch`` from 1); a NaN or infinite one stops pretraining.
    """
    step = cfg.pretrain
    for i in range(cfg.n_weight_layers):
        log.pretrain_layer(i)
        rbm = RBMTrainer(
            ops,
            rng,
            weights[i],
            biases[i],
            gaussian_visible=(i == 0 and cfg.real_valued_vis),
            relu_hidden=cfg.use_re_lu,
        )
        below = hidden_forward(ops, weights[:i], biases[:i], cfg.use_re_lu)
        for epoch in range(1, cfg.epochs_pretrain[i] + 1):
            tick, close = log.progress(cfg.minibatches_per_epoch, f"layer {i + 1}")
            err = rbm.epoch(
                below,
                X,
                cfg.minibatch_size,
                cfg.minibatches_per_epoch,
                step.learn_rates[i],
                step,
                step.l2_costs[i],
                tick,
            )
            close()
            err = float(to_host(err))
            if not math.isfinite(err):
                raise TrainingDivergedError(
                    f"pretraining layer {i + 1} diverged in epoch {epoch}: the "
                    f"reconstruction error is {err}; lower learn_rates_pretrain "
                    f"(now {list(step.learn_rates)})"
                )
            log.pretrain_epoch(epoch, err)
            after_epoch(i, epoch, err)
