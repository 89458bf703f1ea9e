"""The back-end step benchmark script (``benchmarks/backend_ab.py``): its report and a real run."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.backend_ab import THIS_CHECKOUT, Timing, main, report


def test_report_gives_each_code_and_the_baseline_over_current_ratios() -> None:
    runs = {
        "baseline": [Timing([2.0, 1.5], 100, "base/experiments"), Timing([1.8], 100, "b")],
        "current": [Timing([1.0, 1.2], 100, "cur/experiments"), Timing([1.2], 100, "c")],
    }
    lines = report("cupy", runs)
    assert lines[0] == (
        "  cupy       baseline 1.500 s/epoch min, 1.800 median, 15.000 ms/step (base/experiments)"
    )
    assert lines[1].startswith("  cupy       current  1.000 s/epoch min, 1.200 median")
    assert lines[2] == "  cupy       baseline/current 1.50x of the mins; per round 1.50x, 1.50x"


def test_a_baseline_without_the_dbn_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--baseline", str(tmp_path)])
    assert "no pytest_gpubench/dbn (nor experiments/dbn) there" in capsys.readouterr().err


def test_a_run_times_this_checkout_in_a_fresh_process(capsys) -> None:
    main(["--devices", "numpy", "--rounds", "1", "--fits", "1", "--samples", "640"])
    out = capsys.readouterr().out
    assert "640 rows; min of 1 warm fits per process, 1 round(s)" in out
    assert f"({THIS_CHECKOUT / 'pytest_gpubench' / 'dbn' / '__init__.py'})" in out
    assert "baseline" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rounds", "0"], "argument --rounds: expected an integer >= 1, got '0'"),
        (["--fits", "-1"], "argument --fits: expected an integer >= 1, got '-1'"),
        (["--samples", "10"], "argument --samples: expected an integer >= 64, got '10'"),
        (["--devices", "foo"], "--devices 'foo': unknown device 'foo'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_failed_timing_process_shows_its_own_error(capsys) -> None:
    import sys

    from benchmarks.cli import run_child

    with pytest.raises(SystemExit) as info:
        run_child([sys.executable, "-c", "raise MemoryError('out of GPU memory')"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "a timing process failed (exit 1)" in err and "MemoryError: out of GPU memory" in err
