"""Terminal and Markdown reports, the gpubench JSON section and its round trip, the plot."""

from __future__ import annotations

import json
import math
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from pytest_gpubench.report import (
    benchmark_document,
    format_rounds,
    format_seconds,
    format_speedup,
    format_throughput,
    github_action_benchmark,
    gpubench_section,
    hardware_fingerprint,
    load_results,
    plot_speedups,
    render_markdown,
    render_terminal,
    write_json,
)
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.speedup import build_rows

CPU = {
    "device": "numpy",
    "processor": "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
    "cores": "4",
    "blas": "openblas 0.3.27 SkylakeX (4 threads)",
    "library": "numpy 2.1.0",
}
GPU = {
    "device": "cupy",
    "gpu": "Tesla T4",
    "memory": "15 GiB",
    "driver": "12.4",
    "cuda": "12.2",
    "library": "cupy 13.3.0",
}
EC2 = {
    "instance_type": "g4dn.xlarge",
    "instance_id": "i-0abc",
    "region": "us-east-1",
    "zone": "us-east-1a",
    "market": "spot",
    "price_per_hour": 0.1578,
    "seconds_held": 734,
    "cost_usd": 0.0322,
    "price_source": "spot price history",
}


def spread(center: float, n: int = 9, rel: float = 0.04) -> tuple[float, ...]:
    half = n // 2
    return tuple(center * (1 + rel * (i - half) / half) for i in range(n))


@pytest.fixture
def results() -> RunResults:
    """numpy vs cupy at three sizes (cupy wins from 4k), torch-cuda out of memory at 16k."""
    run = RunResults()
    for value, size, cpu_s, gpu_s in [
        (1e3, "1k", 0.01, 0.02),
        (4e3, "4k", 0.04, 0.01),
        (1.6e4, "16k", 0.16, 0.02),
    ]:
        common = {"size_value": value, "units": "samples", "units_per_round": value}
        run.add(Measurement("dbn_fit", size, "numpy", spread(cpu_s), device_info=CPU, **common))
        run.add(Measurement("dbn_fit", size, "cupy", spread(gpu_s), device_info=GPU, **common))
        rounds, reason = (
            (spread(gpu_s * 1.5), None) if size != "16k" else ((), "CUDA out of memory")
        )
        run.add(Measurement("dbn_fit", size, "torch-cuda", rounds, reason=reason, **common))
    run.extra["ec2"] = dict(EC2)
    return run


@pytest.fixture
def rows(results):
    return build_rows(results.measurements, "numpy")


# --------------------------------------------------------------------------- text


def test_formatters():
    assert format_seconds(0.00123) == "1.23 ms"
    assert format_seconds(2.5e-6) == "2.50 µs"
    assert format_seconds(None) == "n/a"
    assert format_throughput(12345.0, "samples") == "12.3 k samples/s"
    assert format_throughput(None, "samples") == ""


def test_speedup_cell_text(rows):
    cell = rows[1].cell("cupy")
    low, high = cell.speedup_low, cell.speedup_high
    assert low < cell.speedup < high
    assert format_speedup(cell) == f"4.00× [{low:.3g}–{high:.3g}]"
    assert format_speedup(rows[2].cell("torch-cuda")) == "n/a"


def test_terminal_report_names_hardware_times_speedups_and_crossovers(results, rows):
    text = render_terminal(results, rows, "numpy")
    for fact in (
        "Intel(R) Xeon(R) Platinum 8259CL",
        "4 cores",
        "BLAS openblas 0.3.27 SkylakeX (4 threads)",
        "Tesla T4",
        "15 GiB",
        "driver 12.4",
        "CUDA 12.2",
    ):
        assert fact in text
    assert "dbn_fit (baseline numpy)" in text
    assert "40.0 ± 0.9 ms" in text
    assert "4.00× [" in text and "0.500× [" in text
    assert "n/a (CUDA out of memory)" in text
    assert "cupy: faster than numpy from size 4k on" in text
    assert "torch-cuda: faster than numpy from size 4k on" in text
    assert "Ran on EC2 g4dn.xlarge i-0abc in us-east-1a (spot), held 12 min 14 s" in text
    assert "$0.0322 at $0.1578/h (spot price history)" in text
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 120


