"""The regression gate: threshold parsing, significance, hardware check (saved-run lookup:
test_storage.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pytest_gpubench.gate import (
    Threshold,
    compare,
    min_p_value,
    parse_compare_fail,
    rounds_for,
)
from pytest_gpubench.report import write_json
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.speedup import build_rows
from pytest_gpubench.storage import load_baseline

CPU = {"processor": "Intel Xeon 8259CL", "cores": "4", "blas": "openblas (4 threads)"}
GPU = {"gpu": "Tesla T4", "memory": "15 GiB", "driver": "12.4"}
SPEEDUP_10 = Threshold("speedup", 10.0, relative=True)


def run(
    seed: int,
    gpu_s: float = 0.1,
    rounds: int = 20,
    noise: float = 0.05,
    gpu: dict[str, str] = GPU,
    sizes: tuple[str, ...] = ("1k",),
) -> RunResults:
    """numpy at 1 s and cupy at ``gpu_s`` per round, lognormal noise, seeded."""
    rng = np.random.default_rng(seed)
    results = RunResults()
    for size in sizes:
        for device, center, info in (("numpy", 1.0, CPU), ("cupy", gpu_s, gpu)):
            times = center * np.exp(noise * rng.standard_normal(rounds))
            results.add(Measurement("fit", size, device, tuple(times.tolist()), device_info=info))
    return results


# --------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("speedup:10%", Threshold("speedup", 10.0, True)),
        ("speedup:0.5", Threshold("speedup", 0.5, False)),
        (" Speedup:2.5% ", Threshold("speedup", 2.5, True)),
        ("time:5%", Threshold("time", 5.0, True)),
        ("time:.002", Threshold("time", 0.002, False)),
    ],
)
def test_parse_compare_fail(expr, expected):
    assert parse_compare_fail(expr) == expected


@pytest.mark.parametrize(
    "expr", ["speedup", "speedup:", "speedup:-5%", "mean:5%", "speedup:5%%", ""]
)
def test_parse_compare_fail_names_the_expression_and_the_forms(expr):
    with pytest.raises(ValueError, match="speedup:10%") as info:
        parse_compare_fail(expr)
    assert repr(expr) in str(info.value) and "time:5%" in str(info.value)


@pytest.mark.parametrize("expr", ["speedup:100%", "speedup:1000%"])
def test_a_speedup_percentage_that_can_never_fail_is_refused(expr):
    with pytest.raises(ValueError, match=r"can never fail: a speedup cannot drop by 100%"):
        parse_compare_fail(expr)
    assert parse_compare_fail("time:1000%").value == 1000  # times can grow 10x


def test_threshold_loss():
    assert SPEEDUP_10.loss(10.0, 8.0) == pytest.approx(20.0)
    assert Threshold("speedup", 0.5, False).exceeded(3.0, 2.4)
    assert not Threshold("speedup", 0.5, False).exceeded(3.0, 2.6)
    assert Threshold("time", 5.0, True).loss(1.0, 1.1) == pytest.approx(10.0)
    assert str(SPEEDUP_10) == "speedup:10%"


def test_min_p_value():
    assert min_p_value(3, 3) == pytest.approx(0.05)
    assert min_p_value(5, 5) == pytest.approx(1 / 252)
    assert min_p_value(0, 5) == 1.0


# --------------------------------------------------------------------------- the gate


def test_a_real_drop_with_enough_rounds_fails():
    comparison = compare(run(2, gpu_s=0.13), run(1), [SPEEDUP_10], baseline_device="numpy")
    assert not comparison.ok
    (failure,) = comparison.failures
    assert (failure.experiment, failure.size, failure.device) == ("fit", "1k", "cupy")
    assert failure.old == pytest.approx(10, rel=0.1)
    assert failure.new == pytest.approx(7.7, rel=0.1)
    assert failure.drop_pct == pytest.approx(23, abs=6)
    assert failure.p_value < 1e-4
    text = comparison.render()
    assert "FAILED" in text and "fit 1k cupy speedup" in text and "limit speedup:10%" in text


@pytest.mark.parametrize("seed", range(10))
def test_noise_from_the_same_distribution_passes(seed):
    comparison = compare(
        run(100 + seed),
        run(200 + seed),
        [SPEEDUP_10, parse_compare_fail("speedup:0%")],
        baseline_device="numpy",
    )
    assert comparison.ok, comparison.render()


def test_a_drop_with_too_few_rounds_is_undecided_and_fails_the_gate_saying_so():
    comparison = compare(
        run(2, gpu_s=0.2, rounds=3), run(1, rounds=3), [SPEEDUP_10], baseline_device="numpy"
    )
    (check,) = comparison.checks
    assert check.status == "undecided" and check.drop_pct > 40 and not check.failed
    assert "too few rounds (3 vs 3)" in check.note
    assert not comparison.decided and not comparison.ok
    assert "UNDECIDED" in comparison.render().splitlines()[0]
    assert "Undecided (fails the gate" in comparison.render()
    # shown only (no gate): the same row fails nothing
    assert compare(
        run(2, gpu_s=0.2, rounds=3),
        run(1, rounds=3),
        [SPEEDUP_10],
        baseline_device="numpy",
        gated=False,
    ).decided
    # but a gate where no row could be tested could never fail: it fails, saying what to do
    assert comparison.untestable and not comparison.ok
    assert "at least 5 a side are needed" in comparison.render()
    assert "--gpubench-min-rounds 5" in comparison.render()


def test_one_untestable_row_among_tested_ones_does_not_fail_the_gate():
    current = run(2, rounds=3, sizes=("1k",))
    saved = run(1, rounds=3, sizes=("1k",))
    for size in ("2k", "4k"):
        current.measurements += run(4, sizes=(size,)).measurements
        saved.measurements += run(3, sizes=(size,)).measurements
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert [c.p_value is None for c in comparison.checks] == [True, False, False]
    assert comparison.ok and not comparison.untestable
    shown_only = compare(current, saved, [SPEEDUP_10], baseline_device="numpy", gated=False)
    assert shown_only.ok


def test_a_marker_gated_experiment_that_checked_nothing_fails_beside_a_shown_one():
    """Experiment A is gated by its marker but its only row is skipped (0 s rounds); B is
    only shown. B's display-only check must not make A's empty gate pass."""
    saved, current = RunResults(), RunResults()
    for results, seed in ((saved, 1), (current, 2)):
        for m in run(seed).measurements:
            results.add(dataclasses.replace(m, experiment="B"))
    saved.measurements += [
        Measurement("A", "1k", "numpy", (1.0, 1.0, 1.0)),
        Measurement("A", "1k", "cupy", (0.1, 0.1, 0.1)),
    ]
    current.measurements += [
        Measurement("A", "1k", "numpy", (1.0, 1.0, 1.0)),
        Measurement("A", "1k", "cupy", (0.0, 0.1, 0.1)),
    ]
    comparison = compare(
        current,
        saved,
        [SPEEDUP_10],
        {"A": [SPEEDUP_10]},
        baseline_device="numpy",
        gated=False,
    )
    assert [c.experiment for c in comparison.checks] == ["B"]
    assert comparison.compared_nothing and not comparison.ok


def test_rounds_for_alpha():
    assert rounds_for(0.01) == 5  # 4 vs 4 rounds give at best p = 1/70
    assert rounds_for(0.05) == 4


def test_a_drop_within_the_threshold_passes_even_when_significant():
    comparison = compare(
        run(2, gpu_s=0.105, noise=0.005), run(1, noise=0.005), [SPEEDUP_10], baseline_device="numpy"
    )
    assert comparison.ok and comparison.checks[0].status == "passed"
    assert comparison.checks[0].p_value < 0.01


def test_noise_in_the_baseline_device_alone_does_not_fail():
    """A tight device against a baseline whose median wobbled: intervals overlap, no fail."""
    old, new = run(1, rounds=6, noise=0.001), run(2, rounds=6, noise=0.001)
    wobbly = RunResults()
    for m in new.measurements:
        rounds = m.rounds_s
        if m.device == "numpy":
            rounds = tuple(
                t * f for t, f in zip(rounds, (0.7, 1.3, 0.75, 1.25, 0.8, 0.88), strict=True)
            )
        wobbly.add(Measurement(m.experiment, m.size, m.device, rounds, device_info=m.device_info))
    comparison = compare(wobbly, old, [SPEEDUP_10], baseline_device="numpy")
    (check,) = comparison.checks
    assert check.drop_pct > 10 and check.p_value < 0.01
    assert check.status == "noise" and "intervals overlap" in check.note


def test_a_slower_device_fails_a_time_threshold():
    comparison = compare(
        run(2, gpu_s=0.12),
        run(1),
        [parse_compare_fail("time:5%")],
        {},
        False,
        baseline_device="numpy",
    )
    assert [(f.device, f.threshold.metric) for f in comparison.failures] == [("cupy", "time")]
    assert comparison.failures[0].drop_pct == pytest.approx(20, abs=6)


def test_experiment_thresholds_replace_the_global_ones():
    current, saved = run(2, gpu_s=0.13), run(1)
    loose = {"fit": [parse_compare_fail("speedup:50%")]}
    assert compare(current, saved, [SPEEDUP_10], loose, baseline_device="numpy").ok
    strict = {"other": [parse_compare_fail("speedup:50%")]}
    assert not compare(current, saved, [SPEEDUP_10], strict, baseline_device="numpy").ok


def test_rows_in_one_run_only_are_skipped_and_a_device_no_longer_measured_fails():
    saved = run(1, sizes=("1k", "4k"))
    current = run(2, sizes=("1k", "16k"))
    current.add(Measurement("fit", "1k", "torch-cuda", (), reason="torch not installed"))
    saved.add(Measurement("fit", "1k", "torch-cuda", (0.1, 0.1, 0.1)))
    current.add(Measurement("fit", "1k", "torch-cpu", (0.1, 0.1, 0.1)))
    saved.add(Measurement("fit", "1k", "torch-cpu", (), reason="torch not installed"))
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    why = {(s.size, s.device): s.why for s in comparison.skipped}
    assert why[("16k", "cupy")] == "not in the saved run"
    assert why[("4k", "cupy")] == "not in the current run"
    assert why[("1k", "torch-cpu")] == "n/a in the saved run (torch not installed)"
    assert [(c.size, c.device) for c in comparison.checks] == [("1k", "cupy")]
    assert not comparison.failures
    # measured then, n/a now: a broken install must not pass as "no speedup lost"
    [missing] = comparison.missing
    assert (missing.device, missing.why) == (
        "torch-cuda",
        "n/a in the current run (torch not installed)",
    )
    assert not comparison.ok
    assert "n/a now (fails the gate)" in comparison.render()


def test_a_device_no_longer_measured_only_shows_when_nothing_gates():
    saved, current = run(1), run(2)
    saved.add(Measurement("fit", "1k", "torch-cuda", (0.1, 0.1, 0.1)))
    current.add(Measurement("fit", "1k", "torch-cuda", (), reason="torch not installed"))
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy", gated=False)
    assert comparison.ok and not comparison.missing
    assert any(s.device == "torch-cuda" for s in comparison.skipped)


def test_a_gate_that_compares_nothing_fails():
    saved = run(1, sizes=("1k",))
    current = run(2, sizes=("4k",))
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert comparison.compared_nothing and not comparison.ok
    assert "Nothing compared" in comparison.render()
    shown_only = compare(current, saved, [SPEEDUP_10], baseline_device="numpy", gated=False)
    assert shown_only.ok


def test_a_marker_threshold_gates_its_experiment_only():
    """``compare_fail=`` on one experiment must not turn the shown-only report threshold
    of the others into a gate."""
    saved = run(1)
    current = run(2, gpu_s=0.13)  # the speedup fell by about 23%
    for m in run(1).measurements:
        saved.add(dataclasses.replace(m, experiment="other"))
    for m in run(2).measurements:
        current.add(dataclasses.replace(m, experiment="other"))
    loose = {"other": [parse_compare_fail("speedup:50%")]}
    comparison = compare(current, saved, [SPEEDUP_10], loose, baseline_device="numpy", gated=False)
    [lost] = [c for c in comparison.checks if c.lost]
    assert lost.experiment == "fit" and not lost.gating and not lost.failed
    assert comparison.ok
    assert "shown, not gated" in comparison.render()
    gated = compare(current, saved, [SPEEDUP_10], loose, baseline_device="numpy")
    assert [c.experiment for c in gated.failures] == ["fit"] and not gated.ok


def test_a_baseline_device_missing_in_a_run_skips_its_speedups():
    saved = run(1)
    current = RunResults([m for m in run(2).measurements if m.device == "cupy"])
    current.add(Measurement("fit", "1k", "numpy", (), reason="skipped"))
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert not comparison.checks
    assert any("n/a in the current run (skipped)" in s.why for s in comparison.skipped)


def test_runs_of_different_profiles_are_refused_unless_forced():
    saved, current = run(1), run(2)
    saved.extra["profile"], current.extra["profile"] = "seed", "quick"
    with pytest.raises(ValueError, match="profile 'seed' and this one 'quick'") as info:
        compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert "--gpubench-profile seed" in str(info.value)
    forced = compare(current, saved, [SPEEDUP_10], force=True, baseline_device="numpy")
    assert forced.checks and "across profiles (forced)" in forced.render()
    current.extra["profile"] = "seed"
    assert compare(current, saved, [SPEEDUP_10], baseline_device="numpy").ok


def test_different_hardware_is_refused_unless_forced():
    other = run(2, gpu={**GPU, "gpu": "NVIDIA A10G", "memory": "22 GiB"})
    with pytest.raises(ValueError, match="never compared silently") as info:
        compare(other, run(1), [SPEEDUP_10], baseline_device="numpy")
    assert "Tesla T4" in str(info.value) and "force=True" in str(info.value)
    forced = compare(other, run(1), [SPEEDUP_10], force=True, baseline_device="numpy")
    assert forced.checks and "different hardware (forced)" in forced.render()


def test_driver_or_library_changes_are_not_different_hardware():
    newer = run(2, gpu={**GPU, "driver": "13.0", "library": "cupy 14"})
    assert compare(newer, run(1), [SPEEDUP_10], baseline_device="numpy").ok


def test_the_baseline_device_comes_from_the_saved_json(tmp_path):
    saved = run(1)
    rows = build_rows(saved.measurements, "numpy")
    path = write_json(tmp_path / "saved.json", saved, rows, "numpy", machine_info={"node": "t"})
    comparison = compare(run(2, gpu_s=0.13), load_baseline(str(path), tmp_path), [SPEEDUP_10])
    assert comparison.baseline_device == "numpy" and not comparison.ok


def test_compare_without_a_known_baseline_device_asks_for_one():
    with pytest.raises(ValueError, match="baseline_device='numpy'"):
        compare(run(2), run(1), [SPEEDUP_10])


# --------------------------------------------------------------------------- saved runs


def test_rounds_of_zero_seconds_are_skipped_not_divided_by():
    saved = run(1)
    current = RunResults([m for m in run(2).measurements if m.device == "numpy"])
    current.add(Measurement("fit", "1k", "cupy", (0.0, 0.1, 0.1), device_info=GPU))
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert "below the timer's resolution" in comparison.skipped[0].why
    # that was the only row to check: a gate that checked nothing fails, it never passes
    assert comparison.compared_nothing and not comparison.ok
    assert "Nothing compared" in comparison.render()


def test_a_cost_only_benchmark_is_gated_on_its_time_never_on_a_speedup():
    def as_cost(results: RunResults) -> RunResults:
        costs = RunResults()
        for m in results.measurements:
            costs.add(dataclasses.replace(m, versus_baseline=False))
        return costs

    current, saved = as_cost(run(2, gpu_s=0.2)), as_cost(run(1))  # the copy got 2x slower
    by_speedup = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert not by_speedup.checks and by_speedup.compared_nothing  # no speedup to gate on
    by_time = compare(current, saved, [parse_compare_fail("time:10%")], baseline_device="numpy")
    assert [(f.device, f.threshold.metric) for f in by_time.failures] == [("cupy", "time")]


# --------------------------------------------------------------------------- damaged files


def _saved_run(tmp_path: Path, **changes: object) -> Path:
    """A good saved run with the first measurement's fields changed."""
    path = tmp_path / "damaged.json"
    results = run(1, rounds=5)
    write_json(path, results, build_rows(results.measurements, "numpy"), "numpy")
    document = json.loads(path.read_text())
    document["gpubench"]["measurements"][0].update(changes)
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": [1, 2]}, "measurements[0].metrics must be an object of numbers (or nulls)"),
        ({"metrics": {"accuracy": "high"}}, "measurements[0].metrics must be an object of numbers"),
        ({"device_info": ["Tesla T4"]}, "measurements[0].device_info must be an object, got list"),
        ({"device_info": {"gpu": ["T4"]}}, "measurements[0].device_info.gpu must be a string"),
        ({"size_value": "huge"}, "measurements[0].size_value must be a finite number, got str"),
        ({"warmup_rounds": 2.5}, "measurements[0].warmup_rounds must be an integer"),
        ({"transfer_s": "fast"}, "measurements[0].transfer_s must be a finite number or null"),
        ({"versus_baseline": "yes"}, "measurements[0].versus_baseline must be true or false"),
    ],
)
def test_a_damaged_measurement_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    path = _saved_run(tmp_path, **changes)
    with pytest.raises(ValueError, match="damaged.json: gpubench." + re.escape(message)):
        load_baseline(str(path), tmp_path)


