"""gdbn's names, for old nolearn scripts: the output activation classes and ``DBN.net_``.

nolearn scripts passed gdbn's activation objects (``output_act_funct=Linear()``) and read
the trained network through ``clf.net_`` (``clf.net_.weights[0].as_numpy_array()``), or
changed ``clf.net_.learnRates`` from a callback. With ``from gdbn.activationFunctions
import Linear`` changed to ``from pytest_gpubench.dbn.gdbn import Linear``, those lines run
unchanged: the DBN reads an activation by its class name, and :class:`GdbnNet` shows the
fitted model under gdbn's attribute names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .estimator import DBN

__all__ = ["GdbnNet", "HostArray", "Linear", "Sigmoid", "Softmax"]


class _OutputActivation:
    """Stands for gdbn's activation class of the same name (only the name is read)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Softmax(_OutputActivation):
    """gdbn's softmax output with cross-entropy error (nolearn's default)."""


class Sigmoid(_OutputActivation):
    """gdbn's logistic output units with cross-entropy error."""


class Linear(_OutputActivation):
    """gdbn's linear output units with squared error."""


class HostArray(np.ndarray):
    """A numpy array that also answers gnumpy's ``as_numpy_array()``."""

    def as_numpy_array(self, dtype: Any = None) -> np.ndarray:
        """A plain numpy copy, as gnumpy's ``garray.as_numpy_array`` gave."""
        return np.array(self, dtype=dtype)


class GdbnNet:
    """A fitted :class:`~pytest_gpubench.dbn.DBN` under gdbn's attribute names (``clf.net_``).

    ``weights`` and ``biases`` are the model's ``coefs_`` and ``intercepts_``;
    ``learnRates`` is its ``learn_rates_``, live: a ``fine_tune_callback`` that sets it
    changes the learn rates of the epochs that follow, as it did in nolearn.
    """

    def __init__(self, model: DBN) -> None:
        self._model = model

    @property
    def weights(self) -> list[HostArray]:
        return [np.asarray(W).view(HostArray) for W in self._model.coefs_]

    @property
    def biases(self) -> list[HostArray]:
        return [np.asarray(b).view(HostArray) for b in self._model.intercepts_]

    @property
    def learnRates(self) -> list[float]:  # gdbn's name
        return self._model.learn_rates_

    @learnRates.setter
    def learnRates(self, rates: Sequence[float]) -> None:
        current = self._model.learn_rates_
        values = list(rates)
        if len(values) != len(current) or not all(
            isinstance(r, (int, float, np.floating, np.integer))
            and not isinstance(r, bool)
            and 0 <= r < float("inf")
            for r in values
        ):
            raise ValueError(
                f"net_.learnRates must be {len(current)} non-negative numbers, one per weight "
                f"layer; got {rates!r}"
            )
        current[:] = [float(r) for r in values]  # in place: the training loop reads this list

    @property
    def momentum(self) -> float:
        return float(self._model.momentum)

    def __repr__(self) -> str:
        return f"GdbnNet(layers={self._model.layer_sizes_})"
