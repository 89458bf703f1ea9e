"""How often the history finds a step, how soon, and how often noise alone raises one.

Synthetic speedup histories at the precision a run reaches: each run's log speedup is the
truth plus Gaussian noise of ``--sigma`` (0.015: the default profile's 3% half-width of the
95% interval, within one run; 0.03 and 0.05: what repeated runs on a quiet and a busy
machine spread over). A history holds ``--before`` runs, then a step down by 10% or 20%,
then 1 to 20 runs. A step counts as found when a change point lands within one run of it
(ours: tentative or not). Noise-only histories of 30 and 60 runs give the false-positive
share: histories with any change point at all.

Compared with:

- **github-action-benchmark**'s rule: alert when a run is worse than the previous one by
  the alert threshold (200% by default: twice as slow; 110% shown too). It looks at one
  pair, so the step is "found" only if the run right after it alerts.
- **asv** ``step_detect`` (``detect_steps`` + ``detect_regressions``, threshold 5%), when
  ``asv`` imports; its regressions are upward steps of a time, so it gets 1/speedup.
- **Apache Otava** ``compute_change_points`` (window 30, p 0.001), when ``otava`` imports.

Usage::

    python -m benchmarks.history_detection --json docs/results/history-detection.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.cli import at_least
from pytest_gpubench.history.changepoints import change_points

#: A detector: log speedups in, the indices where it sees a new regime start.
Detector = Callable[[np.ndarray], list[int]]

STEPS = (0.10, 0.20)
AFTER = (1, 2, 3, 5, 10, 20)


def ours(logs: np.ndarray) -> list[int]:
    return [step.index for step in change_points(logs)]


def github_action(threshold: float) -> Detector:
    """Alert at run i when it is ``threshold`` times slower than run i-1 (bigger speedup is
    better: previous / current >= threshold)."""

    def detect(logs: np.ndarray) -> list[int]:
        worse = logs[:-1] - logs[1:]  # log(previous / current)
        return [i + 1 for i in np.flatnonzero(worse >= math.log(threshold))]

    return detect


def asv_detector() -> Detector | None:
    try:
        from asv.step_detect import detect_regressions, detect_steps
    except ImportError:
        return None

    def detect(logs: np.ndarray) -> list[int]:
        times = list(np.exp(-logs))  # a time: a regression is an upward step
        found = detect_regressions(detect_steps(times), threshold=0.05)
        if not found or not found[2]:
            return []
        return [after for _, after, _, _ in found[2]]

    return detect


def otava_detector() -> Detector | None:
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        return None

    def detect(logs: np.ndarray) -> list[int]:
        points, _ = compute_change_points(list(np.exp(logs)), window_len=30, max_pvalue=0.001)
        return [point.index for point in points]

    return detect


def history(rng: np.random.Generator, sigma: float, before: int, after: int, step: float):
    logs = math.log(8.0) + rng.normal(0.0, sigma, before + after)
    logs[before:] += math.log1p(-step)
    return logs


def detection(
    detect: Detector, sigma: float, before: int, trials: int, seed: int
) -> dict[str, dict[int, float]]:
    """Share of histories whose step was found, per step size and runs after it."""
    table: dict[str, dict[int, float]] = {}
    for step in STEPS:
        row = {}
        for after in AFTER:
            rng = np.random.default_rng([seed, int(step * 100), after])
            hits = 0
            for _ in range(trials):
                found = detect(history(rng, sigma, before, after, step))
                hits += any(abs(index - before) <= 1 for index in found)
            row[after] = hits / trials
        table[f"{step:.0%}"] = row
    return table


def false_positives(
    detect: Detector, sigma: float, lengths: Sequence[int], trials: int, seed: int
) -> dict[int, float]:
    """Share of noise-only histories with any change point, per history length."""
    shares = {}
    for length in lengths:
        rng = np.random.default_rng([seed, length])
        hits = sum(bool(detect(history(rng, sigma, length, 0, 0.0))) for _ in range(trials))
        shares[length] = hits / trials
    return shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=at_least(10), default=200, help="histories per cell")
    parser.add_argument("--noise-trials", type=at_least(10), default=1000)
    parser.add_argument("--before", type=at_least(3), default=25, help="runs before the step")
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.015, 0.03, 0.05])
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--json", type=Path, help="write the raw shares here")
    args = parser.parse_args(argv)
    detectors: dict[str, Detector | None] = {
        "ours (E-divisive + t-test)": ours,
        "github-action-benchmark 200%": github_action(2.0),
        "github-action-benchmark 110%": github_action(1.1),
        "asv step_detect": asv_detector(),
        "otava 0.001": otava_detector(),
    }
    results: dict[str, object] = {
        "trials": args.trials,
        "noise_trials": args.noise_trials,
        "before": args.before,
        "seed": args.seed,
        "detectors": {},
    }
    for name, detect in detectors.items():
        if detect is None:
            print(f"## {name}: not installed, left out\n")
            results["detectors"][name] = None  # type: ignore[index]
            continue
        started = time.perf_counter()
        entry = {}
        print(f"## {name}\n")
        for sigma in args.sigma:
            found = detection(detect, sigma, args.before, args.trials, args.seed)
            noise = false_positives(detect, sigma, (30, 60), args.noise_trials, args.seed)
            entry[f"{sigma:g}"] = {"detection": found, "false_positive": noise}
            head = " | ".join(f"{a} after" for a in AFTER)
            print(f"noise σ={sigma:g} (log speedup per run)\n")
            print(f"| step | {head} |\n|---|{'---|' * len(AFTER)}")
            for step, row in found.items():
                print(f"| {step} | " + " | ".join(f"{row[a]:.0%}" for a in AFTER) + " |")
            shares = ", ".join(f"{n} runs: {share:.1%}" for n, share in noise.items())
            print(f"\nnoise-only histories with a change point: {shares}\n")
        entry["seconds"] = round(time.perf_counter() - started, 1)
        results["detectors"][name] = entry  # type: ignore[index]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
