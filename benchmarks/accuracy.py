"""How close gpubench's per-call figures are to the anchors', on small array operations.

    python -m benchmarks.accuracy [--devices numpy,torch-cpu] [--ops add-16,matmul-64]
                                  [--passes 3] [--pairs 10] [--out docs/results/accuracy]
                                  [-- EXTRA GPUBENCH ARGS]

For each operation (one line of array code, about 0.5 µs to 10 ms a call) on each device
present, each of ``--passes`` passes times, side by side:

- **timeit** ``autorange``, then 7 repeats of that many calls: the reference on a CPU (once
  more after the last pass). On a GPU the reference is CUDA events around as many launches
  as fill 0.2 s, one sync at the end.
- **torch.utils.benchmark** ``Timer.blocked_autorange`` for torch devices.
- **pytest-benchmark**'s plain ``benchmark`` fixture, in its own pytest process.
- **gpubench**: ``pytest --gpubench`` on the same callables, in its own pytest process.

Each figure is the median over the passes. Then ``--pairs`` times per cell, in this
process, timeit and gpubench's rounds (``timing.measure``, what the fixture times with) run
back to back: their ratio shares the machine's state, which on a shared VM moves a figure
1.1-5× between passes.

It prints per-call medians with each one's ratio to timeit, then the speedups over the first
device by each method, and writes ``accuracy.txt`` (the same text), ``accuracy.json`` (every
figure) and each pass's pytest JSON files under ``--out``. Exit 0 when gpubench is within
1.1× of timeit per call (judged on the interleaved pairs where there are some), its
speedups within 1.1× of timeit's, and no speedup on the wrong side of 1 where timeit's is
beyond 1.15× either way; 1 otherwise; 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cli import at_least
from pytest_gpubench.devices import Device, blas_description, cpu_model, get_device
from pytest_gpubench.interference import stolen_s
from pytest_gpubench.settings import PROFILES
from pytest_gpubench.timing import TimingSettings, measure

THIS_CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_DEVICES = ("numpy", "torch-cpu", "cupy", "torch-cuda")
#: gpubench within this factor of the reference, per call and per speedup.
TARGET = 1.1
#: A reference speedup beyond this either way must not be reported on the other side of 1.
SIDE_MARGIN = 1.15
#: timeit's repeats after autorange (the median is taken), as ``python -m timeit`` does.
REPEATS = 7


@dataclass(frozen=True)
class Op:
    """One operation: ``kind`` (add, matmul, sum) on ``n`` elements (matmul: n × n)."""

    kind: str
    n: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.n}"

    @property
    def size(self) -> str:
        return str(self.n)


#: About 0.5 µs (numpy's add of 16 floats) to 10 ms (a 640 × 640 matmul on 2 cores).
OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("add", 16),
        Op("add", 4096),
        Op("add", 65536),
        Op("add", 262144),
        Op("add", 4194304),
        Op("sum", 1048576),
        Op("matmul", 64),
        Op("matmul", 256),
        Op("matmul", 640),
    )
}


def make_call(op: Op, device: Device) -> Callable[[], Any]:
    """The callable every harness times: float32 data made on ``device``, one line of array
    code through the device's array-API namespace (as the README's benchmarks write it)."""
    xp = device.namespace()
    shape = (op.n, op.n) if op.kind == "matmul" else (op.n,)
    a = device.asarray(np.linspace(0.0, 1.0, math.prod(shape)).reshape(shape), "float32")
    if op.kind == "add":
        return lambda: xp.add(a, a)
    if op.kind == "sum":
        return lambda: xp.sum(a)
    if op.kind == "matmul":
        return lambda: xp.matmul(a, a)
    raise ValueError(f"unknown operation kind {op.kind!r}; expected add, sum or matmul")


# --------------------------------------------------------------------------- references


def timeit_per_call(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    """timeit's figure: ``autorange`` (loops of 0.2 s), then the median of ``repeats``."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeats, number)) / number


