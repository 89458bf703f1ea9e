"""SSH to a rented machine with paramiko: connect with retries, run with streamed output,
put, get.

Host keys: the first key the machine presents is checked against the fingerprints it printed
to its console (where the provider can read them in time; otherwise the user is told) and
recorded in a per-session known_hosts file; later connections are checked against it (never
silently re-added). The private key is read from its file and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from pytest_gpubench.remote.errors import RemoteError

log = logging.getLogger("pytest_gpubench.remote")

LineCallback = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    host: str
    port: int = 22
    user: str = "ubuntu"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class HostKeyMismatch(paramiko.SSHException):
    """The server's key is not one the instance printed to its console: refuse, never retry."""


#: The block cloud-init prints to the console, one ``BITS SHA256:... COMMENT (TYPE)`` a line.
FINGERPRINTS_RE = re.compile(
    r"-----BEGIN SSH HOST KEY FINGERPRINTS-----(.*?)-----END SSH HOST KEY FINGERPRINTS-----",
    re.DOTALL,
)
SHA256_RE = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def fingerprint(key: Any) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a host key (as cloud-init prints it)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def console_fingerprints(output: str) -> set[str] | None:
    """The host key fingerprints in an instance's console output; None if not printed yet."""
    try:
        text = base64.b64decode(output, validate=True).decode("utf-8", errors="replace")
    except ValueError:
        text = output  # already decoded
    blocks = FINGERPRINTS_RE.findall(text)
    if not blocks:
        return None
    return {found for block in blocks for found in SHA256_RE.findall(block)}


