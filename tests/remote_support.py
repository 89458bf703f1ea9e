"""Helpers of the shared remote layer's tests: a provider of their own whose "machine" is the
local sshd (no cloud, no EC2 code), and the wrapper that stands in for the remote venv."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pytest_gpubench.remote.provider import Machine, Price, SshDeps, SweepReport
from tests.sshd import Sshd, write_ed25519_key


class FakeProvider:
    """Implements the ``Provider`` protocol: ``up`` "rents" the local sshd with a new key,
    ``down`` revokes nothing but deletes the key; every call is recorded in ``calls``.
    ``fail_up`` raises in ``up`` once the key exists (a half-done ``up``); ``fail_down``
    makes ``down`` raise after cleaning up."""

    name = "fake"
    title = "Fake cloud"

    def __init__(self, sshd: Sshd, fail_up: bool = False, fail_down: bool = False) -> None:
        self.sshd = sshd
        self.fail_up = fail_up
        self.fail_down = fail_down
        self.ssh = SshDeps(timeout_s=10, auth_retries=0)
        self.calls: list[str] = []
        self.scratch: Path | None = None

    def up(self) -> Machine:
        self.calls.append("up")
        self.scratch = Path(tempfile.mkdtemp(prefix="gpubench-fake-"))
        key = self.scratch / "key"
        self.sshd.authorize(write_ed25519_key(key))
        if self.fail_up:
            raise RuntimeError("no capacity in the fake cloud")
        return Machine(
            session_id="fake-1",
            host="127.0.0.1",
            port=self.sshd.port,
            user=self.sshd.user,
            key_path=key,
            scratch=self.scratch,
            instance_id="vm-1",
            instance_type="tiny",
            price=self.price(),
        )

    def down(self) -> None:
        self.calls.append("down")
        if self.scratch is not None:
            shutil.rmtree(self.scratch)
        if self.fail_down:
            raise RuntimeError("the fake cloud kept vm-1")

    def sweep(self, *, dry_run: bool = False, session: str | None = None) -> SweepReport:
        self.calls.append("sweep")
        return SweepReport()

    def price(self) -> Price:
        return Price(0.36, "the test's price")

    def summary(self) -> dict[str, Any]:
        launched = "up" in self.calls
        return {
            "provider": self.title,
            "instance_type": "tiny",
            "instance_id": "vm-1" if launched else None,
            "region": "here",
            "seconds_held": 10.0 if launched else 0.0,
            "price_per_hour": 0.36,
            "cost_usd": self.price().cost(10.0 if launched else 0.0),
            "price_source": "the test's price",
        }

    def explain(self, exc: BaseException) -> str | None:
        return None


def write_python_wrapper(path: Path | str) -> None:
    """An executable ``path`` that runs this interpreter with this tree's package first.

    The remote "venv" of the tests. Not a symlink: a link to a venv's python from another
    folder loses the venv (``pyvenv.cfg`` is looked up beside the link), and with it pytest.
    """
    import pytest_gpubench

    tree = Path(pytest_gpubench.__file__).resolve().parent.parent
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(str(tree))}${{PYTHONPATH:+:$PYTHONPATH}} "
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    path.chmod(0o755)


def git_commit_all(root: Path) -> None:
    """A git repository at ``root`` with every file in it committed (what a run uploads)."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "bench")
