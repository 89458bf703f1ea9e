"""Saved runs in pytest-benchmark's storage layout: save, list, resolve, load.

``--benchmark-storage`` (``.benchmarks`` by default) holds one folder per machine id
(``Linux-CPython-3.11-64bit``) of runs numbered ``NNNN_NAME.json``, written by
``--gpubench-save``/``--gpubench-autosave`` (pytest-benchmark's own save) or by a remote run
(:func:`save_run`). The gate resolves one of them; the history reads them all. Loading goes
through :func:`~.report_json.load_results`, so every reader refuses a damaged file the same
way. numpy is not imported here: the plugin loads this module on every pytest run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import RunResults

__all__ = [
    "RUN_GLOB",
    "listing",
    "load_baseline",
    "load_run",
    "resolve_baseline",
    "runs_in",
    "save_run",
    "saved_runs",
    "storage_path",
]

#: A saved run's file name in a machine folder: pytest-benchmark's ``NNNN_NAME.json``.
RUN_GLOB = "[0-9][0-9][0-9][0-9]_*.json"


def storage_path(uri: str) -> Path:
    """The directory of a pytest-benchmark ``--benchmark-storage`` URI (file storage only)."""
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if "://" in uri:
        raise ValueError(
            f"--gpubench-compare needs a file storage (file://PATH), "
            f"got --benchmark-storage {uri!r}"
        )
    return Path(uri)


def runs_in(folder: Path) -> list[Path]:
    """The saved runs of one machine folder, oldest (lowest number) first."""
    return sorted(p for p in Path(folder).glob(RUN_GLOB) if p.is_file())


def saved_runs(storage: Path) -> list[Path]:
    """Every saved run under ``storage``, machine folder by machine folder, oldest first."""
    storage = Path(storage)
    if not storage.is_dir():
        return []
    folders = sorted(p for p in storage.iterdir() if p.is_dir())
    return [run for folder in folders for run in runs_in(folder)]


def listing(storage: Path) -> str:
    """One line naming the latest saved runs under ``storage`` (for error messages)."""
    found = sorted(storage.glob(f"*/{RUN_GLOB}")) if storage.is_dir() else []
    if not found:
        return f"no saved runs under {storage} (save one with --gpubench-save NAME)"
    names = [str(p.relative_to(storage)) for p in found]
    shown = ", ".join(names[-10:])
    more = f" (and {len(names) - 10} older)" if len(names) > 10 else ""
    return f"saved runs under {storage}: {shown}{more}"


def save_run(
    document: Mapping[str, Any],
    name: str,
    storage: Path,
    machine_id: str | None = None,
    say: Callable[[str], None] | None = None,
) -> None:
    """Save a whole pytest-benchmark ``document`` as the next ``NNNN_name.json`` of this
    machine's folder, through pytest-benchmark's own ``FileStorage`` (so its numbering and
    format are the ones ``--benchmark-save`` writes); ``say`` gets its "Saved" line."""
    from types import SimpleNamespace

    from pytest_benchmark.storage.file import FileStorage
    from pytest_benchmark.utils import get_machine_id

    logger = SimpleNamespace(info=lambda text, **_: say(text) if say else None)
    FileStorage(Path(storage), logger, machine_id or get_machine_id()).save(document, name)


def resolve_baseline(spec: str | None, storage: Path, machine_id: str | None = None) -> Path:
    """The saved run that ``spec`` names.

    ``spec`` is a JSON file path, a run number or prefix in pytest-benchmark's storage
    (``0001``, ``1``, ``0001_main``), a run name (``main``: the latest run saved under that
    name), or ``None`` for the latest saved run. Runs saved on
    this machine (``machine_id``, pytest-benchmark's by default) come first; other
    machine folders are searched only when it has none, and must then agree on one file.
    Raises ``FileNotFoundError`` or ``ValueError`` listing what exists.
    """
    if spec is not None and spec.strip():
        candidate = Path(spec)
        if candidate.suffix == ".py" or candidate.is_dir():  # a test path the option took
            raise ValueError(
                f"--gpubench-compare takes a saved run (a NAME, a NUMBER or the PATH of its "
                f"JSON), not {spec!r}, which looks like a test path: write "
                "--gpubench-compare=RUN, or put test paths before the option"
            )
        if candidate.is_file():
            return candidate
        if candidate.suffix == ".json" or len(candidate.parts) > 1:
            raise FileNotFoundError(f"baseline file {spec!r} does not exist; {listing(storage)}")
    storage = Path(storage)
    if machine_id is None:
        from pytest_benchmark.utils import get_machine_id

        machine_id = get_machine_id()
    pattern = name = None
    if spec is not None and spec.strip():
        text = spec.strip()
        if text.isdigit():
            pattern = f"{int(text):04d}_"
        elif re.match(r"^\d{4}_", text):
            pattern = text
        elif re.fullmatch(r"[\w.-]+", text):
            name = text
        else:
            raise ValueError(
                f"baseline {spec!r} is neither an existing file, a run number such as 0001 "
                f"nor a run name; {listing(storage)}"
            )

    def matching(folder: Path) -> list[Path]:
        runs = runs_in(folder)
        if name is not None:
            return [p for p in runs if p.name[5:-5] == name]
        return [p for p in runs if p.name.startswith(pattern)] if pattern else runs

    local = matching(storage / machine_id)
    if local:
        latest = pattern is None or len(local) == 1  # a name picks its latest run
        return local[-1] if latest else _ambiguous(spec, local)
    found = [p for folder in sorted(storage.glob("*")) if folder.is_dir() for p in matching(folder)]
    if not found:
        what = "no saved run" if spec is None else f"no saved run {spec!r}"
        saved = listing(storage)
        if saved.startswith("no saved runs"):  # an empty storage, said once
            empty = (
                f"{what} under {storage}, which holds none yet (save one with --gpubench-save NAME)"
            )
            raise FileNotFoundError(saved if spec is None else empty)
        raise FileNotFoundError(f"{what} under {storage}; {saved}")
    if len({p.parent for p in found}) > 1 or (pattern is not None and len(found) > 1):
        return _ambiguous(spec, found)
    return found[-1]


def _ambiguous(spec: str | None, found: Sequence[Path]) -> Path:
    names = ", ".join(str(p) for p in found)
    raise ValueError(
        f"baseline {spec!r} matches several saved runs ({names}); pass the file path instead"
    )


def load_run(path: str | Path | Mapping[str, Any]) -> RunResults:
    """One saved run (a path or a parsed document) read back, schema versions 1 to 3
    (:func:`~.report_json.load_results`, which names the file and field it refuses)."""
    from .report_json import load_results

    return load_results(path)


def load_baseline(spec: str | None, storage: Path) -> RunResults:
    """:func:`load_run` of :func:`resolve_baseline`."""
    return load_run(resolve_baseline(spec, storage))