def test_terminal_report_fits_80_columns_and_colours_only_on_request(results, rows):
    narrow = render_terminal(results, rows, "numpy", width=80)
    table = narrow[narrow.index("dbn_fit") :]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "\x1b[" in render_terminal(results, rows, "numpy", color=True)


def test_terminal_report_without_rows_says_so():
    assert "No gpubench measurements." in render_terminal(RunResults(), [], "numpy")


def test_markdown_report_has_one_table_row_per_size(results, rows):
    text = render_markdown(results, rows, "numpy")
    assert "## gpubench: speedup vs numpy" in text
    assert "| size | numpy time | numpy samples/s | numpy rounds | cupy time |" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| 1") or "| 4k |" in line]
    assert len(table_rows) == 3
    assert "n/a (CUDA out of memory)" in text
    assert "- cupy: faster than numpy from size 4k on" in text
    assert "- numpy: Intel(R) Xeon(R) Platinum 8259CL" in text
    assert "Ran on EC2 g4dn.xlarge" in text


def test_markdown_escapes_pipes_and_tags_and_cuts_long_reasons():
    run = RunResults([Measurement("e", "s", "numpy", (), reason="a | b")])
    run.add(Measurement("e", "s", "cupy", (), reason="failed: TypeError: <lambda>() takes"))
    run.add(Measurement("e", "s", "torch-cuda", (), reason="x" * 1000))
    text = render_markdown(run, build_rows(run.measurements, "numpy"), "numpy")
    assert "n/a (a \\| b)" in text
    assert "&lt;lambda>() takes" in text and "<lambda>" not in text
    [long] = [line for line in text.splitlines() if "xxx" in line]
    assert long.endswith("x…") and len(long) <= 2 + 300 and "x" * 300 not in text


# --------------------------------------------------------------------------- JSON


def test_section_is_json_with_raw_rounds_rows_and_crossovers(results, rows):
    section = gpubench_section(results, rows, "numpy")
    assert json.loads(json.dumps(section, allow_nan=False)) == section
    assert section["schema_version"] == 3 and section["baseline"] == "numpy"
    assert section["measurements"][0]["rounds_s"] == list(spread(0.01))
    assert len(section["rows"]) == 3
    assert section["crossovers"] == {"dbn_fit": {"cupy": "4k", "torch-cuda": "4k"}}
    assert section["devices"]["cupy"]["gpu"] == "Tesla T4"
    assert section["extra"]["ec2"]["cost_usd"] == 0.0322


def test_section_converts_numpy_scalars():
    np = pytest.importorskip("numpy")
    run = RunResults([Measurement("e", "s", "numpy", (1.0,), metrics={"acc": np.float32(0.5)})])
    section = gpubench_section(run, build_rows(run.measurements, "numpy"), "numpy")
    assert section["measurements"][0]["metrics"] == {"acc": 0.5}


def test_fingerprint_depends_on_hardware_only():
    base = hardware_fingerprint({"numpy": CPU, "cupy": GPU})
    upgraded = {**CPU, "blas": "mkl 2024 (8 threads)", "library": "numpy 2.2.0"}
    assert hardware_fingerprint({"numpy": upgraded, "cupy": GPU}) == base
    other = hardware_fingerprint({"numpy": CPU, "cupy": {**GPU, "gpu": "NVIDIA A10G"}})
    assert other["fingerprint"] != base["fingerprint"]
    assert other["devices"]["numpy"] == base["devices"]["numpy"]
    assert base["devices"]["cupy"]["facts"] == {"gpu": "Tesla T4", "memory": "15 GiB"}


