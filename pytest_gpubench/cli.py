"""``pytest-gpubench``: the console script, one subcommand per job over one storage.

- ``pytest-gpubench history [--storage PATH] [--json F] [--markdown F] [--html F]
  [--plot F]``: the
  speedup history of the saved runs, its change points named by commit (:mod:`.history`).
- commands that other parts of the package, or other packages, declare in the entry-point
  group ``pytest_gpubench.commands``: each is called as ``main(argv, prog=...)`` with
  ``argv`` starting with its own name. The EC2 provider declares ``sweep`` there
  (``pytest-gpubench sweep [--dry-run] [--region R]``, the same as ``python -m
  pytest_gpubench.ec2 sweep``), so the core names no cloud, as pytest11 keeps the EC2
  options out of the core plugin.

Like ``pytest-benchmark``'s own console script, it reads pytest-benchmark's storage
(``.benchmarks`` unless ``--storage`` says otherwise).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

__all__ = ["main"]

PROG = "pytest-gpubench"
#: The entry-point group of the commands other than ``history``.
COMMANDS = "pytest_gpubench.commands"


def commands() -> dict[str, EntryPoint]:
    """The declared commands, by name (see the module doc)."""
    return {ep.name: ep for ep in entry_points(group=COMMANDS) if ep.name != "history"}


def _fraction(text: str) -> float:
    """``10%`` or ``0.10`` → 0.10."""
    try:
        value = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction; write 10% or 0.10") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; write 10% or 0.10")
    return value


def _parser() -> argparse.ArgumentParser:
    from pytest_gpubench.history.changepoints import (
        CONFIRM_AFTER,
        DEFAULT_MAX_PVALUE,
        DEFAULT_MIN_MAGNITUDE,
        DEFAULT_WINDOW,
    )

    parser = argparse.ArgumentParser(prog=PROG, description="pytest-gpubench's commands.")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    history = subcommands.add_parser(
        "history",
        help="speedups across saved runs, change points named by commit",
        description="Read every saved run in the storage, order them by the repository's "
        "first-parent history, find the change points of each speedup and name the commits "
        "behind them. Prints a summary; writes the reports asked for.",
    )
    history.add_argument(
        "--storage",
        default=".benchmarks",
        metavar="PATH",
        help="pytest-benchmark's storage (--benchmark-storage; default .benchmarks)",
    )
    history.add_argument(
        "--repo",
        default=".",
        metavar="PATH",
        help="the git repository whose first-parent history orders the runs (default .)",
    )
    history.add_argument("--json", metavar="FILE", help="write the history as JSON")
    history.add_argument("--markdown", metavar="FILE", help="write a Markdown report")
    history.add_argument("--html", metavar="FILE", help="write the trend page (one HTML file)")
    history.add_argument(
        "--plot", metavar="FILE", help="write the charts as PNG (SVG, PDF by suffix; matplotlib)"
    )
    history.add_argument(
        "--max-pvalue",
        type=float,
        default=DEFAULT_MAX_PVALUE,
        metavar="P",
        help=f"largest p-value of a change point (default {DEFAULT_MAX_PVALUE:g})",
    )
    history.add_argument(
        "--min-magnitude",
        type=_fraction,
        default=DEFAULT_MIN_MAGNITUDE,
        metavar="PCT",
        help=f"smallest step reported (default {DEFAULT_MIN_MAGNITUDE:.0%}, the gate's)",
    )
    history.add_argument(
        "--confirm-after",
        type=int,
        default=CONFIRM_AFTER,
        metavar="N",
        help=f"runs after a change point before it is no longer tentative "
        f"(default {CONFIRM_AFTER})",
    )
    history.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        metavar="N",
        help=f"points per split window (default {DEFAULT_WINDOW})",
    )
    for name, entry in sorted(commands().items()):  # listed; main hands them argv whole
        subcommands.add_parser(name, help=f"{entry.value} (pytest-gpubench {name} --help)")
    return parser


def _history(args: argparse.Namespace) -> int:
    from pytest_gpubench.history.analysis import HistoryOptions, analyse
    from pytest_gpubench.history.page import page
    from pytest_gpubench.history.report import json_text, markdown, summary, write_text
    from pytest_gpubench.storage import storage_path

    try:
        storage = storage_path(args.storage)
        options = HistoryOptions(
            args.max_pvalue, args.min_magnitude, args.window, args.confirm_after
        )
        if not storage.is_dir():
            raise ValueError(
                f"--storage {args.storage!r} is not a directory; point it at pytest-benchmark's "
                "storage (--benchmark-storage, .benchmarks by default)"
            )
        history = analyse(storage, Path(args.repo), options)
    except ValueError as exc:
        print(f"{PROG} history: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(summary(history))
    writers = ((args.json, json_text), (args.markdown, markdown), (args.html, page))
    failed = False
    for path, render in writers:
        if not path:
            continue
        try:
            print(f"wrote {write_text(path, render(history))}")
        except OSError as exc:
            print(f"{PROG} history: could not write {path}: {exc}", file=sys.stderr)
            failed = True
    if args.plot:
        from pytest_gpubench.history.figure import plot_history

        try:
            print(f"wrote {plot_history(history, args.plot)}")
        except (OSError, ValueError) as exc:
            print(f"{PROG} history: could not write {args.plot}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit status (0 done, 1 a report not written, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    declared = commands()
    if argv and argv[0] in declared:
        return int(declared[argv[0]].load()(argv, prog=PROG))
    return _history(_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
