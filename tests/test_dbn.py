"""The DBN estimator: nolearn's behaviour, its fixed bugs, bad input, logs and back ends."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import train_test_split

from pytest_gpubench.dbn import DBN, TrainingDivergedError
from pytest_gpubench.dbn import estimator as estimator_module
from pytest_gpubench.devices import DeviceUnavailableError, get_device


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X / 16.0, y, test_size=0.33, random_state=0))


@pytest.fixture(scope="module")
def small(digits) -> tuple[np.ndarray, np.ndarray]:
    X_train, _, y_train, _ = digits
    return X_train[:300], y_train[:300]


def tiny(**params: object) -> DBN:
    defaults = {"layer_sizes": [-1, 16, -1], "epochs": 2, "minibatches_per_epoch": 25}
    return DBN(**{**defaults, "random_state": 0, **params})


# ------------------------------------------------------------------ accuracy and basics


def test_digits_accuracy_with_a_small_network(digits) -> None:
    X_train, X_test, y_train, y_test = digits
    clf = DBN([-1, 64, -1], learn_rates=0.1, epochs=10, random_state=0)
    assert clf.fit(X_train, y_train) is clf
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.errors_fine_tune_[-1] < clf.errors_fine_tune_[0]
    assert clf.losses_fine_tune_[-1] < clf.losses_fine_tune_[0]
    assert len(clf.losses_fine_tune_) == len(clf.errors_fine_tune_) == 10


def test_fitted_attributes_and_label_encoding(small) -> None:
    X, y = small
    labels = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )[y]
    clf = tiny().fit(X, labels)
    assert list(clf.classes_) == sorted(set(labels))
    assert clf.layer_sizes_ == [64, 16, 10]
    assert [W.shape for W in clf.coefs_] == [(64, 16), (16, 10)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (10,)]
    assert clf.coefs_[0].dtype == np.float32
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    predicted = clf.predict(X)
    assert set(predicted) <= set(labels)
    assert np.array_equal(predicted, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, labels) == pytest.approx(np.mean(predicted == labels))


def test_default_layer_sizes_are_a_softmax_regression(small) -> None:
    X, y = small
    clf = DBN(epochs=10, random_state=0).fit(X, y)
    assert clf.layer_sizes_ == [64, 10]
    assert clf.score(X, y) > 0.85


def test_minus_one_sizes_are_not_overwritten_and_a_second_fit_works(small) -> None:
    X, y = small
    sizes = [-1, 12, -1]
    clf = DBN(sizes, epochs=1, random_state=0)
    clf.fit(X, y)
    assert sizes == [-1, 12, -1]
    assert clf.get_params()["layer_sizes"] == [-1, 12, -1]
    clf.fit(X[:, :20], y % 3)
    assert clf.layer_sizes_ == [20, 12, 3]
    assert clf.predict(X[:5, :20]).shape == (5,)


def test_random_state_makes_fits_reproducible(small) -> None:
    X, y = small
    first = tiny().fit(X, y)
    second = tiny().fit(X, y)
    other = tiny(random_state=1).fit(X, y)
    np.testing.assert_array_equal(first.coefs_[0], second.coefs_[0])
    assert first.losses_fine_tune_ == second.losses_fine_tune_
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])
    from_generator = tiny(random_state=np.random.default_rng(5)).fit(X, y)
    again = tiny(random_state=np.random.default_rng(5)).fit(X, y)
    np.testing.assert_array_equal(from_generator.coefs_[1], again.coefs_[1])
    legacy = tiny(random_state=np.random.RandomState(5)).fit(X, y)
    assert legacy.score(X, y) > 0.5


def test_fewer_samples_than_one_minibatch(small) -> None:
    X, y = small
    clf = tiny(epochs=3).fit(X[:5], y[:5])
    assert clf.layer_sizes_[-1] == len(np.unique(y[:5]))
    default = DBN([-1, 8, -1], epochs=1, random_state=0).fit(X[:5], y[:5])  # batches per epoch
    assert len(default.losses_fine_tune_) == 1  # from the data: 5 // 64 is 0, made 1
    assert len(clf.losses_fine_tune_) == 3
    assert clf.predict(X[:5]).shape == (5,)


def test_epochs_zero_keeps_the_initial_weights_and_fan_outs_limit_them(small) -> None:
    X, y = small
    clf = DBN([-1, 30, -1], epochs=0, fan_outs=[5, None], scales=0.1, random_state=0).fit(X, y)
    nonzero_per_column = (clf.coefs_[0] != 0).sum(axis=0)
    assert nonzero_per_column.max() <= 5
    assert np.all((clf.coefs_[1] != 0).sum(axis=0) == 30)
    assert clf.losses_fine_tune_ == []
    uniform = DBN([-1, 30, -1], epochs=0, uniforms=True, scales=0.1, random_state=0).fit(X, y)
    assert np.abs(uniform.coefs_[0]).max() <= 0.1
    assert np.abs(uniform.coefs_[0]).max() > 0.07


def test_predict_proba_runs_in_batches(small, monkeypatch) -> None:
    X, y = small
    clf = tiny().fit(X, y)
    whole = clf.predict_proba(X)
    monkeypatch.setattr(estimator_module, "PREDICT_BATCH_SIZE", 7)
    batched = clf.predict_proba(X)
    # float32: OpenBLAS picks its sgemm kernel by the number of rows, so a batch of 7 and
    # the whole set round differently (up to 6e-6 relative on the SkylakeX kernel)
    np.testing.assert_allclose(batched, whole, rtol=3e-5)


def test_unfitted_estimator_raises_not_fitted(small) -> None:
    with pytest.raises(NotFittedError):
        DBN().predict(small[0])


# ------------------------------------------------------------------ training options


def test_classic_momentum_dropout_and_learn_rate_decay(small) -> None:
    X, y = small
    clf = tiny(
        nesterov=False,
        dropouts=[0.2, 0.5],
        epochs=4,
        learn_rate_decays=0.8,
        learn_rate_minimums=[0.0, 0.07],
    ).fit(X, y)
    assert clf.learn_rates_ == pytest.approx([0.1 * 0.8**4, 0.08])
    assert clf.score(X, y) > 0.7  # chance is 0.1; gdbn's dropout gradients are small
    with_dropout = clf.coefs_[0]
    without = tiny(nesterov=False, epochs=4).fit(X, y).coefs_[0]
    assert not np.allclose(with_dropout, without)


def test_a_zero_learn_rate_freezes_its_layer_as_in_nolearn(small) -> None:
    X, y = small
    init = tiny(epochs=0).fit(X, y)
    clf = tiny(learn_rates=[0.0, 0.1], epochs_pretrain=1).fit(X, y)  # pretraining too
    # unchanged up to float32 rounding of the lazy momentum scales (see optim.py)
    np.testing.assert_allclose(clf.coefs_[0], init.coefs_[0], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(clf.intercepts_[0], init.intercepts_[0], atol=1e-8)
    assert np.abs(clf.coefs_[1] - init.coefs_[1]).max() > 0.01


def test_rms_lims_cap_the_column_rms(small) -> None:
    X, y = small
    clf = tiny(rms_lims=[0.05, None], scales=0.2, epochs=3).fit(X, y)
    rms = np.sqrt(np.mean(clf.coefs_[0].astype(np.float64) ** 2, axis=0))
    assert rms.max() <= 0.05 * (1 + 1e-5)
    assert np.sqrt(np.mean(clf.coefs_[1] ** 2, axis=0)).max() > 0.05


@pytest.mark.parametrize("real_valued_vis", [True, False])
@pytest.mark.parametrize("use_re_lu", [True, False])
def test_pretraining_runs_every_layer_and_calls_back(small, real_valued_vis, use_re_lu) -> None:
    X, y = small
    calls: list[tuple] = []
    clf = DBN(
        [-1, 20, 12, -1],
        epochs_pretrain=[3, 2, 1],
        epochs=1,
        learn_rates_pretrain=0.01,
        real_valued_vis=real_valued_vis,
        use_re_lu=use_re_lu,
        pretrain_callback=lambda dbn, epoch, layer: calls.append((dbn, epoch, layer)),
        random_state=0,
    ).fit(X, y)
    assert [len(errs) for errs in clf.errors_pretrain_] == [3, 2, 1]
    assert all(np.isfinite(e) for errs in clf.errors_pretrain_ for e in errs)
    assert clf.errors_pretrain_[0][-1] < clf.errors_pretrain_[0][0]
    assert [(epoch, layer) for _, epoch, layer in calls] == [
        (1, 0),
        (2, 0),
        (3, 0),
        (1, 1),
        (2, 1),
        (1, 2),
    ]
    assert all(dbn is clf for dbn, _, _ in calls)


def test_pretraining_changes_the_starting_weights(small) -> None:
    X, y = small
    plain = tiny(epochs=0).fit(X, y).coefs_[0]
    pretrained = tiny(epochs=0, epochs_pretrain=1).fit(X, y).coefs_[0]
    assert not np.allclose(plain, pretrained)


def test_fine_tune_callback_gets_the_estimator_and_one_based_epochs(small) -> None:
    X, y = small
    seen: list[tuple[int, int]] = []

    def callback(dbn: DBN, epoch: int) -> None:
        seen.append((epoch, len(dbn.losses_fine_tune_)))
        assert dbn.coefs_[0].shape == (64, 16)

    tiny(epochs=3, fine_tune_callback=callback).fit(X, y)
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_custom_loss_funct_is_used_for_errors_and_score(small) -> None:
    X, y = small
    calls = []

    def mistakes(targets: np.ndarray, outputs: np.ndarray) -> float:
        calls.append(targets.shape)
        return float(np.sum(targets.argmax(1) != outputs.argmax(1)))

    clf = tiny(loss_funct=mistakes, minibatch_size=50).fit(X, y)
    assert calls[0] == (50, 10)
    default = tiny(minibatch_size=50).fit(X, y)
    assert clf.errors_fine_tune_ == pytest.approx(default.errors_fine_tune_)
    assert clf.score(X, y) == pytest.approx(default.score(X, y))


def test_loss_funct_gets_targets_then_outputs_in_fit_and_in_score(small) -> None:
    """nolearn swapped them in ``score``: an asymmetric loss (cross-entropy) scored nonsense."""
    X, y = small
    orders = []

    def cross_entropy(targets: np.ndarray, outputs: np.ndarray) -> float:
        orders.append(bool(np.all((targets == 0) | (targets == 1))))  # one-hot comes first
        return float(-np.sum(targets * np.log(np.clip(outputs, 1e-12, 1.0))))

    clf = tiny(loss_funct=cross_entropy).fit(X, y)
    assert all(orders)
    orders.clear()
    score = clf.score(X, y)
    assert orders == [True]
    proba = clf.predict_proba(X)
    expected = np.mean(np.log(proba[np.arange(len(y)), np.searchsorted(clf.classes_, y)]))
    assert score == pytest.approx(1.0 + expected)


@pytest.mark.parametrize("output", ["Sigmoid", "Linear"])
def test_other_gdbn_output_functions(small, output) -> None:
    X, y = small
    clf = tiny(output_act_funct=output, learn_rates=0.05, epochs=3).fit(X, y)
    assert clf.score(X, y) > 0.5
    assert np.all(np.isfinite(clf.losses_fine_tune_))


def test_float64(small) -> None:
    X, y = small
    clf = tiny(dtype="float64").fit(X, y)
    assert clf.coefs_[0].dtype == np.float64


# ------------------------------------------------------------------ divergence and bad input


def test_a_diverging_fit_stops_with_the_epoch_and_a_hint(small) -> None:
    X, y = small
    clf = tiny(learn_rates=0.5)
    with pytest.raises(
        TrainingDivergedError, match=r"epoch 1: .* is nan; lower learn_rates"
    ) as info:
        clf.fit(X * 1e19, y)
    assert isinstance(info.value, FloatingPointError)
    assert isinstance(info.value, ValueError)
    assert not hasattr(clf, "coefs_")
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_an_exploding_but_finite_loss_also_stops_the_fit(small) -> None:
    X, y = small
    with pytest.raises(TrainingDivergedError, match=r"epoch 1: the mean training loss is \d"):
        tiny(learn_rates=1.0, scales=1.0).fit(X * 1000, y)


def test_a_fit_that_ends_at_chance_warns_and_keeps_the_model(small) -> None:
    """Blank inputs leave only the output biases to learn: the fit predicts one class, no
    better than the majority class, and says so (the model is kept: nothing diverged)."""
    X, y = small
    with pytest.warns(ConvergenceWarning, match=r"after epoch 2 is 0\.\d+, no better than"):
        clf = tiny().fit(np.zeros_like(X), y)
    assert clf.errors_fine_tune_[-1] >= 1 - np.bincount(y).max() / len(y) - 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        tiny().fit(X, y)  # a fit that learns draws no warning


def test_a_fit_that_fails_on_unscaled_inputs_says_to_scale_them(small) -> None:
    """scikit-learn's raw digits reach 16: the fit learns nothing, and says why."""
    X, y = small
    with pytest.warns(ConvergenceWarning, match=r"X reaches 16 in magnitude: scale it to about"):
        tiny(epochs=3, learn_rates=0.3).fit(X * 16, y)
    with pytest.raises(TrainingDivergedError, match=r"lower learn_rates .*; X reaches 1e\+19"):
        tiny(learn_rates=0.5).fit(X * 1e19, y)
    with warnings.catch_warnings(), pytest.raises(TrainingDivergedError) as info:
        warnings.simplefilter("ignore")
        tiny(learn_rates=1e3, l2_costs=0.0).fit(X, y)  # scaled inputs: only the rate is blamed
    assert "X reaches" not in str(info.value)


