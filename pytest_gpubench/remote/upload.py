"""The project a remote run sends: the files git tracks, as one tarball unpacked there."""

from __future__ import annotations

import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_gpubench.remote.errors import RemoteError

if TYPE_CHECKING:  # paramiko only where a connection is made
    from pytest_gpubench.remote.ssh import Remote


def git_tracked_files(root: Path) -> list[str]:
    """Paths that git tracks under ``root`` and that exist in the working tree."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RemoteError(
            f"cannot list the files git tracks in {root} ({exc}); a remote run uploads a git "
            "checkout's tracked files, so run it inside the project's git repository"
        ) from None
    names = [n for n in listed.decode().split("\0") if n]
    return [n for n in names if (root / n).is_file()]


def git_root(path: Path) -> Path:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=path,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RemoteError(f"{path} is not inside a git repository ({exc})") from None
    return Path(out.strip())


def project_tarball(root: Path, dest: Path) -> int:
    """A gzipped tar of the tracked files (working-tree contents, uncommitted edits
    included); how many files it holds."""
    names = git_tracked_files(root)
    with tarfile.open(dest, "w:gz") as tar:
        for name in names:
            tar.add(root / name, arcname=name, recursive=False)
    return len(names)


def upload_project(remote: Remote, root: Path, remote_dir: str, scratch: Path) -> int:
    """Unpack the project's tracked files into ``remote_dir`` (created, emptied first); how
    many files were sent."""
    if remote_dir.strip().rstrip("/") in {"", ".", "~", "/", "$HOME"}:
        raise RemoteError(f"remote project directory {remote_dir!r} would replace a whole tree")
    tarball = scratch / "project.tar.gz"
    count = project_tarball(root, tarball)
    quoted = shlex.quote(remote_dir)
    remote.check(f"rm -rf {quoted} && mkdir -p {quoted}")
    remote.put(tarball, f"{remote_dir}/project.tar.gz")
    remote.check(f"cd {quoted} && tar -xzf project.tar.gz && rm project.tar.gz")
    return count
