"""nolearn 0.5's deep belief network, re-implemented on the Python array API."""

from .estimator import DBN, TrainingDivergedError

__all__ = ["DBN", "TrainingDivergedError"]