def events_per_call(fn: Callable[[], Any], device: Device, repeats: int = REPEATS) -> float:
    """A GPU's figure: CUDA events around as many launches as fill 0.2 s, one sync each."""
    events = device.event_timer()
    if events is None:
        raise ValueError(f"{device.name} has no CUDA events; use timeit_per_call")

    def block(number: int) -> float:
        device.synchronize()
        events.start()
        for _ in range(number):
            fn()
        events.stop()
        device.synchronize()
        return events.elapsed_s()

    number = 1
    while (elapsed := block(number)) < 0.2:
        number *= 10 if elapsed < 0.02 else 2
    return statistics.median(block(number) for _ in range(repeats)) / number


def blocked_autorange_per_call(fn: Callable[[], Any]) -> float:
    """torch.utils.benchmark's figure: the median of ``blocked_autorange`` blocks."""
    from torch.utils import benchmark

    return float(benchmark.Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange().median)


def reference(fn: Callable[[], Any], device: Device) -> float:
    return events_per_call(fn, device) if device.is_gpu else timeit_per_call(fn)


def references(devices: Sequence[Device], ops: Sequence[Op]) -> dict[str, dict[str, float]]:
    """``{op: {device: seconds per call}}`` by the reference of each device."""
    out: dict[str, dict[str, float]] = {}
    for op in ops:
        for device in devices:
            out.setdefault(op.name, {})[device.name] = reference(make_call(op, device), device)
    return out


def interleaved(
    fn: Callable[[], Any], device: Device, pairs: int, settings: TimingSettings
) -> list[tuple[float, float]]:
    """``pairs`` of (reference, gpubench's rounds) per call, in this process, back to back,
    which first alternating: the same machine state for both, whatever it does between
    pairs. gpubench's figure is :func:`~pytest_gpubench.timing.measure`, what the fixture
    times with (calibrated rounds, the cold call apart), on the same callable."""
    out = []
    for index in range(pairs):
        if index % 2 == 0:
            ref = reference(fn, device)
            ours = measure(device, fn, settings).median_s
        else:
            ours = measure(device, fn, settings).median_s
            ref = reference(fn, device)
        out.append((ref, ours))
    return out


def blocked_autoranges(devices: Sequence[Device], ops: Sequence[Op]) -> dict[str, dict[str, float]]:
    """``{op: {device: seconds per call}}`` by ``blocked_autorange``, torch devices only."""
    return {
        op.name: {
            d.name: blocked_autorange_per_call(make_call(op, d))
            for d in devices
            if d.library == "torch"
        }
        for op in ops
    }


# --------------------------------------------------------------------------- pytest runs

_GPUBENCH_FILE = """
import pytest
from benchmarks.accuracy import OPS, make_call

SELECTED = {ops!r}


def _bench(kind):
    names = [name for name in SELECTED if OPS[name].kind == kind]

    @pytest.mark.gpubench(experiment=kind)
    @pytest.mark.parametrize("op", names, ids=[OPS[name].size for name in names])
    def test(gpubench, device, op):
        gpubench(make_call(OPS[op], device), size_value=OPS[op].n)

    return test


{tests}
"""

_BENCHMARK_FILE = """
import pytest
from benchmarks.accuracy import OPS, make_call
from benchmarks.cli import at_least
from pytest_gpubench.devices import get_device


@pytest.mark.parametrize("device_name", {devices!r})
@pytest.mark.parametrize("op", {ops!r})
def test_op(benchmark, op, device_name):
    device = get_device(device_name)
    fn = make_call(OPS[op], device)
    benchmark(lambda: (fn(), device.synchronize()) if device.is_gpu else fn())
"""


