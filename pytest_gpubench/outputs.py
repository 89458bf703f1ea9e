"""Report files on disk: written whole or not at all, and recognised before one is replaced.

A report is written to a hidden file beside its target and moved over it only once complete
(:func:`write_whole`): a full disk or an interrupted write leaves the earlier report as it
was and no partial file behind. Before the run, :func:`overwrite_refusal` refuses a path
that holds some other file (a ``pyproject.toml`` given by mistake) unless
``--gpubench-overwrite`` is given. A file is taken as a report of this tool when:

- ``--gpubench-json``: a JSON object with a ``gpubench`` section;
- ``--gpubench-github-json``: a JSON list whose entries are our speedup entries
  (``name`` ending in ``speedup vs BASELINE``, ``unit`` ``x``, ``value``);
- ``--gpubench-markdown``: text that starts with our heading ``## gpubench: speedup vs``;
- ``--gpubench-plot``: a PNG, SVG or PDF whose own metadata says matplotlib drew it.

An empty file (for the JSON options also an empty ``{}`` or ``[]``), and anything that is
not a regular file (a FIFO, ``/dev/stdout``), holds nothing to lose and is always written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "KINDS",
    "MARKDOWN_HEADING",
    "is_report",
    "overwrite_refusal",
    "write_failure",
    "write_reason",
    "write_whole",
]

#: The first line of every Markdown report starts with this (see ``report.render_markdown``).
MARKDOWN_HEADING = "## gpubench: speedup vs "

#: Larger files are not read to be recognised: no report of ours comes near this size.
_MAX_RECOGNISED_BYTES = 256 * 2**20


def write_whole(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` with ``write(file)`` so that it is replaced whole or not at all.

    ``write`` writes a complete file at the path it is given: a hidden file beside the
    target (beside a symlink's target), with the target's suffix, moved over it when
    complete. A FIFO, a device, or a file in a directory this user may not add to is
    written in place. On any failure the hidden file is removed and the error re-raised.
    """
    path = Path(path)
    real = path.resolve()
    if real.exists() and (not real.is_file() or not os.access(real.parent, os.W_OK)):
        write(real)
        return path
    real.parent.mkdir(parents=True, exist_ok=True)
    temp = real.with_name(f".{real.stem}.{uuid.uuid4().hex[:8]}.partial{real.suffix}")
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # mode under umask
    try:
        write(temp)
        if real.exists():
            shutil.copymode(real, temp)
        with open(temp, "rb") as handle:  # on disk before it replaces the earlier report
            os.fsync(handle.fileno())
        os.replace(temp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return path


def write_failure(path: str | Path, exc: BaseException) -> str:
    """Why ``path`` could not be written, for the session's summary."""
    return f"could not write {path}: {write_reason(exc)}; {path} was left as it was"


def write_reason(exc: BaseException) -> str:
    """A failed write's reason: ``No space left on device (ENOSPC)``."""
    if isinstance(exc, OSError) and exc.strerror:
        import errno

        code = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
        return f"{exc.strerror} ({code})" if code else exc.strerror
    return f"{type(exc).__name__}: {exc}"


#: What each built-in report option's file holds, for the refusal below.
KINDS = {
    "--gpubench-json": "a JSON object with a 'gpubench' section",
    "--gpubench-github-json": "a JSON list of gpubench speedup entries",
    "--gpubench-markdown": f"Markdown starting with {MARKDOWN_HEADING.strip()!r}",
    "--gpubench-plot": "an image drawn by matplotlib",
}


def overwrite_refusal(
    flag: str,
    path: Path,
    *,
    is_ours: Callable[[Path], bool] | None = None,
    kind: str | None = None,
) -> str | None:
    """Why ``flag``'s ``path`` must not be overwritten: it holds a file that is not a report
    of this tool (``is_ours``, by default :func:`is_report`; ``kind`` says what one holds).
    None when it is one, or holds nothing to lose."""
    try:
        info = path.stat()
    except OSError:
        return None
    ours = is_ours or (lambda file: is_report(flag, file))
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0 or ours(path):
        return None
    kind = kind or KINDS.get(flag, "a report of pytest-gpubench")
    return (
        f"{flag} {str(path)!r} exists and is not a report of pytest-gpubench (not {kind}); "
        "writing it would destroy that file. Give another path, or pass --gpubench-overwrite "
        "to replace it"
    )


def is_report(flag: str, path: Path) -> bool:
    """Whether ``path`` holds what ``flag`` writes (see the module's docstring)."""
    try:
        if path.stat().st_size > _MAX_RECOGNISED_BYTES:
            return False
        if flag == "--gpubench-plot":
            return _is_plot(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if flag == "--gpubench-markdown":
        return text.startswith(MARKDOWN_HEADING)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if document in ({}, []):  # holds nothing to lose
        return True
    if flag == "--gpubench-json":
        return isinstance(document, dict) and isinstance(document.get("gpubench"), dict)
    if flag == "--gpubench-github-json":
        return isinstance(document, list) and all(_is_speedup_entry(e) for e in document)
    return False


def _is_speedup_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and {"name", "unit", "value"} <= entry.keys()
        and entry["unit"] == "x"
        and isinstance(entry["name"], str)
        and " speedup vs " in entry["name"]
    )


def _is_plot(path: Path) -> bool:
    """A PNG, SVG or PDF that names matplotlib in its metadata (PNG and SVG near the start,
    PDF in its Info dictionary near the end)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
        handle.seek(max(0, path.stat().st_size - 4096))
        tail = handle.read(4096)
    image = head.startswith((b"\x89PNG\r\n\x1a\n", b"%PDF-", b"<?xml", b"<svg"))
    return image and b"matplotlib" in (head + tail).lower()