def test_load_results_reads_the_section_a_document_and_a_file(results, rows, tmp_path):
    section = gpubench_section(results, rows, "numpy")
    path = write_json(
        tmp_path / "out" / "run.json", results, rows, "numpy", machine_info={"node": "x"}
    )
    for source in (section, {"benchmarks": [], "gpubench": section}, path, str(path)):
        loaded = load_results(source)
        assert loaded.measurements == results.measurements
        assert loaded.devices["cupy"] == GPU
        assert loaded.extra["ec2"] == EC2
        assert loaded.extra["baseline_device"] == "numpy"
        assert build_rows(loaded.measurements, "numpy") == rows


def test_written_document_is_read_by_pytest_benchmarks_own_storage(results, rows, tmp_path):
    from pytest_benchmark.storage.file import FileStorage

    class Logger:
        def info(self, *args, **kwargs):
            pass

        warning = info

    path = tmp_path / "Linux-CPython-3.11-64bit" / "0001_main.json"
    write_json(path, results, rows, "numpy", machine_info={"node": "test"})
    storage = FileStorage(tmp_path, logger=Logger(), default_machine_id="Linux-CPython-3.11-64bit")
    ((_, data),) = storage.load()
    names = {b["name"] for b in data["benchmarks"]}
    assert "dbn_fit[4k-cupy]" in names and "dbn_fit[16k-torch-cuda]" not in names
    bench = next(b for b in data["benchmarks"] if b["name"] == "dbn_fit[4k-cupy]")
    assert bench["stats"]["median"] == pytest.approx(0.01)
    assert bench["stats"]["data"] == list(spread(0.01))
    assert load_results(data).measurements == results.measurements


def test_benchmark_document_has_pytest_benchmarks_top_level_keys(results, rows):
    document = benchmark_document(results, rows, "numpy", commit_info={"id": "abc"})
    assert document["machine_info"]["python_version"]
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version", "gpubench"} <= set(
        document
    )
    assert document["commit_info"] == {"id": "abc"}


def test_a_nan_metric_is_written_as_null_and_read_back_as_nan(tmp_path):
    """A diverged fit's loss: strict JSON parsers (JavaScript's, Go's) reject a bare NaN."""
    run = RunResults()
    metrics = {"loss": float("nan"), "gain": float("inf"), "accuracy": 0.9}
    run.add(Measurement("fit", "1k", "numpy", spread(1.0), size_value=1e3, metrics=metrics))
    path = write_json(tmp_path / "run.json", run, build_rows(run.measurements, "numpy"), "numpy")

    def refuse(constant: str) -> float:
        raise ValueError(f"non-standard JSON constant {constant}")

    document = json.loads(path.read_text(), parse_constant=refuse)
    [measured] = document["gpubench"]["measurements"]
    assert measured["metrics"] == {"loss": None, "gain": None, "accuracy": 0.9}
    [back] = load_results(path).measurements
    assert math.isnan(back.metrics["loss"]) and math.isnan(back.metrics["gain"])
    assert "loss" in render_terminal(load_results(path), build_rows([back], "numpy"), "numpy")


def test_load_results_explains_a_file_without_a_section(tmp_path):
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    with pytest.raises(
        ValueError, match=r"plain\.json is a pytest-benchmark file without a 'gpubench' section"
    ):
        load_results(path)
    with pytest.raises(ValueError, match="a JSON object without"):
        load_results({"hello": 1})


def test_load_results_refuses_another_schema_version(results, rows):
    section = {**gpubench_section(results, rows, "numpy"), "schema_version": 99}
    with pytest.raises(
        ValueError, match=r"schema version 99; .* reads versions 1, 2, 3: save a new"
    ):
        load_results({"gpubench": section})


