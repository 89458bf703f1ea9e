"""Report files on disk: a full disk leaves the earlier report and no partial file, and a
file that is not a report of this tool is never overwritten without --gpubench-overwrite."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.outputs import is_report, overwrite_refusal, write_whole

BENCH = """
import numpy as np
import pytest

@pytest.mark.parametrize("n", [32], ids=["32"])
def test_matmul(gpubench, device, n):
    a = np.ones((n, n))
    gpubench(lambda: a @ a)
"""

RUN = (
    "--gpubench",
    "--gpubench-devices",
    "numpy,array-api-strict",
    "--gpubench-min-rounds",
    "3",
    "--gpubench-max-rounds",
    "3",
    "-p",
    "no:cacheprovider",
)
PYPROJECT = '[project]\nname = "mine"\n'


@pytest.fixture
def bench(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    monkeypatch.setattr("pytest_benchmark.plugin.get_cpu_info", lambda: {"brand_raw": "test"})
    pytester.makepyfile(test_bench=BENCH)
    return pytester


class _FullDisk(io.RawIOBase):
    """A file on a disk that fills up: the first 100 bytes are written, then ENOSPC."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        room = max(0, 100 - self.real.tell())
        if len(data) > room:
            self.real.write(bytes(data[:room]))
            self.real.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real.write(data)

    def close(self) -> None:
        self.real.close()
        super().close()


def _disk_fills_for(monkeypatch: pytest.MonkeyPatch, *fragments: str) -> None:
    """Writes to files whose name holds one of ``fragments`` fail with ENOSPC part-way:
    through ``open`` (pytest-benchmark 5.3's JSON) and ``Path.open`` (5.2's, its saved runs,
    and ``Path.write_text``/``write_bytes``), wherever the disk happens to fill."""
    real_open = builtins.open

    def filling_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        name = Path(os.fspath(file)).name if isinstance(file, os.PathLike | str) else ""
        if "w" not in mode or not any(fragment in name for fragment in fragments):
            return real_open(file, mode, *args, **kwargs)
        disk = io.BufferedWriter(
            _FullDisk(real_open(file, mode.replace("t", "").replace("b", "") + "b"))
        )
        return disk if "b" in mode else io.TextIOWrapper(disk, encoding="utf-8")

    def filling_path_open(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return filling_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", filling_open)
    monkeypatch.setattr(io, "open", filling_open)
    # Python 3.10's Path.open calls the io.open bound when pathlib was imported
    # (_NormalAccessor.open = io.open), which patching io.open never reaches; 3.11's looks
    # io.open up at each call. Patched itself, Path.open fills the disk on both.
    monkeypatch.setattr(Path, "open", filling_path_open)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if "partial" in p.name)


