"""The DBN's ``verbose`` output: nolearn's log lines on stdout, a tqdm bar on stderr.

This is the estimator's documented verbose output (the same lines the classic nolearn
script printed), so it is printed, not logged.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from tqdm import tqdm

__all__ = ["TrainingLog"]


def _elapsed(since: float) -> str:
    return str(timedelta(seconds=time.perf_counter() - since)).split(".")[0]


class TrainingLog:
    """Prints nolearn's progress lines when ``verbose`` is set; silent otherwise."""

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose
        self._since = time.perf_counter()

    def _print(self, line: str) -> None:
        if self.verbose:
            print(line, flush=True)

    def fitting(self, shape: tuple[int, ...]) -> None:
        self._print(f"[DBN] fitting X.shape={shape}")

    def layers(self, sizes: Sequence[int]) -> None:
        self._print(f"[DBN] layers {list(sizes)}")

    def pretrain_layer(self, index: int) -> None:
        self._print(f"[DBN] Pre-train layer {index + 1}...")
        self._since = time.perf_counter()

    def pretrain_epoch(self, epoch: int, err: float) -> None:
        self._print(f"  Epoch {epoch}: err {err:.4f}")
        self._print(f"  ({_elapsed(self._since)})")
        self._since = time.perf_counter()

    def fine_tune(self) -> None:
        self._print("[DBN] Fine-tune...")
        self._since = time.perf_counter()

    def fine_tune_epoch(self, epoch: int, loss: float, err: float) -> None:
        self._print(f"Epoch {epoch}:")
        self._print(f"  loss {loss:.4f}")
        self._print(f"  err  {err:.4f}")
        self._print(f"  ({_elapsed(self._since)})")
        self._since = time.perf_counter()

    def learn_rates(self, rates: Sequence[float]) -> None:
        if self.verbose >= 2:
            print(f"Learn rates: {list(rates)}", flush=True)

    def progress(self, total: int, desc: str) -> tuple[Callable[[], None], Callable[[], None]]:
        """A (tick, close) pair for one epoch's progress bar on stderr."""
        if not self.verbose:
            return _noop, _noop
        bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5)
        return bar.update, bar.close


def _noop() -> None:
    return None