def test_a_file_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"gpubench": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ValueError, match=r"deep.json is nested too deeply to be read"):
        load_baseline(str(path), tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"gpubench": ' + "[" * 200_000 + "]" * 200_000 + "}", "*bad.json is nested too deeply*"),
        (None, "*bad.json: gpubench.measurements[[]0[]].metrics must be an object of numbers*"),
    ],
)
def test_a_damaged_saved_run_is_a_usage_error(
    pytester: pytest.Pytester, content: str | None, message: str
) -> None:
    path = pytester.path / "bad.json"
    if content is None:
        _saved_run(pytester.path, metrics=["accuracy"]).rename(path)
    else:
        path.write_text(content)
    result = pytester.runpytest("--gpubench", "--gpubench-compare", "bad.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


@pytest.mark.parametrize(
    "expr", ["speedup:inf", "time:inf%", "time:1e999", "speedup:nan", "time:" + "9" * 400]
)
def test_a_limit_that_is_not_finite_is_refused(expr: str) -> None:
    with pytest.raises(ValueError, match=r"has no finite limit .* the gate could never fail"):
        parse_compare_fail(expr)


# --------------------------------------------------------------------------- paired rounds


def paired_run(
    seed: int,
    gpu_s: float = 0.1,
    rounds: int = 12,
    spells: tuple[int, ...] = (),
    beside: float = 1.0,
) -> RunResults:
    """numpy at 1 s; cupy at ``gpu_s``, each round paired with a numpy round timed beside
    it, which takes ``beside`` times numpy's own. A busy spell (the rounds in ``spells``)
    slows both rounds of a pair 3×."""
    rng = np.random.default_rng(seed)
    slow = np.array([3.0 if i in spells else 1.0 for i in range(rounds)])
    base = slow * np.exp(0.03 * rng.standard_normal(rounds))
    dev = gpu_s * slow * np.exp(0.03 * rng.standard_normal(rounds))
    results = RunResults()
    results.add(Measurement("fit", "1k", "numpy", tuple(base.tolist()), device_info=CPU))
    base = base * beside
    results.add(
        Measurement(
            "fit",
            "1k",
            "cupy",
            tuple(dev.tolist()),
            device_info=GPU,
            paired_baseline_s=tuple(base.tolist()),
            pairing="paired",
        )
    )
    return results


def test_paired_rounds_cancel_a_busy_spell_that_hit_both_devices():
    """Spells slow a third of the pairs 3× in the current run: per-pair ratios don't move,
    so the gate passes."""
    saved = paired_run(1)
    current = paired_run(2, spells=(0, 3, 6, 9))
    threshold = Threshold("speedup", 25.0, relative=True)
    comparison = compare(current, saved, [threshold], baseline_device="numpy")
    (check,) = comparison.checks
    assert comparison.ok, comparison.render()
    assert check.status == "passed" and abs(check.drop_pct) < 5
    assert not comparison.notes  # both runs paired


def test_a_paired_speedup_halved_fails_the_gate():
    saved, current = paired_run(1, gpu_s=0.1), paired_run(2, gpu_s=0.2)
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    (check,) = comparison.checks
    assert check.failed and check.p_value is not None and check.p_value < 0.01
    assert 45 < check.drop_pct < 55
    assert not comparison.ok and "FAILED" in comparison.render().splitlines()[0]


def test_a_busy_cell_is_named_undecided_never_judged():
    saved = paired_run(1)
    current = paired_run(2, gpu_s=0.5)  # a loss, but measured on a busy machine
    current.measurements[1] = dataclasses.replace(
        current.measurements[1],
        stop="machine busy",
        set_aside_s=(0.9,) * 40,
        set_aside_wait_s=(0.5,) * 40,
        wait_s=(0.0,) * 12,
    )
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert not comparison.checks and not comparison.ok
    (busy,) = comparison.undecided
    assert "machine busy in the current run: 12 clean rounds, 40 set aside" in busy.describe()
    text = comparison.render()
    assert text.splitlines()[0].endswith("1 undecided") and "UNDECIDED" in text
    assert "run again when it is quieter" in text


def test_a_baseline_that_drifted_beside_the_device_is_not_a_lost_speedup():
    """numpy ran 34% slower beside cupy in the saved run (a memory state one library left
    for the other) and not in this one: the paired speedup fell 25%, numpy alone against
    cupy did not move. The saved interval covers both readings, so this is noise."""
    saved, current = paired_run(1, beside=1.34), paired_run(2)
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    (check,) = comparison.checks
    assert check.drop_pct > 20 and check.status == "noise", comparison.render()
    assert comparison.ok
    lost = compare(paired_run(2, gpu_s=0.2), saved, [SPEEDUP_10], baseline_device="numpy")
    assert lost.checks[0].failed, lost.render()  # a real halving still fails


def test_a_schema_1_saved_run_is_compared_unpaired_with_a_note():
    saved, current = run(1, rounds=12), paired_run(2)
    comparison = compare(current, saved, [SPEEDUP_10], baseline_device="numpy")
    assert comparison.ok, comparison.render()
    (note,) = comparison.notes
    assert "saved run's rounds are unpaired" in note
