"""The classic nolearn DBN script: train on a data set, print the classification report.

Run ``python -m pytest_gpubench.dbn.mnist --help``. The flow is the nolearn 0.5 example's:
load, ``train_test_split(test_size=0.33)``, ``DBN(...).fit``, ``predict``, scikit-learn's
``classification_report``, plus the wall time, so one device can be compared with another.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_gpubench.datasets import (
    Dataset,
    DatasetError,
    best_available,
    dataset_names,
    load_dataset,
)
from pytest_gpubench.dbn import DBN, TrainingDivergedError
from pytest_gpubench.devices import DeviceUnavailableError, device_names, require_device
from pytest_gpubench.integers import argparse_int

TEST_SIZE = 0.33
IDX_DATASETS = ("mnist", "fashion-mnist")
#: nolearn's classic learn rate, tuned for MNIST.
CLASSIC_LEARN_RATE = 0.3
#: Data sets where the classic rate fails, the rate that works there, and why.
LEARN_RATES = {
    "fashion-mnist": (
        0.1,
        "0.3, the classic MNIST rate, diverges on Fashion-MNIST; 0.1 scores ~0.89",
    ),
}


# --------------------------------------------------------------------------- arguments


class ArgumentsRejected(ValueError):
    """Arguments that parse but that the data set or the DBN cannot use (exit status 2)."""


def layer_sizes(text: str) -> tuple[int, ...]:
    """Parse ``--hidden``: comma-separated positive layer sizes, e.g. ``800,800``."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes such as 800,800, got {text!r}"
        )
    return tuple(int(part) for part in parts)


#: ``--epochs``, ``--minibatch-size``, ...: an integer >= 1.
positive_int = argparse_int(1)
#: A seed for NumPy and scikit-learn: an integer from 0 to 2**32 - 1.
seed = argparse_int(0, 2**32 - 1)


def positive_float(text: str) -> float:
    """A finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def decay(text: str) -> float:
    """A per-epoch learn-rate factor in (0, 1]: above 1 the rate would grow every epoch."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(
            f"expected a factor in (0, 1] (1 keeps the rate), got {text!r}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line, with nolearn's defaults where the classic script had them."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_gpubench.dbn.mnist",
        description="Train the DBN on a data set as nolearn's classic MNIST script did.",
    )
    parser.add_argument(
        "--dataset",
        choices=["auto", *dataset_names()],
        default="auto",
        help="data set (default: auto, the best present: mnist, fashion-mnist, digits)",
    )
    parser.add_argument(
        "--data-dir", help="directory of IDX files (with --dataset mnist or fashion-mnist)"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help=f"array back end (default: cpu); one of {', '.join(device_names())}",
    )
    parser.add_argument("--epochs", type=positive_int, default=10, help="default: 10")
    parser.add_argument(
        "--hidden", type=layer_sizes, default=(800, 800), help="hidden layer sizes (800,800)"
    )
    parser.add_argument(
        "--learn-rate",
        type=positive_float,
        default=None,
        help=f"default: {CLASSIC_LEARN_RATE} (the classic), 0.1 on fashion-mnist",
    )
    parser.add_argument(
        "--learn-rate-decay", type=decay, default=0.9, help="per epoch, in (0, 1] (default: 0.9)"
    )
    parser.add_argument("--minibatch-size", type=positive_int, default=64, help="default: 64")
    parser.add_argument(
        "--random-state", type=seed, default=None, help="seed for split and fit (0 to 2**32-1)"
    )
    parser.add_argument(
        "--samples", type=positive_int, default=None, help="synthetic only (default: 10000)"
    )
    parser.add_argument(
        "--features", type=positive_int, default=None, help="synthetic only (default: 784)"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more detail (DBN verbose=2)"
    )
    return parser


# --------------------------------------------------------------------------- steps


def load(args: argparse.Namespace) -> Dataset:
    """The data set the arguments ask for; :class:`DatasetError` when it is not usable."""
    if args.data_dir is not None and args.dataset not in IDX_DATASETS:
        raise DatasetError(
            f"--data-dir applies to --dataset mnist or fashion-mnist, not {args.dataset!r}"
        )
    if args.dataset == "auto":
        return best_available()
    options: dict[str, Any] = {}
    if args.dataset in IDX_DATASETS and args.data_dir is not None:
        options["data_dir"] = args.data_dir
    if args.dataset != "synthetic" and (args.samples, args.features) != (None, None):
        raise DatasetError(
            f"--samples and --features shape --dataset synthetic only, not {args.dataset!r}"
        )
    if args.dataset == "synthetic":
        options.update(n_samples=args.samples or 10_000, n_features=args.features or 784)
        if args.random_state is not None:
            options["random_state"] = args.random_state
    return load_dataset(args.dataset, **options)


