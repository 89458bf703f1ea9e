"""The cloud record of a run and its one line, for new runs and for runs saved with "ec2"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_gpubench.remote.summary import (
    CLOUD_KEY,
    cloud_record,
    format_duration,
    format_summary,
)
from pytest_gpubench.report import load_results, render_markdown, render_terminal, write_json
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.speedup import build_rows

RECORD = {
    "provider": "EC2",
    "instance_type": "g4dn.xlarge",
    "instance_id": "i-1",
    "region": "us-east-1",
    "zone": "us-east-1b",
    "market": "spot",
    "price_per_hour": 0.2,
    "seconds_held": 3723,
    "cost_usd": 0.2068,
    "price_source": "spot price history",
}


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0 s"), (42.4, "42 s"), (734, "12 min 14 s"), (4000, "1 h 6 min")]
)
def test_one_duration_style(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_line_says_where_how_long_and_the_cost() -> None:
    assert format_summary(RECORD) == (
        "Ran on EC2 g4dn.xlarge i-1 in us-east-1b (spot), held 1 h 2 min: $0.2068 at "
        "$0.2000/h (spot price history)"
    )


def test_a_run_that_launched_nothing_cost_nothing() -> None:
    never = {**RECORD, "instance_id": None, "zone": None, "cost_usd": None, "seconds_held": 0}
    assert format_summary(never) == (
        "Nothing launched on EC2 (g4dn.xlarge in us-east-1): nothing to pay"
    )


def test_the_line_copes_with_missing_facts() -> None:
    assert format_summary({"provider": "EC2", "seconds_held": 4000, "cost_usd": 1.0}) == (
        "Ran on EC2 instance, held 1 h 6 min: $1.0000"
    )
    unpriced = {**RECORD, "cost_usd": None, "price_per_hour": None, "price_source": "unknown"}
    assert format_summary(unpriced).endswith("held 1 h 2 min: cost unknown (unknown)")
    assert format_summary({"instance_id": "vm-7"}) == "Ran on a cloud vm-7"


def test_the_record_is_read_from_the_new_key_and_from_a_legacy_ec2_key() -> None:
    legacy = {k: v for k, v in RECORD.items() if k != "provider"}
    assert cloud_record({CLOUD_KEY: RECORD}) == RECORD
    assert cloud_record({"ec2": legacy}) == RECORD  # runs saved before providers
    assert cloud_record({CLOUD_KEY: RECORD, "ec2": {"instance_id": "old"}}) == RECORD
    assert cloud_record({"profile": "quick"}) is None


def run_with(extra: dict) -> RunResults:
    run = RunResults()
    for device, seconds in (("numpy", 0.02), ("cupy", 0.01)):
        run.add(Measurement("fit", "1k", device, (seconds, seconds * 1.01, seconds * 0.99)))
    run.extra.update(extra)
    return run


@pytest.mark.parametrize("key", [CLOUD_KEY, "ec2"])
def test_a_saved_run_shows_where_it_ran_whichever_key_it_was_saved_with(
    tmp_path: Path, key: str
) -> None:
    record = RECORD if key == CLOUD_KEY else {k: v for k, v in RECORD.items() if k != "provider"}
    run = run_with({key: record})
    rows = build_rows(run.measurements, "numpy")
    path = write_json(tmp_path / "run.json", run, rows, "numpy")
    assert json.loads(path.read_text())["gpubench"]["extra"][key] == record

    loaded = load_results(path)
    line = "Ran on EC2 g4dn.xlarge i-1 in us-east-1b (spot), held 1 h 2 min: $0.2068"
    assert line in render_terminal(loaded, rows, "numpy", width=200)
    assert line in render_markdown(loaded, rows, "numpy")


def test_a_run_without_a_cloud_says_nothing_about_one() -> None:
    run = run_with({})
    rows = build_rows(run.measurements, "numpy")
    assert "Ran on" not in render_terminal(run, rows, "numpy")
    assert "Ran on" not in render_markdown(run, rows, "numpy")
