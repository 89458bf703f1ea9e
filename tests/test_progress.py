"""The status line of the running cell: when it shows, what it says, how it leaves the screen."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from pytest_gpubench.progress import Progress, status_line

CELL = "dbn-fit 800-800 torch-cpu"


class FakeWriter:
    """pytest's TerminalWriter, as much of it as Progress reads."""

    def __init__(self, width: int = 80, column: int = 0) -> None:
        self._file = io.StringIO()
        self.fullwidth = width
        self.width_of_current_line = column


class FakeReporter:
    def __init__(self, isatty: Any = True, **writer: int) -> None:
        self.isatty = isatty
        self._tw = FakeWriter(**writer)


class FakeCapman:
    def __init__(self) -> None:
        self.suspended = 0

    @contextlib.contextmanager
    def global_and_fixture_disabled(self) -> Iterator[None]:
        self.suspended += 1
        yield


class FakePlugins:
    def __init__(self, plugins: dict[str, Any]) -> None:
        self.plugins = plugins

    def get_plugin(self, name: str) -> Any:
        return self.plugins.get(name)


class FakeConfig:
    def __init__(
        self,
        reporter: FakeReporter | None,
        *,
        verbose: int = 0,
        capture: str = "fd",
        log_cli: bool = False,
    ) -> None:
        self.capman = FakeCapman()
        self.pluginmanager = FakePlugins(
            {"terminalreporter": reporter, "capturemanager": self.capman}
        )
        self.options = {"verbose": verbose, "capture": capture, "log_cli_level": None}
        self.log_cli = log_cli

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def getini(self, name: str) -> Any:
        assert name == "log_cli"
        return self.log_cli


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _interactive_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outer run may itself be in CI or a dumb terminal: start every test from neither."""
    for name in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def exercise(progress: Progress) -> None:
    progress.start(CELL)
    progress.round(3, 1)
    progress.stop()


def for_config(config: FakeConfig) -> Progress:
    return Progress.for_config(config)  # type: ignore[arg-type]


def test_on_for_an_interactive_terminal() -> None:
    reporter = FakeReporter()
    config = FakeConfig(reporter)
    progress = for_config(config)
    assert progress.enabled, progress.why_off
    exercise(progress)
    assert CELL in reporter._tw._file.getvalue()
    assert config.capman.suspended == 2  # start and stop; the round came too soon to draw


def test_isatty_may_be_a_method_or_pytest_callable_bool() -> None:
    assert for_config(FakeConfig(FakeReporter(isatty=lambda: True))).enabled
    assert not for_config(FakeConfig(FakeReporter(isatty=lambda: False))).enabled


@pytest.mark.parametrize(
    ("env", "config_kw", "reporter_kw", "why"),
    [
        ({}, {"verbose": -1}, {}, "-q"),
        ({"CI": "1"}, {}, {}, "CI"),
        ({"CI": "true"}, {"verbose": 2}, {}, "CI"),
        ({"BUILD_NUMBER": "7"}, {}, {}, "BUILD_NUMBER"),
        ({"TERM": "dumb"}, {}, {}, "TERM=dumb"),
        ({}, {}, {"isatty": False}, "not a terminal"),
        ({}, {"capture": "no"}, {}, "-s"),
        ({}, {"capture": "tee-sys"}, {}, "-s"),
        ({}, {"log_cli": True}, {}, "live logging"),
    ],
)
def test_off_writes_nothing_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    config_kw: dict[str, Any],
    reporter_kw: dict[str, Any],
    why: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reporter = FakeReporter(**reporter_kw)
    config = FakeConfig(reporter, **config_kw)
    progress = for_config(config)
    assert not progress.enabled
    assert why in progress.why_off
    exercise(progress)
    assert reporter._tw._file.getvalue() == ""
    assert config.capman.suspended == 0


def test_an_empty_ci_variable_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "")
    assert for_config(FakeConfig(FakeReporter())).enabled


def test_off_without_a_terminal_reporter() -> None:
    progress = for_config(FakeConfig(None))
    assert not progress.enabled
    exercise(progress)  # nothing to write to, and no error


def make(width: int = 80, column: int = 0) -> tuple[Progress, io.StringIO, Clock, list[int]]:
    out = io.StringIO()
    clock = Clock()
    columns = [column]
    progress = Progress(out, width=lambda: width, column=lambda: columns[0], clock=clock)
    return progress, out, clock, columns


def test_start_shows_the_cell_warming_up_on_a_line_of_its_own() -> None:
    progress, out, _, _ = make()
    progress.start(CELL)
    assert out.getvalue() == f"\ngpubench: {CELL}  warm-up…\x1b[K"


def test_rounds_redraw_the_same_line_with_counts_and_time() -> None:
    progress, out, clock, _ = make()
    progress.start(CELL)
    out.truncate(0), out.seek(0)
    clock.now += 3.4
    progress.round(12, 2)
    assert out.getvalue() == f"\rgpubench: {CELL}  12 rounds (2 set aside)  3.4 s\x1b[K"
    out.truncate(0), out.seek(0)
    clock.now += 0.5
    progress.round(1, 0)
    assert out.getvalue() == f"\rgpubench: {CELL}  1 round  3.9 s\x1b[K"


def test_redraws_are_throttled_to_ten_a_second() -> None:
    progress, out, clock, _ = make()
    progress.start(CELL)
    for kept in range(1, 101):  # 100 rounds of 10 ms: one second
        clock.now += 0.01
        progress.round(kept, 0)
    draws = out.getvalue().count("\r")
    assert 8 <= draws <= 11
    assert "rounds" in out.getvalue()


def test_stop_erases_the_line_and_returns_to_pytests_column() -> None:
    progress, out, clock, _ = make(column=27)
    progress.start(CELL)
    clock.now += 1
    progress.round(5, 0)
    out.truncate(0), out.seek(0)
    progress.stop()
    assert out.getvalue() == "\r\x1b[K\x1b[A\r\x1b[27C"
    progress.stop()  # a second stop has nothing left to erase
    progress.round(6, 0)  # nor does a round after it
    assert out.getvalue() == "\r\x1b[K\x1b[A\r\x1b[27C"


def test_stop_at_column_zero_moves_only_up() -> None:
    progress, out, _, _ = make(column=0)
    progress.start(CELL)
    out.truncate(0), out.seek(0)
    progress.stop()
    assert out.getvalue() == "\r\x1b[K\x1b[A\r"


def test_a_new_cell_stops_the_last_one_first() -> None:
    progress, out, _, _ = make(column=3)
    progress.start("first")
    progress.start("second")
    assert out.getvalue().count("\x1b[A") == 1
    assert out.getvalue().endswith("\ngpubench: second  warm-up…\x1b[K")


def test_lets_go_when_someone_else_writes_on_pytests_line() -> None:
    progress, out, clock, columns = make(column=10)
    progress.start(CELL)
    drawn = out.getvalue()
    columns[0] = 0  # e.g. a live log record went through pytest's terminal writer
    clock.now += 1
    progress.round(5, 0)
    progress.stop()
    assert out.getvalue() == drawn  # no cursor moves from a position it no longer knows


def test_a_long_line_wrapping_exactly_at_the_edge_is_left_alone() -> None:
    progress, out, _, _ = make(width=40, column=80)
    exercise(progress)
    assert out.getvalue() == ""


def test_a_long_pytest_line_returns_to_its_column_on_the_last_screen_row() -> None:
    progress, out, _, _ = make(width=40, column=95)
    exercise(progress)
    assert out.getvalue().endswith("\x1b[A\r\x1b[15C")


@pytest.mark.parametrize("width", [10, 30, 61, 200])
def test_lines_fit_one_cell_short_of_the_terminal_width(width: int) -> None:
    progress, out, clock, _ = make(width=width)
    progress.start(CELL)
    clock.now += 1
    progress.round(123, 45)
    for line in re.split(r"[\r\n]", out.getvalue()):
        text = line.replace("\x1b[K", "")
        assert cell_len(text) <= width - 1
    if width < 70:
        assert "…" in out.getvalue()


def test_status_line_cuts_with_an_ellipsis() -> None:
    full = status_line(CELL, 12, 2, 3.4)
    assert full == f"gpubench: {CELL}  12 rounds (2 set aside)  3.4 s"
    assert status_line(CELL, 12, 2, 3.4, width=len(full)) == full
    cut = status_line(CELL, 12, 2, 3.4, width=20)
    assert cut == "gpubench: dbn-fit 8…"
    assert status_line(CELL, None, width=20, ellipsis="...") == "gpubench: dbn-fit..."
    wide = status_line("学習 800", None, width=14)  # two cells a character
    assert cell_len(wide) <= 14 and wide.endswith("…")


def test_an_ascii_terminal_gets_three_dots() -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    progress = Progress(out)
    progress.start(CELL)
    out.flush()
    assert out.buffer.getvalue().endswith(b"warm-up...\x1b[K")  # type: ignore[attr-defined]


INNER = """
    import time

    from pytest_gpubench.progress import Progress


    def test_cell(request):
        progress = Progress.for_config(request.config)
        assert progress.enabled, progress.why_off
        print("captured, never shown")
        progress.start("dbn-fit 800-800 numpy")
        for kept in range(1, 4):
            time.sleep(0.12)
            progress.round(kept, 0)
        progress.stop()


    def test_after():
        pass