def test_a_full_disk_leaves_every_earlier_report_and_saved_run(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = (
        *("--gpubench-json", "r.json", "--gpubench-markdown", "r.md"),
        *("--gpubench-github-json", "gh.json", "--gpubench-save", "base"),
    )
    assert bench.runpytest(*RUN, *reports).ret == pytest.ExitCode.OK
    names = ("r.json", "r.md", "gh.json")
    earlier = {name: (bench.path / name).read_bytes() for name in names}
    saved = sorted(bench.path.glob(".benchmarks/*/*.json"))
    _disk_fills_for(monkeypatch, "r.json", "r.", "gh.", "0002_base")
    result = bench.runpytest(*RUN, *reports)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    no_space = "No space left on device (ENOSPC)"
    result.stdout.fnmatch_lines(
        [
            f"*gpubench: could not write r.json: {no_space}; r.json was left as it was",
            f"*gpubench: could not save the run 'base' into *: {no_space}; nothing was saved",
            f"*gpubench: could not write r.md: {no_space}; r.md was left as it was",
            f"*gpubench: could not write gh.json: {no_space}; gh.json was left as it was",
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*gpubench: wrote*")
    assert {name: (bench.path / name).read_bytes() for name in names} == earlier
    assert sorted(bench.path.glob(".benchmarks/*/*.json")) == saved
    assert _leftovers(bench.path) == []


def test_a_full_disk_under_a_plot_leaves_the_earlier_plot(
    bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bench.runpytest(*RUN, "--gpubench-plot", "p.png").ret == pytest.ExitCode.OK
    earlier = (bench.path / "p.png").read_bytes()
    _disk_fills_for(monkeypatch, "p.")
    result = bench.runpytest(*RUN, "--gpubench-plot", "p.png")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*gpubench: could not write p.png: No space left on device*"])
    assert (bench.path / "p.png").read_bytes() == earlier
    assert _leftovers(bench.path) == []


def test_write_whole_replaces_a_file_only_once_it_is_complete(tmp_path: Path) -> None:
    target = tmp_path / "r.md"
    target.write_text("earlier\n")
    target.chmod(0o640)

    def half_then_full(path: Path) -> None:
        path.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_whole(target, half_then_full)
    assert target.read_text() == "earlier\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]
    write_whole(target, lambda path: path.write_text("new\n"))
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640  # the file's mode is kept
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]


# --------------------------------------------------------------------------- not ours


@pytest.mark.parametrize(
    ("flag", "kind"),
    [
        ("--gpubench-json", "a JSON object with a 'gpubench' section"),
        ("--gpubench-markdown", "Markdown starting with '## gpubench: speedup vs'"),
        ("--gpubench-github-json", "a JSON list of gpubench speedup entries"),
        ("--gpubench-plot", "an image drawn by matplotlib"),
    ],
)
def test_a_file_that_is_not_a_report_is_not_overwritten(
    pytester: pytest.Pytester, flag: str, kind: str
) -> None:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    path = "pyproject.toml" if flag != "--gpubench-plot" else "pyproject.png"
    if flag == "--gpubench-plot":
        (pytester.path / path).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # someone's PNG
    before = (pytester.path / path).read_bytes()
    result = pytester.runpytest("--gpubench", flag, path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*{flag} '{path}' exists and is not a report of pytest-gpubench (not {kind}); "
            "writing it would destroy that file. Give another path, or pass "
            "--gpubench-overwrite to replace it"
        ]
    )
    assert (pytester.path / path).read_bytes() == before


def test_overwrite_replaces_a_file_that_is_not_a_report(bench: pytest.Pytester) -> None:
    (bench.path / "pyproject.toml").write_text(PYPROJECT)
    result = bench.runpytest(*RUN, "--gpubench-markdown", "pyproject.toml", "--gpubench-overwrite")
    assert result.ret == pytest.ExitCode.OK
    assert (bench.path / "pyproject.toml").read_text().startswith("## gpubench: speedup vs numpy")


def test_reports_of_this_tool_are_recognised_and_replaced(bench: pytest.Pytester) -> None:
    reports = {
        "--gpubench-json": "r.json",
        "--gpubench-markdown": "r.md",
        "--gpubench-github-json": "gh.json",
        "--gpubench-plot": "p.pdf",
    }
    args = [arg for pair in reports.items() for arg in pair]
    assert bench.runpytest(*RUN, *args).ret == pytest.ExitCode.OK
    for flag, name in reports.items():
        assert is_report(flag, bench.path / name), name
        assert overwrite_refusal(flag, bench.path / name) is None
    again = bench.runpytest(*RUN, *args)
    assert again.ret == pytest.ExitCode.OK


@pytest.mark.parametrize(
    ("flag", "content", "ours"),
    [
        ("--gpubench-json", b"", True),
        ("--gpubench-json", b"{}", True),
        ("--gpubench-json", b'{"gpubench": {}}', True),
        ("--gpubench-json", b'{"benchmarks": []}', False),
        ("--gpubench-json", b"[" * 100_000, False),
        ("--gpubench-github-json", b"[]", True),
        ("--gpubench-github-json", b'[{"name": "a", "unit": "ms", "value": 1}]', False),
        ("--gpubench-markdown", b"# My notes\n", False),
        ("--gpubench-markdown", b"\xff\xfe", False),
        ("--gpubench-plot", b"\x89PNG\r\n\x1a\n...Software\0Matplotlib version3", True),
        ("--gpubench-plot", b"%PDF-1.4 made by hand", False),
    ],
)
def test_what_counts_as_a_report(tmp_path: Path, flag: str, content: bytes, ours: bool) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    assert (overwrite_refusal(flag, path) is None) == ours


def test_a_fifo_or_a_missing_file_is_always_written(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert overwrite_refusal("--gpubench-json", tmp_path / "pipe") is None
    assert overwrite_refusal("--gpubench-json", tmp_path / "missing.json") is None
    json_path = tmp_path / "x.json"
    json_path.write_text(json.dumps({"gpubench": {"schema_version": 1}}))
    assert overwrite_refusal("--gpubench-markdown", json_path) is not None  # not Markdown