def test_a_failed_refit_does_not_keep_the_previous_model(small) -> None:
    X, y = small
    clf = tiny().fit(X, y)
    clf.set_params(learn_rates=0.5)
    with pytest.raises(TrainingDivergedError):
        clf.fit(X * 1e19, y)
    assert not hasattr(clf, "coefs_")


def test_an_interrupted_fit_keeps_the_model_of_its_last_completed_epoch(small) -> None:
    """Ctrl-C in the middle of epoch 2 (here raised by the per-minibatch loss function):
    like nolearn's ``net_``, the model stays usable, and it is exactly epoch 1's."""
    X, y = small
    calls = 0

    def loss_funct(targets: np.ndarray, outputs: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        if calls == 25 + 10:  # the 10th minibatch of epoch 2
            raise KeyboardInterrupt
        return float(np.sum(targets.argmax(1) != outputs.argmax(1)))

    clf = tiny(epochs=3, loss_funct=loss_funct)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    one_epoch = tiny(epochs=1, loss_funct=loss_funct).fit(X, y)
    assert len(clf.losses_fine_tune_) == 1
    for kept, expected in zip(
        clf.coefs_ + clf.intercepts_, one_epoch.coefs_ + one_epoch.intercepts_, strict=True
    ):
        np.testing.assert_array_equal(kept, expected)
    assert clf.score(X, y) == one_epoch.score(X, y)


def test_a_callback_that_stops_the_fit_keeps_the_model_it_saw(small) -> None:
    X, y = small
    seen = []

    def stop_after_two(model: DBN, epoch: int) -> None:
        seen.append([W.copy() for W in model.coefs_])
        if epoch == 2:
            raise StopIteration("enough")

    clf = tiny(epochs=5, fine_tune_callback=stop_after_two)
    with pytest.raises(StopIteration):
        clf.fit(X, y)
    assert len(seen) == 2 and len(clf.errors_fine_tune_) == 2
    for kept, expected in zip(clf.coefs_, seen[-1], strict=True):
        np.testing.assert_array_equal(kept, expected)
    clf.predict(X)


def test_a_fit_that_diverges_after_good_epochs_keeps_nothing(small) -> None:
    X, y = small

    def blow_up(model: DBN, epoch: int) -> None:
        model.learn_rates_[:] = [1e12] * len(model.learn_rates_)  # the loop reads this list

    clf = tiny(epochs=3, fine_tune_callback=blow_up)
    with pytest.raises(TrainingDivergedError, match="epoch 2"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "losses_fine_tune_")


def test_a_fit_interrupted_before_its_first_epoch_ends_keeps_nothing(small) -> None:
    X, y = small

    def interrupt(targets: np.ndarray, outputs: np.ndarray) -> float:
        raise KeyboardInterrupt

    clf = tiny(loss_funct=interrupt)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        ([[0.0, np.nan], [1.0, 2.0]], [0, 1], "Input X contains NaN"),
        ([[0.0, np.inf], [1.0, 2.0]], [0, 1], "Input X contains infinity"),
        ([0.0, 1.0, 2.0], [0, 1, 0], "Expected 2D array, got 1D array"),
        ([[[0.0]], [[1.0]]], [0, 1], "Found array with dim 3"),
        (
            [[0.0], [1.0], [2.0]],
            [1, 1, 1],
            r"y has 1 class \(1\); a classifier needs at least "
            "2 classes",
        ),
        ([[0.0], [1.0], [2.0]], [0, 1], r"inconsistent numbers of samples: \[3, 2\]"),
        ([[0.0], [1.0]], [0.5, 1.5], "Unknown label type"),
    ],
)
def test_bad_data_is_rejected(X, y, match) -> None:
    with pytest.raises(ValueError, match=match):
        tiny().fit(np.asarray(X), np.asarray(y))


