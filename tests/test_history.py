"""The history end to end on a scripted repository: one saved run per commit, a device that
gets 20% slower at one commit, noise-only histories, the machine told from the code, runs
pooled per commit, commit ranges, and the page's points and markers (the console script
and its JSON: test_cli.py)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from pytest_gpubench.history.analysis import History, analyse
from pytest_gpubench.history.page import page
from pytest_gpubench.report_json import benchmark_document
from pytest_gpubench.speedup import build_rows
from pytest_gpubench.storage import save_run

from .history_support import MACHINE, git, run_results, scripted_repo

SLOWER_AT = 17


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory) -> tuple[History, list[str], Path]:
    """30 commits; cupy 20% slower from commit 17 on."""
    tmp_path = tmp_path_factory.mktemp("stepped")
    repo, storage, shas = scripted_repo(tmp_path, slower_at=SLOWER_AT)
    return analyse(storage, repo), shas, repo


def test_a_device_20_percent_slower_at_one_commit_gives_one_change_naming_it(stepped) -> None:
    history, shas, _ = stepped
    assert [len(s.points) for s in history.series] == [30]
    [change] = history.changes
    assert change.commit == shas[SLOWER_AT]
    assert change.commits == ((shas[SLOWER_AT], "dbn: fuse the update"),)
    assert change.kind == "code" and not change.tentative
    assert change.magnitude == pytest.approx(1 / 1.2 - 1, abs=0.04)
    assert change.before.low < change.before.speedup < change.before.high
    assert change.after.high < change.before.low
    assert change.pvalue < 1e-6


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_only_histories_give_no_change_point(tmp_path: Path, seed: int) -> None:
    repo, storage, _ = scripted_repo(tmp_path, seed=seed)
    history = analyse(storage, repo)
    assert len(history.series[0].points) == 30
    assert history.changes == []


def test_a_slower_machine_with_a_flat_speedup_is_the_machine(tmp_path: Path) -> None:
    repo, storage, shas = scripted_repo(
        tmp_path, slower_at=12, device_factor=1.3, baseline_factor=1.3
    )
    [change] = analyse(storage, repo).changes
    assert (change.kind, change.commit) == ("machine", shas[12])
    assert change.baseline_after_s / change.baseline_before_s == pytest.approx(1.3, rel=0.05)
    assert abs(change.magnitude) < 0.05


def test_runs_of_one_commit_pool_their_rounds_and_the_range_spans_unmeasured_commits(
    tmp_path: Path,
) -> None:
    repo, storage, shas = scripted_repo(tmp_path, commits=24, slower_at=14)
    for path in sorted(storage.glob("*/*.json")):  # commits 12 and 13 were never measured
        if json.loads(path.read_text())["commit_info"]["id"] in shas[12:14]:
            path.unlink()
    results = run_results(np.random.default_rng(9), 0.12, 1.0)  # commit 20 measured twice
    info = {"id": shas[20], "time": "2026-01-02T00:00:00+00:00"}
    document = benchmark_document(
        results, build_rows(results.measurements, "numpy"), "numpy", {}, info
    )
    save_run(document, "again", storage, machine_id=MACHINE)
    history = analyse(storage, repo)
    points = history.series[0].points
    assert [p.commit for p in points] == shas[:12] + shas[14:]
    twice = points[[p.commit for p in points].index(shas[20])]
    assert twice.rounds == 20 and len(twice.runs) == 2
    [change] = history.changes
    assert [sha for sha, _ in change.commits] == shas[12:15]  # oldest first
    assert change.commit == shas[14]


def test_runs_off_the_first_parent_history_are_left_out_with_a_note(tmp_path: Path) -> None:
    repo, storage, shas = scripted_repo(tmp_path, commits=8)
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "commit", "-q", "--allow-empty", "-m", "feature work")
    feature = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    results = run_results(np.random.default_rng(5), 0.1, 1.0)
    info = {"id": feature, "time": "2026-01-03T00:00:00+00:00"}
    document = benchmark_document(
        results, build_rows(results.measurements, "numpy"), "numpy", {}, info
    )
    save_run(document, "pr", storage, machine_id=MACHINE)
    history = analyse(storage, repo)
    assert [p.commit for p in history.series[0].points] == shas
    assert any(
        "1 run(s) of 1 commit(s) not on the first-parent history" in n for n in history.notes
    )
    by_time = analyse(storage, None)  # outside git: every run, by commit time
    assert [p.commit for p in by_time.series[0].points] == [*shas, feature]


class _Drawn(HTMLParser):
    """The page's drawn points and change markers, and its inline data."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[dict[str, str | None]] = []
        self.changes: list[dict[str, str | None]] = []
        self.external: list[str] = []
        self._data = False
        self.data = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "circle" and "point" in classes:
            self.points.append(found)
        if tag == "line" and "change" in classes:
            self.changes.append(found)
        for name in ("src", "href"):
            if tag in ("script", "link", "img") and found.get(name):
                self.external.append(str(found[name]))
        self._data = tag == "script" and found.get("id") == "gpubench-history"

    def handle_data(self, data: str) -> None:
        if self._data:
            self.data += data

    def handle_endtag(self, tag: str) -> None:
        self._data = False


