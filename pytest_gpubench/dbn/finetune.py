"""Fine-tuning by backpropagation: one epoch of minibatch steps, all on the device.

Minibatch indices for an epoch are drawn at once (with replacement, as nolearn did),
minibatches are gathered by row index, and the epoch's summed loss and mistakes stay on
the device until the epoch ends, so nothing crosses the bus per minibatch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from .layers import output_forward
from .ops import ArrayOps, ColumnSums, Product
from .optim import ParameterState
from .params import NetConfig

__all__ = ["FineTuner"]


class FineTuner:
    """The network's trainable state and one-epoch loop for backpropagation."""

    def __init__(
        self,
        ops: ArrayOps,
        rng: Any,
        config: NetConfig,
        weights: Sequence[Any],
        biases: Sequence[Any],
        velocities: tuple[Sequence[Any], Sequence[Any]] | None = None,
    ) -> None:
        """Train copies of ``weights`` and ``biases`` from rest, or with the momentum of
        an earlier run (its :meth:`velocities`)."""
        self.ops = ops
        self.rng = rng
        self.cfg = config
        v_weights, v_biases = velocities or ([None] * len(weights), [None] * len(biases))
        mu, nesterov = config.fine_tune.momentum, config.nesterov
        # matrices in the layout the back end's products prefer (column-major on numpy)
        self.weights = [
            ParameterState(ops, ops.as_matrix(W), nesterov, v, mu)
            for W, v in zip(weights, v_weights, strict=True)
        ]
        self.biases = [
            ParameterState(ops, ops.xp.asarray(b, copy=True), nesterov, v, mu)
            for b, v in zip(biases, v_biases, strict=True)
        ]
        m = config.minibatch_size
        sizes = config.layer_sizes
        self._z = [ops.matrix((m, n)) for n in sizes[1:]]
        # error signals at each hidden layer's output (none needed at the input)
        self._back = [None] + [ops.matrix((m, n)) for n in sizes[1:-1]]
        self._to_back = [ops.matrix((m, n)) for n in sizes[1:]]  # scaled error signals
        self._to_grad = [ops.matrix((m, n)) for n in sizes[1:]]
        self._grad = [
            None if ops.adds_products_in_place else ops.empty((n_in, n_out))
            for n_in, n_out in pairwise(sizes)
        ]

    def parameters(self) -> tuple[list[Any], list[Any]]:
        """The current weights and biases (not the look-ahead), as new arrays."""
        return [s.weights() for s in self.weights], [s.weights() for s in self.biases]

    def velocities(self) -> tuple[list[Any], list[Any]]:
        """The weights' and biases' momentum, for a later run to resume (new arrays)."""
        mu = self.cfg.fine_tune.momentum
        return [s.velocity(mu) for s in self.weights], [s.velocity(mu) for s in self.biases]

    def epoch(
        self,
        X: Any,
        targets: Any,
        labels: Any,
        learn_rates: Sequence[float],
        tick: Callable[[], None],
        loss_funct: Callable[[Any, Any], float] | None = None,
        to_host: Callable[[Any], Any] | None = None,
    ) -> tuple[Any, Any]:
        """Train one epoch; return the summed training error and the summed mistakes
        (device scalars, or with ``loss_funct`` the host sum of its per-minibatch values)."""
        xp, cfg = self.ops.xp, self.cfg
        m = cfg.minibatch_size
        order = self.rng.integers(X.shape[0], cfg.minibatches_per_epoch * m)
        error = xp.zeros((), dtype=X.dtype, device=self.ops.device)
        # each minibatch's predicted classes; compared with the labels once, at the end
        predicted = None if loss_funct is not None else xp.empty_like(order)
        mistakes = 0.0
        for j in range(cfg.minibatches_per_epoch):
            rows = slice(j * m, (j + 1) * m)
            idx = order[rows]
            xb = self.ops.take_rows(X, idx)
            tb = self.ops.take_rows(targets, idx)
            outputs, batch_error = self.step(xb, tb, learn_rates)
            error = error + batch_error
            if predicted is not None:
                predicted[rows] = xp.argmax(outputs, axis=1)
            else:
                mistakes += float(loss_funct(to_host(tb), to_host(outputs)))
            tick()
        if predicted is None:
            return error, mistakes
        wrong = predicted != self.ops.take_rows(labels, order)
        return error, xp.sum(xp.astype(wrong, X.dtype))

    def step(self, xb: Any, tb: Any, learn_rates: Sequence[float]) -> tuple[Any, Any]:
        """One minibatch: forward, backward, update. Returns the output activations and the
        summed training error, both before the update."""
        ops, xp, cfg = self.ops, self.ops.xp, self.cfg
        step = cfg.fine_tune
        m = xb.shape[0]
        n_layers = len(self.weights)
        inputs = []
        acts = xb
        for i in range(n_layers):
            acts = self._dropout(acts, cfg.dropouts[i])
            inputs.append(acts)
            W, scale = self.weights[i].forward
            if isinstance(scale, float):
                z = ops.matmul(acts, W, out=self._z[i], alpha=scale)
            else:  # per-column scales (rms_lims)
                z = ops.matmul(acts, W, out=self._z[i])
                z *= scale
            z = ops.add_to_rows_(z, *self.biases[i].forward)
            acts = z if i == n_layers - 1 else self._hidden(z)
        outputs, error = output_forward(xp, cfg.output, acts, tb)
        delta = tb - outputs  # minus dError/dNetInput
        for i in reversed(range(n_layers)):
            state = self.weights[i]
            W, scale = state.forward
            if i > 0:  # propagate through the weights before they change
                back = self._scaled_product(delta, scale, xp.matrix_transpose(W), i)
            lr, l2 = learn_rates[i], step.l2_costs[i]
            g_scale = state.gradient_scale(lr, m, step.momentum, l2, step.nest_compare)
            if cfg.dropouts[i]:  # gdbn's gradient: from the unscaled kept inputs
                g_scale = g_scale * (1.0 - cfg.dropouts[i])
            if isinstance(g_scale, float):  # scaled for free inside the product
                grad = Product(xp.matrix_transpose(inputs[i]), delta, self._grad[i], g_scale)
            else:
                signal = ops.multiply(delta, g_scale, out=self._to_grad[i])
                grad = Product(xp.matrix_transpose(inputs[i]), signal, out=self._grad[i])
            state.step(grad, lr, step.momentum, l2, step.nest_compare, cfg.rms_lims[i])
            bias = self.biases[i]
            b_scale = bias.gradient_scale(lr, m, step.momentum, 0.0, step.nest_compare)
            sums = ColumnSums(delta, b_scale)
            bias.step(sums, lr, step.momentum, 0.0, step.nest_compare, None)
            if i > 0:
                delta = self._hidden_backward(back, inputs[i], cfg.dropouts[i])
        return outputs, error

    def _scaled_product(self, delta: Any, scale: Any, W_t: Any, i: int) -> Any:
        """``(delta * scale) @ W_t`` for a scalar or per-column ``scale``."""
        if isinstance(scale, float):
            return self.ops.matmul(delta, W_t, out=self._back[i], alpha=scale)
        scaled = self.ops.multiply(delta, scale, out=self._to_back[i])
        return self.ops.matmul(scaled, W_t, out=self._back[i])

    def _hidden(self, z: Any) -> Any:
        return self.ops.relu_(z) if self.cfg.use_re_lu else self.ops.sigmoid(z)

    def _dropout(self, acts: Any, p: float) -> Any:
        """Inverted dropout: zero a fraction ``p`` of ``acts``, scale the rest by 1/(1-p)."""
        if p == 0.0:
            return acts
        xp = self.ops.xp
        keep = self.rng.uniform(acts.shape, acts.dtype) >= p
        mask = self.ops.mask(
            keep, xp.asarray(1.0 / (1.0 - p), dtype=acts.dtype, device=self.ops.device)
        )
        return acts * mask

    def _hidden_backward(self, back: Any, layer_input: Any, p: float) -> Any:
        """Error signal at a hidden layer's net input from the one at its output.

        With dropout this is gdbn's signal, which leaves out the 1/(1-p) that scaled the
        kept units on the way forward: its derivative is taken at the unscaled kept
        activations ``s = layer_input * (1 - p)`` (``s > 0`` for ReLU, ``s(1-s)`` for the
        sigmoid), so nolearn's learn rates behave as they did.
        """
        if self.cfg.use_re_lu:  # dropped and inactive units both have layer_input == 0
            return self.ops.mask_(layer_input > 0, back)
        s = layer_input if p == 0.0 else layer_input * (1.0 - p)
        return back * s * (1.0 - s)
