"""``--gpubench-compare=history``: the current run against every saved run since the latest
change point, pooled. Unchanged code passes, a real loss fails, and one lucky saved run no
longer decides."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pytest_gpubench.gate import compare, parse_compare_fail
from pytest_gpubench.history.stretch import stable_stretch
from pytest_gpubench.report_json import benchmark_document
from pytest_gpubench.settings import build_config
from pytest_gpubench.speedup import build_rows
from pytest_gpubench.storage import load_run, resolve_baseline, save_run

from .history_support import MACHINE, run_results, scripted_repo

GATE = [parse_compare_fail("speedup:10%")]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """30 commits, cupy 20% slower from commit 17; the last run of main a lucky one."""
    repo, storage, shas = scripted_repo(tmp_path_factory.mktemp("gate"), slower_at=17)
    last = resolve_baseline(None, storage, machine_id=MACHINE)
    last.unlink()
    lucky = run_results(np.random.default_rng(99), 0.12 * 0.8, 1.0)  # 25% faster, once
    rows = build_rows(lucky.measurements, "numpy")
    info = {"id": shas[-1], "time": "2026-01-02T05:00:00+00:00"}
    save_run(benchmark_document(lucky, rows, "numpy", {}, info), "main", storage, MACHINE)
    return repo, storage, shas


def current(device_s: float, seed: int = 7):
    return run_results(np.random.default_rng(seed), device_s, 1.0)


def test_the_stretch_pools_the_runs_since_the_change_point(history) -> None:
    repo, storage, _ = history
    stretch = stable_stretch(storage, repo, machine_id=MACHINE)
    assert stretch.extra["history_runs"] == 12  # commits 17 to 28; the lucky 29th is tentative
    cupy = next(m for m in stretch.measurements if m.device == "cupy")
    assert len(cupy.rounds_s) == 120 and cupy.paired
    assert stretch.extra["baseline_device"] == "numpy"


def test_unchanged_code_passes_against_the_history_and_a_real_loss_fails(history) -> None:
    repo, storage, _ = history
    stretch = stable_stretch(storage, repo, machine_id=MACHINE)
    same = compare(current(0.12), stretch, GATE, baseline_device="numpy")
    assert same.ok, same.render()
    lost = compare(current(0.12 * 1.25), stretch, GATE, baseline_device="numpy")
    assert not lost.ok
    assert [(c.experiment, c.size, c.device) for c in lost.failures] == [("fit", "4k", "cupy")]


def test_one_lucky_run_no_longer_decides(history) -> None:
    repo, storage, _ = history
    lucky = load_run(resolve_baseline(None, storage, machine_id=MACHINE))
    against_one = compare(current(0.12), lucky, GATE, baseline_device="numpy")
    assert not against_one.ok  # the single lucky run fails unchanged code
    stretch = stable_stretch(storage, repo, machine_id=MACHINE)
    assert compare(current(0.12), stretch, GATE, baseline_device="numpy").ok


def test_an_empty_storage_is_refused_saying_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"no saved gpubench runs under .* --gpubench-autosave"
    ):
        stable_stretch(tmp_path, None, machine_id=MACHINE)


def test_the_option_names_the_history(history, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, storage, _ = history
    monkeypatch.chdir(repo)
    monkeypatch.setattr("pytest_benchmark.utils.get_machine_id", lambda: MACHINE)
    option = SimpleNamespace(
        gpubench=True,
        gpubench_devices="numpy",
        gpubench_baseline=None,
        gpubench_profile=None,
        gpubench_warmup=None,
        gpubench_min_rounds=None,
        gpubench_max_rounds=None,
        gpubench_max_time=None,
        gpubench_compare_fail=["speedup:10%"],
        gpubench_compare="history",
        gpubench_compare_force=False,
        benchmark_storage=f"file://{storage}",
    )
    config = build_config(option, "", "")
    assert config.compare_path == storage
    assert config.compared is not None and config.compared.extra["history_runs"] == 12
