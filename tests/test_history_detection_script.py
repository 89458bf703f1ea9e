"""benchmarks/history_detection.py runs end to end on a few histories and writes its data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.history_detection import github_action, main


def test_the_script_prints_a_table_per_detector_and_writes_the_shares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "detection.json"
    argv = ["--trials", "10", "--noise-trials", "10", "--sigma", "0.01", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "## ours (E-divisive + t-test)" in printed and "| 20% |" in printed
    ours = json.loads(out.read_text())["detectors"]["ours (E-divisive + t-test)"]["0.01"]
    assert ours["detection"]["20%"]["5"] == 1.0  # at 1% noise a 20% step is plain
    assert ours["false_positive"]["30"] == 0.0
    gab = json.loads(out.read_text())["detectors"]["github-action-benchmark 200%"]["0.01"]
    assert gab["detection"]["20%"]["20"] == 0.0  # a 20% step is never twice as slow


def test_the_github_action_rule_compares_each_run_with_the_previous_one() -> None:
    logs = np.log([10.0, 10.0, 4.0, 4.0, 9.0])
    assert github_action(2.0)(logs) == [2]
    assert github_action(1.1)(logs) == [2]
