"""The rounds of one cell: the stopping rule, rounds set aside as disturbed, and pairing
with the baseline's rounds (interleaved, order alternating, ratios per pair)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_gpubench.bench import GpuBench, Partners, record_rounds
from pytest_gpubench.devices import get_device
from pytest_gpubench.interference import RoundNoise
from pytest_gpubench.timing import (
    SyncedTarget,
    TimingSettings,
    measure,
    median_interval,
    relative_half_width,
)


class ScriptedClock:
    """A clock whose rounds last the scripted seconds: a round is two reads (start, stop),
    and the stop read returns start + the next duration of ``durations``."""

    def __init__(self, durations: Iterator[float]) -> None:
        self.durations = durations
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:
            self.now += next(self.durations)
        return self.now


class ScriptedProbe:
    """A wait probe whose every stop() reports the next scripted wait (seconds); its waits
    for a quiet machine are logged and take ``quiet_s`` each (never more than allowed)."""

    def __init__(self, waits: Iterator[float], quiet_s: float = 0.0) -> None:
        self.waits = waits
        self.quiet_s = quiet_s
        self.quiet_limits: list[float] = []

    def start(self) -> None:
        pass

    def stop(self) -> RoundNoise:
        return RoundNoise(wait_s=next(self.waits))

    def quiet(self, max_s: float) -> float:
        self.quiet_limits.append(max_s)
        return min(self.quiet_s, max_s)


def forever(value: float) -> Iterator[float]:
    while True:
        yield value


NUMPY = get_device("numpy")
# The rounds' logic is tested on one call per round (round_time=0): the calibration of calls
# per round has its own tests (test_timing.py).


@pytest.mark.parametrize(
    ("n", "expected"),
    [(5, None), (6, (1.0, 6.0)), (10, (2.0, 9.0)), (20, (6.0, 15.0))],
)
def test_the_median_interval_takes_the_binomial_order_statistics(
    n: int, expected: tuple[float, float] | None
) -> None:
    # coverage 1 - 2 P(Binomial(n, 1/2) <= k - 1) >= 95%: k = 1 at n = 6 (96.9%), 2 at 10
    # (97.9%; k = 3 gives 89%), 6 at 20 (95.9%)
    samples = [float(i) for i in range(n, 0, -1)]
    assert median_interval(samples) == expected


def test_relative_half_width() -> None:
    assert relative_half_width([1.0] * 5) == math.inf  # too few to bound the median
    assert relative_half_width([1.0] * 6) == 0.0
    assert relative_half_width([0.9, 1.0, 1.0, 1.0, 1.0, 1.1]) == pytest.approx(0.1)


def test_rounds_stop_once_the_median_is_precise() -> None:
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=3,
        max_rounds=100,
        max_time=100,
        precision=0.05,
        wait_share=math.inf,
    )
    clock = ScriptedClock(forever(0.01))
    timing = measure(NUMPY, lambda: None, settings, clock=clock, probe=ScriptedProbe(forever(0)))
    assert len(timing.rounds_s) == 6  # the first count with a 95% interval of the median
    assert timing.stop == "precise"


def test_imprecise_rounds_go_on_until_the_time_budget() -> None:
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=3,
        max_rounds=100,
        max_time=1.0,
        precision=0.05,
        wait_share=math.inf,
    )
    clock = ScriptedClock(iter([0.05, 0.15] * 100))  # ±50% spread: never within 5%
    timing = measure(NUMPY, lambda: None, settings, clock=clock, probe=ScriptedProbe(forever(0)))
    assert len(timing.rounds_s) == 10 and timing.stop == "time budget"


def test_max_rounds_caps_the_rounds() -> None:
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=2,
        max_rounds=4,
        max_time=100,
        precision=0.001,
        wait_share=math.inf,
    )
    clock = ScriptedClock(iter([0.05, 0.15] * 100))
    timing = measure(NUMPY, lambda: None, settings, clock=clock, probe=ScriptedProbe(forever(0)))
    assert len(timing.rounds_s) == 4 and timing.stop == "max rounds"


def test_a_round_that_waited_for_a_cpu_is_set_aside_and_run_again() -> None:
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=4, max_rounds=4, max_time=100, precision=0
    )
    durations = iter([0.010, 0.030, 0.010, 0.025, 0.010, 0.010])
    # the 2nd and 4th rounds waited 20 and 12 ms: over 5% of them, set aside
    waits = iter([0.0001, 0.020, 0.0002, 0.012, 0.0, 0.0])
    timing = measure(
        NUMPY, lambda: None, settings, clock=ScriptedClock(durations), probe=ScriptedProbe(waits)
    )
    assert timing.rounds_s == pytest.approx((0.010,) * 4)
    assert timing.set_aside_s == pytest.approx((0.030, 0.025))
    assert timing.set_aside_wait_s == pytest.approx((0.020, 0.012))
    assert timing.wait_s == pytest.approx((0.0001, 0.0002, 0.0, 0.0))
    assert timing.stop == "max rounds"


def test_a_tiny_wait_below_the_floor_keeps_the_round() -> None:
    """A scheduler tick (< 50 µs) on a 100 µs round is 30% but no real loss."""
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=3, max_time=100, precision=0
    )
    timing = measure(
        NUMPY,
        lambda: None,
        settings,
        clock=ScriptedClock(forever(100e-6)),
        probe=ScriptedProbe(forever(30e-6)),
    )
    assert len(timing.rounds_s) == 3 and timing.set_aside_s == ()


def test_set_aside_can_be_switched_off() -> None:
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=3,
        max_rounds=3,
        max_time=100,
        precision=0,
        wait_share=math.inf,
    )
    timing = measure(
        NUMPY,
        lambda: None,
        settings,
        clock=ScriptedClock(forever(0.01)),
        probe=ScriptedProbe(forever(0.009)),
    )
    assert len(timing.rounds_s) == 3 and timing.set_aside_s == ()
    assert timing.wait_s == pytest.approx((0.009,) * 3)


def test_a_cell_without_clean_rounds_in_its_budget_is_machine_busy() -> None:
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=10, max_time=1, busy_time=0.5
    )
    timing = measure(
        NUMPY,
        lambda: None,
        settings,
        clock=ScriptedClock(forever(0.1)),
        probe=ScriptedProbe(forever(0.05)),  # every round waited half its time
    )
    assert timing.rounds_s == () and len(timing.set_aside_s) == 5
    assert timing.stop == "machine busy" and timing.busy


def test_a_busy_spell_is_waited_out_within_the_budget() -> None:
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=3, max_time=1, busy_time=10
    )
    waits = iter([0.05] * 20 + [0.0] * 10)  # a neighbour's spell of 20 rounds, then quiet
    timing = measure(
        NUMPY,
        lambda: None,
        settings,
        clock=ScriptedClock(forever(0.1)),
        probe=ScriptedProbe(waits),
    )
    assert len(timing.rounds_s) == 3 and len(timing.set_aside_s) == 20
    assert timing.stop == "max rounds" and not timing.busy


def test_after_a_round_set_aside_the_loop_waits_for_a_quiet_machine() -> None:
    from pytest_gpubench.timing import QUIET_MAX_S

    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=3, max_time=1, busy_time=10
    )
    probe = ScriptedProbe(iter([0.0, 0.05, 0.05, 0.0, 0.0]), quiet_s=0.5)
    timing = measure(NUMPY, lambda: None, settings, clock=ScriptedClock(forever(0.1)), probe=probe)
    assert len(timing.rounds_s) == 3 and len(timing.set_aside_s) == 2
    assert probe.quiet_limits == [QUIET_MAX_S, QUIET_MAX_S]  # after each round set aside only
    assert timing.quiet_wait_s == pytest.approx(1.0)


def test_waits_for_a_quiet_machine_end_with_the_busy_budget() -> None:
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=3, max_time=1, busy_time=5
    )
    probe = ScriptedProbe(forever(0.05), quiet_s=3.0)  # the neighbour never pauses
    timing = measure(NUMPY, lambda: None, settings, clock=ScriptedClock(forever(0.1)), probe=probe)
    assert probe.quiet_limits[:3] == [pytest.approx(4.0), pytest.approx(2.0), 0.0]
    assert timing.quiet_wait_s == pytest.approx(5.0)
    assert timing.busy and sum(timing.set_aside_s) == pytest.approx(5.0, abs=0.11)  # 5 s aside


def test_a_long_pair_waits_for_two_of_its_lengths() -> None:
    from pytest_gpubench.timing import _Rounds

    loop = _Rounds(
        TimingSettings(round_time=0, min_rounds=5, busy_time=100), ScriptedProbe(forever(0)), min
    )
    assert loop.quiet_limit(3.0) == 6.0
    loop.waited = 99.0
    assert loop.quiet_limit(3.0) == pytest.approx(1.0)


# --------------------------------------------------------------------------- pairing


class Logged:
    """A callable that logs its name when called."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def __call__(self) -> str:
        self.log.append(self.name)
        return self.name