"""


def render(raw: str, width: int = 80) -> list[str]:
    """The screen a terminal shows for ``raw``: the escapes Progress and pytest use."""
    rows: list[list[str]] = [[]]
    row = col = 0
    for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|.", raw, re.DOTALL):
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            rows.extend([] for _ in range(row + 1 - len(rows)))
        elif token == "\x1b[K":
            del rows[row][col:]
        elif token == "\x1b[A":
            row = max(row - 1, 0)
        elif token.startswith("\x1b[") and token.endswith("C"):
            col = min(col + int(token[2:-1] or 1), width - 1)
        elif token.startswith("\x1b["):
            continue  # colours
        else:
            line = rows[row]
            line.extend(" " * (col - len(line)))
            line[col : col + 1] = [token]
            col += 1
    return ["".join(line).rstrip() for line in rows]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_real_session_on_a_terminal_keeps_pytests_line_intact(tmp_path: Path) -> None:
    import pty

    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BUILD_NUMBER", "PYTEST_ADDOPTS")}
    env.update(TERM="xterm", COLUMNS="80", LINES="24")
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:gpubench-ec2"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    ) as proc:
        os.close(follower)
        chunks = []
        with contextlib.suppress(OSError):  # EIO once the child closes the terminal
            while chunk := os.read(leader, 65536):
                chunks.append(chunk)
        os.close(leader)
    raw = b"".join(chunks).decode()
    assert proc.returncode == 0, raw
    assert "gpubench: dbn-fit 800-800 numpy  warm-up…" in raw
    assert re.search(r"gpubench: dbn-fit 800-800 numpy  [23] rounds  \d+\.\d s", raw)
    assert "captured, never shown" not in raw
    screen = render(raw)
    assert any(re.fullmatch(r"test_inner\.py \.\. +\[100%\]", line) for line in screen), screen
    assert not any("gpubench:" in line for line in screen), screen
