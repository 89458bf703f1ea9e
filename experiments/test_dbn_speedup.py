"""DBN fine-tuning speedup, network sizes tiny → large × devices, and the data set's
host→device transfer measured apart (the overhead the classic experiment warned about).

Run with ``pytest --gpubench`` (skipped otherwise). Profiles (``--gpubench-profile``):

- ``quick`` (default): scikit-learn's digits (1797×64), 1200 samples for training, the
  rest for accuracy; layers ``64-<hidden>-10``; 1 epoch.
- ``seed``: the classic scale: 46,900 training samples of the best available 784-feature
  data set (MNIST, else Fashion-MNIST, else random data that is timed but not scored),
  layers ``784-<hidden>-10``, 10 epochs.

The training data is copied to the device once (timed apart, as the cell's transfer time,
and as its own ``dbn-transfer`` experiment); ``DBN.fit`` takes it there, so a timed fit holds
what a user's ``fit`` on device data costs: training, plus its small copies (the one-hot
targets and labels to the device, the fitted weights back into numpy: 5 MB at 800-800, 65 MB
at 4000-4000; numpy copies nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from pytest_gpubench.datasets import Dataset, best_available, load_dataset, load_synthetic
from pytest_gpubench.dbn import DBN
from pytest_gpubench.session import session_of

#: Hidden layers, tiny → large; the ids are the sizes in the report.
HIDDEN: dict[str, tuple[int, ...]] = {
    "300": (300,),
    "800-800": (800, 800),
    "2000-2000": (2000, 2000),
    "4000-4000": (4000, 4000),
}


@dataclass(frozen=True)
class TrainingSizes:
    """What a profile trains on: how many samples, with how many features, for how long."""

    train_size: int
    n_features: int
    epochs: int


#: The data sizes of each ``--gpubench-profile`` (its timing settings are
#: ``pytest_gpubench.settings.PROFILES``).
SIZES_BY_PROFILE: dict[str, TrainingSizes] = {
    "quick": TrainingSizes(train_size=1200, n_features=64, epochs=1),
    "seed": TrainingSizes(train_size=46_900, n_features=784, epochs=10),
}
MINIBATCH_SIZE = 64
LEARN_RATES = 0.1
#: Held-out accuracy below which a fit is wrong, not slow: its cell fails (n/a) instead of
#: being timed like a right one. Ten classes give 0.1 by chance; one epoch on digits scores
#: 0.84-0.95 at every size, ten on Fashion-MNIST 0.86-0.89, on MNIST about 0.97.
ACCURACY_FLOOR = 0.5


@dataclass(frozen=True)
class Workload:
    """The training and held-out data of one profile, as float32 host arrays."""

    dataset: Dataset
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    epochs: int

    @property
    def shape(self) -> str:
        return f"{self.X_train.shape[0]}x{self.X_train.shape[1]}"


def load_workload(profile: str) -> Workload:
    """The profile's data set, split into ``train_size`` training samples and the rest."""
    spec = SIZES_BY_PROFILE[profile]
    if profile == "quick":
        dataset = load_dataset("digits")
    else:
        dataset = best_available()
        if dataset.n_features != spec.n_features:
            dataset = load_synthetic(n_samples=70_000, n_features=spec.n_features)
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, train_size=spec.train_size, random_state=0, stratify=dataset.y
    )
    return Workload(dataset, X_train, y_train, X_test, y_test, spec.epochs)


def _profile(config: pytest.Config) -> str:
    session = session_of(config)
    return session.config.profile if session else "quick"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The transfer benchmark's size is the training data's shape under the chosen profile."""
    if "data_shape" in metafunc.fixturenames:
        spec = SIZES_BY_PROFILE[_profile(metafunc.config)]
        shape = f"{spec.train_size}x{spec.n_features}"
        metafunc.parametrize("data_shape", [shape], ids=[shape])


@pytest.fixture(scope="module")
def workload(gpubench_profile: str) -> Workload:
    return load_workload(gpubench_profile)


@pytest.mark.gpubench(experiment="dbn-fit")
@pytest.mark.parametrize("hidden", list(HIDDEN.values()), ids=list(HIDDEN))
def test_dbn_fit(gpubench: Any, device: Any, workload: Workload, hidden: tuple[int, ...]) -> None:
    """Fine-tuning time, throughput in samples/s, and held-out accuracy of the last fit."""
    layers = [workload.X_train.shape[1], *hidden, len(np.unique(workload.y_train))]

    X_train = gpubench.transfer(workload.X_train, "float32")

    def fit() -> DBN:
        model = DBN(
            layers,
            learn_rates=LEARN_RATES,
            epochs=workload.epochs,
            minibatch_size=MINIBATCH_SIZE,
            random_state=0,
            device=device.name,
        )
        return model.fit(X_train, workload.y_train)

    samples = workload.X_train.shape[0] * workload.epochs
    model = gpubench(fit, units="samples", units_per_round=samples)
    if not workload.dataset.timing_only:
        accuracy = model.score(workload.X_test, workload.y_test)
        gpubench.metric("accuracy", accuracy)
        assert accuracy >= ACCURACY_FLOOR, (
            f"held-out accuracy {accuracy:.3f} is below {ACCURACY_FLOOR} on "
            f"{workload.dataset.name}: the fit is wrong, so its time is no result"
        )


@pytest.mark.gpubench(experiment="dbn-transfer", speedup=False)
def test_dbn_transfer(gpubench: Any, device: Any, workload: Workload, data_shape: str) -> None:
    """Host→device copy of the training data: a fresh full copy each round on a GPU. CPU
    back ends use the host array as it is (nothing to copy), so no MB/s is shown for them:
    a rate of a copy that did not happen would read as hundreds of TB/s."""
    assert workload.shape == data_shape
    X = workload.X_train
    megabytes = X.nbytes / 1e6 if device.is_gpu else 0.0
    copied = gpubench(device.asarray, X, "float32", units="MB", units_per_round=megabytes)
    assert tuple(copied.shape) == X.shape