def test_paired_rounds_alternate_the_order_within_each_pair() -> None:
    log: list[str] = []
    partner = SyncedTarget(NUMPY, Logged("B", log))
    settings = TimingSettings(
        round_time=0, warmup=1, min_rounds=4, max_rounds=4, precision=0, wait_share=math.inf
    )
    timing = measure(NUMPY, Logged("D", log), settings, partner=partner)
    # warm-up: D once, the partner once; then B D, D B, B D, D B
    assert "".join(log) == "DB" + "BDDBBDDB"
    assert len(timing.paired_s) == len(timing.rounds_s) == 4
    assert timing.baseline_first == (True, False, True, False)
    assert timing.pairing == "paired"
    assert timing.result == "D"


def test_a_pair_is_set_aside_when_either_round_was_disturbed() -> None:
    log: list[str] = []
    partner = SyncedTarget(NUMPY, Logged("B", log))
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=2, max_rounds=2, max_time=100, precision=0
    )
    # the partner's re-warm round, then B D | D B | B D: the second pair's B round waited
    durations = iter([0.02, 0.02, 0.01, 0.01, 0.02, 0.02, 0.01])
    waits = iter([0.0, 0.0, 0.0, 0.015, 0.0, 0.0])
    timing = measure(
        NUMPY,
        Logged("D", log),
        settings,
        partner=partner,
        clock=ScriptedClock(durations),
        probe=ScriptedProbe(waits),
    )
    assert timing.rounds_s == pytest.approx((0.01, 0.01))
    assert timing.paired_s == pytest.approx((0.02, 0.02))
    assert timing.set_aside_s == pytest.approx((0.01,))  # the device's round of that pair


