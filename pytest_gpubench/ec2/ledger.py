"""A local JSON record of each session's resources, written before they are used.

If the client dies, the ledger (and the tags) say what to delete. One file per session;
writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

ENV_DIR = "GPUBENCH_EC2_LEDGER_DIR"


def default_dir() -> Path:
    """``$GPUBENCH_EC2_LEDGER_DIR``, else ``$XDG_CACHE_HOME/pytest-gpubench/ec2``."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "pytest-gpubench" / "ec2"


class Ledger:
    """Session records under ``directory``: ``<session_id>.json``."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else default_dir()

    def path(self, session_id: str) -> Path:
        return self.directory / f"{session_id}.json"

    def read(self, session_id: str) -> dict[str, Any]:
        path = self.path(session_id)
        return json.loads(path.read_text()) if path.exists() else {}

    def record(self, session_id: str, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the session's entry (list fields are appended to)."""
        entry = self.read(session_id)
        for key, value in fields.items():
            if isinstance(value, list) and isinstance(entry.get(key), list):
                entry[key] = entry[key] + [v for v in value if v not in entry[key]]
            else:
                entry[key] = value
        entry["session"] = session_id
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(entry, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path(session_id))
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every session's entry. A half-written temporary file (a process killed inside
        :meth:`record`) is not an entry; an entry that cannot be read is listed as
        ``unreadable``, so it still counts as a session whose teardown is not known done."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("[!.]*.json")):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                found.append({"session": path.stem, "status": "unreadable", "error": str(exc)})
        return found

    def open_entries(self) -> list[dict[str, Any]]:
        """Sessions whose teardown did not finish."""
        return [e for e in self.entries() if e.get("status") != "done"]


#: Ledger states that mean a session may have left resources behind.
UNFINISHED = ("starting", "teardown-failed", "unreadable")


def unfinished_report(ledger: Ledger, default_region: str) -> list[str]:
    """Lines about earlier sessions left ``starting`` or ``teardown-failed`` (a killed
    client, a failed teardown), each with the sweep that deletes what they left."""
    lines = []
    for entry in ledger.entries():
        if entry.get("status") not in UNFINISHED:
            continue
        region = entry.get("region") or default_region
        held = ", ".join(
            f"{what} {entry[key]}"
            for what, key in (
                ("instance", "instance_id"),
                ("security group", "security_group_id"),
                ("key pair", "key_name"),
            )
            if entry.get(key)
        )
        lines.append(
            f"gpubench-ec2: session {entry.get('session')} is {entry.get('status')} in "
            f"{ledger.path(str(entry.get('session')))} ({held or 'no resource recorded'}); "
            f"unless it is running elsewhere, delete what it left with: python -m "
            f"pytest_gpubench.ec2 sweep --region {region} --session {entry.get('session')}"
        )
    return lines
