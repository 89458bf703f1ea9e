"""``DBN``: nolearn 0.5's deep belief network classifier, as a scikit-learn estimator.

Same constructor names and defaults as ``nolearn.dbn.DBN`` (plus ``device`` and ``dtype``),
same training algorithm as George Dahl's gdbn, with nolearn's known bugs fixed. The math
runs on any array back end of :mod:`pytest_gpubench.devices`.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from pytest_gpubench.devices import Device, DeviceUnavailableError, require_device

from .finetune import FineTuner
from .gdbn import GdbnNet
from .layers import init_weights, predict_batches
from .log import TrainingLog
from .ops import ArrayOps
from .params import NetConfig, output_name
from .rbm import RBMTrainer, hidden_forward

__all__ = ["DBN", "TrainingDivergedError"]

#: Rows per forward pass in ``predict_proba`` (nolearn predicted one row at a time).
PREDICT_BATCH_SIZE = 4096

#: A mean training loss per case above this has diverged even if it is still finite: with
#: ReLUs the units then die and the fit would end, silently, at chance level.
EXPLODED_LOSS = 1e6

#: A final training error at or above this fraction of the majority-class error is "at
#: chance" and draws a ConvergenceWarning.
AT_CHANCE = 0.95

_LEARNED = (
    "classes_",
    "n_features_in_",
    "feature_names_in_",
    "layer_sizes_",
    "coefs_",
    "intercepts_",
    "learn_rates_",
    "losses_fine_tune_",
    "errors_fine_tune_",
    "errors_pretrain_",
)


class TrainingDivergedError(FloatingPointError, ValueError):
    """The training loss became NaN or infinite; the fit was abandoned."""


#: Inputs larger than this (in magnitude) get a hint to scale them when a fit fails:
#: nolearn's learn rates assume inputs of about [0, 1] (digits' raw pixels reach 16).
INPUT_SCALE_HINT_ABOVE = 8.0


def _input_scale_hint(xp: Any, X: Any) -> str:
    """A sentence for a failed fit's message where X is far from the [0, 1] scale that
    nolearn's learn rates assume; empty otherwise."""
    top = float(xp.max(xp.abs(X)))
    if not top > INPUT_SCALE_HINT_ABOVE:
        return ""
    return (
        f"; X reaches {top:.4g} in magnitude: scale it to about [0, 1] first "
        "(e.g. pixels / 255), as nolearn's learn rates assume"
    )


def _warn_if_at_chance(
    errors: list[float], y_index: np.ndarray, learn_rates: list, hint: Callable[[], str]
) -> None:
    """Warn when, after two epochs or more, the last epoch's training error is no better
    than always predicting the most frequent class: the fit finished, but the network
    learned nothing (with ReLUs, a too-large learn rate kills the hidden units while the
    loss stays finite). One epoch is not judged: its error counts the first minibatches."""
    if len(errors) < 2:
        return
    chance = 1.0 - float(np.bincount(y_index).max()) / len(y_index)
    if errors[-1] >= AT_CHANCE * chance:
        warnings.warn(
            f"the training error after epoch {len(errors)} is {errors[-1]:.3f}, no better "
            f"than always predicting the most frequent class ({chance:.3f}): the network "
            f"learned nothing. If the labels can be learned at all, the learn rate was too "
            f"large (with ReLUs, the hidden units die) or the updates too few; lower "
            f"learn_rates (now {learn_rates}) or scales, or train longer{hint()}",
            ConvergenceWarning,
            stacklevel=4,
        )


