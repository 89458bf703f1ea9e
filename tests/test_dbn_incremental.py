"""Training on: ``n_iter_`` and ``loss_curve_`` per epoch, ``warm_start``, ``partial_fit``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from pytest_gpubench.dbn import DBN, TrainingDivergedError

CLASSES = np.arange(10)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """400 training and 300 held-out digits, scaled to [0, 1]."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X[:400], y[:400], X[400:700], y[400:700]


def tiny(**params: object) -> DBN:
    defaults = {"layer_sizes": [-1, 16, -1], "minibatches_per_epoch": 10, "random_state": 0}
    return DBN(**{**defaults, **params})


def copies(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [a.copy() for a in arrays]


# ------------------------------------------------------------------ n_iter_ and loss_curve_


def test_n_iter_and_loss_curve_grow_by_one_each_epoch(digits) -> None:
    X, y, _, _ = digits
    seen = []

    def record(model: DBN, epoch: int) -> None:
        seen.append((epoch, model.n_iter_, list(model.loss_curve_)))

    clf = tiny(epochs=3, fine_tune_callback=record).fit(X, y)
    assert [(epoch, n_iter, len(curve)) for epoch, n_iter, curve in seen] == [
        (1, 1, 1),
        (2, 2, 2),
        (3, 3, 3),
    ]
    assert seen[1][2] == clf.loss_curve_[:2]  # earlier epochs are kept as they were
    assert clf.n_iter_ == 3
    assert clf.loss_curve_ is clf.losses_fine_tune_  # the earlier name, same list
    assert len(clf.errors_fine_tune_) == 3
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_a_new_fit_starts_counting_again(digits) -> None:
    X, y, _, _ = digits
    clf = tiny(epochs=3).fit(X, y)
    first_curve = list(clf.loss_curve_)
    clf.set_params(epochs=2).fit(X, y)  # warm_start=False: a new model, the same seed
    assert clf.n_iter_ == 2
    assert clf.loss_curve_ == first_curve[:2]
    assert tiny(epochs=0).fit(X, y).n_iter_ == 0


# ------------------------------------------------------------------ warm_start


def test_warm_start_trains_on_from_the_learned_weights(digits) -> None:
    X, y, _, _ = digits
    clf = tiny(epochs=3, warm_start=True).fit(X, y)
    learned = copies(clf.coefs_ + clf.intercepts_)
    curve = list(clf.loss_curve_)

    clf.set_params(epochs=0).fit(X, y)  # no epoch: the model is the learned one
    for kept, before in zip(clf.coefs_ + clf.intercepts_, learned, strict=True):
        np.testing.assert_array_equal(kept, before)
    assert clf.n_iter_ == 3

    clf.set_params(epochs=2).fit(X, y)
    assert clf.n_iter_ == 5
    assert clf.loss_curve_[:3] == curve
    cold = tiny(epochs=2).fit(X, y)
    # the loss goes on from where it was, well below a new model's first epochs
    assert clf.loss_curve_[3] < 0.5 * cold.loss_curve_[0]
    assert clf.loss_curve_[4] < cold.loss_curve_[1]
    assert not np.allclose(clf.coefs_[0], learned[0])


def test_without_warm_start_a_fit_starts_from_new_weights(digits) -> None:
    X, y, _, _ = digits
    clf = tiny(epochs=3).fit(X, y)
    clf.set_params(epochs=0).fit(X, y)
    initial = tiny(epochs=0).fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], initial.coefs_[0])


def test_warm_start_restarts_the_learn_rate_schedule_and_skips_pretraining(digits) -> None:
    X, y, _, _ = digits
    clf = tiny(epochs=2, learn_rate_decays=0.5, epochs_pretrain=1, warm_start=True)
    clf.set_params(learn_rates_pretrain=0.01).fit(X, y)
    assert clf.learn_rates_ == pytest.approx([0.025, 0.025])
    pretrained = clf.errors_pretrain_
    clf.set_params(epochs=1, learn_rates=0.2).fit(X, y)
    assert clf.learn_rates_ == pytest.approx([0.1, 0.1])  # 0.2 decayed once, as a new fit
    assert clf.errors_pretrain_ is pretrained  # no pretraining of learned weights


def test_warm_start_refuses_other_classes_layers_or_features(digits) -> None:
    X, y, _, _ = digits
    clf = tiny(epochs=1, warm_start=True).fit(X, y)
    learned = copies(clf.coefs_)
    with pytest.raises(
        ValueError,
        match=r"warm_start needs y to have the model's classes \[0, 1, 2, .*9\]; y has "
        r"\[0, 1, 2, 3, 4\]\. Set warm_start=False",
    ):
        clf.fit(X[y < 5], y[y < 5])
    with pytest.raises(
        ValueError, match=r"gives layers \[64, 8, 10\], but the fitted model has \[64, 16, 10\]"
    ):
        clf.set_params(layer_sizes=[-1, 8, -1]).fit(X, y)
    clf.set_params(layer_sizes=[-1, 16, -1])
    with pytest.raises(ValueError, match="X has 10 features, but DBN is expecting 64"):
        clf.fit(X[:, :10], y)
    assert clf.n_iter_ == 1  # every refusal left the model as it was
    np.testing.assert_array_equal(clf.coefs_[0], learned[0])


