"""Rows, spread, speedup intervals and crossover sizes from constructed measurements."""

from __future__ import annotations

import pytest

from pytest_gpubench.results import Measurement
from pytest_gpubench.speedup import (
    COST_ONLY,
    Cell,
    SpeedupRow,
    balanced_speedup,
    baseline_drift,
    build_rows,
    by_experiment,
    crossover,
    estimate_speedup,
    hardware_summary,
    order_groups,
    paired_speedup_interval,
    speedup_interval,
)


def measure(size: str, device: str, rounds: tuple[float, ...], value: float, **kw) -> Measurement:
    return Measurement(
        experiment=kw.pop("experiment", "fit"),
        size=size,
        device=device,
        rounds_s=rounds,
        size_value=value,
        **kw,
    )


def spread(center: float, n: int = 9, rel: float = 0.02) -> tuple[float, ...]:
    """``n`` rounds spread evenly ±rel around ``center`` (median exactly ``center``)."""
    half = n // 2
    return tuple(center * (1 + rel * (i - half) / half) for i in range(n))


def rows_for(speedups: dict[str, float | None]) -> list[SpeedupRow]:
    """One row per size (value = position), the GPU at the given speedup; None: GPU n/a."""
    ms = []
    for value, (size, speedup) in enumerate(speedups.items(), start=1):
        ms.append(measure(size, "numpy", spread(1.0), value))
        if speedup is None:
            ms.append(measure(size, "cupy", (), value, reason="out of memory"))
        else:
            ms.append(measure(size, "cupy", spread(1.0 / speedup), value))
    return build_rows(ms, "numpy")


def test_one_row_per_size_ordered_by_value_with_the_baseline_first():
    ms = [
        measure("big", "cupy", spread(0.1), 1000),
        measure("small", "cupy", spread(0.5), 10),
        measure("big", "numpy", spread(2.0), 1000),
        measure("small", "numpy", spread(0.2), 10),
    ]
    rows = build_rows(ms, "numpy")
    assert [(r.size, r.size_value) for r in rows] == [("small", 10.0), ("big", 1000.0)]
    assert all(r.devices == ["numpy", "cupy"] and r.baseline == "numpy" for r in rows)


def test_cell_spread_uses_pytest_benchmark_quartiles():
    (row,) = build_rows([measure("s", "numpy", (5.0, 1.0, 3.0, 2.0, 4.0), 1)], "numpy")
    cell = row.cell("numpy")
    assert (cell.rounds, cell.median_s, cell.min_s, cell.max_s) == (5, 3.0, 1.0, 5.0)
    assert (cell.q1_s, cell.q3_s) == pytest.approx((1.75, 4.25))
    assert cell.iqr_s == pytest.approx(2.5)
    assert cell.speedup == 1.0 and cell.speedup_low is None


def test_speedup_is_the_ratio_of_medians_with_an_interval_around_it():
    ms = [measure("s", "numpy", spread(2.0, 15, 0.1), 1), measure("s", "cupy", spread(0.5), 1)]
    cell = build_rows(ms, "numpy")[0].cell("cupy")
    assert cell.speedup == pytest.approx(4.0)
    assert cell.speedup_low < 4.0 < cell.speedup_high
    assert cell.speedup_low > 3.2 and cell.speedup_high < 4.8


def test_interval_matches_the_exact_bootstrap_distribution():
    """With 4 rounds a side every resample can be enumerated (256 x 256): the 95% interval
    is the 2.5th and 97.5th percentiles of that exact distribution of median ratios."""
    import itertools

    import numpy as np

    base, dev = (1.0, 1.2, 1.5, 1.3), (0.5, 0.55, 0.7, 0.6)
    base_medians = [np.median(c) for c in itertools.product(base, repeat=4)]
    dev_medians = [np.median(c) for c in itertools.product(dev, repeat=4)]
    ratios = np.divide.outer(base_medians, dev_medians).ravel()
    exact = np.percentile(ratios, [2.5, 97.5])
    assert speedup_interval(base, dev) == pytest.approx(tuple(exact), rel=0.02)
    assert np.percentile(ratios, 5) > exact[0] * 1.02  # a 90% interval would be told apart