def _damaged(section: dict, path: str, value: object) -> dict:
    """``section`` with the JSON value at ``path`` (``a.0.b``) replaced."""
    import copy

    damaged = copy.deepcopy(section)
    *parents, last = path.split(".")
    node = damaged
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return damaged


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        ("measurements", None, r"gpubench\.measurements must be a list, got null"),
        ("devices", ["cupy"], r"gpubench\.devices must be an object, got list"),
        ("extra", ["x"], r"gpubench\.extra must be an object, got list"),
        ("measurements.0", None, r"gpubench\.measurements\[0\] must be an object, got null"),
        ("measurements.0.experiment", None, r"measurements\[0\]\.experiment must be a string"),
        ("measurements.0.rounds_s", None, r"measurements\[0\]\.rounds_s must be a list of sec"),
        ("measurements.0.rounds_s", [0.1, -1.0], r"rounds_s must be a list of seconds \(finite"),
        ("measurements.0.rounds_s", [0.1, "x"], r"rounds_s must be a list of seconds"),
        ("measurements.0.metrics", {"acc": "high"}, r"\[0\]\.metrics must be an object"),
        ("measurements.0.baseline_first", "yes", r"baseline_first must be a list of true/f"),
        ("measurements.0.baseline_first", [1, 0], r"baseline_first must be a list of true/f"),
        ("measurements.0.newfield", 1, r"measurements\[0\]: unknown measurement fields"),
    ],
)
def test_a_damaged_saved_run_is_refused_naming_the_file_and_the_field(
    results, rows, tmp_path, path, value, match
):
    """A saved run gates CI: a damaged one is refused saying where, never half-read (these
    crashed the session with an INTERNALERROR, or gave messages without the file)."""
    saved = tmp_path / "saved.json"
    section = gpubench_section(results, rows, "numpy")
    saved.write_text(json.dumps({"gpubench": _damaged(section, path, value)}))
    with pytest.raises(ValueError, match=rf"saved\.json: .*{match}"):
        load_results(saved)


def test_a_saved_run_that_is_not_text_or_whose_section_is_not_an_object_is_refused(tmp_path):
    binary = tmp_path / "plot.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    with pytest.raises(ValueError, match=r"plot\.png is not a text file; expected a gpubench"):
        load_results(binary)
    for section in (None, [1, 2]):
        odd = tmp_path / "odd.json"
        odd.write_text(json.dumps({"gpubench": section}))
        with pytest.raises(ValueError, match=r"odd\.json: gpubench must be an object"):
            load_results(odd)


def test_load_results_rejects_non_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json is not JSON"):
        load_results(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a JSON list"):
        load_results(path)


# --------------------------------------------------------------------------- CI chart and plot


def test_github_action_benchmark_entries(rows):
    entries = github_action_benchmark(rows)
    assert [e["name"] for e in entries] == [
        "dbn_fit 1k cupy speedup vs numpy",
        "dbn_fit 1k torch-cuda speedup vs numpy",
        "dbn_fit 4k cupy speedup vs numpy",
        "dbn_fit 4k torch-cuda speedup vs numpy",
        "dbn_fit 16k cupy speedup vs numpy",
        "dbn_fit 16k torch-cuda speedup vs numpy",
    ]
    # out of memory: entered as 0, so the action alerts on a series that stopped
    oom = entries[-1]
    assert (oom["value"], oom["extra"]) == (0, "n/a: CUDA out of memory")
    first = entries[2]
    assert set(first) == {"name", "unit", "value", "range", "extra"}
    assert first["unit"] == "x" and first["value"] == pytest.approx(4.0)
    assert first["range"].endswith("(95% CI)")
    assert "vs numpy" in first["extra"] and "Tesla T4" in first["extra"]
    json.dumps(entries)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png(results, rows, tmp_path):
    pytest.importorskip("matplotlib")
    path = plot_speedups(rows, tmp_path / "plots" / "speedup.png", "numpy", results.devices)
    width, height = _png_size(path)
    assert width >= 600 and height >= 300
    assert path.stat().st_size > 10_000


def test_plot_copes_with_no_rows_and_without_descriptions(rows, tmp_path):
    pytest.importorskip("matplotlib")
    assert _png_size(plot_speedups([], tmp_path / "empty.png", "numpy"))[0] > 0
    assert _png_size(plot_speedups(rows, tmp_path / "bare.png", "numpy"))[0] > 0


def _record_axes(monkeypatch) -> list:
    """The axes of every figure plot_speedups saves (their limits, ticks and texts)."""
    from matplotlib.figure import Figure

    seen: list = []
    save = Figure.savefig

    def record_then_save(figure, *args, **kwargs):
        seen.extend(figure.axes)
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record_then_save)
    return seen


