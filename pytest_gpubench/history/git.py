"""What the history asks git: the first-parent order of HEAD, commit subjects, a web link.

Every question runs ``git`` in a subprocess and answers None (or nothing) outside a
repository or without git, so the history falls back to commit times instead of failing.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["commit_url", "first_parent_order", "subjects"]


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def first_parent_order(repo: Path) -> list[str] | None:
    """Full shas of HEAD's first-parent history, oldest first (the order a main branch's
    runs were saved in: a merge counts as one commit of main); None outside git."""
    out = _git(repo, "rev-list", "--first-parent", "HEAD")
    if out is None:
        return None
    return list(reversed(out.split()))


def subjects(repo: Path, shas: Iterable[str]) -> dict[str, str]:
    """The subject line of each commit of ``shas`` that git knows."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    out = _git(repo, "show", "-s", "--format=%H%x00%s", *wanted)
    if out is None:  # one unknown sha fails the whole call: ask one by one
        found = {}
        for sha in wanted:
            one = _git(repo, "show", "-s", "--format=%H%x00%s", sha)
            if one and "\x00" in one:
                found[sha] = one.strip().split("\x00", 1)[1]
        return found
    by_full = dict(line.split("\x00", 1) for line in out.splitlines() if "\x00" in line)
    return {sha: by_full[sha] for sha in wanted if sha in by_full}


def commit_url(repo: Path) -> str | None:
    """A link template (``https://github.com/OWNER/NAME/commit/``) for the ``origin`` remote
    when it is on GitHub or GitLab; None otherwise."""
    out = _git(repo, "remote", "get-url", "origin")
    if not out:
        return None
    match = re.match(
        r"^(?:https://|git@|ssh://git@)(github\.com|gitlab\.com)[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$",
        out.strip(),
    )
    if match is None:
        return None
    host, path = match.groups()
    return (
        f"https://{host}/{path}/commit/"
        if host == "github.com"
        else f"https://{host}/{path}/-/commit/"
    )