def _pytest(folder: Path, args: Sequence[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(THIS_CHECKOUT)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise SystemExit(f"error: pytest failed (exit {done.returncode}) in {folder}:\n{tail}")


def run_pytest_benchmark(
    folder: Path, devices: Sequence[Device], ops: Sequence[Op], out: Path
) -> dict[str, dict[str, float]]:
    """pytest-benchmark's median per call, ``{op: {device: seconds}}``."""
    names = [d.name for d in devices]
    (folder / "test_pb.py").write_text(
        _BENCHMARK_FILE.format(devices=names, ops=[op.name for op in ops])
    )
    _pytest(folder, ["test_pb.py", f"--benchmark-json={out}"])
    found: dict[str, dict[str, float]] = {}
    for bench in json.loads(out.read_text())["benchmarks"]:
        params = bench["params"]
        found.setdefault(params["op"], {})[params["device_name"]] = bench["stats"]["median"]
    return found


def run_gpubench(
    folder: Path, devices: Sequence[Device], ops: Sequence[Op], out: Path, extra: Sequence[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """gpubench's cells, ``{op: {device: cell}}`` (median per call, speedup, calls...)."""
    kinds = list(dict.fromkeys(op.kind for op in ops))
    tests = "\n".join(f'test_{kind} = _bench("{kind}")' for kind in kinds)
    source = _GPUBENCH_FILE.format(ops=[op.name for op in ops], tests=tests)
    (folder / "test_gb.py").write_text(source)
    devices_arg = ",".join(d.name for d in devices)
    _pytest(
        folder,
        [
            "test_gb.py",
            "--gpubench",
            f"--gpubench-devices={devices_arg}",
            f"--gpubench-json={out}",
            *list(extra),
        ],
    )
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for row in json.loads(out.read_text())["gpubench"]["rows"]:
        name = f"{row['experiment']}-{row['size']}"
        for cell in row["cells"]:
            found.setdefault(name, {})[cell["device"]] = cell
    return found


# --------------------------------------------------------------------------- the verdict

Figures = Mapping[str, Mapping[str, float]]


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def wrong_side(reported: float | None, true: float | None, margin: float = SIDE_MARGIN) -> bool:
    """Whether ``reported`` is on the other side of 1 from a ``true`` speedup that is beyond
    ``margin`` either way (within the margin, either side is an honest answer)."""
    if reported is None or true is None:
        return False
    if true >= margin:
        return reported < 1
    if true <= 1 / margin:
        return reported > 1
    return False


def worst(values: Sequence[float | None]) -> float | None:
    """The largest factor away from 1 (``max(r, 1/r)``) among ``values``."""
    factors = [max(v, 1 / v) for v in values if v]
    return max(factors) if factors else None


def median_of(passes: Sequence[Figures], op: str, device: str) -> float | None:
    """The median over passes of one figure (None where no pass has it)."""
    values = [p[op][device] for p in passes if p.get(op, {}).get(device)]
    return statistics.median(values) if values else None


def median_ratio(passes: Sequence[Figures], op: str, base: str, device: str) -> float | None:
    """The median over passes of ``base``'s time over ``device``'s in the same pass: the
    two were timed seconds apart, so a machine that changes speed between passes moves
    both."""
    values = [
        p[op][base] / p[op][device]
        for p in passes
        if p.get(op, {}).get(base) and p.get(op, {}).get(device)
    ]
    return statistics.median(values) if values else None


def summarise(
    ops: Sequence[Op],
    devices: Sequence[str],
    timeits: Sequence[Figures],
    pbs: Sequence[Figures],
    gbs: Sequence[Mapping[str, Mapping[str, Mapping[str, Any]]]],
    blockeds: Sequence[Figures],
    pairs: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]] | None = None,
) -> dict[str, Any]:
    """Every figure and ratio of the run, and whether the targets held. Each figure is the
    median over the passes; the reference is the median of timeit's passes (one more than
    the others, around them); a reference speedup is the median of each pass's ratio.
    ``pairs`` (from :func:`interleaved`) give each cell's in-process ratio, the median of
    gpubench over the reference timed beside it; where there are pairs, the per-call target
    is judged on them, since they share the machine's state."""
    pairs = pairs or {}
    base = devices[0]
    gb_s = [
        {op: {d: c.get("median_s") for d, c in cells.items()} for op, cells in g.items()}
        for g in gbs
    ]
    gb_speedups = [
        {op: {d: c.get("speedup") for d, c in cells.items()} for op, cells in g.items()}
        for g in gbs
    ]
    rows = []
    for op in ops:
        name = op.name
        ref = {d: median_of(timeits, name, d) for d in devices}
        pb = {d: median_of(pbs, name, d) for d in devices}
        for d in devices:
            cells = [g.get(name, {}).get(d, {}) for g in gbs]
            gb = median_of(gb_s, name, d)
            spread = [p[name][d] for p in timeits if p.get(name, {}).get(d)]
            row = {
                "op": name,
                "device": d,
                "timeit_passes_s": spread,
                "reference_s": ref[d],
                "reference_spread": ratio(max(spread), min(spread)) if spread else None,
                "blocked_autorange_s": median_of(blockeds, name, d),
                "pytest_benchmark_s": pb[d],
                "gpubench_s": gb,
                "gpubench_passes_s": [c.get("median_s") for c in cells],
                "gpubench_calls_per_round": [c.get("calls_per_round") for c in cells],
                "gpubench_cold_s": median_of(
                    [{name: {d: c.get("cold_s")}} for c in cells], name, d
                ),
                "pytest_benchmark_ratio": ratio(pb[d], ref[d]),
                "gpubench_ratio": ratio(gb, ref[d]),
            }
            beside = pairs.get(name, {}).get(d, ())
            if beside:
                row["interleaved_pairs_s"] = [list(pair) for pair in beside]
                row["interleaved_ratio"] = statistics.median(ours / ref for ref, ours in beside)
            if d != base:
                true = median_ratio(timeits, name, base, d)
                pb_speedup = median_ratio(pbs, name, base, d)
                gb_speedup = median_of(gb_speedups, name, d)
                row.update(
                    speedup_reference=true,
                    speedup_pytest_benchmark=pb_speedup,
                    speedup_gpubench=gb_speedup,
                    speedup_gpubench_passes=[c.get("speedup") for c in cells],
                    speedup_gpubench_ratio=ratio(gb_speedup, true),
                    wrong_side=wrong_side(gb_speedup, true),
                    pytest_benchmark_wrong_side=wrong_side(pb_speedup, true),
                )
            rows.append(row)
    per_call = worst([r["gpubench_ratio"] for r in rows])
    interleaved_worst = worst([r.get("interleaved_ratio") for r in rows])
    speedups = worst([r.get("speedup_gpubench_ratio") for r in rows])
    flips = [f"{r['op']} {r['device']}" for r in rows if r.get("wrong_side")]
    judged = interleaved_worst if interleaved_worst is not None else per_call
    held = {
        "per_call_within_target": judged is not None and judged <= TARGET,
        "speedups_within_target": speedups is None or speedups <= TARGET,
        "no_speedup_on_the_wrong_side": not flips,
    }
    return {
        "rows": rows,
        "worst_per_call": per_call,
        "worst_interleaved": interleaved_worst,
        "worst_speedup": speedups,
        "wrong_side": flips,
        "held": held,
        "pytest_benchmark_worst_per_call": worst([r["pytest_benchmark_ratio"] for r in rows]),
        "pytest_benchmark_worst_speedup": worst(
            [ratio(r.get("speedup_pytest_benchmark"), r.get("speedup_reference")) for r in rows]
        ),
    }


def _us(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e6:.3g}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _calls(values: Sequence[int | None]) -> str:
    known = [v for v in values if v]
    if not known:
        return "–"
    low, high = min(known), max(known)
    return str(low) if low == high else f"{low}–{high}"


def render(summary: Mapping[str, Any], facts: Mapping[str, str]) -> str:
    """The Markdown tables: per-call medians and ratios, then speedups."""
    lines = [f"- {key}: {value}" for key, value in facts.items()]
    lines += [
        "",
        "Per call, µs, medians over the passes (ratio to timeit's; timeit's spread over its "
        "passes, max/min); interleaved: gpubench's rounds over timeit's figure timed beside "
        "them in one process, the median over the pairs",
        "",
        "| op | device | timeit (spread) | blocked_autorange | pytest-benchmark | gpubench "
        "| calls/round | cold | interleaved |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['op']} | {r['device']} | {_us(r['reference_s'])} "
            f"({_x(r['reference_spread'])}) | {_us(r['blocked_autorange_s'])} | "
            f"{_us(r['pytest_benchmark_s'])} ({_x(r['pytest_benchmark_ratio'])}) | "
            f"{_us(r['gpubench_s'])} ({_x(r['gpubench_ratio'])}) | "
            f"{_calls(r['gpubench_calls_per_round'])} | {_us(r['gpubench_cold_s'])} | "
            f"{_x(r.get('interleaved_ratio'))} |"
        )
    speedup_rows = [r for r in summary["rows"] if "speedup_reference" in r]
    if speedup_rows:
        lines += [
            "",
            "Speedups over the first device (gpubench's ratio to timeit's)",
            "",
            "| op | device | timeit | pytest-benchmark | gpubench |",
            "|---|---|--:|--:|--:|",
        ]
        for r in speedup_rows:
            flag = " **wrong side**" if r["wrong_side"] else ""
            pb_flag = " (wrong side)" if r["pytest_benchmark_wrong_side"] else ""
            lines.append(
                f"| {r['op']} | {r['device']} | {_x(r['speedup_reference'])} | "
                f"{_x(r['speedup_pytest_benchmark'])}{pb_flag} | "
                f"{_x(r['speedup_gpubench'])} ({_x(r['speedup_gpubench_ratio'])}){flag} |"
            )
    lines += [
        "",
        f"- per call, worst factor from timeit: gpubench {_x(summary['worst_per_call'])}, "
        f"pytest-benchmark {_x(summary['pytest_benchmark_worst_per_call'])}; gpubench's "
        f"rounds timed beside timeit in one process (interleaved): "
        f"{_x(summary.get('worst_interleaved'))}",
        f"- speedups, worst factor from timeit's: gpubench {_x(summary['worst_speedup'])}, "
        f"pytest-benchmark {_x(summary['pytest_benchmark_worst_speedup'])}",
        f"- gpubench speedups on the wrong side of 1: {', '.join(summary['wrong_side']) or 'none'}",
        "- targets held: "
        + ", ".join(
            f"{k.replace('_', ' ')} {'yes' if v else 'NO'}" for k, v in summary["held"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def plot(summary: Mapping[str, Any], path: Path) -> None:
    """Each method's per-call figure over timeit's, one group of bars per cell, on a log
    axis with the 1.1× band shaded (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    labels = [f"{r['op']}\n{r['device']}" for r in rows]
    series = [
        ("pytest-benchmark", "pytest_benchmark_ratio", "#bbbbbb"),
        ("gpubench (its pytest runs)", "gpubench_ratio", "#6699cc"),
        ("gpubench beside timeit (interleaved)", "interleaved_ratio", "#224477"),
    ]
    fig, ax = plt.subplots(figsize=(max(8, len(rows) * 0.6), 4.5))
    width = 0.8 / len(series)
    for index, (name, key, color) in enumerate(series):
        xs = [i + (index - 1) * width for i in range(len(rows))]
        ys = [r.get(key) or float("nan") for r in rows]
        ax.bar(xs, ys, width, label=name, color=color)
    ax.axhspan(1 / TARGET, TARGET, color="#ccebc5", zorder=0, label="within 1.1× of timeit")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("per call / timeit's")
    ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=7)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Per-call time over timeit's, small array operations")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def _facts(devices: Sequence[Device]) -> dict[str, str]:
    facts = {"processor": cpu_model(), "cores": str(os.cpu_count()), "blas": blas_description()}
    for device in devices:
        info = device.describe()
        facts[device.name] = ", ".join(
            f"{k} {v}" for k, v in info.items() if k in ("gpu", "library", "threads")
        )
    facts["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    return facts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--devices", default=",".join(DEFAULT_DEVICES))
    parser.add_argument("--ops", default=",".join(OPS), help=f"from {', '.join(OPS)}")
    parser.add_argument("--out", type=Path, default=THIS_CHECKOUT / "docs/results/accuracy")
    parser.add_argument(
        "--passes", type=at_least(1), default=3, help="rounds of every method (default 3)"
    )
    parser.add_argument(
        "--pairs",
        type=at_least(0),
        default=10,
        help="in-process pairs of timeit and gpubench's rounds per cell (default 10; 0: none)",
    )
    parser.add_argument("extra", nargs="*", help="more pytest arguments for the gpubench run")
    args = parser.parse_args(argv)
    unknown = [name for name in args.ops.split(",") if name not in OPS]
    if unknown:
        parser.error(f"--ops: unknown {', '.join(unknown)}; known: {', '.join(OPS)}")
    ops = [OPS[name] for name in args.ops.split(",")]
    wanted = [get_device(name) for name in args.devices.split(",")]
    devices = [d for d in wanted if d.available]
    for d in wanted:
        if not d.available:
            print(f"{d.name}: skipped ({d.reason})")
    if not devices:
        parser.error("--devices: none of them is available here")
    args.out.mkdir(parents=True, exist_ok=True)
    started, steal0 = time.perf_counter(), stolen_s()
    timeits: list[Figures] = []
    blockeds: list[Figures] = []
    pbs: list[Figures] = []
    gbs: list[Mapping[str, Mapping[str, Mapping[str, Any]]]] = []
    with tempfile.TemporaryDirectory(prefix="gpubench-accuracy-") as tmp:
        folder = Path(tmp)
        for index in range(args.passes):
            print(f"pass {index + 1} of {args.passes}", flush=True)
            timeits.append(references(devices, ops))
            blockeds.append(blocked_autoranges(devices, ops))
            out = args.out / f"pass-{index + 1}"
            out.mkdir(exist_ok=True)
            pbs.append(run_pytest_benchmark(folder, devices, ops, out / "pytest-benchmark.json"))
            gbs.append(run_gpubench(folder, devices, ops, out / "gpubench.json", args.extra))
        timeits.append(references(devices, ops))
    pairs: dict[str, dict[str, list[tuple[float, float]]]] = {}
    if args.pairs:
        print(f"{args.pairs} interleaved pairs a cell", flush=True)
        settings = PROFILES["quick"]
        for op in ops:
            for d in devices:
                fn = make_call(op, d)
                pairs.setdefault(op.name, {})[d.name] = interleaved(fn, d, args.pairs, settings)

    names = [d.name for d in devices]
    summary = summarise(ops, names, timeits, pbs, gbs, blockeds, pairs)
    facts = _facts(devices)
    steal = stolen_s()
    facts["passes"] = str(args.passes)
    facts["wall time"] = f"{time.perf_counter() - started:.0f} s"
    if steal is not None and steal0 is not None:
        facts["stolen by the hypervisor"] = f"{steal - steal0:.1f} s"
    text = render(summary, facts)
    print(text)
    (args.out / "accuracy.txt").write_text(text)
    document = {"facts": facts, **summary}
    (args.out / "accuracy.json").write_text(json.dumps(document, indent=1) + "\n")
    try:
        plot(summary, args.out / "accuracy.png")
    except ImportError:
        print("no plot: matplotlib is not installed (pip install matplotlib)")
    return 0 if all(summary["held"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
