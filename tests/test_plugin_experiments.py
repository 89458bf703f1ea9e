"""The DBN experiment's wiring, without running it: data per profile, and what --gpubench
collects (sizes × devices, the transfer row) from experiments/test_dbn_speedup.py."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

from experiments.test_dbn_speedup import HIDDEN, SIZES_BY_PROFILE, load_workload

# The inner sessions probe torch; import it here once so pytester's in-process runs never
# unload it (a second load of its C extensions in one process is not safe).
if importlib.util.find_spec("torch") is not None:
    importlib.import_module("torch")
    importlib.import_module("array_api_compat.torch")

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "test_dbn_speedup.py"


def test_quick_workload_is_digits_split_for_training_and_accuracy() -> None:
    workload = load_workload("quick")
    assert workload.shape == "1200x64"
    assert workload.X_test.shape == (1797 - 1200, 64)
    assert workload.epochs == 1
    assert not workload.dataset.timing_only
    assert workload.X_train.dtype.name == "float32"


def test_sizes_run_tiny_to_large_with_the_classic_800_800() -> None:
    assert list(HIDDEN) == ["300", "800-800", "2000-2000", "4000-4000"]
    assert SIZES_BY_PROFILE["seed"].train_size == 46_900
    assert SIZES_BY_PROFILE["seed"].epochs == 10


@pytest.mark.parametrize(("profile", "shape"), [("quick", "1200x64"), ("seed", "46900x784")])
def test_gpubench_collects_every_size_on_every_device_and_the_transfer(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, profile: str, shape: str
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    result = pytester.runpytest(
        str(EXPERIMENT),
        "--gpubench",
        "--gpubench-devices",
        "numpy,torch-cpu",
        "--gpubench-profile",
        profile,
        "--collect-only",
        "-q",
        f"--rootdir={EXPERIMENT.parents[1]}",
    )
    ids = {line.split("::", 1)[1] for line in result.stdout.lines if "::" in line}
    expected = {
        f"test_dbn_fit[{device}-{size}]" for device in ("numpy", "torch-cpu") for size in HIDDEN
    }
    expected |= {f"test_dbn_transfer[{shape}-{device}]" for device in ("numpy", "torch-cpu")}
    assert ids == expected


def test_a_fit_below_the_accuracy_floor_fails_its_cell_instead_of_being_timed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DBN whose predictions are wrong (score 0.1, chance on ten classes) must not be
    reported as a speedup: its cell reads n/a, failed, and names the floor."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    monkeypatch.setattr("pytest_gpubench.dbn.DBN.score", lambda self, X, y: 0.1)
    result = pytester.runpytest(
        str(EXPERIMENT),
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        "-k",
        "fit and 300",
        "--gpubench-max-rounds",
        "5",
        f"--rootdir={EXPERIMENT.parents[1]}",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*numpy: n/a (failed after it was timed: AssertionError: held-out accuracy 0.100",
            "is below 0.5 on digits: the fit is wrong*",
        ]
    )
