"""Report files on disk: a full disk leaves the earlier report and no partial file."""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.outputs import write_whole

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
    through ``open`` (pytest-benchmark 5.3's JSON) and ``Path.open`` (5.2's, and its saved
    runs), wherever the disk happens to fill."""
    real_open = builtins.open

    def filling_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        name = Path(os.fspath(file)).name if isinstance(file, os.PathLike | str) else ""
        if "w" not in mode or not any(fragment in name for fragment in fragments):
            return real_open(file, mode, *args, **kwargs)
        disk = io.BufferedWriter(
            _FullDisk(real_open(file, mode.replace("t", "").replace("b", "") + "b"))
        )
        return disk if "b" in mode else io.TextIOWrapper(disk, encoding="utf-8")

    monkeypatch.setattr(builtins, "open", filling_open)
    monkeypatch.setattr(io, "open", filling_open)


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
