"""Command-line pieces the benchmark scripts share: checked counts and child processes."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def run_child(command: Sequence[str], cwd: Path | None = None) -> str:
    """Run a timing child process and return its stdout; when it fails, exit with its
    stderr (the real error) instead of a ``CalledProcessError`` that hides it."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        print(f"error: a timing process failed (exit {done.returncode}):\n{tail}", file=sys.stderr)
        raise SystemExit(1)
    return done.stdout