def test_a_measurements_median_is_the_median_not_the_mean():
    """The baseline side of every speedup: one slow round (a GC pause) must not move it."""
    assert Measurement("e", "s", "numpy", (1.0, 1.0, 10.0)).median_s == 1.0
    assert Measurement("e", "s", "numpy", (1.0, 2.0, 3.0, 10.0)).median_s == 2.5


def test_interval_is_reproducible_and_narrows_with_tighter_rounds():
    wide = speedup_interval(spread(1.0, 15, 0.2), spread(0.1, 15, 0.2))
    tight = speedup_interval(spread(1.0, 15, 0.02), spread(0.1, 15, 0.02))
    assert wide == speedup_interval(spread(1.0, 15, 0.2), spread(0.1, 15, 0.2))
    assert wide is not None and tight is not None
    assert tight[1] - tight[0] < (wide[1] - wide[0]) / 5


@pytest.mark.parametrize("rounds", [(2.0,), (1.9, 2.1)])
def test_fewer_than_three_rounds_give_a_speedup_but_no_interval(rounds):
    """A bootstrap of medians from 2 rounds covers the true ratio ~70% of the time: no
    "95%" interval is shown for it."""
    ms = [measure("s", "numpy", rounds, 1), measure("s", "cupy", spread(1.0), 1)]
    cell = build_rows(ms, "numpy")[0].cell("cupy")
    assert cell.speedup == pytest.approx(2.0)
    assert cell.speedup_low is None and cell.speedup_high is None
    assert speedup_interval(spread(2.0, 9), (1.0, 1.1)) is None
    assert speedup_interval(spread(2.0, 9), (1.0, 1.1, 0.9)) is not None


def test_throughput_and_units_come_from_the_median_round():
    m = measure("s", "numpy", (0.5, 0.4, 0.6), 1, units="samples", units_per_round=1000.0)
    cell = build_rows([m], "numpy")[0].cell("numpy")
    assert cell.throughput == pytest.approx(2000.0) and cell.units == "samples"


def test_a_device_that_could_not_run_is_an_na_cell_with_its_reason():
    row = rows_for({"s": None})[0]
    cell = row.cell("cupy")
    assert not cell.ran and cell.reason == "out of memory"
    assert cell.median_s is None and cell.speedup is None


def test_a_baseline_that_did_not_run_makes_every_speedup_say_why():
    ms = [
        measure("s", "numpy", (), 1, reason="numpy killed by the OOM killer"),
        measure("s", "cupy", spread(1.0), 1),
        measure("s", "torch-cuda", spread(1.0), 1),
    ]
    row = build_rows(ms, "numpy")[0]
    for device in ("cupy", "torch-cuda"):
        cell = row.cell(device)
        assert cell.ran and cell.speedup is None
        assert cell.speedup_reason == "baseline numpy n/a: numpy killed by the OOM killer"


def test_a_baseline_never_measured_still_gets_a_cell():
    row = build_rows([measure("s", "cupy", spread(1.0), 1)], "numpy")[0]
    assert row.devices == ["numpy", "cupy"]
    assert row.cell("numpy").reason == "not measured at this size"
    assert row.cell("cupy").speedup_reason == "baseline numpy not measured at this size"


def test_a_device_missing_at_one_size_gets_a_cell_saying_so():
    ms = [
        measure("a", "numpy", spread(1.0), 1),
        measure("a", "cupy", spread(1.0), 1),
        measure("b", "numpy", spread(1.0), 2),
    ]
    row_b = build_rows(ms, "numpy")[1]
    assert row_b.cell("cupy").reason == "not measured at this size"


def test_a_later_measurement_of_the_same_cell_replaces_the_earlier():
    ms = [measure("s", "numpy", spread(1.0), 1), measure("s", "numpy", spread(3.0), 1)]
    assert build_rows(ms, "numpy")[0].cell("numpy").median_s == pytest.approx(3.0)


def test_rows_are_grouped_per_experiment():
    ms = [
        measure("s", "numpy", spread(1.0), 1, experiment="gemm"),
        measure("s", "numpy", spread(1.0), 1, experiment="fit"),
    ]
    assert list(by_experiment(build_rows(ms, "numpy"))) == ["gemm", "fit"]


def test_unknown_device_in_a_row_names_the_devices_it_has():
    row = rows_for({"s": 2.0})[0]
    with pytest.raises(KeyError, match="devices: numpy, cupy"):
        row.cell("torch-cuda")