def test_bad_parameters_are_rejected_at_fit(small) -> None:
    X, y = small
    with pytest.raises(ValueError, match=r"layer_sizes\[0\]=10 does not match the 64 features"):
        DBN([10, 5, -1]).fit(X, y)
    with pytest.raises(ValueError, match=r"learn_rates has 3 entries .* 2 weight layer"):
        tiny(learn_rates=[0.1, 0.1, 0.1]).fit(X, y)
    with pytest.raises(ValueError, match="minibatch_size must be an integer >= 1; got 0"):
        tiny(minibatch_size=0).fit(X, y)
    with pytest.raises(ValueError, match="random_state must be"):
        tiny(random_state="seed").fit(X, y)


def test_predicting_with_the_wrong_number_of_features_is_rejected(small) -> None:
    X, y = small
    clf = tiny().fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but DBN is expecting 64"):
        clf.predict(X[:, :3])


def test_unknown_device_names_the_parameter(small) -> None:
    X, y = small
    with pytest.raises(
        ValueError,
        match=r"device='tpu' is not a known device: unknown device "
        r"'tpu'; expected one of numpy",
    ):
        tiny(device="tpu").fit(X, y)


@pytest.mark.parametrize(
    ("name", "hint"), [("cupy", "pip install"), ("torch-cuda", "CUDA"), ("cuda", "install")]
)
def test_gpu_devices_explain_what_to_install(small, name, hint) -> None:
    if get_device(name).available:
        pytest.skip(f"{name} is usable here")
    with pytest.raises(
        DeviceUnavailableError,
        match=rf"DBN\(device='{name}'\) cannot run "
        rf"here: .*{hint}",
    ):
        tiny(device=name).fit(*small)


