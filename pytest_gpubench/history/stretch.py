"""The last stable stretch of the history, as one saved run the gate can compare with.

``pytest --gpubench --gpubench-compare=history`` compares the current run with every saved
run since the latest change point, instead of with one saved run: one lucky (or unlucky)
run of main no longer decides a pull request. For each (experiment, size) the stretch
starts at the latest confirmed change point of any of its device series (code or machine:
the runs before it are another regime) and ends before a tentative one: one lucky run at
the end of the history is a tentative step, and must not become the whole baseline; a real
step joins the stretch once enough runs confirm it. The rounds of the runs in the stretch
are pooled into one measurement per device, so the gate's statistics and verdicts are the
ones it applies to a single saved run, with more rounds behind them.

Runs saved on this machine (its pytest-benchmark machine id) are used when there are any,
and of those the hardware of the newest run; the gate's own hardware and profile checks
then refuse a history measured elsewhere, as they refuse a saved run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytest_gpubench.results import Measurement, RunResults

from .analysis import HistoryOptions, find_changes
from .series import Run, Series, build_series, group_runs, pooled, read_runs, run_name

__all__ = ["HISTORY", "stable_stretch"]

#: The ``--gpubench-compare`` value that names the history rather than one saved run.
HISTORY = "history"


def _runs_here(runs: Sequence[Run], machine_id: str | None) -> list[Run]:
    if machine_id is None:
        from pytest_benchmark.utils import get_machine_id

        machine_id = get_machine_id()
    here = [run for run in runs if run.path.parent.name == machine_id]
    return here or list(runs)


def _stretch_runs(
    series: Sequence[Series], position: dict[str, int], options: HistoryOptions
) -> dict[tuple[str, str, str, str], set[str]]:
    """Per (fingerprint, profile, experiment, size): the names of the runs from the latest
    confirmed change point of any of its series up to the first tentative one after it
    (``position``: each run's place in the order)."""
    bounds: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for entry in series:
        key = entry.key
        group = (key.fingerprint, key.profile, key.experiment, key.size)
        start, stop = bounds.get(group, (0, len(position)))
        for change in find_changes(entry, options):
            at = position[entry.points[change.index].runs[0]]
            if change.tentative:
                stop = min(stop, at)
            else:
                start = max(start, at)
        bounds[group] = (start, stop)
    stretches: dict[tuple[str, str, str, str], set[str]] = {}
    for entry in series:
        key = entry.key
        group = (key.fingerprint, key.profile, key.experiment, key.size)
        start, stop = bounds[group]
        if stop <= start:  # a tentative step right after a confirmed one: no stretch yet
            start, stop = start, len(position)
        names = stretches.setdefault(group, set())
        for point in entry.points:
            if start <= position[point.runs[0]] < stop:
                names.update(point.runs)
    return stretches


def stable_stretch(
    storage: Path,
    repo: Path | None = Path("."),
    machine_id: str | None = None,
    options: HistoryOptions | None = None,
) -> RunResults:
    """The saved runs of ``storage`` since the latest change point, pooled (module doc).

    Raises ``FileNotFoundError`` when the storage holds no gpubench run to compare with.
    """
    options = options or HistoryOptions()
    runs, _ = read_runs(Path(storage))
    runs = _runs_here(runs, machine_id)
    if not runs:
        raise FileNotFoundError(
            f"--gpubench-compare=history: no saved gpubench runs under {storage} to compare "
            "with; save runs of main with --gpubench-autosave (or --gpubench-save NAME) first"
        )
    groups, _ = group_runs(runs, repo)
    newest = groups[-1][-1]
    series = build_series(groups)
    position = {run_name(run): i for i, group in enumerate(groups) for run in group}
    stretches = _stretch_runs(series, position, options)
    by_name = {run_name(run): run for group in groups for run in group}
    newest_first = sorted(series, key=lambda s: position[s.points[-1].runs[0]])
    wanted_hardware = {(s.key.experiment, s.key.size): s.key.fingerprint for s in newest_first}
    pooled_results = RunResults(
        devices={k: dict(v) for k, v in newest.results.devices.items()},
        extra={
            "profile": newest.results.extra.get("profile"),
            "baseline_device": newest.results.extra.get("baseline_device"),
            "history_runs": 0,
        },
    )
    used: set[str] = set()
    for (fingerprint, _profile, experiment, size), names in sorted(stretches.items()):
        if wanted_hardware.get((experiment, size)) != fingerprint:
            continue
        found: dict[str, list[Measurement]] = {}
        for name in sorted(names):
            for m in by_name[name].results.measurements:
                if (m.experiment, m.size) == (experiment, size) and m.ran:
                    found.setdefault(m.device, []).append(m)
        for measurements in found.values():
            pooled_results.add(pooled(measurements))
        used |= names
    pooled_results.extra["history_runs"] = len(used)
    return pooled_results