def test_row_round_trips_through_a_dict():
    row = rows_for({"s": 2.0})[0]
    assert SpeedupRow.from_dict(row.to_dict()) == row
    assert isinstance(row.cells["cupy"], Cell)


@pytest.mark.parametrize(
    ("speedups", "expected"),
    [
        ({"1k": 0.5, "4k": 0.8, "16k": 0.9}, None),
        ({"1k": 1.5, "4k": 3.0, "16k": 9.0}, "1k"),
        ({"1k": 0.5, "4k": 1.5, "16k": 3.0}, "4k"),
        ({"1k": 0.5, "4k": 1.2, "16k": 0.9, "64k": 1.5, "256k": 2.0}, "64k"),
        ({"1k": 2.0, "4k": 0.5}, None),
        ({"1k": 0.5, "4k": 1.0}, None),
    ],
    ids=["never", "from-the-first", "from-the-middle", "non-monotone", "lost-at-the-end", "tie"],
)
def test_crossover(speedups, expected):
    assert crossover(rows_for(speedups), "cupy") == expected


def test_crossover_skips_sizes_without_a_speedup():
    assert crossover(rows_for({"1k": 0.5, "4k": 2.0, "16k": None}), "cupy") == "4k"
    assert crossover(rows_for({"1k": None, "4k": None}), "cupy") is None
    assert crossover(rows_for({"1k": 2.0}), "torch-cuda") is None


def test_crossover_can_ask_the_whole_interval_to_be_above_one():
    ms = []
    for value, (size, gpu_s) in enumerate({"a": 0.98, "b": 0.5}.items(), start=1):
        ms.append(measure(size, "numpy", spread(1.0, 9, 0.1), value))
        ms.append(measure(size, "cupy", spread(gpu_s, 9, 0.1), value))
    rows = build_rows(ms, "numpy")
    assert crossover(rows, "cupy") == "a"
    assert crossover(rows, "cupy", confident=True) == "b"


def test_crossover_refuses_rows_of_several_experiments_unless_one_is_named():
    ms = [
        measure("s", "numpy", spread(1.0), 1, experiment="fit"),
        measure("s", "cupy", spread(0.5), 1, experiment="fit"),
        measure("s", "numpy", spread(1.0), 1, experiment="gemm"),
        measure("s", "cupy", spread(2.0), 1, experiment="gemm"),
    ]
    rows = build_rows(ms, "numpy")
    with pytest.raises(ValueError, match=r"several experiments \(fit, gemm\)"):
        crossover(rows, "cupy")
    assert crossover(rows, "cupy", "fit") == "s"
    assert crossover(rows, "cupy", "gemm") is None


def test_hardware_summary_names_the_gpu_or_the_cpu():
    assert hardware_summary({"gpu": "Tesla T4", "memory": "15 GiB"}) == "Tesla T4 15 GiB"
    assert hardware_summary({"processor": "Xeon", "cores": "4", "blas": "x"}) == "Xeon (4 cores)"
    assert hardware_summary({"status": "n/a"}) == ""


def test_a_zero_second_median_gives_no_speedup_instead_of_dividing_by_zero():
    ms = [measure("s", "numpy", spread(1.0), 1), measure("s", "cupy", (0.0, 0.0, 0.0), 1)]
    cell = build_rows(ms, "numpy")[0].cell("cupy")
    assert cell.speedup is None and "below the timer resolution" in cell.speedup_reason
    assert speedup_interval(spread(1.0), (0.0, 1e-9, 2e-9)) is None
    ms = [measure("s", "numpy", (0.0, 0.0, 0.0), 1), measure("s", "cupy", spread(1e-5), 1)]
    cell = build_rows(ms, "numpy")[0].cell("cupy")
    assert cell.speedup is None and "baseline numpy's median round is 0 s" in cell.speedup_reason


def test_a_cost_only_benchmark_gets_no_speedups_not_even_for_the_baseline():
    ms = [
        measure("147MB", "numpy", spread(1e-6), 1.0, experiment="copy", versus_baseline=False),
        measure("147MB", "cupy", spread(0.02), 1.0, experiment="copy", versus_baseline=False),
    ]
    (row,) = build_rows(ms, "numpy")
    assert not row.versus_baseline
    for cell in row.cells.values():
        assert cell.speedup is None and cell.speedup_reason == COST_ONLY
        assert cell.median_s is not None  # the times are still there
    assert crossover([row], "cupy") is None
    assert rows_for({"1k": 2.0})[0].versus_baseline


