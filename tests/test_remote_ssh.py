"""The shared SSH layer (and the upload and job over it) against a real OpenSSH server on
127.0.0.1 (skipped without sshd)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("paramiko")

from pytest_gpubench.remote.errors import RemoteError
from pytest_gpubench.remote.ssh import Target, connect
from pytest_gpubench.remote.upload import git_tracked_files, upload_project
from tests.sshd import Sshd, make_sshd, unavailable_reason, write_ed25519_key


def target_of(sshd: Sshd) -> Target:
    return Target("127.0.0.1", sshd.port, sshd.user)


def open_remote(sshd: Sshd, tmp_path: Path, **kwargs):
    return connect(target_of(sshd), sshd.client_key, tmp_path / "known_hosts", **kwargs)


def test_run_streams_lines_live_and_returns_the_exit_status(sshd: Sshd, tmp_path: Path) -> None:
    arrivals: list[tuple[str, float]] = []
    with open_remote(sshd, tmp_path) as remote:
        status, output = remote.run(
            "echo first; sleep 0.6; echo second >&2; sleep 0.2; printf tail; exit 3",
            on_line=lambda line: arrivals.append((line, time.monotonic())),
        )
        done = time.monotonic()
    assert status == 3
    assert output == "first\nsecond\ntail"
    assert [line for line, _ in arrivals] == ["first", "second", "tail"]
    assert done - arrivals[0][1] > 0.4  # the first line arrived while the command still ran


def test_put_and_get_over_sftp(sshd: Sshd, tmp_path: Path) -> None:
    local = tmp_path / "up.txt"
    local.write_text("payload\n")
    remote_path = str(tmp_path / "remote-copy.txt")
    with open_remote(sshd, tmp_path) as remote:
        remote.put(local, remote_path)
        assert remote.check(f"cat {remote_path}") == "payload"
        remote.check(f"echo made-there > {tmp_path}/made.txt")
        remote.get(f"{tmp_path}/made.txt", tmp_path / "back" / "made.txt")
    assert (tmp_path / "back" / "made.txt").read_text() == "made-there\n"


def test_check_raises_with_the_output_tail(sshd: Sshd, tmp_path: Path) -> None:
    with open_remote(sshd, tmp_path) as remote, pytest.raises(RemoteError, match="exited 7"):
        remote.check("echo why; exit 7")


def test_host_key_recorded_on_first_connect_then_enforced(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    open_remote(sshd, tmp_path).close()
    entries = known.read_text().splitlines()
    assert len(entries) == 1
    assert entries[0].startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert known.stat().st_mode & 0o777 == 0o600
    open_remote(sshd, tmp_path).close()  # the recorded key matches
    assert known.read_text().splitlines() == entries

    impostor = write_ed25519_key(tmp_path / "impostor").split()[1]
    known.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {impostor}\n")
    with pytest.raises(RemoteError, match=r"host key of 127\.0\.0\.1 changed"):
        open_remote(sshd, tmp_path)


def test_refused_key_is_a_clear_error(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    write_ed25519_key(stranger)
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"SSH key stranger refused by .*@127\.0\.0\.1"):
        connect(target_of(sshd), stranger, tmp_path / "known_hosts", auth_retries=0)
    assert time.monotonic() - started < 5


def test_connect_retries_until_the_server_answers(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = make_sshd(tmp_path / "sshd")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the "instance" finishes booting after two tries
        sleeps.append(seconds)
        if len(sleeps) == 2:
            server.start()

    try:
        remote = connect(
            target_of(server),
            server.client_key,
            tmp_path / "known_hosts",
            sleep=sleep,
            retry_delay_s=3.0,
            connect_timeout_s=2.0,
        )
        assert remote.check("echo up") == "up"
        remote.close()
    finally:
        server.stop()
    assert sleeps == [3.0, 3.0]


def test_connect_gives_up_at_its_deadline(tmp_path: Path) -> None:
    from tests.sshd import free_port

    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    key = tmp_path / "key"
    write_ed25519_key(key)
    with pytest.raises(RemoteError, match=r"no SSH answer from .* within 30 s"):
        connect(
            Target("127.0.0.1", free_port(), "nobody"),
            key,
            tmp_path / "known_hosts",
            timeout_s=30,
            retry_delay_s=5,
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert sleeps == [5] * 6


def make_repo(root: Path) -> Path:
    root.mkdir()
    (root / "sub").mkdir()
    (root / "a.txt").write_text("a\n")
    (root / "sub" / "b.py").write_text("B = 1\n")
    (root / "gone.txt").write_text("tracked, then deleted\n")
    run = lambda *args: subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    (root / "gone.txt").unlink()
    (root / "untracked.txt").write_text("not uploaded\n")
    (root / "a.txt").write_text("a, edited\n")
    return root


def test_project_upload_sends_the_tracked_files_only(sshd: Sshd, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "project")
    assert git_tracked_files(root) == ["a.txt", "sub/b.py"]
    remote_dir = str(tmp_path / "remote" / "project")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with open_remote(sshd, tmp_path) as remote:
        upload_project(remote, root, remote_dir, scratch)
        listing = remote.check(f"cd {remote_dir} && find . -type f | sort")
        edited = remote.check(f"cat {remote_dir}/a.txt")
    assert listing.splitlines() == ["./a.txt", "./sub/b.py"]
    assert edited == "a, edited"


def test_upload_refuses_a_directory_that_would_wipe_home(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="whole tree"):
        upload_project(None, tmp_path, "~/", tmp_path)  # type: ignore[arg-type]


def test_a_hung_remote_job_stops_at_its_deadline(sshd: Sshd, tmp_path: Path) -> None:
    """The run gets the instance's time left before its TTL: a command that never ends raises
    instead of blocking until the instance powers off."""
    from pytest_gpubench.remote.job import Job, run_job

    root = make_repo(tmp_path / "project")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    job = Job(
        project_root=root,
        node_ids=("test_x.py::test_x",),
        remote_base=str(tmp_path / "remote"),
        setup_override=("true",),
        bench_template="sleep 30",
    )
    start = time.monotonic()
    with (
        open_remote(sshd, tmp_path) as remote,
        pytest.raises(RemoteError, match="ran past"),
    ):
        run_job(remote, job, tmp_path / "out", scratch, timeout_s=1.5)
    assert time.monotonic() - start < 20


def console_with(*key_files: Path) -> str:
    """Console output as EC2 returns it (base64), with cloud-init's fingerprint block made
    by ssh-keygen itself for ``key_files``."""
    import base64

    lines = [
        subprocess.run(["ssh-keygen", "-l", "-f", str(k)], capture_output=True, text=True)
        .stdout.strip()
        .replace("no comment", "root@ip-10-0-0-1")
        for k in key_files
    ]
    text = "\n".join(
        [
            "[   12.3] cloud-init[812]: Cloud-init v. 24.1 finished",
            "ec2: #############################################################",
            "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
            *(f"ec2: {line}" for line in lines),
            "ec2: -----END SSH HOST KEY FINGERPRINTS-----",
            "ec2: #############################################################",
        ]
    )
    return base64.b64encode(text.encode()).decode()


def test_the_host_key_is_checked_against_the_console_fingerprints(
    sshd: Sshd, tmp_path: Path
) -> None:
    """Issue 13, finding 8: no longer trust on first use where the console says."""
    from pytest_gpubench.remote.ssh import console_fingerprints

    host_key = sshd.directory / "ssh_host_ed25519_key"
    said: list[str] = []
    printed = console_fingerprints(console_with(host_key))
    assert printed and all(p.startswith("SHA256:") for p in printed)
    open_remote(sshd, tmp_path, expected_fingerprints=lambda: printed, say=said.append).close()
    assert said == []
    assert (tmp_path / "known_hosts").exists()


def test_a_host_key_the_console_did_not_print_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    from pytest_gpubench.remote.ssh import console_fingerprints

    other = tmp_path / "other-host-key"
    write_ed25519_key(other)
    printed = console_fingerprints(console_with(other))
    with pytest.raises(RemoteError, match="did not print to its console"):
        open_remote(sshd, tmp_path, expected_fingerprints=lambda: printed, timeout_s=30)
    assert not (tmp_path / "known_hosts").exists()


def test_a_host_key_not_checkable_in_time_is_said_on_screen(sshd: Sshd, tmp_path: Path) -> None:
    said: list[str] = []
    open_remote(sshd, tmp_path, expected_fingerprints=lambda: None, say=said.append).close()
    [line] = said
    assert "could not be checked against the instance's console output in time" in line
    assert "SHA256:" in line


def test_console_without_fingerprints_yet_reads_as_none() -> None:
    import base64

    from pytest_gpubench.remote.ssh import console_fingerprints

    booting = base64.b64encode(b"Linux version 6.8\nKernel command line: ro\n").decode()
    assert console_fingerprints(booting) is None
