"""Time the DBN's minibatch step on each back end, for this checkout and, to measure a change,
for a baseline checkout beside it.

    python -m benchmarks.backend_ab [--devices numpy,torch-cpu,cupy,torch-cuda]
                                    [--baseline DIR] [--rounds 2] [--fits 5] [--samples 46900]

Each measurement is one fresh interpreter that imports the DBN from the checkout under test,
fits the seed network (784-800-800-10, minibatch 64, one epoch on synthetic float32 rows)
once to warm up, then times ``--fits`` more fits. A fit ends by reading its loss back to the
host, so GPU work is finished when the clock stops. Rounds alternate baseline and
current code device by device, so a noisy spell hits both; the ratio baseline/current is
given of the mins and per round. ``--baseline`` is another checkout (``git worktree add
../base HEAD~1``, say), with the DBN in ``pytest_gpubench/dbn`` or, before it moved there,
in ``experiments/dbn``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.cli import at_least, run_child
from benchmarks.peer_epoch import MINIBATCH, SIZES, make_data

THIS_CHECKOUT = Path(__file__).resolve().parent.parent
#: Where a checkout keeps the DBN package, newest layout first.
DBN_PACKAGES = ("pytest_gpubench.dbn", "experiments.dbn")


def dbn_package(code: Path) -> str | None:
    """The DBN package's module name in the checkout ``code``; None when it has none."""
    for name in DBN_PACKAGES:
        if (code / Path(*name.split("."))).is_dir():
            return name
    return None


@dataclass(frozen=True)
class Timing:
    """One process's timed fits (seconds), the minibatches per fit, and which code ran."""

    fits: list[float]
    steps: int
    module: str


def time_fits(code: Path, device: str, samples: int, fits: int) -> Timing:
    """In this process: time fits of the DBN package under ``code``."""
    sys.path.insert(0, str(code))
    for name in [n for n in sys.modules if n.split(".")[0] == "pytest_gpubench"]:
        del sys.modules[name]  # imported from this checkout already (peer_epoch's speedup)
    package = importlib.import_module(dbn_package(code) or DBN_PACKAGES[0])
    DBN = package.DBN

    X, y = make_data(samples)

    def fit() -> float:
        start = time.perf_counter()
        DBN([-1, *SIZES[1:-1], -1], epochs=1, learn_rates=0.1, random_state=0, device=device).fit(
            X, y
        )
        return time.perf_counter() - start

    fit()  # warm-up: imports, a GPU library's first calls and kernel loads
    return Timing([fit() for _ in range(fits)], samples // MINIBATCH, str(package.__file__))


def time_in_subprocess(code: Path, device: str, samples: int, fits: int) -> Timing:
    """:func:`time_fits` in a fresh interpreter."""
    command = [sys.executable, "-m", "benchmarks.backend_ab", "--child", str(code), device]
    command += ["--samples", str(samples), "--fits", str(fits)]
    out = run_child(command, cwd=THIS_CHECKOUT)
    return Timing(**json.loads(out.strip().splitlines()[-1]))


def usable_devices(names: list[str]) -> list[str]:
    """``names`` that can run here; the others are named with their reason."""
    from pytest_gpubench.devices import get_device

    usable = []
    for name in names:
        device = get_device(name)
        if device.available:
            usable.append(name)
        else:
            print(f"  {name}: skipped ({device.reason})")
    return usable


def report(device: str, runs: dict[str, list[Timing]]) -> list[str]:
    """Lines for one device: each code's min and median, then baseline/current ratios."""
    lines = []
    best: dict[str, float] = {}
    for label, timings in runs.items():
        fits = [t for timing in timings for t in timing.fits]
        best[label] = min(fits)
        lines.append(
            f"  {device:10s} {label:8s} {min(fits):.3f} s/epoch min, "
            f"{statistics.median(fits):.3f} median, "
            f"{min(fits) * 1e3 / timings[0].steps:.3f} ms/step ({timings[0].module})"
        )
    if "baseline" in runs:
        pairs = zip(runs["baseline"], runs["current"], strict=True)
        per_round = [min(base.fits) / min(current.fits) for base, current in pairs]
        lines.append(
            f"  {device:10s} baseline/current {best['baseline'] / best['current']:.2f}x of the "
            f"mins; per round {', '.join(f'{r:.2f}x' for r in per_round)}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--devices", default="numpy,torch-cpu,cupy,torch-cuda")
    parser.add_argument("--baseline", type=Path, help="a checkout to compare against")
    parser.add_argument("--rounds", type=at_least(1), default=2)
    parser.add_argument("--fits", type=at_least(1), default=5, help="timed fits per process")
    parser.add_argument(
        "--samples", type=at_least(MINIBATCH), default=46_900, help="training rows (>= 64)"
    )
    parser.add_argument("--child", nargs=2, metavar=("CODE", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        code, device = args.child
        print(json.dumps(asdict(time_fits(Path(code), device, args.samples, args.fits))))
        return
    if args.baseline is not None and dbn_package(args.baseline) is None:
        parser.error(
            f"--baseline {args.baseline}: no pytest_gpubench/dbn (nor experiments/dbn) there; "
            "give a checkout of this repository"
        )

    codes = {"current": THIS_CHECKOUT}
    if args.baseline is not None:
        codes = {"baseline": args.baseline.resolve(), **codes}
    print(
        f"one epoch of {'-'.join(map(str, SIZES))}, minibatch {MINIBATCH}, {args.samples} rows; "
        f"min of {args.fits} warm fits per process, {args.rounds} round(s)"
    )
    try:
        devices = usable_devices(args.devices.split(","))
    except ValueError as exc:  # an unknown device name
        parser.error(f"--devices {args.devices!r}: {exc}")
    runs: dict[str, dict[str, list[Timing]]] = {d: {label: [] for label in codes} for d in devices}
    for _ in range(args.rounds):
        for device in devices:
            for label, code in codes.items():
                runs[device][label].append(
                    time_in_subprocess(code, device, args.samples, args.fits)
                )
    for device in devices:
        for line in report(device, runs[device]):
            print(line)


if __name__ == "__main__":
    main()
