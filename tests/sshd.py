"""A throwaway OpenSSH server on 127.0.0.1 for the remote-layer tests.

Generated host key, an ``authorized_keys`` holding a generated ed25519 client key, runs as
the current user (``StrictModes no``, ``UsePAM no``); everything lives in one directory.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


def unavailable_reason() -> str | None:
    """Why a test sshd cannot run here (None when it can)."""
    if not Path(SSHD).exists():
        return f"{SSHD} not installed (Debian: apt-get install openssh-server)"
    if not PRIVSEP_DIR.is_dir() and os.geteuid() != 0:
        return f"{PRIVSEP_DIR} missing and not root to create it"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_ed25519_key(path: Path) -> str:
    """Write an OpenSSH private key (0600) to ``path``; return its public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode()


def public_key_of(private_key_path: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(private_key_path.read_bytes(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


@dataclass
class Sshd:
    directory: Path
    port: int
    user: str
    client_key: Path
    process: subprocess.Popen | None = None

    @property
    def authorized_keys(self) -> Path:
        return self.directory / "authorized_keys"

    def authorize(self, public_key_line: str) -> None:
        with self.authorized_keys.open("a") as handle:
            handle.write(public_key_line.strip() + "\n")

    def start(self, timeout_s: float = 10.0) -> None:
        if not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
        host_key = self.directory / "ssh_host_ed25519_key"
        write_ed25519_key(host_key)
        config = self.directory / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {self.directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    f"AllowUsers {self.user}",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config), "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "sshd.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "sshd.log").read_text()
                raise RuntimeError(f"sshd exited {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not answer on port {self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def make_sshd(directory: Path) -> Sshd:
    directory.mkdir(parents=True, exist_ok=True)
    client_key = directory / "client_ed25519"
    sshd = Sshd(directory, free_port(), getpass.getuser(), client_key)
    sshd.authorize(write_ed25519_key(client_key))
    return sshd
