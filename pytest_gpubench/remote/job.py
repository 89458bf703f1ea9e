"""The benchmark run on a rented machine: upload the project, install it, run pytest, fetch.

The remote pytest writes the same measurement JSON as a local run
(``--gpubench-json``); it is fetched into a local directory with everything else the run
left in its output directory (the plot, when one was asked for). Reports, plots and the
regression gate are then made locally from the merged measurements.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_gpubench.remote.errors import RemoteError
from pytest_gpubench.remote.upload import upload_project

if TYPE_CHECKING:  # paramiko only where a connection is made
    from pytest_gpubench.remote.ssh import LineCallback, Remote

REMOTE_DIR = "gpubench-project"
OUT_DIR = ".gpubench-remote-out"
RESULTS_NAME = "results.json"
PLOT_NAME = "plot.png"
NODEIDS_NAME = "nodeids.txt"


@dataclass(frozen=True)
class Job:
    """What to run remotely.

    ``node_ids`` are relative to ``workdir`` (pytest's rootdir, relative to the git root
    ``project_root``). The project and the venv go under ``remote_base`` (default: the
    remote ``$HOME``). ``plot`` also writes the remote plot. ``setup_override`` and
    ``bench_template`` replace the install commands and the pytest command (tests use
    them); the template may use ``{project}``, ``{workdir}``, ``{out}``, ``{results}``,
    ``{nodeids}`` and ``{python}``.
    """

    project_root: Path
    node_ids: tuple[str, ...]
    workdir: str = "."
    pytest_args: tuple[str, ...] = ()
    extras: tuple[str, ...] = ("cuda", "torch")
    remote_dir: str = REMOTE_DIR
    remote_base: str | None = None
    plot: bool = False
    setup_override: tuple[str, ...] | None = None
    bench_template: str | None = None


@dataclass(frozen=True)
class JobResult:
    exit_code: int
    results_json: Path | None
    files: tuple[Path, ...]


@dataclass(frozen=True)
class RemotePaths:
    project: str
    workdir: str
    out: str
    venv: str

    @property
    def python(self) -> str:
        return f"{self.venv}/bin/python"


def remote_paths(base: str, job: Job) -> RemotePaths:
    home = base.rstrip("/")
    project = f"{home}/{job.remote_dir}"
    workdir = project if job.workdir in ("", ".") else f"{project}/{job.workdir}"
    return RemotePaths(project, workdir, f"{project}/{OUT_DIR}", f"{home}/.gpubench-venv")


def setup_commands(job: Job, paths: RemotePaths) -> list[str]:
    """Create the venv (installing python3-venv if the image lacks it) and install."""
    if job.setup_override is not None:
        return list(job.setup_override)
    venv = shlex.quote(paths.venv)
    extras = f"[{','.join(job.extras)}]" if job.extras else ""
    return [
        "nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true",
        f"python3 -m venv {venv} || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive"
        f" apt-get install -y -qq python3-venv && python3 -m venv {venv})",
        f"{shlex.quote(paths.python)} -m pip install -q --upgrade pip",
        f"cd {shlex.quote(paths.project)} && {shlex.quote(paths.python)} -m pip install -q -e "
        + shlex.quote(f".{extras}"),
    ]


def bench_command(job: Job, paths: RemotePaths) -> str:
    """``pytest --gpubench --gpubench-json …`` on the selected node ids."""
    results = f"{paths.out}/{RESULTS_NAME}"
    nodeids = f"{paths.out}/{NODEIDS_NAME}"
    if job.bench_template is not None:
        return job.bench_template.format(
            project=shlex.quote(paths.project),
            workdir=shlex.quote(paths.workdir),
            out=shlex.quote(paths.out),
            results=shlex.quote(results),
            nodeids=shlex.quote(nodeids),
            python=shlex.quote(paths.python),
        )
    args = ["--gpubench", "--gpubench-json", results, *job.pytest_args]
    if job.plot:
        args += ["--gpubench-plot", f"{paths.out}/{PLOT_NAME}"]
    args.append(f"@{nodeids}")
    quoted = " ".join(shlex.quote(a) for a in args)
    return f"cd {shlex.quote(paths.workdir)} && {shlex.quote(paths.python)} -m pytest {quoted}"


def fetched_path(local_out: Path, name: str) -> Path:
    """Where a file the machine listed goes: inside ``local_out``, or ``RemoteError``.

    The names come from the machine, so ``../x``, ``/etc/x`` or a link out are refused.
    """
    root = local_out.resolve()
    target = (local_out / name).resolve()
    if not name or "/" in name or "\\" in name or name in (".", "..") or target.parent != root:
        raise RemoteError(
            f"the machine listed a result named {name!r}, which would be written outside "
            f"{local_out}; refusing to fetch it (results are plain file names)"
        )
    return local_out / name


def run_job(
    remote: Remote,
    job: Job,
    local_out: Path,
    scratch: Path,
    on_line: LineCallback | None = None,
    step: Callable[[str], None] = lambda name: None,
    timeout_s: float | None = None,
    label: str = "gpubench-remote",
) -> JobResult:
    """Upload, install, run (streamed), fetch; the exit code is the remote pytest's.

    ``timeout_s`` bounds the install and the run together (the machine's time left before
    it powers itself off): a hung command raises ``RemoteError`` instead of blocking.
    ``label`` starts this function's own lines in ``on_line``.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def left() -> dict[str, float]:
        return {} if deadline is None else {"timeout_s": max(1.0, deadline - time.monotonic())}

    base = job.remote_base or remote.check('echo "$HOME"').strip().splitlines()[-1]
    paths = remote_paths(base, job)
    count = upload_project(remote, job.project_root, paths.project, scratch)
    if on_line:
        on_line(f"{label}: uploaded {job.project_root} ({count} files tracked by git)")
    remote.check(f"mkdir -p {shlex.quote(paths.out)}")
    nodeids = scratch / NODEIDS_NAME
    nodeids.write_text("".join(f"{n}\n" for n in job.node_ids))
    remote.put(nodeids, f"{paths.out}/{NODEIDS_NAME}")
    step("uploaded")
    for command in setup_commands(job, paths):
        remote.check(command, on_line, **left())
    step("installed")
    exit_code, _ = remote.run(bench_command(job, paths), on_line, **left())
    step("ran")
    local_out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in remote.listdir(paths.out):
        if name == NODEIDS_NAME:
            continue
        local = fetched_path(local_out, name)
        remote.get(f"{paths.out}/{name}", local)
        files.append(local)
    step("fetched")
    results = local_out / RESULTS_NAME
    return JobResult(exit_code, results if results.exists() else None, tuple(files))
