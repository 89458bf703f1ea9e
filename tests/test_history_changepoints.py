"""The change-point functions on synthetic series: one step found where it is, noise-only
series left alone, a fresh step tentative, the machine told from the code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_gpubench.history.changepoints import (
    CONFIRM_AFTER,
    change_points,
    energy_split,
    step_between,
)


def stepped(seed: int, n: int = 30, at: int = 18, step: float = -0.20, sigma: float = 0.03):
    """Log speedups around log(8) with ``sigma`` noise, ``step`` (relative) from ``at``."""
    rng = np.random.default_rng(seed)
    values = math.log(8.0) + rng.normal(0.0, sigma, n)
    values[at:] += math.log1p(step)
    return values


@pytest.mark.parametrize("seed", range(5))
def test_a_20_percent_step_is_found_at_its_index(seed: int) -> None:
    found = change_points(stepped(seed))
    assert [step.index for step in found] == [18]
    assert found[0].magnitude == pytest.approx(-0.20, abs=0.03)
    assert found[0].pvalue < 1e-6
    assert not found[0].tentative and found[0].runs_after == 12


def test_noise_only_series_give_no_change_point_over_many_seeds() -> None:
    flagged = [seed for seed in range(40) if change_points(stepped(seed, step=0.0))]
    assert flagged == []


def test_a_fresh_step_is_tentative_until_enough_runs_follow() -> None:
    values = stepped(3, n=40, at=38, step=-0.3)
    fresh = change_points(values[:39])  # one run after the step
    assert [(s.index, s.tentative, s.runs_after) for s in fresh] == [(38, True, 1)]
    settled = change_points(stepped(3, n=38 + CONFIRM_AFTER, at=38, step=-0.3))
    assert [(s.index, s.tentative) for s in settled] == [(38, False)]


def test_a_lone_outlier_in_the_middle_is_not_two_steps() -> None:
    values = stepped(4, step=0.0)
    values[12] += math.log(0.6)
    assert change_points(values) == []


def test_a_small_step_measured_precisely_is_below_the_magnitude() -> None:
    values = stepped(5, step=-0.03, sigma=0.002)  # 3%: significant, but not 10%
    assert change_points(values, min_magnitude=0.10) == []
    assert [s.index for s in change_points(values, min_magnitude=0.0)] == [18]


def test_two_steps_are_both_found() -> None:
    values = stepped(6, n=45, at=15)
    values[30:] += math.log(1.3)
    assert [s.index for s in change_points(values)] == [15, 30]


def test_energy_split_and_the_t_test_on_a_plain_step() -> None:
    values = [0.0] * 6 + [1.0] * 4
    assert energy_split(values) == 6
    assert energy_split([1.0, 2.0, 3.0], min_left=2, min_right=2) is None
    step = step_between(values[:6], values[6:], 6, 10)
    assert step.pvalue == 0.0 and step.magnitude == pytest.approx(math.e - 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_pvalue": 0.0}, "max_pvalue must be between 0 and 1, got 0.0"),
        ({"min_magnitude": -0.1}, "min_magnitude must be 0 or more"),
        ({"window": 2}, "window must be 4 points or more, got 2"),
        ({"confirm_after": 0}, "confirm_after must be 1 or more"),
    ],
)
def test_bad_options_are_refused_naming_the_value(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        change_points([0.0] * 10, **options)


def test_a_value_that_is_not_finite_is_refused_naming_its_index() -> None:
    with pytest.raises(ValueError, match="value 2 of the series is -inf"):
        change_points([0.0, 0.1, -math.inf, 0.0])
