"""``DBN``: nolearn 0.5's deep belief network classifier, as a scikit-learn estimator.

Same constructor names and defaults as ``nolearn.dbn.DBN`` (plus ``device``, ``dtype`` and
``warm_start``), same training algorithm as George Dahl's gdbn, with nolearn's known bugs
fixed. The math runs on any array back end of :mod:`pytest_gpubench.devices`.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from itertools import pairwise
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from pytest_gpubench.devices import Device, DeviceUnavailableError, require_device

from .constraints import BOOLEAN, LayerSizes, Number, OutputFunction, PerLayer, check_params
from .data import TrainingData, check_device_data, encode_labels, on_device, upload
from .diagnostics import TrainingDivergedError, check_loss, input_scale_hint, warn_if_at_chance
from .finetune import FineTuner
from .gdbn import GdbnNet
from .layers import init_weights, predict_batches
from .log import TrainingLog
from .ops import ArrayOps
from .params import NetConfig, output_name
from .rbm import pretrain

__all__ = ["DBN", "TrainingDivergedError"]

#: Rows per forward pass in ``predict_proba`` (nolearn predicted one row at a time).
PREDICT_BATCH_SIZE = 4096

#: What a fit learns; a fit that starts anew forgets all of it first.
_LEARNED = (
    "classes_",
    "n_features_in_",
    "feature_names_in_",
    "layer_sizes_",
    "coefs_",
    "intercepts_",
    "learn_rates_",
    "n_iter_",
    "loss_curve_",
    "errors_fine_tune_",
    "errors_pretrain_",
    "_velocities",
)

_NON_NEGATIVE = Number(Real, 0, None, closed="left")
_POSITIVE = Number(Real, 0, None, closed="neither")
_FRACTION = Number(Real, 0, 1, closed="left")


def _device(name: Any) -> Device:
    try:
        return require_device(name)
    except DeviceUnavailableError as exc:
        raise DeviceUnavailableError(f"DBN(device={name!r}) cannot run here: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"device={name!r} is not a known device: {exc}") from exc


def _seed(random_state: Any, epochs_done: int) -> int:
    """A 32-bit seed for the device's generator from sklearn-style ``random_state``; an int
    gives each continued run (``epochs_done`` > 0) its own stream, reproducibly."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**32, dtype=np.int64))
    spawn_key = (epochs_done,) if epochs_done else ()
    entropy = None if random_state is None else int(random_state)
    return int(np.random.SeedSequence(entropy, spawn_key=spawn_key).generate_state(1)[0])


@dataclass(frozen=True)
class _Run:
    """One call of ``fit`` or ``partial_fit``: its settings, data, device and log."""

    cfg: NetConfig
    data: TrainingData
    device: Device
    ops: ArrayOps
    rng: Any
    log: TrainingLog
    cold: bool  # a new model; else the fitted one goes on learning
    incremental: bool  # partial_fit: one epoch, momentum and learn-rate decay carried on

    def hint(self) -> str:
        """The input-scale hint for a failed fit's message (computed only then)."""
        return input_scale_hint(self.ops.xp, self.data.X)


