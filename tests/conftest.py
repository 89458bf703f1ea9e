"""Test setup: modules pytester runs need preloaded, and the EC2 fixtures (moto in-process
and as a server, a local sshd)."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sshd import Sshd, make_sshd, unavailable_reason

#: What pytester's inner sessions import, loaded once up front: its in-process runs unload the
#: modules a run imported, and C extensions (numpy.fft under scipy) refuse a second load.
PRELOADED = (
    "torch",  # the default devices probe torch-cpu; a second import crashes the interpreter
    "array_api_strict",
    "array_api_compat.numpy",
    "scipy.stats",
    "rich.console",
    "rich.table",
    "matplotlib.figure",
    "matplotlib.ticker",
    "matplotlib.backends.backend_agg",
    "pytest_gpubench.gate",
    "pytest_gpubench.report",
    "pytest_gpubench.plot",
    "pytest_gpubench.ec2.provider",
    "pytest_gpubench.remote.driver",
    "pytest_gpubench.remote.job",
    "pytest_gpubench.remote.ssh",
    # moto's server imports a service's backend on its first request; one first made inside
    # a pytester run is unloaded after it, and the next request sees a fresh, empty backend
    "moto.ec2.models",
    "moto.sts.models",
    "moto.ssm.models",
)
for _module in PRELOADED:
    with contextlib.suppress(ImportError):  # optional extras: their tests skip themselves
        importlib.import_module(_module)

REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fake credentials, a temporary ledger, instance-type validation on; returns the ledger."""
    pytest.importorskip("moto")
    from moto import settings

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setattr(settings, "EC2_ENABLE_INSTANCE_TYPE_VALIDATION", True)
    for name in ("GPUBENCH_EC2_PRICE_PER_HOUR", "GPUBENCH_EC2_PRICE_FILE"):
        monkeypatch.delenv(name, raising=False)
    ledger = tmp_path / "ledger"
    monkeypatch.setenv("GPUBENCH_EC2_LEDGER_DIR", str(ledger))
    return ledger


@pytest.fixture
def moto_aws(aws_env: Path) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """A ``ThreadedMotoServer`` on 127.0.0.1 and a free port, for the whole session."""
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer

    from tests.sshd import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_server(aws_env: Path, moto_server_url: str) -> Iterator[str]:
    """The server's URL, with its state reset before and after the test."""
    import urllib.request

    def reset() -> None:
        request = urllib.request.Request(f"{moto_server_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    reset()
    yield moto_server_url
    reset()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """A running OpenSSH server on 127.0.0.1 accepting ``sshd.client_key`` (skips without sshd)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = make_sshd(tmp_path / "sshd")
    server.start()
    try:
        yield server
    finally:
        server.stop()
