"""Saved runs: looked up by number, name or path; listed across machine folders; saved in
pytest-benchmark's numbering; loaded through the schema checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_gpubench.report_json import benchmark_document
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.speedup import build_rows
from pytest_gpubench.storage import (
    listing,
    load_run,
    resolve_baseline,
    save_run,
    saved_runs,
    storage_path,
)


def save(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"benchmarks": []}))
    return path


def test_resolve_baseline_in_pytest_benchmark_storage(tmp_path):
    here = tmp_path / "Linux-CPython-3.11-64bit"
    first, second = save(here, "0001_main.json"), save(here, "0002_feature.json")
    save(tmp_path / "Darwin-CPython-3.12-64bit", "0007_mac.json")

    def resolve(spec):
        return resolve_baseline(spec, tmp_path, machine_id="Linux-CPython-3.11-64bit")

    assert resolve(None) == second
    assert resolve("0001") == first
    assert resolve("1") == first
    assert resolve("0002_feat") == second
    assert resolve(str(first)) == first
    assert resolve("7").name == "0007_mac.json"
    with pytest.raises(FileNotFoundError, match=r"no saved run '0009'.*0001_main\.json"):
        resolve("0009")
    assert resolve("main") == first  # a name: the latest run saved under it
    third = save(here, "0003_main.json")
    assert resolve("main") == third
    with pytest.raises(FileNotFoundError, match=r"no saved run 'nightly'.*0001_main\.json"):
        resolve("nightly")
    with pytest.raises(ValueError, match="neither an existing file, a run number"):
        resolve("a b")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve(str(tmp_path / "missing.json"))


def test_resolve_baseline_on_a_machine_without_runs_of_its_own(tmp_path):
    only = save(tmp_path / "Darwin-CPython-3.12-64bit", "0003_mac.json")
    assert resolve_baseline(None, tmp_path, machine_id="Linux") == only
    save(tmp_path / "Windows-CPython-3.12-64bit", "0004_win.json")
    with pytest.raises(ValueError, match="matches several saved runs"):
        resolve_baseline(None, tmp_path, machine_id="Linux")


def test_resolve_baseline_with_nothing_saved(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved runs under .*--gpubench-save NAME"):
        resolve_baseline(None, tmp_path / ".benchmarks")


def test_resolve_baseline_refuses_a_test_path_the_option_took(tmp_path, monkeypatch):
    """``pytest --gpubench --gpubench-compare tests/test_x.py``: argparse gives the path to
    the option (its value is optional); saying "not JSON" hid what happened."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "test_x.py").write_text("")
    (tmp_path / "tests").mkdir()
    for spec in ("test_x.py", "tests"):
        with pytest.raises(ValueError, match=r"looks like a test path: write --gpubench-compare="):
            resolve_baseline(spec, tmp_path / ".benchmarks")


def test_saved_runs_lists_every_machine_folder_oldest_first(tmp_path: Path) -> None:
    linux = tmp_path / "Linux-CPython-3.11-64bit"
    mac = tmp_path / "Darwin-CPython-3.12-64bit"
    paths = [save(linux, "0002_b.json"), save(linux, "0001_a.json"), save(mac, "0001_m.json")]
    save(linux, "notes.json")  # not a numbered run
    assert saved_runs(tmp_path) == [paths[2], paths[1], paths[0]]
    assert saved_runs(tmp_path / "missing") == []
    assert "Linux-CPython-3.11-64bit/0002_b.json" in listing(tmp_path)


def test_a_saved_run_is_numbered_after_the_last_and_loads_back(tmp_path: Path) -> None:
    results = RunResults()
    for device, seconds in (("numpy", 1.0), ("cupy", 0.1)):
        results.add(Measurement("fit", "1k", device, (seconds, seconds * 1.01, seconds * 0.99)))
    rows = build_rows(results.measurements, "numpy")
    document = benchmark_document(results, rows, "numpy", machine_info={"node": "ci"})
    said: list[str] = []
    save_run(document, "main", tmp_path, machine_id="ci-box", say=said.append)
    save_run(document, "main", tmp_path, machine_id="ci-box")
    assert [p.name for p in saved_runs(tmp_path)] == ["0001_main.json", "0002_main.json"]
    assert said and "0001_main.json" in said[0]
    loaded = load_run(saved_runs(tmp_path)[-1])
    assert [(m.device, m.rounds_s) for m in loaded.measurements] == [
        ("numpy", (1.0, 1.01, 0.99)),
        ("cupy", (0.1, 0.101, 0.099)),
    ]
    assert loaded.extra["baseline_device"] == "numpy"


def test_a_run_without_the_section_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = save(tmp_path / "box", "0001_plain.json")
    with pytest.raises(ValueError, match=r"0001_plain.json is a pytest-benchmark file without"):
        load_run(path)


def test_only_file_storage_is_read() -> None:
    assert storage_path("file://runs").as_posix() == "runs"
    with pytest.raises(ValueError, match="needs a file storage"):
        storage_path("elasticsearch+http://host/index")