def test_paired_rounds_stop_on_the_precision_of_the_ratio() -> None:
    """A slow spell that doubles both rounds of a pair leaves its ratio alone: the cell is
    precise after six pairs though the times spread 2x."""
    partner = SyncedTarget(NUMPY, lambda: None)
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=3,
        max_rounds=50,
        max_time=100,
        precision=0.02,
        wait_share=math.inf,
    )
    pairs = [(0.02, 0.01), (0.04, 0.02), (0.02, 0.01), (0.06, 0.03), (0.02, 0.01), (0.04, 0.02)]
    durations = [0.02]  # the partner's re-warm round
    for index, (base, dev) in enumerate(pairs):
        durations += [base, dev] if index % 2 == 0 else [dev, base]
    timing = measure(
        NUMPY,
        lambda: None,
        settings,
        partner=partner,
        clock=ScriptedClock(iter(durations)),
        probe=ScriptedProbe(forever(0)),
    )
    assert timing.stop == "precise" and len(timing.rounds_s) == 6
    ratios = [b / d for b, d in zip(timing.paired_s, timing.rounds_s, strict=True)]
    assert ratios == pytest.approx([2.0] * 6)


def test_a_partner_that_fails_when_run_again_leaves_the_cell_unpaired() -> None:
    calls = []

    def closed() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise OSError("file closed")

    partner = SyncedTarget(NUMPY, closed)
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=3, precision=0, wait_share=math.inf
    )
    timing = measure(NUMPY, lambda: None, settings, partner=partner)
    assert timing.paired_s == () and len(timing.rounds_s) == 3
    assert timing.pairing.startswith("unpaired: the baseline failed when run again")
    assert "OSError: file closed" in timing.pairing