class RecordFirstKey(paramiko.MissingHostKeyPolicy):
    """Record the first key, into this session's own known_hosts file only, after checking
    it against the fingerprints the instance printed to its console where ``expected``
    gives them; where it gives None (not printed in time), ``say`` says it was not checked.
    """

    def __init__(
        self,
        known_hosts: Path,
        expected: Callable[[], set[str] | None] | None = None,
        say: Callable[[str], None] = log.warning,
    ) -> None:
        self.known_hosts = known_hosts
        self.expected = expected
        self.say = say

    def _verify(self, hostname: str, key: Any) -> None:
        if self.expected is None:
            return
        printed = self.expected()
        if printed is None:
            self.say(
                f"the {key.get_name()} host key of {hostname} "
                f"({fingerprint(key)}) could not be checked against the instance's console "
                "output in time; trusting it on first use"
            )
        elif fingerprint(key) not in printed:
            raise HostKeyMismatch(
                f"{hostname} presented a {key.get_name()} host key {fingerprint(key)} that the "
                f"instance did not print to its console ({', '.join(sorted(printed))}); "
                "refusing to connect (a man in the middle?)"
            )
        else:
            log.info("host key %s of %s matches the console output", fingerprint(key), hostname)

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        self._verify(hostname, key)
        recorded = paramiko.HostKeys()
        if self.known_hosts.exists():
            recorded.load(str(self.known_hosts))
        if recorded.lookup(hostname):
            raise paramiko.SSHException(
                f"{hostname} presented a {key.get_name()} key, but a different key is recorded "
                f"in {self.known_hosts}; refusing to connect"
            )
        recorded.add(hostname, key.get_name(), key)
        client.get_host_keys().add(hostname, key.get_name(), key)
        fd = os.open(self.known_hosts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        recorded.save(str(self.known_hosts))
        log.info("recorded %s host key of %s (%s)", key.get_name(), hostname, key.fingerprint)


class Remote:
    """A connected SSH session: ``run``, ``put``, ``get``."""

    def __init__(self, client: paramiko.SSHClient, target: Target) -> None:
        self.client = client
        self.target = target
        self._sftp: paramiko.SFTPClient | None = None

    def run(
        self,
        command: str,
        on_line: LineCallback | None = None,
        *,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> tuple[int, str]:
        """Run ``command`` in a shell; stdout and stderr are merged and streamed by line.

        Returns ``(exit_status, output)``; -1 when the command ended without a status.
        """
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise RemoteError(f"SSH connection to {self.target} is closed")
        channel = transport.open_session()
        channel.set_combine_stderr(True)
        channel.settimeout(0.5)
        channel.exec_command(command)
        deadline = None if timeout_s is None else clock() + timeout_s
        lines: list[str] = []
        pending = b""

        def emit(raw: bytes) -> None:
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            lines.append(text)
            if on_line:
                on_line(text)

        try:
            while True:
                try:
                    chunk = channel.recv(32768)
                except TimeoutError:
                    if deadline is not None and clock() > deadline:
                        raise RemoteError(
                            f"remote command ran past {timeout_s} s on {self.target}: {command!r}"
                        ) from None
                    continue
                if not chunk:
                    break
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    emit(raw)
            if pending:
                emit(pending)
            return channel.recv_exit_status(), "\n".join(lines)
        finally:
            channel.close()

    def check(self, command: str, on_line: LineCallback | None = None, **kwargs: Any) -> str:
        """``run`` that raises ``RemoteError`` on a non-zero exit status."""
        status, output = self.run(command, on_line, **kwargs)
        if status != 0:
            tail = "\n".join(output.splitlines()[-20:])
            raise RemoteError(f"{command!r} exited {status} on {self.target}:\n{tail}")
        return output

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
        return self._sftp

    def put(self, local: Path | str, remote: str) -> None:
        self.sftp.put(str(local), remote)

    def get(self, remote: str, local: Path | str) -> None:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        self.sftp.get(remote, str(local))

    def listdir(self, remote: str) -> list[str]:
        return sorted(self.sftp.listdir(remote))

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        self.client.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    target: Target,
    key_path: Path,
    known_hosts: Path,
    *,
    timeout_s: float = 600.0,
    retry_delay_s: float = 5.0,
    connect_timeout_s: float = 10.0,
    auth_retries: int = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    expected_fingerprints: Callable[[], set[str] | None] | None = None,
    say: Callable[[str], None] = log.warning,
    user_hint: str = "the SSH user",
) -> Remote:
    """Connect, retrying while the instance boots (refused, timed out, no banner yet).

    ``auth_retries`` tolerates a key refused while cloud-init has not installed it yet;
    after that a refused key is an error. ``clock``/``sleep`` bound and pace the retries.
    ``expected_fingerprints`` gives the host key fingerprints the instance printed (None if
    it could not tell in time: ``say`` then says the key was not checked). ``user_hint``
    names what sets the user, for the message of a refused key.
    """
    try:
        pkey = paramiko.PKey.from_path(key_path)
    except (OSError, paramiko.SSHException) as exc:
        raise RemoteError(f"cannot read SSH private key file {key_path}: {exc}") from None
    deadline = clock() + timeout_s
    refused = 0
    while True:
        client = paramiko.SSHClient()
        if known_hosts.exists():
            client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(RecordFirstKey(known_hosts, expected_fingerprints, say))
        try:
            client.connect(
                target.host,
                port=target.port,
                username=target.user,
                pkey=pkey,
                timeout=connect_timeout_s,
                banner_timeout=connect_timeout_s,
                auth_timeout=connect_timeout_s,
                look_for_keys=False,
                allow_agent=False,
            )
            transport = client.get_transport()
            if transport is not None:
                transport.set_keepalive(30)  # notice an instance that went away mid-run
            return Remote(client, target)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise RemoteError(
                f"host key of {target.host} changed since it was recorded in {known_hosts} "
                f"(got {exc.key.get_name()} {exc.key.fingerprint}); refusing to connect"
            ) from None
        except HostKeyMismatch as exc:
            client.close()
            raise RemoteError(str(exc)) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            refused += 1
            if refused > auth_retries or clock() >= deadline:
                raise RemoteError(
                    f"SSH key {key_path.name} refused by {target} ({exc}); the server does not "
                    f"accept this key for this user: check {user_hint} and the key pair"
                ) from None
            last: BaseException = exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            last = exc
            if clock() >= deadline:
                raise RemoteError(
                    f"no SSH answer from {target} within {timeout_s:.0f} s (last: {exc!r}); "
                    "check that the security group allows your address and the instance booted"
                ) from None
        log.info("SSH to %s not ready (%r); retrying in %.0f s", target, last, retry_delay_s)
        sleep(retry_delay_s)