def _device(name: Any) -> Device:
    try:
        return require_device(name)
    except DeviceUnavailableError as exc:
        raise DeviceUnavailableError(f"DBN(device={name!r}) cannot run here: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"device={name!r} is not a known device: {exc}") from exc


def _namespace_of(x: Any) -> Any:
    try:
        return array_namespace(x)
    except TypeError:
        return None


def _on_device(X: Any, device: Device) -> Any:
    """``X`` as an array of ``device`` if it already is one of its library, else None.

    A numpy array always takes the host path (sklearn's validation, then one copy), so only
    torch tensors, CuPy or array-api-strict arrays handed to a device of their own library
    skip the host: a benchmark can then time the host→device copy apart from training.
    """
    if isinstance(X, np.ndarray) or _namespace_of(X) is not device.namespace():
        return None
    return device.asarray(X)  # moves a torch CPU tensor to CUDA; a no-op otherwise


def _seed(random_state: Any) -> int:
    """A 32-bit seed for the device's generator from sklearn-style ``random_state``."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int; got {random_state!r}")
        return int(np.random.SeedSequence(int(random_state)).generate_state(1)[0])
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**32, dtype=np.int64))
    raise ValueError(
        "random_state must be None, a non-negative int, a numpy Generator or RandomState; "
        f"got {random_state!r}"
    )


class DBN(ClassifierMixin, BaseEstimator):
    """A deep belief network classifier (nolearn 0.5's ``DBN`` on the array API).

    Parameters keep nolearn's names and defaults; per-layer parameters (``scales``,
    ``learn_rates``, ``dropouts``, ...) take one value for every weight layer or a list with
    one entry per weight layer. ``-1`` as the first or last of ``layer_sizes`` is inferred
    from ``X`` and ``y``. ``device`` names a back end of :mod:`pytest_gpubench.devices`
    (``"cpu"``, ``"cuda"``, ``"torch-cpu"``, ...); ``dtype`` is ``"float32"`` or
    ``"float64"``.

    Fitted attributes: ``classes_``, ``layer_sizes_``, ``coefs_``/``intercepts_`` (numpy,
    one per weight layer), ``learn_rates_`` (after decay), ``losses_fine_tune_`` (mean
    training error per epoch: cross-entropy for softmax), ``errors_fine_tune_`` (training
    mistakes per case per epoch, or ``loss_funct``'s), ``errors_pretrain_`` (per layer, mean
    squared reconstruction error per epoch).
    """

    def __init__(
        self,
        layer_sizes=None,
        scales=0.05,
        fan_outs=None,
        output_act_funct=None,
        real_valued_vis=True,
        use_re_lu=True,
        uniforms=False,
        learn_rates=0.1,
        learn_rate_decays=1.0,
        learn_rate_minimums=0.0,
        momentum=0.9,
        l2_costs=0.0001,
        dropouts=0,
        nesterov=True,
        nest_compare=True,
        rms_lims=None,
        learn_rates_pretrain=None,
        momentum_pretrain=None,
        l2_costs_pretrain=None,
        nest_compare_pretrain=None,
        epochs=10,
        epochs_pretrain=0,
        loss_funct=None,
        minibatch_size=64,
        minibatches_per_epoch=None,
        pretrain_callback=None,
        fine_tune_callback=None,
        random_state=None,
        verbose=0,
        device="cpu",
        dtype="float32",
    ) -> None:
        self.layer_sizes = layer_sizes
        self.scales = scales
        self.fan_outs = fan_outs
        self.output_act_funct = output_act_funct
        self.real_valued_vis = real_valued_vis
        self.use_re_lu = use_re_lu
        self.uniforms = uniforms
        self.learn_rates = learn_rates
        self.learn_rate_decays = learn_rate_decays
        self.learn_rate_minimums = learn_rate_minimums
        self.momentum = momentum
        self.l2_costs = l2_costs
        self.dropouts = dropouts
        self.nesterov = nesterov
        self.nest_compare = nest_compare
        self.rms_lims = rms_lims
        self.learn_rates_pretrain = learn_rates_pretrain
        self.momentum_pretrain = momentum_pretrain
        self.l2_costs_pretrain = l2_costs_pretrain
        self.nest_compare_pretrain = nest_compare_pretrain
        self.epochs = epochs
        self.epochs_pretrain = epochs_pretrain
        self.loss_funct = loss_funct
        self.minibatch_size = minibatch_size
        self.minibatches_per_epoch = minibatches_per_epoch
        self.pretrain_callback = pretrain_callback
        self.fine_tune_callback = fine_tune_callback
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any) -> DBN:
        """Pretrain (if ``epochs_pretrain``) and fine-tune on ``X``, ``y``; returns ``self``.

        A fit stopped by an exception (Ctrl-C, a callback) keeps the model of its last
        completed fine-tuning epoch; one that diverged keeps nothing.
        """
        for name in _LEARNED:
            self.__dict__.pop(name, None)
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked per epoch
                return self._fit(X, y)
        except BaseException as exc:
            if not self._keeps_last_epoch(exc):
                for name in _LEARNED:  # never leave a half-trained model behind
                    self.__dict__.pop(name, None)
            raise

    def _keeps_last_epoch(self, exc: BaseException) -> bool:
        """Whether a fit that raised ``exc`` keeps the model of its last completed
        fine-tuning epoch: yes when it was stopped (Ctrl-C, or a callback that raised),
        as nolearn's ``net_`` stayed usable; no when it diverged or never finished an epoch."""
        return bool(self.__dict__.get("losses_fine_tune_")) and not isinstance(
            exc, TrainingDivergedError
        )

    def _fit(self, X: Any, y: Any) -> DBN:
        device = _device(self.device)
        X_dev = _on_device(X, device)
        if X_dev is None:
            X, y = validate_data(self, X, y, dtype=(np.float32, np.float64))
        else:
            X_dev, y = self._validate_device_data(X_dev, y, device)
            X = X_dev
        check_classification_targets(y)
        encoder = LabelEncoder()
        y_index = encoder.fit_transform(y)
        classes = encoder.classes_
        if len(classes) < 2:
            raise ValueError(
                f"y has 1 class ({classes.tolist()[0]!r}); a classifier needs at least 2 classes"
            )
        cfg = NetConfig.from_params(
            self.get_params(deep=False), X.shape[0], X.shape[1], len(classes)
        )
        seed = _seed(self.random_state)
        log = TrainingLog(cfg.verbose)
        log.fitting(tuple(X.shape))

        xp = device.namespace()
        if X_dev is None:
            X_dev = device.asarray(X, cfg.dtype)
        else:
            X_dev = xp.astype(X_dev, getattr(xp, str(cfg.dtype)), copy=False)
        targets = device.asarray(np.eye(len(classes), dtype=cfg.dtype)[y_index])
        labels = device.asarray(y_index.astype(np.int64))
        ops = ArrayOps(xp, X_dev)
        rng = device.random(seed)

        self.classes_ = classes
        self.layer_sizes_ = list(cfg.layer_sizes)
        log.layers(cfg.layer_sizes)
        weights = [
            init_weights(
                xp, rng, (n_in, n_out), cfg.scales[i], cfg.fan_outs[i], cfg.uniforms[i], X_dev.dtype
            )
            for i, (n_in, n_out) in enumerate(pairwise(cfg.layer_sizes))
        ]
        biases = [ops.zeros((n,)) for n in cfg.layer_sizes[1:]]

        self.errors_pretrain_ = []
        if any(cfg.epochs_pretrain):
            self._pretrain(cfg, ops, rng, X_dev, weights, biases, log, device)

        self.losses_fine_tune_ = []
        self.errors_fine_tune_ = []
        self.learn_rates_ = list(cfg.fine_tune.learn_rates)
        tuner = FineTuner(ops, rng, cfg, weights, biases)
        log.fine_tune()
        cases = cfg.minibatches_per_epoch * cfg.minibatch_size
        snapshot = None  # the last whole epoch's parameters, on the device (no copy per epoch)
        try:
            for epoch in range(1, cfg.epochs + 1):
                tick, close = log.progress(cfg.minibatches_per_epoch, f"epoch {epoch}")
                error_sum, mistakes = tuner.epoch(
                    X_dev, targets, labels, self.learn_rates_, tick, cfg.loss_funct, device.to_numpy
                )
                close()
                loss = float(device.to_numpy(error_sum)) / cases
                err = float(device.to_numpy(mistakes) if cfg.loss_funct is None else mistakes)
                err /= cases
                if not math.isfinite(loss) or loss > EXPLODED_LOSS:
                    raise TrainingDivergedError(
                        f"fine-tuning diverged in epoch {epoch}: the mean training loss is "
                        f"{loss:.4g}; lower learn_rates (now {self.learn_rates_})"
                        f"{_input_scale_hint(xp, X_dev)}"
                    )
                self.losses_fine_tune_.append(loss)
                self.errors_fine_tune_.append(err)
                if self._decay_learn_rates(cfg):
                    log.learn_rates(self.learn_rates_)
                log.fine_tune_epoch(epoch, loss, err)
                snapshot = tuner.parameters()
                if cfg.fine_tune_callback is not None:
                    self._publish(device, *snapshot)
                    cfg.fine_tune_callback(self, epoch)
        except BaseException as exc:
            if snapshot is not None and self._keeps_last_epoch(exc):
                self._publish(device, *snapshot)  # an interrupted fit keeps its last epoch
            raise
        self._publish(device, *(snapshot or tuner.parameters()))
        if cfg.loss_funct is None and cfg.output == "softmax":
            _warn_if_at_chance(
                self.errors_fine_tune_,
                y_index,
                self.learn_rates_,
                lambda: _input_scale_hint(xp, X_dev),
            )
        return self

    def _validate_device_data(self, X_dev: Any, y: Any, device: Device) -> tuple[Any, np.ndarray]:
        """Check data already on the device where it lies (one sync); ``y`` comes to the host."""
        xp = device.namespace()
        if X_dev.ndim != 2 or X_dev.shape[0] < 1 or X_dev.shape[1] < 1:
            raise ValueError(
                f"X must be a non-empty 2-D array (n_samples, n_features); got shape "
                f"{tuple(X_dev.shape)}"
            )
        if not xp.isdtype(X_dev.dtype, ("real floating", "integral", "bool")):
            raise ValueError(
                f"X has dtype {X_dev.dtype}; the DBN needs real numbers (complex data is not "
                "supported: pass its real part or its magnitude)"
            )
        if getattr(X_dev, "requires_grad", False):  # a torch tensor in an autograd graph
            X_dev = X_dev.detach()  # the DBN computes its own gradients; the data stays put
        floating = xp.isdtype(X_dev.dtype, "real floating")  # integers and bools are finite
        if floating and not bool(xp.all(xp.isfinite(X_dev))):
            raise ValueError("Input X contains NaN or infinity; clean or impute it before fit")
        if not isinstance(y, np.ndarray) and _namespace_of(y) is xp:
            y = device.to_numpy(y)
        y = column_or_1d(y, warn=True)
        if y.shape[0] != X_dev.shape[0]:
            raise ValueError(
                f"X and y have different lengths: X has {X_dev.shape[0]} samples, y has "
                f"{y.shape[0]}; pass one label per row of X"
            )
        self.n_features_in_ = int(X_dev.shape[1])
        return X_dev, y

    def _pretrain(self, cfg, ops, rng, X_dev, weights, biases, log, device) -> None:
        """gdbn's greedy CD-1 pretraining of every weight layer, bottom up."""
        step = cfg.pretrain
        for i in range(cfg.n_weight_layers):
            self.errors_pretrain_.append([])
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
                    X_dev,
                    cfg.minibatch_size,
                    cfg.minibatches_per_epoch,
                    step.learn_rates[i],
                    step,
                    step.l2_costs[i],
                    tick,
                )
                close()
                err = float(device.to_numpy(err))
                if not math.isfinite(err):
                    raise TrainingDivergedError(
                        f"pretraining layer {i + 1} diverged in epoch {epoch}: the "
                        f"reconstruction error is {err}; lower learn_rates_pretrain "
                        f"(now {list(step.learn_rates)})"
                    )
                self.errors_pretrain_[-1].append(err)
                log.pretrain_epoch(epoch, err)
                if cfg.pretrain_callback is not None:
                    self._publish(device, weights, biases)
                    cfg.pretrain_callback(self, epoch, i)

    def _decay_learn_rates(self, cfg: NetConfig) -> bool:
        """nolearn's rule: multiply by the decay unless that goes below the minimum. False
        where nolearn skipped the step (and its ``verbose=2`` line): a scalar decay of 1."""
        decays = self.learn_rate_decays
        if isinstance(decays, numbers.Real) and not isinstance(decays, bool) and decays == 1.0:
            return False
        for i, (decay, minimum) in enumerate(
            zip(cfg.learn_rate_decays, cfg.learn_rate_minimums, strict=True)
        ):
            decayed = self.learn_rates_[i] * decay
            if decayed >= minimum:
                self.learn_rates_[i] = decayed
        return True

    def _publish(self, device: Device, weights: list, biases: list) -> None:
        self.coefs_ = [device.to_numpy(W) for W in weights]
        self.intercepts_ = [device.to_numpy(b) for b in biases]

    @property
    def net_(self) -> GdbnNet:
        """The fitted network under gdbn's names, as nolearn's ``net_``: ``weights``,
        ``biases`` (answering ``as_numpy_array()``) and ``learnRates``."""
        check_is_fitted(self, "coefs_")
        return GdbnNet(self)

    # ------------------------------------------------------------------ predicting

    def predict_proba(self, X: Any) -> np.ndarray:
        """Output activations (class probabilities for softmax), computed in batches."""
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        dtype = self.coefs_[0].dtype
        device = self._prediction_device()
        xp = device.namespace()
        X_dev = device.asarray(X, dtype.name)
        ops = ArrayOps(xp, X_dev)
        weights = [device.asarray(W) for W in self.coefs_]
        biases = [device.asarray(b) for b in self.intercepts_]
        output = output_name(self.output_act_funct)
        proba = predict_batches(
            ops, X_dev, weights, biases, bool(self.use_re_lu), output, PREDICT_BATCH_SIZE
        )
        proba = np.asarray(device.to_numpy(proba), dtype=np.float64)
        if output == "softmax":
            proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def _prediction_device(self) -> Device:
        """The model's device; numpy, with a warning, where that GPU is missing (a model
        fitted or unpickled on another machine: ``coefs_`` are host arrays either way)."""
        try:
            return _device(self.device)
        except DeviceUnavailableError as exc:
            warnings.warn(
                f"{exc}; predicting on numpy instead (set_params(device='cpu') silences this)",
                UserWarning,
                stacklevel=3,
            )
            return _device("numpy")

    def predict(self, X: Any) -> np.ndarray:
        """The class (a label from ``classes_``) with the highest output per row."""
        check_is_fitted(self, "coefs_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy; with ``loss_funct``, nolearn's ``1 - loss_funct(targets, outputs) / n``
        (nolearn passed ``(outputs, targets)`` here but ``(targets, outputs)`` in training)."""
        if self.loss_funct is None:
            return super().score(X, y, sample_weight=sample_weight)
        check_is_fitted(self, "coefs_")
        outputs = self.predict_proba(X)
        y = np.asarray(y)
        targets = (y[:, None] == self.classes_[None, :]).astype(outputs.dtype)
        return 1.0 - float(self.loss_funct(targets, outputs)) / len(y)
