"""pytest-benchmark's JSON and saved runs, pointed at ours (pytest-benchmark 4 to 5.3).

``--gpubench-json``, ``--gpubench-save`` and ``--gpubench-autosave`` set pytest-benchmark's
own options before it reads them (:func:`wire`), so the file and the saved run are its
documents, with our ``gpubench`` section added through its ``update_json`` hook. The JSON is
staged beside its target (:class:`StagedJson`) and moved over it at the end
(:func:`put_in_place`), so a run that measured nothing never empties an earlier file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_gpubench.outputs import write_failure, write_whole
from pytest_gpubench.results import RunResults

if TYPE_CHECKING:
    from pytest_gpubench.outcome import RunOutcome

__all__ = ["StagedJson", "put_in_place", "staged", "wire"]


def wire(option: Any) -> None:
    """Set pytest-benchmark's ``--benchmark-json``/``-save``/``-autosave`` from ours (the
    combinations are checked by :func:`.settings.check_benchmark_options` first)."""
    from pytest_benchmark.utils import get_tag, parse_save

    if option.gpubench_json and option.gpubench:  # pytest-benchmark writes beside it
        final = Path(option.gpubench_json)
        option.benchmark_json = StagedJson(staged(final), final)
    if option.gpubench_save is not None:
        option.benchmark_save = parse_save(option.gpubench_save)
    if option.gpubench_autosave and not getattr(option, "benchmark_autosave", None):
        option.benchmark_autosave = get_tag()


def staged(path: Path) -> Path:
    """Where pytest-benchmark writes the ``--gpubench-json`` document: beside the file (the
    target of a symlink), which is replaced only by a run that measured something, never
    emptied by one that did not. A FIFO, a device or a file in a directory this user may not
    add to is written in place (the path itself is returned)."""
    real = path.resolve()
    if real.exists() and (not real.is_file() or not os.access(real.parent, os.W_OK)):
        return real
    return real.with_name(f".{real.name}.partial")


class StagedJson:
    """What pytest-benchmark's ``--benchmark-json`` holds for a ``--gpubench-json`` file.

    It writes to the staged path: 5.3 opens it through ``os.fspath``; 5.2 writes into it as
    a context manager, so it is opened only then (5.2 expects a file opened at configure
    time, which would truncate the target before anything ran). Its "Wrote benchmark data
    in" line names the final path.
    """

    def __init__(self, staged: Path, final: Path) -> None:
        self.staged = staged
        self.final = final
        self._file: Any = None
        #: why pytest-benchmark could not write it (set by .guard), else None
        self.failure: str | None = None

    def __fspath__(self) -> str:
        return str(self.staged)

    def __enter__(self) -> Any:
        self._file = self.staged.open("wb")
        return self._file

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def __str__(self) -> str:
        return str(self.final)


def put_in_place(
    path: Path,
    option: Any,
    results: RunResults,
    outcome: RunOutcome,
    write_ours: Callable[[Path], None],
) -> bool:
    """Put this run's ``--gpubench-json`` document at ``path``; True when it was written.

    pytest-benchmark wrote it beside the target when a benchmark ran; when none did (every
    device n/a) ours is written with ``write_ours``, with its n/a rows. A run that measured
    nothing leaves an earlier file as it was. In a remote run the machine's document was
    written already (``remote.document.keep_instance_document``).
    """
    real, staged_path = path.resolve(), staged(path)
    if staged_path != real:
        if staged_path.exists() and staged_path.stat().st_size:
            staged_path.replace(real)
            return True
        staged_path.unlink(missing_ok=True)
    target = getattr(option, "benchmark_json", None)
    if getattr(target, "failure", None):  # see .guard
        return False
    if not target:  # a remote run: the machine's document
        failed = any(str(path) in problem for problem in outcome.report_errors)
        return bool(results.measurements) and path.exists() and not failed
    if not results.measurements:
        outcome.notes.append(f"nothing was measured; {path} was left as it was")
        return False
    if staged_path == real and any(m.ran for m in results.measurements):
        return True  # written in place by pytest-benchmark
    try:
        write_whole(path, write_ours)
    except OSError as exc:
        outcome.report_errors.append(write_failure(path, exc))
        return False
    return True
