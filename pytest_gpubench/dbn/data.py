"""One fit's training data, checked and copied to the device once (never per minibatch).

A numpy array (or list) goes through scikit-learn's checks on the host, then one copy. A
torch tensor, CuPy or array-api-strict array handed to a device of its own library is
checked where it lies and used as it is, so a benchmark can time the host→device copy apart
from training. Labels stay on the host until they are class indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from pytest_gpubench.devices import Device

__all__ = ["TrainingData", "check_device_data", "encode_labels", "on_device", "upload"]


def _namespace_of(x: Any) -> Any:
    try:
        return array_namespace(x)
    except TypeError:
        return None


def on_device(X: Any, device: Device) -> Any:
    """``X`` as an array of ``device`` if it already is one of its library, else None."""
    if isinstance(X, np.ndarray) or _namespace_of(X) is not device.namespace():
        return None
    return device.asarray(X)  # moves a torch CPU tensor to CUDA; a no-op otherwise


def check_device_data(X_dev: Any, y: Any, device: Device) -> tuple[Any, np.ndarray]:
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
    return X_dev, y


def encode_labels(
    y: np.ndarray, fitted: np.ndarray | None, classes: Any, incremental: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(classes_, y as indices into classes_)``.

    A new model (``fitted`` None) takes its classes from ``y``, or in ``partial_fit``
    from ``classes``, which its first call must give. A fitted model keeps its classes:
    ``partial_fit`` may see some of them, a warm-started ``fit`` must see all.
    """
    check_classification_targets(y)
    encoder = LabelEncoder()
    if fitted is None:
        if incremental and classes is None:
            raise ValueError(
                "classes must be given on the first call to partial_fit: every label that "
                "any call will see, e.g. partial_fit(X, y, classes=np.unique(y_all))"
            )
        name, source = ("y", y) if classes is None else ("classes", np.asarray(classes))
        encoder.fit(source)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"{name} has 1 class ({encoder.classes_.tolist()[0]!r}); a classifier needs "
                "at least 2 classes"
            )
        return _known_labels(encoder, y)
    encoder.classes_ = fitted
    if classes is not None and not np.array_equal(np.unique(classes), fitted):
        raise ValueError(
            f"classes={np.unique(classes).tolist()} differs from the model's classes_ "
            f"{fitted.tolist()}; pass the same classes on every call, or none after the first"
        )
    seen = np.unique(y)
    if not incremental and not np.array_equal(seen, fitted):
        raise ValueError(
            f"warm_start needs y to have the model's classes {fitted.tolist()}; y has "
            f"{seen.tolist()}. Set warm_start=False to fit a new model on these"
        )
    return _known_labels(encoder, y)


def _known_labels(encoder: LabelEncoder, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unknown = np.setdiff1d(np.unique(y), encoder.classes_)
    if unknown.size:
        raise ValueError(
            f"y has labels {unknown.tolist()} that are not in classes "
            f"{encoder.classes_.tolist()}; give every label in classes on the first call"
        )
    return encoder.classes_, encoder.transform(y)


@dataclass(frozen=True)
class TrainingData:
    """The inputs, one-hot targets and class indices of one fit, on the device; the class
    indices also on the host (for the at-chance check)."""

    X: Any
    targets: Any
    labels: Any
    y_index: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.X.shape[0]), int(self.X.shape[1])


def upload(X: Any, y_index: np.ndarray, n_classes: int, device: Device, dtype: str) -> TrainingData:
    """The training data on ``device`` in ``dtype``: a host ``X`` is copied once; one
    already there is cast only if its dtype differs."""
    if isinstance(X, np.ndarray):
        X_dev = device.asarray(X, dtype)
    else:
        xp = device.namespace()
        X_dev = xp.astype(X, getattr(xp, dtype), copy=False)
    targets = device.asarray(np.eye(n_classes, dtype=dtype)[y_index])
    labels = device.asarray(y_index.astype(np.int64))
    return TrainingData(X_dev, targets, labels, y_index)