class DBN(ClassifierMixin, BaseEstimator):
    """A deep belief network classifier: nolearn 0.5's ``DBN`` on the Python array API.

    A feed-forward network of ReLU (or sigmoid) hidden layers and a softmax output, trained
    by minibatch backpropagation with momentum ("fine-tuning"), optionally after greedy
    layer-wise RBM pretraining, as George Dahl's gdbn trained it. The parameters keep
    nolearn's names and defaults, so a nolearn script runs with only its imports changed.

    Parameters marked *per layer* take one value for every weight layer or a list with one
    value per weight layer (a network with ``layer_sizes=[784, 800, 10]`` has 2).

    Parameters
    ----------
    layer_sizes : list of int, default=None
        Units per layer, input first and output last, e.g. ``[784, 800, 800, 10]``. A
        ``-1`` first or last is inferred from ``X`` (its features) or ``y`` (its classes);
        None means ``[-1, -1]``, a softmax regression without hidden layers.
    scales : float or list of float, default=0.05
        Per layer: the spread of the initial weights (the standard deviation of the normal
        noise, or the half-width of the uniform one with ``uniforms``).
    fan_outs : int, list of int or None, default=None
        Per layer: how many incoming weights of each unit start non-zero (gdbn's
        ``maxNonZeroPerColumn``); None keeps all of them.
    output_act_funct : {'Softmax', 'Sigmoid', 'Linear'} or None, default=None
        The output units and their loss: softmax with cross-entropy (None), logistic units
        with cross-entropy, or linear units with squared error. gdbn's activation objects
        (``pytest_gpubench.dbn.gdbn.Linear()``) are read by their class name.
    real_valued_vis : bool, default=True
        Pretraining: the first RBM's visible units are Gaussian (real-valued inputs)
        rather than binary.
    use_re_lu : bool, default=True
        Hidden units are rectified linear units (in pretraining, noisy ReLUs) rather than
        logistic sigmoids.
    uniforms : bool or list of bool, default=False
        Per layer: draw the initial weights from a uniform rather than a normal distribution.
    learn_rates : float or list of float, default=0.1
        Per layer: the fine-tuning learn rate; 0 freezes a layer. nolearn's rates assume
        inputs of about [0, 1].
    learn_rate_decays : float or list of float, default=1.0
        Per layer: the learn rate is multiplied by this after every fine-tuning epoch.
    learn_rate_minimums : float or list of float, default=0.0
        Per layer: a decay that would take the learn rate below this is skipped.
    momentum : float, default=0.9
        The momentum of fine-tuning, in [0, 1).
    l2_costs : float or list of float, default=0.0001
        Per layer: the L2 penalty on the weights (not the biases); each learn rate times its
        cost must stay below 1.
    dropouts : float or list of float, default=0
        Per layer: the fraction of each weight layer's inputs dropped in fine-tuning (the
        first entry drops input features), in [0, 1).
    nesterov : bool, default=True
        Nesterov's momentum (the gradient taken at the look-ahead weights) rather than
        classic momentum.
    nest_compare : bool, default=True
        With classic momentum (and in pretraining): take the gradient step unscaled, as
        Nesterov's momentum does, rather than scaled by ``1 - momentum``.
    rms_lims : float, list of float or None, default=None
        Per layer: after each update, scale down every unit's incoming weights whose root
        mean square exceeds this; None sets no limit.
    learn_rates_pretrain : float, list of float or None, default=None
        Per layer: the pretraining learn rate; None uses ``learn_rates`` (on image data the
        Gaussian first RBM needs a smaller one, e.g. 0.01).
    momentum_pretrain : float or None, default=None
        The momentum of pretraining; None uses ``momentum``.
    l2_costs_pretrain : float, list of float or None, default=None
        Per layer: the L2 penalty of pretraining; None uses ``l2_costs``.
    nest_compare_pretrain : bool or None, default=None
        ``nest_compare`` for pretraining; None uses ``nest_compare``.
    epochs : int, default=10
        Fine-tuning epochs per ``fit`` (``partial_fit`` runs one per call).
    epochs_pretrain : int or list of int, default=0
        Per layer: the RBM pretraining epochs of a new model; 0 skips pretraining.
    loss_funct : callable or None, default=None
        ``loss_funct(targets, outputs) -> float`` on one minibatch's one-hot targets and
        output activations (numpy arrays), summed into ``errors_fine_tune_`` and used by
        ``score`` (as ``1 - loss / n_samples``); None counts misclassified rows.
    minibatch_size : int, default=64
        Rows per minibatch.
    minibatches_per_epoch : int or None, default=None
        Minibatches per epoch, their rows drawn at random with replacement, as nolearn did;
        None means ``n_samples // minibatch_size`` (at least 1).
    pretrain_callback : callable or None, default=None
        Called as ``pretrain_callback(dbn, epoch, layer)`` after every pretraining epoch,
        ``epoch`` counted from 1 and ``layer`` from 0, with ``coefs_`` up to date.
    fine_tune_callback : callable or None, default=None
        Called as ``fine_tune_callback(dbn, epoch)`` after every fine-tuning epoch, with
        ``epoch`` equal to ``n_iter_`` and ``coefs_`` up to date; setting
        ``dbn.net_.learnRates`` there changes the rates of the epochs that follow.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seeds the initial weights, the minibatches and dropout, drawn on the device. An int
        makes fits reproducible.
    verbose : int, default=0
        1 prints nolearn's progress log on stdout and a progress bar on stderr; 2 also prints
        the learn rates after each decay.
    device : str, default='cpu'
        The array back end that trains and predicts: ``'cpu'`` (numpy), ``'cuda'`` (CuPy,
        else torch), ``'numpy'``, ``'torch-cpu'``, ``'cupy'``, ``'torch-cuda'`` or
        ``'array-api-strict'``.
    dtype : {'float32', 'float64'}, default='float32'
        The floating-point type of the network and of the training data on the device.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model trains on from its learned weights, for
        ``epochs`` more epochs (learn rates from ``learn_rates`` again, momentum from rest,
        no pretraining), and ``n_iter_`` and ``loss_curve_`` go on counting; ``y`` must have
        the model's classes. When False, every ``fit`` starts a new model.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of the output units.
    n_features_in_ : int
        The number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names of ``X``, where ``X`` was a DataFrame with string column names.
    layer_sizes_ : list of int
        ``layer_sizes`` with any ``-1`` inferred.
    coefs_ : list of ndarray
        The weight matrix of each weight layer, shape (units below, units above), numpy.
    intercepts_ : list of ndarray
        The bias vector of each weight layer's upper units, numpy.
    learn_rates_ : list of float
        The fine-tuning learn rates after the decays so far (``net_.learnRates``).
    n_iter_ : int
        The fine-tuning epochs the model has had, over warm-started fits and
        ``partial_fit`` calls.
    loss_curve_ : list of float
        The mean training loss of every fine-tuning epoch (cross-entropy for softmax).
    losses_fine_tune_ : list of float
        ``loss_curve_`` under this estimator's earlier name.
    errors_fine_tune_ : list of float
        Per fine-tuning epoch, the training mistakes per row (or ``loss_funct``'s sum per
        row).
    errors_pretrain_ : list of list of float
        Per weight layer, the mean squared reconstruction error of each pretraining epoch.
    net_ : GdbnNet
        The fitted network under gdbn's names, as nolearn's ``net_`` (``weights``,
        ``biases``, ``learnRates``).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "layer_sizes": [None, LayerSizes()],
        "scales": [PerLayer(_NON_NEGATIVE)],
        "fan_outs": [PerLayer(None, Number(Integral, 1, None, closed="left"))],
        "output_act_funct": [None, OutputFunction()],
        "real_valued_vis": BOOLEAN,
        "use_re_lu": BOOLEAN,
        "uniforms": [PerLayer(*BOOLEAN)],
        "learn_rates": [PerLayer(_NON_NEGATIVE)],  # 0 freezes a layer
        "learn_rate_decays": [PerLayer(_POSITIVE)],
        "learn_rate_minimums": [PerLayer(_NON_NEGATIVE)],
        "momentum": [_FRACTION],
        "l2_costs": [PerLayer(_NON_NEGATIVE)],
        "dropouts": [PerLayer(_FRACTION)],
        "nesterov": BOOLEAN,
        "nest_compare": BOOLEAN,
        "rms_lims": [PerLayer(None, _POSITIVE)],
        "learn_rates_pretrain": [None, PerLayer(_NON_NEGATIVE)],
        "momentum_pretrain": [None, _FRACTION],
        "l2_costs_pretrain": [None, PerLayer(_NON_NEGATIVE)],
        "nest_compare_pretrain": [None, *BOOLEAN],
        "epochs": [Number(Integral, 0, None, closed="left")],
        "epochs_pretrain": [PerLayer(Number(Integral, 0, None, closed="left"))],
        "loss_funct": [callable, None],
        "minibatch_size": [Number(Integral, 1, None, closed="left")],
        "minibatches_per_epoch": [None, Number(Integral, 1, None, closed="left")],
        "pretrain_callback": [callable, None],
        "fine_tune_callback": [callable, None],
        "random_state": [
            None,
            Number(Integral, 0, None, closed="left"),
            np.random.Generator,
            np.random.RandomState,
        ],
        "verbose": [Number(Integral, 0, None, closed="left"), *BOOLEAN],
        "device": [str],  # which names exist, and can run here, is the device's to say
        "dtype": [StrOptions({"float32", "float64"})],
        "warm_start": BOOLEAN,
    }

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
        warm_start=False,
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
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any) -> DBN:
        """Train for ``epochs`` fine-tuning epochs: a new model, or with ``warm_start`` the
        fitted one. A new model is pretrained first if ``epochs_pretrain`` asks for it.

        A fit stopped by an exception (Ctrl-C, a callback) keeps the model of its last
        completed fine-tuning epoch; a new model that diverged keeps nothing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs, best scaled to about [0, 1]; an array of the device's own library
            (a torch tensor, a CuPy array) is used where it lies.
        y : array-like of shape (n_samples,)
            The class labels.

        Returns
        -------
        self : DBN
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> DBN:
        """One fine-tuning epoch over ``X``, ``y``, continuing the model.

        The first call starts a new model (pretrained if ``epochs_pretrain``). Later calls
        carry on its weights, momentum and decayed learn rates ``learn_rates_`` (set
        ``net_.learnRates`` to change them: ``learn_rates`` is where they start); a call
        after ``fit`` carries on its weights and learn rates, its momentum from rest.
        ``epochs`` and ``warm_start`` are not used.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs of this call.
        y : array-like of shape (n_samples,)
            Their labels, each one of ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every label that any call will see, e.g. ``np.unique(y_all)``: required on the
            first call, optional after (then it must be the same).

        Returns
        -------
        self : DBN
            The updated estimator.
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints`` (scikit-learn's hook)."""
        check_params(self._parameter_constraints, self.get_params(deep=False))

    def _fit(self, X: Any, y: Any, incremental: bool, classes: Any = None) -> DBN:
        """``fit`` and ``partial_fit``: validate, put the data on the device, start or
        resume the network (pretraining a new one), fine-tune, finish."""
        self._validate_params()
        cold = not hasattr(self, "coefs_") or not (incremental or self.warm_start)
        if cold:
            self._forget()
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # divergence: checked per epoch
                run = self._start_run(X, y, cold, incremental, classes)
                tuner = self._network(run)
                self._fine_tune(run, tuner, epochs=1 if incremental else run.cfg.epochs)
                self._finish(run, tuner)
        except BaseException as exc:
            if not self._keeps_model(exc, cold):
                self._forget()  # never leave a half-trained model behind
            raise
        return self

    def _forget(self) -> None:
        for name in _LEARNED:
            self.__dict__.pop(name, None)

    def _keeps_model(self, exc: BaseException, cold: bool) -> bool:
        """Whether a call that raised ``exc`` keeps a model: one that went on training keeps
        the model of its last completed epoch; a new one does too when it was stopped
        (Ctrl-C, a callback that raised), as nolearn's ``net_`` stayed usable, but not when
        it diverged or never finished an epoch."""
        if not cold:
            return True
        return bool(self.__dict__.get("loss_curve_")) and not isinstance(exc, TrainingDivergedError)

    # -- validate and prepare the data

    def _start_run(self, X: Any, y: Any, cold: bool, incremental: bool, classes: Any) -> _Run:
        """Check the data, learn or check the classes, and copy the data to the device."""
        device = _device(self.device)
        X, y = self._check_data(X, y, device, reset=cold)
        fitted = None if cold else self.classes_
        self.classes_, y_index = encode_labels(y, fitted, classes, incremental)
        n_samples, n_features = X.shape
        cfg = NetConfig.from_params(
            self.get_params(deep=False), n_samples, n_features, len(self.classes_)
        )
        if not cold and list(cfg.layer_sizes) != self.layer_sizes_:
            raise ValueError(
                f"layer_sizes={self.layer_sizes!r} gives layers {list(cfg.layer_sizes)}, but "
                f"the fitted model has {self.layer_sizes_}: keep its layers to train it on, "
                "or fit a new model (warm_start=False)"
            )
        log = TrainingLog(cfg.verbose)
        log.fitting(tuple(X.shape))
        data = upload(X, y_index, len(self.classes_), device, cfg.dtype)
        rng = device.random(_seed(self.random_state, self.__dict__.get("n_iter_", 0)))
        ops = ArrayOps(device.namespace(), data.X)
        return _Run(cfg, data, device, ops, rng, log, cold, incremental)

    def _check_data(self, X: Any, y: Any, device: Device, reset: bool) -> tuple[Any, Any]:
        """scikit-learn's checks on the host, or the same checks where ``X`` already lies
        on the device; ``reset`` learns ``n_features_in_``, else ``X`` must match it."""
        X_dev = on_device(X, device)
        if X_dev is None:
            return validate_data(self, X, y, reset=reset, dtype=(np.float32, np.float64))
        X_dev, y = check_device_data(X_dev, y, device)
        n_features = int(X_dev.shape[1])
        if reset:
            self.n_features_in_ = n_features
            self.__dict__.pop("feature_names_in_", None)
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but DBN is expecting {self.n_features_in_} "
                "features as input."
            )
        return X_dev, y

    # -- start or resume the network

    def _network(self, run: _Run) -> FineTuner:
        """A new network (initial weights, pretrained if asked), or the fitted one's weights
        on the device (with the momentum an earlier ``partial_fit`` kept, in the next)."""
        cfg, device = run.cfg, run.device
        run.log.layers(cfg.layer_sizes)
        if run.cold:
            self.layer_sizes_ = list(cfg.layer_sizes)
            weights, biases = self._initial_network(run)
            return FineTuner(run.ops, run.rng, cfg, weights, biases)
        weights = [device.asarray(W, cfg.dtype) for W in self.coefs_]
        biases = [device.asarray(b, cfg.dtype) for b in self.intercepts_]
        velocities = self.__dict__.pop("_velocities", None)  # stale once training goes on
        if not run.incremental:  # a warm-started fit starts its momentum from rest
            velocities = None
        elif velocities is not None:
            velocities = tuple([device.asarray(v, cfg.dtype) for v in vs] for vs in velocities)
        return FineTuner(run.ops, run.rng, cfg, weights, biases, velocities)

    def _initial_network(self, run: _Run) -> tuple[list[Any], list[Any]]:
        cfg, ops = run.cfg, run.ops
        weights = [
            init_weights(
                ops.xp, run.rng, shape, cfg.scales[i], cfg.fan_outs[i], cfg.uniforms[i], ops.dtype
            )
            for i, shape in enumerate(pairwise(cfg.layer_sizes))
        ]
        biases = [ops.zeros((n,)) for n in cfg.layer_sizes[1:]]
        self.errors_pretrain_ = []
        if any(cfg.epochs_pretrain):
            self._pretrain(run, weights, biases)
        return weights, biases

    def _pretrain(self, run: _Run, weights: list[Any], biases: list[Any]) -> None:
        """Pretrain the new network in place, recording each epoch's error (and calling
        ``pretrain_callback``)."""
        self.errors_pretrain_ = [[] for _ in weights]
        callback = run.cfg.pretrain_callback

        def after_epoch(layer: int, epoch: int, err: float) -> None:
            self.errors_pretrain_[layer].append(err)
            if callback is not None:
                self._publish(run.device, weights, biases)
                callback(self, epoch, layer)

        pretrain(
            run.ops,
            run.rng,
            run.cfg,
            run.data.X,
            weights,
            biases,
            run.log,
            run.device.to_numpy,
            after_epoch,
        )

    # -- fine-tune

    def _fine_tune(self, run: _Run, tuner: FineTuner, epochs: int) -> None:
        """``epochs`` epochs of backpropagation; ``coefs_`` end as the last whole epoch's,
        also when an exception stops the loop."""
        if run.cold:
            self.n_iter_, self.loss_curve_, self.errors_fine_tune_ = 0, [], []
        if not run.incremental or not hasattr(self, "learn_rates_"):
            self.learn_rates_ = list(run.cfg.fine_tune.learn_rates)  # the schedule starts
        run.log.fine_tune()
        snapshot = None  # the last whole epoch's parameters, on the device (no copy per epoch)
        try:
            for _ in range(epochs):
                self._fine_tune_epoch(run, tuner)
                snapshot = tuner.parameters()
                if run.cfg.fine_tune_callback is not None:
                    self._publish(run.device, *snapshot)
                    run.cfg.fine_tune_callback(self, self.n_iter_)
        except BaseException as exc:
            if snapshot is not None and self._keeps_model(exc, run.cold):
                self._publish(run.device, *snapshot)  # an interrupted fit keeps its last epoch
            raise
        self._publish(run.device, *(snapshot or tuner.parameters()))

    def _fine_tune_epoch(self, run: _Run, tuner: FineTuner) -> None:
        """One epoch: train, read its loss back (the one sync per epoch), check it, record
        it and decay the learn rates."""
        cfg, to_host = run.cfg, run.device.to_numpy
        epoch = self.n_iter_ + 1
        tick, close = run.log.progress(cfg.minibatches_per_epoch, f"epoch {epoch}")
        error_sum, mistakes = tuner.epoch(
            run.data.X,
            run.data.targets,
            run.data.labels,
            self.learn_rates_,
            tick,
            cfg.loss_funct,
            to_host,
        )
        close()
        cases = cfg.minibatches_per_epoch * cfg.minibatch_size
        loss = float(to_host(error_sum)) / cases
        err = float(to_host(mistakes) if cfg.loss_funct is None else mistakes) / cases
        check_loss(loss, epoch, self.learn_rates_, run.hint)
        self.loss_curve_.append(loss)
        self.errors_fine_tune_.append(err)
        self.n_iter_ = epoch
        if self._decay_learn_rates(cfg):
            run.log.learn_rates(self.learn_rates_)
        run.log.fine_tune_epoch(epoch, loss, err)

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

    # -- finish

    def _finish(self, run: _Run, tuner: FineTuner) -> None:
        """``partial_fit`` keeps its momentum for the next call; ``fit`` warns if it learned
        nothing (one epoch of ``partial_fit`` on one chunk of the data says little). The
        momentum's copy to the host is left out of ``fit``, whose time is benchmarked."""
        if run.incremental:
            self._velocities = tuple(
                [run.device.to_numpy(v) for v in part] for part in tuner.velocities()
            )
        elif run.cfg.loss_funct is None and run.cfg.output == "softmax":
            warn_if_at_chance(
                self.errors_fine_tune_, run.data.y_index, self.learn_rates_, run.hint, 4
            )

    def _publish(self, device: Device, weights: list, biases: list) -> None:
        self.coefs_ = [device.to_numpy(W) for W in weights]
        self.intercepts_ = [device.to_numpy(b) for b in biases]

    @property
    def losses_fine_tune_(self) -> list[float]:
        """``loss_curve_``, under this estimator's earlier name."""
        try:
            return self.loss_curve_
        except AttributeError:
            raise AttributeError("'DBN' object has no attribute 'losses_fine_tune_'") from None

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
