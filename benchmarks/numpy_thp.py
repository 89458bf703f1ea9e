"""numpy's DBN fit at 4000-4000 with numpy's transparent-huge-page advice on or off.

Why the quiet runs of ``noisy_neighbour.py`` disagree at 4000-4000: with numpy's default
``madvise(MADV_HUGEPAGE)`` on large arrays, its fit alternates between two times round by
round; with the advice off it is steady (and slower). Usage::

    python -m benchmarks.numpy_thp on     # numpy's default
    python -m benchmarks.numpy_thp off
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.datasets import load_digits

from pytest_gpubench.dbn import DBN

ROUNDS = 14


def main(advice: str) -> None:
    if advice not in ("on", "off"):
        raise SystemExit("usage: python -m benchmarks.numpy_thp on|off")
    np._core.multiarray._set_madvise_hugepage(advice == "on")
    X, y = load_digits(return_X_y=True)
    X, y = (X / 16).astype("float32")[:1200], y[:1200]

    def fit() -> DBN:
        dbn = DBN(
            [64, 4000, 4000, 10], learn_rates=0.3, epochs=1, minibatch_size=64, random_state=0
        )
        return dbn.fit(X, y)

    fit()  # warm-up
    seconds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fit()
        seconds.append(time.perf_counter() - start)
    print("hugepage", advice, [round(s, 2) for s in seconds])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