def test_gpubench_offers_the_baselines_callable_and_the_next_device_pairs_with_it() -> None:
    partners = Partners("numpy")
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=3, precision=0, wait_share=math.inf
    )
    log: list[str] = []
    base = GpuBench(NUMPY, experiment="e", size="8", settings=settings, partners=partners)
    base(Logged("B", log))
    other = get_device("array-api-strict")
    if not other.available:
        pytest.skip(f"array-api-strict: {other.reason}")
    bench = GpuBench(other, experiment="e", size="8", settings=settings, partners=partners)
    log.clear()
    bench(Logged("D", log))
    assert log.count("B") == 1 + 3  # its re-warm round, then one per pair
    m = bench.measurement()
    assert m is not None and m.paired and m.pairing == "paired"
    assert base.measurement().paired_baseline_s == ()  # the baseline itself is unpaired

    elsewhere = GpuBench(other, experiment="e", size="16", settings=settings, partners=partners)
    elsewhere(lambda: None)
    m = elsewhere.measurement()
    assert m is not None and not m.paired
    assert m.pairing.startswith("unpaired: numpy was not timed at this size just before")


def test_a_cost_only_benchmark_is_never_paired() -> None:
    partners = Partners("numpy")
    partners.offer("copy", "8", SyncedTarget(NUMPY, lambda: None))
    settings = TimingSettings(
        round_time=0, warmup=0, min_rounds=3, max_rounds=3, precision=0, wait_share=math.inf
    )
    other = get_device("array-api-strict")
    if not other.available:
        pytest.skip(f"array-api-strict: {other.reason}")
    bench = GpuBench(
        other,
        experiment="copy",
        size="8",
        settings=settings,
        partners=partners,
        versus_baseline=False,
    )
    bench(lambda: None)
    m = bench.measurement()
    assert m is not None and m.paired_baseline_s == () and m.pairing == ""


class FakeBenchmark:
    """pytest-benchmark's fixture, as far as record_rounds uses it."""

    def __init__(self) -> None:
        self._mode: str | None = None
        self.made: list[Any] = []

    def _make_stats(self, iterations: int) -> Any:
        from pytest_benchmark.stats import Stats

        stats = Stats()
        self.made.append((iterations, stats))
        return stats


def test_kept_rounds_become_pytest_benchmarks_statistics() -> None:
    benchmark = FakeBenchmark()
    record_rounds(benchmark, [0.3, 0.1, 0.2])
    ((iterations, stats),) = benchmark.made
    assert iterations == 1 and stats.data == [0.3, 0.1, 0.2]
    with pytest.raises(RuntimeError, match="already used"):
        record_rounds(benchmark, [0.1])


def test_the_pool_threads_settle_only_when_the_other_target_ran_last() -> None:
    """B D | D B | B D: a settle before each round that follows the other target's."""
    from pytest_gpubench.interference import WaitProbe
    from pytest_gpubench.timing import _Rounds

    log: list[str] = []
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=3,
        max_rounds=3,
        max_time=100,
        precision=0,
        wait_share=math.inf,
    )
    loop = _Rounds(settings, WaitProbe(), time.perf_counter, settle=lambda: log.append("~") or 0)
    base, dev = SyncedTarget(NUMPY, Logged("B", log)), SyncedTarget(NUMPY, Logged("D", log))
    for index in range(3):
        loop.one(dev, base, index)
    assert "".join(log) == "B~DD~BB~D"


