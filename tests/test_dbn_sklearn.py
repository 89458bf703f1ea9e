"""The DBN as a scikit-learn estimator: the estimator checks, cloning, parameters, docs."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import parametrize_with_checks

from pytest_gpubench.dbn import DBN

#: A small network that trains in milliseconds yet passes the checks' accuracy bars.
SMALL = DBN([-1, 32, -1], epochs=20, random_state=0)


# Some checks fit random labels on random X, which no model learns: the DBN rightly warns
# that it ended no better than the majority class (a ConvergenceWarning, as MLPClassifier's).
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([SMALL])
def test_sklearn_conventions(estimator, check) -> None:
    check(estimator)


def _documented(section: str) -> dict[str, str]:
    """A numpydoc section of the DBN's docstring: each entry's name and its type line."""
    doc = inspect.getdoc(DBN)
    body = doc.split(f"\n{section}\n{'-' * len(section)}\n", 1)[1]
    body = re.split(r"\n\w[\w ]*\n-{3,}\n", body)[0]  # up to the next section
    return dict(re.findall(r"^(\w+) : (.+)$", body, re.MULTILINE))


def test_every_constructor_parameter_is_documented_with_its_default() -> None:
    signature = inspect.signature(DBN.__init__).parameters
    names = [name for name in signature if name != "self"]
    documented = _documented("Parameters")
    assert list(documented) == names  # every one, in the constructor's order
    for name in names:
        assert documented[name].endswith(f"default={signature[name].default!r}"), name


def test_learned_attributes_are_documented() -> None:
    attributes = _documented("Attributes")
    for name in ("classes_", "coefs_", "intercepts_", "n_iter_", "loss_curve_"):
        assert name in attributes
    assert all(name.endswith("_") for name in attributes)


def test_every_parameter_has_declared_constraints() -> None:
    assert list(DBN._parameter_constraints) == list(inspect.signature(DBN.__init__).parameters)[1:]


def test_clone_and_get_set_params_round_trip() -> None:
    def callback(model: DBN, epoch: int) -> None:
        return None

    params = {
        "layer_sizes": [-1, 20, 10, -1],
        "learn_rates": [0.1, 0.05, 0.01],
        "dropouts": 0.2,
        "fine_tune_callback": callback,
        "random_state": 3,
        "warm_start": True,
        "device": "numpy",
        "dtype": "float64",
    }
    model = DBN(**params)
    cloned = clone(model)
    assert cloned is not model and cloned.get_params() == model.get_params()
    assert DBN().set_params(**params).get_params() == model.get_params()
    assert DBN().get_params()["warm_start"] is False
    assert set(DBN().get_params()) == set(inspect.signature(DBN.__init__).parameters) - {"self"}


def test_a_clone_of_a_fitted_model_is_unfitted_and_fits_alike() -> None:
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16.0, y[:200]
    fitted = DBN([-1, 16, -1], epochs=2, minibatches_per_epoch=20, random_state=0).fit(X, y)
    cloned = clone(fitted)
    assert not hasattr(cloned, "coefs_") and not hasattr(cloned, "n_iter_")
    cloned.fit(X, y)
    np.testing.assert_array_equal(cloned.coefs_[0], fitted.coefs_[0])
    assert cloned.loss_curve_ == fitted.loss_curve_