# ------------------------------------------------------------------ partial_fit


def test_partial_fit_needs_classes_on_its_first_call(digits) -> None:
    X, y, _, _ = digits
    clf = tiny()
    with pytest.raises(ValueError, match=r"classes must be given on the first call to partial"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "classes_")
    with pytest.raises(ValueError, match=r"classes has 1 class \(3\); a classifier needs"):
        clf.partial_fit(X, y, classes=[3])


def test_partial_fit_checks_later_classes_and_labels(digits) -> None:
    X, y, _, _ = digits
    clf = tiny().partial_fit(X[y < 5], y[y < 5], classes=CLASSES)  # y: some classes only
    assert list(clf.classes_) == list(CLASSES)
    clf.partial_fit(X[y >= 5], y[y >= 5])  # classes may be left out after the first call
    clf.partial_fit(X, y, classes=CLASSES[::-1])  # or given again, in any order
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] differs from the model's classes_"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"y has labels \[10, 11\] that are not in classes"):
        clf.partial_fit(X[:4], np.array([10, 11, 0, 1]))
    assert clf.n_iter_ == 3


def test_one_partial_fit_is_one_epoch_of_fit(digits) -> None:
    X, y, _, _ = digits
    fitted = tiny(epochs=1).fit(X, y)
    partial = tiny(epochs=7).partial_fit(X, y, classes=CLASSES)  # epochs is not used
    assert partial.n_iter_ == 1
    assert partial.loss_curve_ == fitted.loss_curve_
    for got, expected in zip(
        partial.coefs_ + partial.intercepts_, fitted.coefs_ + fitted.intercepts_, strict=True
    ):
        np.testing.assert_array_equal(got, expected)


def test_partial_fit_learns_over_calls_on_chunks(digits) -> None:
    X, y, X_test, y_test = digits
    scores = []
    clf, again = tiny(), tiny()
    for call in range(12):  # three passes over four chunks of 100 rows
        rows = slice(100 * (call % 4), 100 * (call % 4 + 1))
        assert clf.partial_fit(X[rows], y[rows], classes=CLASSES) is clf
        assert clf.n_iter_ == call + 1 == len(clf.loss_curve_)
        scores.append(clf.score(X_test, y_test))
        again.partial_fit(X[rows], y[rows], classes=CLASSES)
    assert scores[-1] > 0.8
    assert scores[-1] > scores[0] + 0.5
    np.testing.assert_array_equal(again.coefs_[0], clf.coefs_[0])  # reproducible


def test_partial_fit_goes_on_from_fit_with_its_learn_rate_decay(digits) -> None:
    X, y, _, _ = digits
    clf = tiny(epochs=2, learn_rate_decays=0.5).fit(X, y)
    clf.set_params(learn_rates=0.3).partial_fit(X, y)  # where the rates started, no more
    assert clf.n_iter_ == 3
    assert clf.learn_rates_ == pytest.approx([0.0125, 0.0125])


def test_each_continued_epoch_draws_its_own_minibatches(digits) -> None:
    """Frozen weights (learn rate 0) make an epoch's error depend on its minibatches only:
    an int random_state must not replay the same draws on every call."""
    X, y, _, _ = digits
    clf = tiny(learn_rates=0.0)
    clf.partial_fit(X, y, classes=CLASSES)
    clf.partial_fit(X, y)
    assert clf.errors_fine_tune_[0] != clf.errors_fine_tune_[1]


def test_a_diverging_partial_fit_keeps_the_model_it_had(digits) -> None:
    X, y, _, _ = digits
    clf = tiny().partial_fit(X, y, classes=CLASSES)
    learned = copies(clf.coefs_)
    clf.net_.learnRates = [1e3, 1e3]  # partial_fit goes on with learn_rates_
    with pytest.raises(TrainingDivergedError, match="epoch 2"):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 1
    np.testing.assert_array_equal(clf.coefs_[0], learned[0])
    clf.net_.learnRates = [0.1, 0.1]
    clf.partial_fit(X, y)  # and it trains on
    assert clf.n_iter_ == 2


def test_a_first_partial_fit_that_diverges_keeps_nothing(digits) -> None:
    X, y, _, _ = digits
    clf = tiny(learn_rates=1e3, l2_costs=0.0)
    with pytest.raises(TrainingDivergedError, match="epoch 1"):
        clf.partial_fit(X, y, classes=CLASSES)
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "classes_")


def test_partial_fit_carries_its_momentum_to_the_next_call(digits) -> None:
    """With learn rates of 0 only momentum can move the weights: the next partial_fit
    call moves them; after fit, whose momentum is not kept, they stay."""
    X, y, _, _ = digits
    clf = tiny().partial_fit(X, y, classes=CLASSES)
    before = copies(clf.coefs_)
    clf.net_.learnRates = [0.0, 0.0]
    clf.partial_fit(X, y)
    assert np.abs(clf.coefs_[0] - before[0]).max() > 1e-3

    fitted = tiny(epochs=1).fit(X, y)
    before = copies(fitted.coefs_)
    fitted.net_.learnRates = [0.0, 0.0]
    fitted.partial_fit(X, y)
    np.testing.assert_allclose(fitted.coefs_[0], before[0], rtol=1e-5, atol=1e-8)