def test_long_rounds_get_a_busy_budget_for_eight_tries_at_each_round_needed() -> None:
    from pytest_gpubench.interference import WaitProbe
    from pytest_gpubench.timing import BUSY_ATTEMPTS, _Rounds

    settings = TimingSettings(round_time=0, min_rounds=5, max_time=6.0)  # busy_budget_s 18 s
    loop = _Rounds(settings, WaitProbe(), time.perf_counter)
    assert loop.busy_budget() == 18.0  # no round yet: max(10 s, 3 x max_time)
    loop.costs += [0.01] * 10
    assert loop.busy_budget() == 18.0  # short rounds: the same
    loop.costs[:] = [2.0, 2.2, 1.9]  # 2 s pairs beside a neighbour
    assert loop.busy_budget() == BUSY_ATTEMPTS * 5 * 2.0 == 80.0
    fixed = _Rounds(
        TimingSettings(round_time=0, min_rounds=5, busy_time=0.5), WaitProbe(), time.perf_counter
    )
    fixed.costs += [2.0]
    assert fixed.busy_budget() == 0.5


def test_an_effect_of_the_order_within_a_pair_does_not_keep_the_cell_imprecise() -> None:
    """The baseline runs 1.25x slower right after the device's round (one library's state
    left by the other): the ratios of the two orders are 2.0 and 2.5. Each order's ratio
    over its own median is 1, so the cell is precise at the fewest pairs for an interval."""
    partner = SyncedTarget(NUMPY, lambda: None)
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=3,
        max_rounds=50,
        max_time=100,
        precision=0.02,
        wait_share=math.inf,
    )
    durations = [0.02]  # the partner's re-warm round
    for index in range(12):
        durations += [0.02, 0.01] if index % 2 == 0 else [0.01, 0.025]
    timing = measure(
        NUMPY,
        lambda: None,
        settings,
        partner=partner,
        clock=ScriptedClock(iter(durations)),
        probe=ScriptedProbe(forever(0)),
    )
    assert timing.stop == "precise" and len(timing.rounds_s) == 6


def _paired_rounds(base_s: float, alone_s: tuple[float, ...], max_rounds: int) -> Any:
    partner = SyncedTarget(NUMPY, lambda: None)
    settings = TimingSettings(
        round_time=0,
        warmup=0,
        min_rounds=3,
        max_rounds=max_rounds,
        max_time=100,
        precision=0.02,
        wait_share=math.inf,
    )
    durations = [base_s]  # the partner's re-warm round, then steady pairs in both orders
    for index in range(max_rounds):
        durations += [base_s, 0.01] if index % 2 == 0 else [0.01, base_s]
    return measure(
        NUMPY,
        lambda: None,
        settings,
        partner=partner,
        partner_alone_s=alone_s,
        clock=ScriptedClock(iter(durations)),
        probe=ScriptedProbe(forever(0)),
    )


def test_a_baseline_that_drifted_beside_the_device_is_never_called_precise() -> None:
    """The baseline took 0.02 s alone but 0.027 s (+35%) beside the device: its steady
    ratios would be precise at six pairs, yet the cell goes on to its budget (here
    max_rounds), because the two readings of the speedup disagree."""
    drifted = _paired_rounds(0.027, (0.02,) * 6, max_rounds=12)
    assert drifted.stop == "max rounds" and len(drifted.rounds_s) == 12
    steady = _paired_rounds(0.021, (0.02,) * 6, max_rounds=12)  # +5%: within tolerance
    assert steady.stop == "precise" and len(steady.rounds_s) == 6


def test_partners_hand_over_the_baselines_own_rounds_for_its_size_only() -> None:
    partners = Partners("numpy")
    partners.offer("e", "8", SyncedTarget(NUMPY, lambda: None), (0.1, 0.2))
    assert partners.alone_s("e", "8") == (0.1, 0.2)
    assert partners.alone_s("e", "16") == ()


def test_the_default_precision_keeps_two_runs_within_1_1x() -> None:
    """Two runs each within the default precision of the truth may differ by
    (1 + p) / (1 - p): that must stay below the 1.1x asked of repeated quiet runs."""
    from pytest_gpubench.settings import PROFILES
    from pytest_gpubench.timing import DEFAULT_PRECISION

    assert TimingSettings().precision == DEFAULT_PRECISION
    assert all(p.precision == DEFAULT_PRECISION for p in PROFILES.values())
    assert (1 + DEFAULT_PRECISION) / (1 - DEFAULT_PRECISION) < 1.1
