"""Time one fine-tuning epoch of the seed network against its peers, side by side.

    python -m benchmarks.peer_epoch [--samples 46900] [--repeats 9]

The seed network is 784-800-800-10 with minibatches of 64 on float32 data (46,900 × 784,
732 minibatches). Contenders, run in interleaved rounds and summarised by their median:

* ``dbn``      ``pytest_gpubench.dbn.DBN`` on numpy, ``fit`` with one epoch (setup included);
* ``torch``    the idiomatic torch CPU loop: ``nn.Sequential`` of Linear/ReLU, softmax
               cross-entropy, ``torch.optim.SGD`` (Nesterov momentum 0.9, weight decay),
               over the same number of minibatches drawn with replacement;
* ``sklearn``  ``MLPClassifier`` (sgd, relu, batch 64, Nesterov momentum, one epoch);
* ``bound``    the matrix products alone (3 forward, 3 weight-gradient, 2 input-gradient
               per minibatch, into preallocated outputs, through the same BLAS calls and
               array layouts as the DBN): what any of them must spend.

Each measurement runs in a fresh interpreter (after a short warm-up there), because a
contender's leftovers (heap state, idle thread pools) measurably slow the next one down.
Ratios are given three ways: of the medians (with the 95% bootstrap interval that the
speedup tables use), of the mins, and per round (each round runs every contender once, back
to back, so a noisy spell hits them alike). Each round also shows
CPU time / wall time: well under the thread count means something
else on the machine took the cores during that round; prefer quiet rounds (``min``).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np

from benchmarks.cli import at_least, run_child
from pytest_gpubench.speedup import speedup_interval

SIZES = (784, 800, 800, 10)
MINIBATCH = 64
LEARN_RATE = 0.1
MOMENTUM = 0.9
L2 = 1e-4


def make_data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic inputs in [0, 1) and 10 labels, float32 like scaled image data."""
    rng = np.random.default_rng(0)
    X = rng.random((samples, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], samples)
    return X, y


def dbn_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    from pytest_gpubench.dbn import DBN

    def run() -> None:
        DBN([-1, *SIZES[1:-1], -1], epochs=1, random_state=0, device="numpy").fit(X, y)

    return run


def torch_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    import torch
    from torch import nn

    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(y)
    n_batches = len(X) // MINIBATCH

    def run() -> None:
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(SIZES):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
        optimizer = torch.optim.SGD(
            model.parameters(), lr=LEARN_RATE, momentum=MOMENTUM, nesterov=True, weight_decay=L2
        )
        loss_fn = nn.CrossEntropyLoss()
        order = torch.randint(0, len(X_t), (n_batches, MINIBATCH))
        for idx in order:
            optimizer.zero_grad()
            loss = loss_fn(model(X_t[idx]), y_t[idx])
            loss.backward()
            optimizer.step()

    return run


