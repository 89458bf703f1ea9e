"""The remote run's results here: its measurements merged into this session's, and its own
pytest-benchmark document written and saved where this run's would have been.

pytest-benchmark runs nothing locally in a remote run, so it must neither write
``--gpubench-json`` nor save ``--gpubench-save``/``--gpubench-autosave``
(:func:`take_over_outputs`, at configure); the machine's document is the real one: its
benchmarks and its ``machine_info`` (the machine, not this one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.remote.summary import CLOUD_KEY
from pytest_gpubench.results import RunResults

#: The ``--gpubench-save``/``--gpubench-autosave`` name, kept for the machine's document.
SAVE_KEY = pytest.StashKey["str | None"]()


def take_over_outputs(config: pytest.Config) -> None:
    """Keep pytest-benchmark (configured after the remote plugin) from writing or saving
    the empty local run; the machine's document is written instead."""
    option = config.option
    config.stash[SAVE_KEY] = getattr(option, "benchmark_save", None) or getattr(
        option, "benchmark_autosave", None
    )
    option.benchmark_save = option.benchmark_autosave = option.benchmark_json = None


def merge_results(results: RunResults, path: Path) -> None:
    """The machine's measurements and device facts (its fetched JSON) into this session's."""
    from pytest_gpubench.report_json import load_results

    fetched = load_results(path)
    results.extend(fetched.measurements)
    for device, info in fetched.devices.items():
        results.devices.setdefault(device, dict(info))


def keep_instance_document(
    config: pytest.Config,
    fetched: Path,
    cloud: Mapping[str, Any] | None,
    write: Callable[[str], None],
    label: str = "gpubench-remote",
) -> None:
    """Write (``--gpubench-json``) and save (``--gpubench-save``/``-autosave``) the
    machine's own document, with where it ran and what it cost in its ``gpubench`` section.
    """
    document = json.loads(fetched.read_text())
    if cloud:
        document.setdefault("gpubench", {}).setdefault("extra", {})[CLOUD_KEY] = dict(cloud)
    from pytest_gpubench.outputs import write_failure, write_whole
    from pytest_gpubench.session import session_of

    option = config.option
    if getattr(option, "gpubench_json", None):
        text = json.dumps(document, indent=2) + "\n"
        target = Path(option.gpubench_json)
        try:  # replaced whole or not at all, like every local report (see .outputs)
            write_whole(target, lambda path: path.write_text(text, encoding="utf-8"))
        except OSError as exc:
            write(f"{label}: {write_failure(target, exc)}")
            session = session_of(config)
            if session is not None:
                session.outcome.report_errors.append(write_failure(target, exc))
    name = config.stash.get(SAVE_KEY, None)
    if name:
        from pytest_gpubench.storage import save_run, storage_path

        storage = storage_path(option.benchmark_storage)
        save_run(document, name, storage, say=lambda text: write(f"{label}: {text}"))
