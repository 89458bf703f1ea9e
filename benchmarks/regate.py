"""Gate saved runs against each other again, with this checkout's statistics.

The raw rounds of every run are in its JSON, so a change to the speedup estimate or the gate
can be judged on old measurements without timing anything. Prints each run's speedups per
size (with the baseline's drift beside the device) and the verdict of each gate. Usage::

    python -m benchmarks.regate DIR/run-quiet-1.json DIR/run-quiet-2.json DIR/run-quiet-3.json
    python -m benchmarks.regate --gate speedup:25% --device torch-cpu SAVED CURRENT...

The first file is the saved run; every other file is gated against it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_gpubench.gate import compare, parse_compare_fail
from pytest_gpubench.report_json import load_results
from pytest_gpubench.speedup import build_rows


def describe(path: Path, device: str, baseline: str) -> str:
    rows = build_rows(load_results(path).measurements, baseline)
    parts = []
    for row in rows:
        cell = row.cells.get(device)
        if cell is None or cell.speedup is None:
            continue
        interval = (
            f" [{cell.speedup_low:.2f}-{cell.speedup_high:.2f}]"
            if cell.speedup_low is not None and cell.speedup_high is not None
            else ""
        )
        drift = f" drift {cell.baseline_drift:.2f}" if cell.baseline_drift is not None else ""
        parts.append(f"{row.size} {cell.speedup:.2f}x{interval}{drift}")
    return f"{path.name}: " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="saved run first, then the others")
    parser.add_argument("--gate", default="speedup:25%", help="default: speedup:25%%")
    parser.add_argument("--device", default="torch-cpu", help="the device shown per size")
    parser.add_argument("--baseline", default="numpy", help="the baseline device")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.runs if not p.is_file()]
    if missing:
        parser.error(f"no such run file: {', '.join(missing)}")
    threshold = [parse_compare_fail(args.gate)]
    for path in args.runs:
        print(describe(path, args.device, args.baseline))
    saved = load_results(args.runs[0])
    failed = 0
    for path in args.runs[1:]:
        comparison = compare(
            load_results(path), saved, threshold, baseline_device=args.baseline, force=True
        )
        print(f"gate {path.name} vs {args.runs[0].name}: {comparison.render().splitlines()[0]}")
        failed += not comparison.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
