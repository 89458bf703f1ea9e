"""scikit-learn's estimator checks on the DBN."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from experiments.dbn import DBN

#: A small network that trains in milliseconds yet passes the checks' accuracy bars.
SMALL = DBN([-1, 32, -1], epochs=20, random_state=0)


@parametrize_with_checks([SMALL])
def test_sklearn_conventions(estimator, check) -> None:
    check(estimator)