def sklearn_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def run() -> None:
        clf = MLPClassifier(
            hidden_layer_sizes=SIZES[1:-1],
            activation="relu",
            solver="sgd",
            batch_size=MINIBATCH,
            learning_rate_init=LEARN_RATE,
            momentum=MOMENTUM,
            nesterovs_momentum=True,
            alpha=L2,
            max_iter=1,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    return run


def bound_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """The eight matrix products of each minibatch, nothing else, through the same BLAS
    calls, on the same layouts, as the DBN (its ``ArrayOps``: SciPy's ``gemm`` on numpy,
    column-major matrices, weight gradients accumulated with ``beta=1``)."""
    import array_api_compat.numpy as xp

    from pytest_gpubench.dbn.ops import ArrayOps, Product

    rng = np.random.default_rng(0)
    k = ArrayOps(xp, X)
    pairs = list(itertools.pairwise(SIZES))
    W = [k.as_matrix(rng.standard_normal(shape, dtype=np.float32)) for shape in pairs]
    grads = [k.as_matrix(np.zeros(shape, np.float32)) for shape in pairs]
    # layer inputs: gathered rows (row-major), then the hidden outputs (the loop's layout)
    acts = [rng.random((MINIBATCH, SIZES[0]), dtype=np.float32)]
    acts += [k.as_matrix(rng.random((MINIBATCH, n), dtype=np.float32)) for n in SIZES[1:]]
    # error signals: the output's is row-major (targets - outputs), the hidden ones are not
    deltas = [k.as_matrix(rng.random((MINIBATCH, n), dtype=np.float32)) for n in SIZES[:-1]]
    deltas.append(rng.random((MINIBATCH, SIZES[-1]), dtype=np.float32))
    fwd = [k.matrix((MINIBATCH, n)) for n in SIZES[1:]]
    back = [k.matrix((MINIBATCH, n)) for n in SIZES]
    n_batches = len(X) // MINIBATCH

    def run() -> None:
        for _ in range(n_batches):
            for i in range(3):
                k.matmul(acts[i], W[i], out=fwd[i])
            for i in range(3):
                k.add_(grads[i], Product(xp.matrix_transpose(acts[i]), deltas[i + 1]))
            for i in (2, 1):
                k.matmul(deltas[i + 1], xp.matrix_transpose(W[i]), out=back[i])

    return run


def blas_and_threads() -> list[str]:
    import scipy.linalg.blas  # noqa: F401  (the DBN's BLAS: load it so it is listed)
    import torch
    from threadpoolctl import threadpool_info

    lines = [
        f"{info.get('user_api')}: {info.get('internal_api')} {info.get('version')} "
        f"kernel={info.get('architecture')} threads={info.get('num_threads')} "
        f"({info.get('filepath', '').rsplit('/', 1)[-1]})"
        for info in threadpool_info()
    ]
    lines.append(f"torch {torch.__version__}: {torch.get_num_threads()} threads")
    return lines


CONTENDERS: dict[str, Callable[[np.ndarray, np.ndarray], Callable[[], None]]] = {
    "dbn": dbn_epoch,
    "torch": torch_epoch,
    "sklearn": sklearn_epoch,
    "bound": bound_epoch,
}


def time_one(name: str, samples: int) -> tuple[float, float]:
    """Warm ``name`` up on a few minibatches, then time one epoch: (wall s, CPU/wall)."""
    make = CONTENDERS[name]
    make(*make_data(4 * MINIBATCH))()
    run = make(*make_data(samples))
    start, cpu = time.perf_counter(), time.process_time()
    run()
    wall = time.perf_counter() - start
    return wall, (time.process_time() - cpu) / wall


def time_in_subprocess(name: str, samples: int) -> tuple[float, float]:
    """:func:`time_one` in a fresh interpreter, so no contender inherits another's heap,
    thread pools or caches."""
    out = run_child(
        [sys.executable, "-m", "benchmarks.peer_epoch", "--one", name, "--samples", str(samples)]
    ).split()
    return float(out[-2]), float(out[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--samples", type=at_least(MINIBATCH), default=46_900, help="training rows (>= 64)"
    )
    parser.add_argument(
        "--repeats",
        type=at_least(1),
        default=9,
        help="interleaved rounds (one takes ~25 s on 2 cores)",
    )
    parser.add_argument("--one", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the child process of time_in_subprocess
        print(*time_one(args.one, args.samples))
        return

    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    busy: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(args.repeats):
        for name in CONTENDERS:
            wall, utilisation = time_in_subprocess(name, args.samples)
            times[name].append(wall)
            busy[name].append(utilisation)

    n_batches = args.samples // MINIBATCH
    print(
        f"one epoch of {'-'.join(map(str, SIZES))}, minibatch {MINIBATCH}, "
        f"{args.samples} x {SIZES[0]} float32 ({n_batches} minibatches), "
        f"median of {args.repeats} interleaved rounds, each in a fresh process"
    )
    median = {name: statistics.median(ts) for name, ts in times.items()}
    best = {name: min(ts) for name, ts in times.items()}
    print(f"  {'':8s} {'median':>7s}   {'min':>5s}   (every round, s/CPU time per wall time)")
    for name, ts in times.items():
        spread = ", ".join(f"{t:.2f}/{u:.1f}" for t, u in zip(ts, busy[name], strict=True))
        print(f"  {name:8s} {median[name]:7.2f} s {best[name]:5.2f} s   ({spread})")
    for label, top, bottom in (
        ("torch/DBN", "torch", "dbn"),
        ("sklearn/DBN", "sklearn", "dbn"),
        ("DBN/bound", "dbn", "bound"),
    ):
        per_round = [t / b for t, b in zip(times[top], times[bottom], strict=True)]
        interval = speedup_interval(times[top], times[bottom])
        ci = "" if interval is None else f" (95% {interval[0]:.2f}-{interval[1]:.2f})"
        print(
            f"  {label:11s} {median[top] / median[bottom]:.2f}x median{ci}, "
            f"{best[top] / best[bottom]:.2f}x min; within a round "
            f"{statistics.median(per_round):.2f}x median "
            f"[{min(per_round):.2f}-{max(per_round):.2f}]"
        )
    for line in blas_and_threads():
        print(f"  {line}")


if __name__ == "__main__":
    main()
