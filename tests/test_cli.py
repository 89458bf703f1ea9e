"""The ``pytest-gpubench`` console script: declared in the package metadata, its commands
listed, ``sweep`` (declared by the EC2 provider) handed its arguments whole (the old
``python -m`` form stays), and ``history`` writing its reports."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from pytest_gpubench.cli import COMMANDS, main

from .history_support import scripted_repo

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SLOWER_AT = 17


def declared() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_console_script_and_its_commands_are_declared() -> None:
    project = declared()
    assert project["scripts"] == {"pytest-gpubench": "pytest_gpubench.cli:main"}
    commands = project["entry-points"][COMMANDS]
    assert commands == {"sweep": "pytest_gpubench.ec2.__main__:main"}


def test_python_m_lists_the_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_gpubench.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: pytest-gpubench")
    assert "history" in done.stdout


@pytest.fixture
def as_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands of pyproject.toml, whether or not this install's metadata has them yet
    (an editable install made before they were declared lacks them until reinstalled)."""
    entries = {
        name: EntryPoint(name, value, COMMANDS)
        for name, value in declared()["entry-points"][COMMANDS].items()
    }
    monkeypatch.setattr("pytest_gpubench.cli.commands", lambda: entries)


def test_sweep_is_the_ec2_sweep_under_the_console_script_name(
    as_declared: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--help"])
    assert info.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith("usage: pytest-gpubench sweep [-h] [--dry-run] [--session ID]")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "sweep" in capsys.readouterr().out


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["histroy"])
    assert info.value.code == 2
    assert "invalid choice: 'histroy'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["abc", "-5%"])
def test_a_bad_magnitude_is_refused_naming_it(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["history", "--storage", str(tmp_path), f"--min-magnitude={value}"])
    assert f"{value!r} is" in capsys.readouterr().err


def test_history_prints_a_summary_and_writes_the_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, storage, shas = scripted_repo(tmp_path, slower_at=SLOWER_AT)
    out = tmp_path / "out"
    argv = ["history", "--storage", str(storage), "--repo", str(repo)]
    argv += ["--json", str(out / "h.json"), "--markdown", str(out / "h.md")]
    assert main([*argv, "--html", str(out / "h.html")]) == 0
    printed = capsys.readouterr().out
    assert "30 runs, 1 series, 30 points; 1 change point(s) in the code" in printed
    assert f"{shas[SLOWER_AT][:10]} dbn: fuse the update" in printed
    [change] = json.loads((out / "h.json").read_text())["change_points"]
    fields = {"experiment", "size", "device", "commit", "commits", "before", "after"}
    assert fields | {"pvalue", "tentative", "kind"} <= set(change)
    assert (change["experiment"], change["size"], change["device"]) == ("fit", "4k", "cupy")
    assert change["commits"] == [{"sha": shas[SLOWER_AT], "subject": "dbn: fuse the update"}]
    assert set(change["before"]) == {"speedup", "low", "high", "runs"}
    assert f"`{shas[SLOWER_AT][:10]}` dbn: fuse the update" in (out / "h.md").read_text()
    assert (out / "h.html").read_text().startswith("<!doctype html>")


def test_history_refuses_a_storage_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--storage", str(tmp_path / "nothing")]) == 2
    assert "is not a directory; point it at pytest-benchmark's storage" in capsys.readouterr().err


def test_history_refuses_a_bad_option_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--storage", str(tmp_path), "--max-pvalue", "0"]) == 2
    assert "max_pvalue must be between 0 and 1, got 0.0" in capsys.readouterr().err


def test_history_plots_a_png_and_refuses_another_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    repo, storage, _ = scripted_repo(tmp_path, commits=8)
    argv = ["history", "--storage", str(storage), "--repo", str(repo), "--plot"]
    assert main([*argv, str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").read_bytes().startswith(b"\x89PNG")
    assert main([*argv, str(tmp_path / "h.gif")]) == 1
    assert "the figure is written as png, svg, pdf" in capsys.readouterr().err