def test_plot_error_bars_span_each_speedups_interval(tmp_path, monkeypatch):
    """The bars are the reviewer's spread: each must run from the interval's low to its high
    end, at the speedup's size."""
    pytest.importorskip("matplotlib")
    seen = _record_axes(monkeypatch)
    run = RunResults()
    for size, value, gpu_s in (("300", 300.0, 2.0), ("800-800", 1600.0, 0.4)):
        run.add(
            Measurement("fit", size, "numpy", tuple(np.linspace(0.9, 1.1, 7)), size_value=value)
        )
        rounds = tuple(gpu_s * np.linspace(0.8, 1.3, 7))
        run.add(Measurement("fit", size, "cupy", rounds, size_value=value))
    rows = build_rows(run.measurements, "numpy")
    plot_speedups(rows, tmp_path / "bars.png", "numpy")
    [axes] = seen
    [container] = axes.containers
    segments = container.lines[2][0].get_segments()
    for row, segment in zip(rows, segments, strict=True):
        cell = row.cell("cupy")
        (x0, y0), (x1, y1) = segment
        assert x0 == x1 == row.size_value
        assert (y0, y1) == pytest.approx((cell.speedup_low, cell.speedup_high))


def test_plot_of_a_single_size_frames_it_on_the_log_axis(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    seen = _record_axes(monkeypatch)
    run = RunResults()
    run.add(Measurement("fit", "800-800", "numpy", spread(20.0), size_value=1600.0))
    run.add(Measurement("fit", "800-800", "cupy", spread(7.0), size_value=1600.0))
    rows = build_rows(run.measurements, "numpy")
    plot_speedups(rows, tmp_path / "one.png", "numpy")
    (low, high), value = seen[0].get_xlim(), rows[0].size_value
    assert low < value < high and 1.2 < high / low < 10


def test_plot_keeps_a_size_in_view_where_the_gpu_ran_out_of_memory(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    seen = _record_axes(monkeypatch)
    run = RunResults()
    for size, value in (("300", 300.0), ("800-800", 1600.0), ("4000-4000", 8000.0)):
        run.add(Measurement("fit", size, "numpy", spread(1.0), size_value=value))
        oom = size == "4000-4000"
        gpu = () if oom else spread(0.5)
        run.add(
            Measurement("fit", size, "cupy", gpu, size_value=value, reason="OOM" if oom else None)
        )
        run.add(Measurement("fit", size, "torch-cuda", (), size_value=value, reason="no CUDA"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under -W error: layout advice must not escape
        plot_speedups(build_rows(run.measurements, "numpy"), tmp_path / "oom.png", "numpy")
    [axes] = seen
    low, high = axes.get_xlim()
    assert low < 300 and high > 8000
    assert [t.get_text() for t in axes.get_xticklabels()] == ["300", "800-800", "4000-4000"]
    assert "torch-cuda: n/a (no CUDA)" in [t.get_text() for t in axes.texts]


def test_plot_places_sizes_it_cannot_order_by_value_one_after_another(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    seen = _record_axes(monkeypatch)
    run = RunResults()
    for size in ("small", "large"):  # no numbers: both size values are 0
        run.add(Measurement("fit", size, "numpy", spread(1.0), size_value=0.0))
        run.add(Measurement("fit", size, "cupy", spread(0.5), size_value=0.0))
    plot_speedups(build_rows(run.measurements, "numpy"), tmp_path / "named.png", "numpy")
    [axes] = seen
    assert list(axes.get_xticks()) == [1.0, 2.0] and axes.get_xscale() == "linear"


def test_a_device_that_never_ran_gets_one_line_not_a_column(results):
    reason = "cupy is not installed (pip install 'pytest-gpubench[cuda]')"
    for size, value in (("1k", 1e3), ("4k", 4e3)):
        results.add(Measurement("dbn_fit", size, "torch-cpu", (), size_value=value, reason=reason))
    rows = build_rows(results.measurements, "numpy")
    terminal = render_terminal(results, rows, "numpy")
    assert f"torch-cpu: n/a ({reason})" in terminal.replace("\n", " ").replace("  ", " ")
    assert "[cuda]" in terminal  # brackets are text, not rich markup
    markdown = render_markdown(results, rows, "numpy")
    assert "torch-cpu time" not in markdown
    assert f"- torch-cpu: n/a ({reason})" in markdown


def test_an_experiment_where_nothing_ran_says_so_instead_of_an_empty_table():
    run = RunResults()
    for device, reason in (("numpy", "failed: RuntimeError: kaput"), ("cupy", "no GPU")):
        for size, value in (("256", 256.0), ("1024", 1024.0)):
            run.add(Measurement("matmul", size, device, (), size_value=value, reason=reason))
    rows = build_rows(run.measurements, "numpy")
    terminal = render_terminal(run, rows, "numpy", width=60)
    assert "matmul: nothing measured" in terminal
    assert "numpy: n/a (failed: RuntimeError: kaput)" in terminal
    assert "cupy: n/a (no GPU)" in terminal
    assert "over ;" not in terminal and "(baselin" not in terminal
    markdown = render_markdown(run, rows, "numpy")
    assert "### matmul\n\nNothing measured." in markdown
    assert "- numpy: n/a (failed: RuntimeError: kaput)" in markdown
    assert "| size |" not in markdown and "over ;" not in markdown


def _fit_rows(cpu_gpu_rounds: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]) -> list:
    run = RunResults()
    for value, (size, (cpu, gpu)) in enumerate(cpu_gpu_rounds.items(), start=1):
        run.add(Measurement("fit", size, "numpy", cpu, size_value=float(value)))
        run.add(Measurement("fit", size, "cupy", gpu, size_value=float(value)))
    return build_rows(run.measurements, "numpy")


def test_crossover_line_says_when_the_win_is_not_significant():
    from pytest_gpubench.report import crossover_line

    clear = _fit_rows({"s": (spread(1.0), spread(2.0)), "l": (spread(4.0), spread(1.0))})
    assert crossover_line(clear, "cupy", "numpy") == "cupy: faster than numpy from size l on"
    # A 3 % win inside 30 % noise: faster by the medians, but the interval reaches 1.
    noisy = _fit_rows({"s": (spread(1.0), spread(2.0)), "l": (spread(1.0), spread(0.97, rel=0.3))})
    line = crossover_line(noisy, "cupy", "numpy")
    assert line.startswith("cupy: faster than numpy from size l on, but not significantly")
    never = _fit_rows({"s": (spread(1.0), spread(2.0))})
    assert crossover_line(never, "cupy", "numpy") == (
        "cupy: not faster than numpy at the largest size measured"
    )


def test_crossover_line_says_when_the_rounds_are_too_few_for_an_interval():
    from pytest_gpubench.report import crossover_line

    rows = _fit_rows({"1k": ((2.0, 2.1), (1.0, 1.1)), "4k": ((8.0, 8.2), (2.0, 2.1))})
    line = crossover_line(rows, "cupy", "numpy")
    assert line.endswith("with too few rounds for a 95% interval (at least 3 each)")


def test_cells_show_the_host_to_device_copy_and_metrics():
    run = RunResults()
    run.add(Measurement("fit", "800-800", "numpy", spread(20.0), size_value=1600.0))
    run.add(
        Measurement(
            "fit",
            "800-800",
            "cupy",
            spread(7.0),
            size_value=1600.0,
            transfer_s=0.0246,
            metrics={"accuracy": 0.86242},
        )
    )
    rows = build_rows(run.measurements, "numpy")
    terminal = render_terminal(run, rows, "numpy")
    lines = terminal.splitlines()
    [copy] = [line for line in lines if "24.6 ms" in line]
    [accuracy] = [line for line in lines if "0.8624" in line]
    assert copy.split()[0] == "copy" and accuracy.split()[0] == "accuracy"
    markdown = render_markdown(run, rows, "numpy")
    assert "| cupy copy | cupy accuracy | cupy rounds |" in markdown
    assert "| 24.6 ms | 0.8624 | 9 rounds" in markdown
    section_rows = gpubench_section(run, rows, "numpy")["rows"]
    assert section_rows[0]["cells"][1]["metrics"] == {"accuracy": 0.86242}


@pytest.fixture
def with_copy(results) -> RunResults:
    """``results`` plus a host→device copy benchmark marked as a cost (no speedups)."""
    for device, seconds in (("numpy", 1e-6), ("cupy", 0.02)):
        results.add(
            Measurement(
                "dbn-transfer", "147MB", device, spread(seconds), size_value=1.0,
                units="MB", units_per_round=147.0, versus_baseline=False,
            )
        )  # fmt: skip
    return results


def test_a_cost_only_experiment_shows_times_without_speedups(with_copy):
    rows = build_rows(with_copy.measurements, "numpy")
    markdown = render_markdown(with_copy, rows, "numpy")
    copy_part = markdown.split("### dbn-transfer", 1)[1]
    header = copy_part.strip().splitlines()[0]
    assert "cupy time" in header and "speedup" not in header
    assert "a cost each device pays, not raced against numpy: no speedups" in copy_part
    assert "bootstrap" not in copy_part  # the legend speaks of times only
    assert "cupy speedup" in markdown.split("### dbn-transfer", 1)[0]  # the raced one keeps it
    terminal = render_terminal(with_copy, rows, "numpy", width=200)
    assert "not raced against numpy" in terminal
    section = gpubench_section(with_copy, rows, "numpy")
    assert "dbn-transfer" not in section["crossovers"] and "dbn_fit" in section["crossovers"]
    assert all("dbn-transfer" not in e["name"] for e in github_action_benchmark(rows))
    loaded = load_results(json.loads(json.dumps(benchmark_document(with_copy, rows, "numpy"))))
    assert {m.versus_baseline for m in loaded.measurements if m.experiment == "dbn-transfer"} == {
        False
    }


def test_a_schema_1_saved_run_reads_as_unpaired_rounds(results, rows):
    """Saved before paired rounds: no pairs, waits or set-aside rounds, and it says so."""
    section = gpubench_section(results, rows, "numpy")
    old = {**section, "schema_version": 1}
    new_fields = ("paired_baseline_s", "wait_s", "set_aside_s", "set_aside_wait_s", "stop")
    old["measurements"] = [
        {k: v for k, v in m.items() if k not in new_fields} for m in section["measurements"]
    ]
    loaded = load_results(old)
    assert loaded.extra["schema_version"] == 1
    assert [m.rounds_s for m in loaded.measurements] == [m.rounds_s for m in results.measurements]
    assert not any(m.paired or m.set_aside_s or m.wait_s for m in loaded.measurements)


def test_the_lines_of_a_cell_line_up_across_columns_under_their_names():
    """A baseline cell has no speedup, copy or metric of its own: its blank lines keep the
    other columns' lines level, each on the line named in the size column."""
    run = RunResults()
    run.add(Measurement("fit", "300", "numpy", spread(2.0), size_value=300.0))
    run.add(
        Measurement(
            "fit",
            "300",
            "cupy",
            spread(1.0),
            size_value=300.0,
            transfer_s=1e-5,
            metrics={"accuracy": 0.9},
            set_aside_s=(3.0, 4.0),
            wait_s=(0.1,) * 9,
            set_aside_wait_s=(1.0, 2.0),
        )
    )
    rows = build_rows(run.measurements, "numpy")
    lines = render_terminal(run, rows, "numpy", width=100).splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["300"])
    labels = [line.split()[0] for line in lines[start : start + 5]]
    assert labels == ["300", "speedup", "copy", "accuracy", "rounds"]
    assert "baseline" in lines[start + 1] and "2.00×" in lines[start + 1]
    assert "10.0 µs" in lines[start + 2]
    assert "0.9" in lines[start + 3]
    # cupy: 2 of 11 rounds set aside; it waited 3.9 s of 16 s timed (9 kept + 7 aside)
    assert "9 rounds, 2 set aside, waited 24%" in lines[start + 4]


def test_a_busy_cell_says_so_with_its_figures():
    run = RunResults()
    run.add(Measurement("fit", "300", "numpy", spread(2.0), size_value=300.0))
    busy = Measurement(
        "fit",
        "300",
        "torch-cpu",
        (1.0, 1.1),
        size_value=300.0,
        stop="machine busy",
        set_aside_s=(5.0,) * 7,
        set_aside_wait_s=(3.0,) * 7,
    )
    run.add(busy)
    rows = build_rows(run.measurements, "numpy")
    cell = rows[0].cells["torch-cpu"]
    assert cell.busy and cell.set_aside == 7
    assert "MACHINE BUSY: 2 rounds, 7 set aside, waited 57%" in render_terminal(run, rows, "numpy")
    assert "MACHINE BUSY" in render_markdown(run, rows, "numpy")


def test_time_the_hypervisor_stole_is_named_in_the_rounds_and_the_json():
    run = RunResults()
    run.add(Measurement("fit", "300", "numpy", spread(2.0), size_value=300.0))
    run.add(
        Measurement(
            "fit", "300", "torch-cpu", (1.0,) * 8, size_value=300.0, steal_s=0.4, wait_s=(0,) * 8
        )
    )
    rows = build_rows(run.measurements, "numpy")
    assert rows[0].cells["torch-cpu"].steal_share == pytest.approx(0.05)
    assert "8 rounds, stolen 5%" in render_terminal(run, rows, "numpy")
    assert "stolen" not in format_rounds(rows[0].cells["numpy"])
    again = Measurement.from_dict(json.loads(json.dumps(run.measurements[1].to_dict())))
    assert again.steal_s == 0.4 and again.quiet_wait_s == 0.0


def test_a_baseline_that_drifted_beside_a_device_is_named_in_its_rounds():
    run = RunResults()
    run.add(Measurement("fit", "4k", "numpy", spread(1.0), size_value=4000.0))
    rounds = spread(0.5)
    run.add(
        Measurement(
            "fit",
            "4k",
            "torch-cpu",
            rounds,
            size_value=4000.0,
            paired_baseline_s=tuple(1.34 * r / 0.5 for r in rounds),
            baseline_first=tuple(i % 2 == 0 for i in range(len(rounds))),
            pairing="paired",
        )
    )
    rows = build_rows(run.measurements, "numpy")
    assert "baseline +34% beside it" in render_terminal(run, rows, "numpy", width=120)
    assert "baseline +34% beside it" in render_markdown(run, rows, "numpy")
    (row,) = gpubench_section(run, rows, "numpy")["rows"]
    assert row["cells"][1]["baseline_drift"] == pytest.approx(1.34, rel=0.01)
