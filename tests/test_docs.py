"""The README is a user's README: short, every relative link resolves inside the repository,
its first code block holds the two commands, and no in-house words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _relative_links(path: Path) -> list[str]:
    links = LINK.findall(path.read_text(encoding="utf-8"))
    return [link for link in links if not re.match(r"[a-z]+:", link)]


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    for link in _relative_links(path):
        target = (path.parent / link.split("#")[0]).resolve()
        assert target.is_relative_to(ROOT), f"{path.name}: {link} leaves the repository"
        assert target.exists(), f"{path.name}: {link} does not exist"
        if "#" in link and target.suffix == ".md":
            anchor = link.split("#", 1)[1]
            assert anchor in _anchors(target), f"{path.name}: {link}: no such heading"


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _first_block_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = text.split("```")[1]
    return [line.split("#")[0].strip() for line in first.splitlines()[1:] if line.strip()]


def test_the_first_code_block_is_the_two_commands_and_tox_sets_them_up() -> None:
    """Two commands, each with its own set-up: tox builds the environment (torch's CPU
    build from PyTorch's index), so neither needs a shell state another line left."""
    assert _first_block_commands() == ["tox -e bench", "tox"]
    tox = (ROOT / "tox.ini").read_text(encoding="utf-8")
    assert "download.pytorch.org/whl/cpu" in tox
    bench = tox.split("[testenv:bench]")[1].split("\n[")[0]
    assert "commands = pytest --gpubench" in bench
    env_list = re.search(r"^env_list = (.+)$", tox, re.MULTILINE)
    assert env_list is not None and env_list.group(1).split(", ")[0] == "test"
    assert "commands = pytest {posargs}" in tox.split("[testenv:test]")[1].split("\n[")[0]


def test_ci_runs_the_readmes_test_command_as_written() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _first_block_commands()[1] in [line.strip() for line in ci]


def test_the_readme_uses_no_in_house_words() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8").lower()
    for word in (".ci/run", "lent machine", "this project's machine", "session", "issue 1"):
        assert word not in text, word
    assert "../" not in text


def test_each_figure_in_the_docs_sits_beside_its_raw_data() -> None:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    for png in sorted((ROOT / "docs").glob("*.png")):
        assert f"({png.name})" in text, png.name
        assert (ROOT / "docs" / "results" / f"{png.stem}.json").is_file(), png.stem