def describe_dataset(data: Dataset, args: argparse.Namespace) -> list[str]:
    """Lines saying which data ran, where it came from, and whether accuracy means anything."""
    how = "auto: best available" if args.dataset == "auto" else "--dataset"
    lines = [f"data set: {data.name} ({how}): {data.description}", f"  {data.summary()}"]
    if args.verbose:
        lines += [f"  {note}" for note in data.notes]
    elif data.notes:
        skipped = ", ".join(note.split(" ", 1)[0] for note in data.notes)
        lines.append(f"  ({skipped} not available here; -v says why)")
    if data.timing_only:
        lines.append("  WARNING: random data for timing only: the accuracy below is meaningless")
    return lines


def choose_learn_rate(given: float | None, dataset: str) -> tuple[float, str]:
    """The learn rate and a line saying where it came from: ``--learn-rate`` when given,
    else the data set's default (the classic 0.3, or the rate that works there)."""
    if given is not None:
        return given, f"learn rate: {given} (--learn-rate)"
    rate, why = LEARN_RATES.get(dataset, (CLASSIC_LEARN_RATE, "the classic nolearn default"))
    return rate, f"learn rate: {rate}, the default on {dataset} ({why}; --learn-rate sets it)"


def make_dbn(
    args: argparse.Namespace,
    n_features: int,
    n_classes: int,
    fine_tune_callback: Callable[[DBN, int], None] | None = None,
) -> DBN:
    """The DBN with the classic script's arguments."""
    return DBN(
        [n_features, *args.hidden, n_classes],
        learn_rates=args.learn_rate,
        learn_rate_decays=args.learn_rate_decay,
        epochs=args.epochs,
        minibatch_size=args.minibatch_size,
        random_state=args.random_state,
        verbose=1 + min(args.verbose, 1),
        device=args.device,
        fine_tune_callback=fine_tune_callback,
    )


def epoch_summary(fit_s: float, start: float, epoch_ends: Sequence[float]) -> str:
    """The mean epoch time, then the first epoch (which carries the set-up: the copy to the
    device, a GPU library's first calls) apart from the median of the others."""
    summary = f"{fit_s / max(len(epoch_ends), 1):.3f} s per epoch, mean"
    if len(epoch_ends) < 2:
        return summary
    later = [b - a for a, b in itertools.pairwise(epoch_ends)]
    return (
        f"{summary}; the first, with the set-up, {epoch_ends[0] - start:.3f} s; "
        f"the others' median {statistics.median(later):.3f} s"
    )


def run(args: argparse.Namespace, data: Dataset) -> int:
    """Split, fit, predict and print the report; returns the exit status."""
    from sklearn.metrics import accuracy_score, classification_report
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=TEST_SIZE, random_state=args.random_state
    )
    epoch_ends: list[float] = []  # the loss is read back at each epoch's end: synchronised
    # the classes the training split holds (a small data set's split can miss some)
    n_classes = len(set(y_train.tolist()))
    clf = make_dbn(
        args,
        data.n_features,
        n_classes,
        fine_tune_callback=lambda _net, _epoch: epoch_ends.append(time.perf_counter()),
    )
    print(
        f"network: {[data.n_features, *args.hidden, n_classes]} on {args.device}, "
        f"{args.epochs} epoch{'s' * (args.epochs != 1)}, learn rate {args.learn_rate} "
        f"(decay {args.learn_rate_decay}), "
        f"minibatch {args.minibatch_size}; train {len(y_train)}, test {len(y_test)} samples",
        flush=True,
    )
    start = time.perf_counter()
    try:
        clf.fit(X_train, y_train)
    except TrainingDivergedError as exc:
        print(
            f"error: training diverged: {exc}\n(this script's learn rate is --learn-rate, now "
            f"{args.learn_rate}; e.g. --learn-rate {args.learn_rate / 3:.2g})",
            file=sys.stderr,
        )
        return 1
    except ValueError as exc:  # the DBN checks combinations of parameters in fit
        raise ArgumentsRejected(f"the DBN rejected these arguments: {exc}") from exc
    fit_s = time.perf_counter() - start
    y_pred = clf.predict(X_test)
    predict_s = time.perf_counter() - start - fit_s
    print(f"\nfit: {fit_s:.2f} s ({epoch_summary(fit_s, start, epoch_ends)})")
    print(f"predict: {predict_s:.3f} s for {len(y_test)} samples")
    accuracy = accuracy_score(y_test, y_pred)
    note = " (meaningless: random data)" if data.timing_only else ""
    print(f"accuracy: {accuracy:.4f}{note}\n")
    print(classification_report(y_test, y_pred, zero_division=0))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, check device and data, then run; bad input exits with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        require_device(args.device)
        data = load(args)
    except (DatasetError, DeviceUnavailableError, ValueError) as exc:
        parser.error(str(exc))
    args.learn_rate, why = choose_learn_rate(args.learn_rate, data.name)
    for line in [*describe_dataset(data, args), why]:
        print(line)
    try:
        status = run(args, data)
    except ArgumentsRejected as exc:
        parser.error(str(exc))
    print(f"total wall time: {time.perf_counter() - start:.2f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
