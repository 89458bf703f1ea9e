"""Report files on disk, written whole or not at all.

A report is written to a hidden file beside its target and moved over it only once complete
(:func:`write_whole`): a full disk or an interrupted write leaves the earlier report as it
was and no partial file behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "write_failure",
    "write_reason",
    "write_whole",
]


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
