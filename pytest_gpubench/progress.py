"""A transient status line while a benchmark cell runs: which cell, how many rounds, how long.

pytest prints one character per test, so a cell that times for 20 s looks like a hang. While
a cell runs, a line under pytest's own reads ``gpubench: dbn-fit 800-800 torch-cpu  12 rounds
(2 set aside)  3.4 s``; when the cell ends that line is erased and the cursor goes back to
where pytest left it, so its dots (or ``-v`` names) go on as if nothing had been drawn.

Shown on an interactive terminal only. It stays off under ``-q``, in CI (``CI`` or
``BUILD_NUMBER`` set), with ``TERM=dumb`` or when stdout is not a TTY, and where other
writers share the screen during a test (``-s``, ``--capture=tee-sys``, live logging): the
line moves the cursor, which is safe only while nobody else writes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TextIO

import pytest
from rich.cells import cell_len, set_cell_size

__all__ = ["Progress", "status_line"]

#: Seconds between two redraws of the line at most (about ten a second).
REDRAW_INTERVAL_S = 0.1

_CLEAR_TO_END = "\x1b[K"
_UP = "\x1b[A"


def status_line(
    cell: str,
    kept: int | None,
    set_aside: int = 0,
    elapsed_s: float = 0.0,
    *,
    width: int = 80,
    ellipsis: str = "…",
) -> str:
    """The text of the line, cut to ``width`` cells; ``kept=None`` means still warming up."""
    if kept is None:
        text = f"gpubench: {cell}  warm-up{ellipsis}"
    else:
        rounds = f"{kept} round{'' if kept == 1 else 's'}"
        aside = f" ({set_aside} set aside)" if set_aside else ""
        text = f"gpubench: {cell}  {rounds}{aside}  {elapsed_s:.1f} s"
    if cell_len(text) <= width:
        return text
    room = width - cell_len(ellipsis)
    return set_cell_size(text, room) + ellipsis if room > 0 else set_cell_size(text, max(width, 0))


class Progress:
    """The status line of the running cell: :meth:`start`, :meth:`round` per round, :meth:`stop`.

    ``file`` is the terminal; ``width`` reads its width in cells, ``column`` where pytest's
    cursor is on its line, and ``suspend`` lifts pytest's capture around each write. A
    ``Progress`` without a file (:meth:`off`) does nothing; ``why_off`` says why.
    """

    def __init__(
        self,
        file: TextIO | None,
        *,
        width: Callable[[], int] = lambda: 80,
        column: Callable[[], int] = lambda: 0,
        suspend: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = REDRAW_INTERVAL_S,
        why_off: str = "",
    ) -> None:
        self.file = file
        self.why_off = why_off if file is None else ""
        self._width = width
        self._column = column
        self._suspend = suspend
        self._clock = clock
        self._interval_s = interval_s
        self._ellipsis = _ellipsis_for(file)
        self._cell = ""
        self._shown = False
        self._pytest_column = 0
        self._started_at = 0.0
        self._drawn_at = 0.0

    @classmethod
    def off(cls, why: str) -> Progress:
        """A progress that writes nothing, saying ``why``."""
        return cls(None, why_off=why)

    @classmethod
    def for_config(cls, config: pytest.Config) -> Progress:
        """The progress for this session: on for an interactive terminal, else :meth:`off`."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        why = _why_off(config, reporter)
        if why:
            return cls.off(why)
        writer = reporter._tw
        capman = config.pluginmanager.get_plugin("capturemanager")
        suspend = capman.global_and_fixture_disabled if capman is not None else None
        return cls(
            writer._file,
            width=lambda: writer.fullwidth,
            column=lambda: writer.width_of_current_line,
            suspend=suspend or contextlib.nullcontext,
        )

    @property
    def enabled(self) -> bool:
        return self.file is not None

    def start(self, cell: str) -> None:
        """Show ``cell`` warming up, on a new line under pytest's."""
        if self.file is None:
            return
        if self._shown:
            self.stop()
        width = self._width()
        column = self._column()
        if column and column % width == 0:  # the cursor waits to wrap: it can't be put back
            return
        self._cell = cell
        self._pytest_column = column
        self._started_at = self._drawn_at = self._clock()
        self._write("\n" + self._text(None, 0, width) + _CLEAR_TO_END)
        self._shown = True

    def round(self, kept: int, set_aside: int) -> None:
        """Redraw the counts after a timed round, at most every ``interval_s`` seconds."""
        if not self._shown:
            return
        now = self._clock()
        if now - self._drawn_at < self._interval_s:
            return
        if self._column() != self._pytest_column:  # someone wrote on pytest's line: let go
            self._shown = False
            return
        self._drawn_at = now
        self._write("\r" + self._text(kept, set_aside, self._width()) + _CLEAR_TO_END)

    def stop(self) -> None:
        """Erase the line and put the cursor back where pytest left it."""
        if not self._shown:
            return
        self._shown = False
        if self._column() != self._pytest_column:
            return
        back = self._pytest_column % max(self._width(), 1)
        self._write("\r" + _CLEAR_TO_END + _UP + "\r" + (f"\x1b[{back}C" if back else ""))

    def _text(self, kept: int | None, set_aside: int, width: int) -> str:
        elapsed_s = self._clock() - self._started_at
        # one cell short of the edge: a full line would leave the cursor waiting to wrap
        return status_line(
            self._cell, kept, set_aside, elapsed_s, width=width - 1, ellipsis=self._ellipsis
        )

    def _write(self, text: str) -> None:
        assert self.file is not None
        with self._suspend():
            self.file.write(text)
            self.file.flush()


def _why_off(config: pytest.Config, reporter: Any) -> str:
    if reporter is None:
        return "no terminal reporter"
    if config.getoption("verbose", 0) < 0:
        return "quiet (-q)"
    for name in ("CI", "BUILD_NUMBER"):
        if os.environ.get(name):
            return f"running in CI ({name} is set)"
    if os.environ.get("TERM") == "dumb":
        return "TERM=dumb"
    isatty = getattr(reporter, "isatty", False)
    if not (isatty() if callable(isatty) else isatty):
        return "stdout is not a terminal"
    if config.getoption("capture", None) in ("no", "tee-sys"):
        return "tests write to the terminal (-s)"
    if _live_logging(config):
        return "live logging writes to the terminal"
    return ""


def _live_logging(config: pytest.Config) -> bool:
    if config.getoption("log_cli_level", None) is not None:
        return True
    try:
        return bool(config.getini("log_cli"))
    except ValueError:  # the logging plugin is off (-p no:logging)
        return False


def _ellipsis_for(file: TextIO | None) -> str:
    try:
        "…".encode(getattr(file, "encoding", None) or "utf-8")
    except (LookupError, UnicodeEncodeError):
        return "..."
    return "…"