def test_the_paired_speedup_balances_the_two_orders_within_a_pair():
    """Ratios 1.2 when the baseline ran first, 1.6 when it ran second: the speedup is their
    geometric mean whatever the count of each order, where one median over all pairs would
    be 1.2 with 3 pairs of the first order against 2, and 1.6 the other way round."""
    expected = (1.2 * 1.6) ** 0.5
    for first, second in ((3, 2), (2, 3), (5, 5)):
        orders = (True,) * first + (False,) * second
        ratios = (1.2,) * first + (1.6,) * second
        m = measure(
            "1k",
            "torch",
            (1.0,) * len(ratios),
            1000,
            paired_baseline_s=ratios,
            baseline_first=orders,
        )
        groups = order_groups(m)
        assert balanced_speedup(*groups) == pytest.approx(expected)
        low, high = paired_speedup_interval(*groups)
        assert low == pytest.approx(expected) and high == pytest.approx(expected)
        base = measure("1k", "numpy", (1.0,) * len(ratios), 1000)
        (row,) = build_rows([base, m], "numpy")
        assert row.speedup("torch") == pytest.approx(expected)


def test_pairs_without_their_order_use_one_median():
    m = measure("1k", "torch", (1.0, 1.0, 1.0), 1000, paired_baseline_s=(1.0, 2.0, 4.0))
    assert order_groups(m) == ([1.0, 2.0, 4.0], [])
    assert balanced_speedup(*order_groups(m)) == 2.0


def paired_cell(alone: float, beside: float) -> tuple[Measurement, Measurement]:
    """numpy at ``alone`` s in its own cell; torch at 0.5 s, paired with numpy rounds of
    ``beside`` s (both orders), spread 2% so every interval has a width."""
    base = measure("4k", "numpy", spread(alone), 4000)
    orders = (True, False) * 5 + (True,)
    device = measure(
        "4k",
        "torch",
        spread(0.5, 11),
        4000,
        paired_baseline_s=spread(beside, 11),
        baseline_first=orders,
    )
    return base, device


def test_a_baseline_that_ran_slower_beside_the_device_widens_the_interval_to_both():
    """numpy took 1.0 s alone and 1.34 s beside torch (a memory state torch left, as numpy at
    4000-4000 on 2 cores): the paired reading says 2.68x, the unpaired one 2x. The estimate
    stays paired and the interval covers both readings, so a later run in the other mode is
    not a significant change."""
    base, device = paired_cell(alone=1.0, beside=1.34)
    assert baseline_drift(base, device) == pytest.approx(1.34)
    estimate = estimate_speedup(base, device)
    assert estimate.paired and estimate.value == pytest.approx(2.68, rel=0.03)
    low, high = estimate.interval
    assert low < 2.0 < 2.6 < high
    (row,) = build_rows([base, device], "numpy")
    cell = row.cell("torch")
    assert cell.drifted and cell.baseline_drift == pytest.approx(1.34)
    assert cell.speedup_low == pytest.approx(low) and cell.precision > 0.1
    assert Cell.from_dict(cell.to_dict()) == cell


def test_a_baseline_within_tolerance_keeps_the_tight_paired_interval():
    base, device = paired_cell(alone=1.0, beside=1.05)
    estimate = estimate_speedup(base, device)
    assert not build_rows([base, device], "numpy")[0].cell("torch").drifted
    low, high = estimate.interval
    assert low > 2.0 and high < 2.2  # only the paired reading, 2.1x, with its 2% spread


def test_an_unpaired_cell_has_no_drift():
    base = measure("4k", "numpy", spread(1.0), 4000)
    device = measure("4k", "torch", spread(0.5), 4000)
    estimate = estimate_speedup(base, device)
    assert estimate.drift is None and not estimate.paired
    assert estimate.value == pytest.approx(2.0)
    assert not build_rows([base, device], "numpy")[0].cell("torch").drifted


def test_a_row_saved_before_the_drift_field_still_loads():
    (row,) = rows_for({"1k": 2.0})
    data = row.to_dict()
    for cell in data["cells"]:
        del cell["baseline_drift"]
    assert SpeedupRow.from_dict(data).cell("cupy").baseline_drift is None
