"""scikit-learn's estimator checks on the DBN."""

from __future__ import annotations

import pytest
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