def test_the_page_draws_every_point_and_the_change_marker(stepped) -> None:
    history, shas, _ = stepped
    drawn = _Drawn()
    drawn.feed(page(history))
    assert [p["data-commit"] for p in drawn.points] == shas
    speedups = [float(p["data-speedup"] or 0) for p in drawn.points]
    assert min(speedups[:SLOWER_AT]) > max(speedups[SLOWER_AT:])
    assert [(c["data-commit"], c["data-kind"], c["data-tentative"]) for c in drawn.changes] == [
        (shas[SLOWER_AT], "code", "false")
    ]
    assert drawn.external == []  # nothing fetched: it opens from file://
    data = json.loads(drawn.data)
    assert data["change_points"][0]["commit"] == shas[SLOWER_AT]
    assert len(data["series"][0]["points"]) == 30


def test_a_damaged_or_foreign_file_is_left_out_with_a_note_naming_it(tmp_path: Path) -> None:
    repo, storage, shas = scripted_repo(tmp_path, commits=6)
    (storage / MACHINE / "0007_plain.json").write_text('{"benchmarks": []}')
    (storage / MACHINE / "0008_cut.json").write_text('{"gpubench": {')
    history = analyse(storage, repo)
    assert [p.commit for p in history.series[0].points] == shas
    left_out = [n for n in history.notes if n.startswith("left out")]
    assert len(left_out) == 2
    assert "0007_plain.json is a pytest-benchmark file without a 'gpubench' section" in left_out[0]
    assert "0008_cut.json is not JSON" in left_out[1]


def test_a_subject_with_markup_stays_text_on_the_page(tmp_path: Path) -> None:
    nasty = "fix </script><script>alert(1)</script> & <!-- x"
    repo, storage, shas = scripted_repo(tmp_path, commits=12, slower_at=6, subject=nasty)
    text = page(analyse(storage, repo))
    assert "<script>alert" not in text
    drawn = _Drawn()
    drawn.feed(text)
    assert len(drawn.points) == 12
    data = json.loads(drawn.data)
    assert data["change_points"][0]["commits"] == [{"sha": shas[6], "subject": nasty}]


def test_commits_are_linked_when_the_remote_is_on_github(tmp_path: Path) -> None:
    from pytest_gpubench.history.report import markdown

    repo, storage, shas = scripted_repo(tmp_path, commits=12, slower_at=6)
    git(repo, "remote", "add", "origin", "git@github.com:octo/speedy.git")
    history = analyse(storage, repo)
    url = f"https://github.com/octo/speedy/commit/{shas[6]}"
    assert history.commit_url == "https://github.com/octo/speedy/commit/"
    assert f"[`{shas[6][:10]}`]({url}) dbn: fuse the update" in markdown(history)
    assert f'href="{url}"' in page(history)