def test_a_model_fitted_on_a_missing_gpu_predicts_on_numpy_with_a_warning(
    small, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model fitted (or pickled) on a GPU machine is used on one without that GPU."""
    import pytest_gpubench.dbn.estimator as estimator

    X, y = small
    clf = tiny().fit(X, y)
    expected = clf.predict_proba(X)
    clf.set_params(device="cuda")

    def no_gpu(name: str):
        if name == "numpy":
            return get_device("numpy")
        raise DeviceUnavailableError("no CUDA device here; pip install cupy-cuda12x")

    monkeypatch.setattr(estimator, "require_device", no_gpu)
    with pytest.warns(
        UserWarning, match=r"DBN\(device='cuda'\) cannot run here: .*predicting on numpy"
    ):
        np.testing.assert_allclose(clf.predict_proba(X), expected)
    with pytest.raises(DeviceUnavailableError):  # training does need the device asked for
        clf.fit(X, y)


def test_net_shows_the_fitted_model_under_gdbns_names(small) -> None:
    """nolearn's own test read ``clf.net_.weights[0].shape``; scripts used
    ``.as_numpy_array()`` and set ``net_.learnRates`` from a callback."""
    X, y = small
    assert not hasattr(tiny(), "net_")  # unfitted: no network yet
    applied = []

    def slow_down(model: DBN, epoch: int) -> None:
        if epoch == 1:
            model.net_.learnRates = [0.0, 0.0]  # freeze everything from epoch 2 on
        applied.append([W.copy() for W in model.coefs_])

    clf = tiny(epochs=3, fine_tune_callback=slow_down).fit(X, y)
    net = clf.net_
    assert [W.shape for W in net.weights] == [(64, 16), (16, 10)]
    weights = net.weights[0].as_numpy_array()
    assert type(weights) is np.ndarray
    np.testing.assert_array_equal(weights, clf.coefs_[0])
    np.testing.assert_array_equal(net.biases[1].as_numpy_array(), clf.intercepts_[1])
    assert net.learnRates == clf.learn_rates_ == [0.0, 0.0]
    # no gradient steps after epoch 1; momentum still carries epoch 1's velocity a while
    assert not np.array_equal(applied[0][0], applied[2][0])
    assert np.abs(applied[2][0] - applied[1][0]).max() < np.abs(applied[1][0] - applied[0][0]).max()
    with pytest.raises(ValueError, match=r"net_.learnRates must be 2 non-negative numbers"):
        net.learnRates = [0.1]


def test_gdbn_output_activation_objects_work_with_an_import_change(small) -> None:
    from pytest_gpubench.dbn.gdbn import Linear, Sigmoid, Softmax

    X, y = small
    for activation, name in ((Softmax(), "Softmax"), (Sigmoid(), "Sigmoid"), (Linear, "Linear")):
        by_object = tiny(output_act_funct=activation, learn_rates=0.05).fit(X, y)
        by_name = tiny(output_act_funct=name, learn_rates=0.05).fit(X, y)
        np.testing.assert_array_equal(by_object.coefs_[1], by_name.coefs_[1])


# ------------------------------------------------------------------ verbose log


def test_verbose_prints_nolearns_log_on_stdout_and_a_bar_on_stderr(small, capsys) -> None:
    X, y = small
    tiny(verbose=1, epochs=2, epochs_pretrain=1).fit(X, y)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:3] == [
        "[DBN] fitting X.shape=(300, 64)",
        "[DBN] layers [64, 16, 10]",
        "[DBN] Pre-train layer 1...",
    ]
    assert re.fullmatch(r"  Epoch 1: err \d+\.\d{4}", lines[3])
    assert re.fullmatch(r"  \(\d:\d\d:\d\d\)", lines[4])
    start = lines.index("[DBN] Fine-tune...")
    assert lines[start + 1] == "Epoch 1:"
    assert re.fullmatch(r"  loss \d+\.\d{4}", lines[start + 2])
    assert re.fullmatch(r"  err  \d+\.\d{4}", lines[start + 3])
    assert re.fullmatch(r"  \(\d:\d\d:\d\d\)", lines[start + 4])
    assert lines[start + 5] == "Epoch 2:"
    assert len(lines) == start + 9
    assert "epoch 1" in err  # the tqdm bar


def test_verbose_two_also_prints_learn_rates(small, capsys) -> None:
    tiny(verbose=2, epochs=1, learn_rate_decays=0.5).fit(*small)
    assert "Learn rates: [0.05, 0.05]" in capsys.readouterr().out
    tiny(verbose=2, epochs=1).fit(*small)  # nolearn skipped the decay step at 1.0, and its line
    assert "Learn rates" not in capsys.readouterr().out


def test_silent_by_default(small, capsys) -> None:
    tiny().fit(*small)
    assert capsys.readouterr() == ("", "")
