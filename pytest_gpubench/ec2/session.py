"""What one EC2 session created (``Ec2Session``) and what it calls out to (``Ec2Deps``)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_gpubench.ec2 import INSTALL_HINT
from pytest_gpubench.ec2.faults import Backoff, Ec2Error
from pytest_gpubench.ec2.pricing import PriceQuote

log = logging.getLogger("pytest_gpubench.ec2")

#: The steps of a session, in order: ``Ec2Provider.up``'s, then the shared layer's SSH.
STEPS = ("credentials", "plan", "key_pair", "security_group", "instance", "running", "connected")


def default_client(service: str, region: str) -> Any:
    """A boto3 client with botocore's retries off (``launch.client_config``)."""
    try:
        import boto3
    except ImportError as exc:
        raise Ec2Error(f"the EC2 mode needs boto3 and paramiko: {INSTALL_HINT}") from exc
    from pytest_gpubench.ec2.launch import client_config

    return boto3.session.Session(region_name=region).client(service, config=client_config())


@dataclass
class Ec2Deps:
    """What an EC2 session calls out to: AWS clients, this machine's public address, the SSH
    target of an instance, clocks, waits, progress. The defaults are the real ones; tests
    pass moto's clients, a local sshd as the target, and no waiting."""

    client: Callable[[str, str], Any] = default_client
    public_ip: Callable[[], str] | None = None
    #: ``(instance description, key path, options) -> remote.ssh.Target``.
    target: Callable[[dict[str, Any], Path, Any], Any] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    on_step: Callable[[str], None] = lambda step: None
    progress: Callable[[str], None] = log.info
    backoff: Backoff | None = None
    waiter_delay_s: float = 5.0
    sg_delete_delay_s: float = 5.0
    #: How long to wait for the host key fingerprints in the console output (cloud-init
    #: prints them at boot; EC2 shows the console with a lag).
    console_wait_s: float = 180.0


@dataclass
class Ec2Session:
    """What this session created, so teardown (and ``sweep``) can find it."""

    session_id: str
    instance_type: str
    region: str
    owner: str = ""
    expires: datetime | None = None
    image_id: str | None = None
    key_name: str | None = None
    key_path: Path | None = None
    security_group_name: str | None = None
    security_group_id: str | None = None
    instance_id: str | None = None
    zone: str | None = None
    market: str | None = None
    address: str | None = None
    price: PriceQuote | None = None
    launched_at: float | None = None
    ended_at: float | None = None
    teardown_errors: list[str] = field(default_factory=list)

    def seconds_held(self, now: float) -> float:
        if self.launched_at is None:
            return 0.0
        return max(0.0, (self.ended_at if self.ended_at is not None else now) - self.launched_at)

    def summary(self, now: float) -> dict[str, Any]:
        """The cloud record (``results.extra["cloud"]``; ``remote.summary`` formats it)."""
        held = round(self.seconds_held(now), 1)
        price = self.price or PriceQuote(None, "unknown")
        summary = {
            "provider": "EC2",
            "instance_type": self.instance_type,
            "instance_id": self.instance_id,
            "region": self.region,
            "zone": self.zone,
            "market": self.market,
            "price_per_hour": price.usd_per_hour,
            "seconds_held": held,
            "cost_usd": price.cost(held),
            "price_source": price.source,
            "session": self.session_id,
        }
        if self.teardown_errors:
            summary["teardown_errors"] = list(self.teardown_errors)
        return summary


def new_session_id(now: datetime) -> str:
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
