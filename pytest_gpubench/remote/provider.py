"""The provider interface, declared once: each cloud implements the same names.

A provider rents one machine (``up``), destroys everything it created (``down``), deletes
expired leftovers of earlier sessions (``sweep``) and prices the machine (``price``). The
shared layer (:mod:`.lifecycle`, :mod:`.driver`) does the rest the same way for every
cloud: SSH, the job, fetching results, the cost line, and calling ``down`` on every exit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Price:
    """USD per hour, where that number came from, and the shortest time billed per launch."""

    usd_per_hour: float | None
    source: str
    min_billed_s: float = 0.0

    def cost(self, seconds: float) -> float | None:
        """Cost of holding the machine ``seconds`` (a session that ended early still pays
        the minimum charge, if it held the machine at all)."""
        if self.usd_per_hour is None:
            return None
        billed = max(seconds, self.min_billed_s) if seconds > 0 else 0.0
        return round(self.usd_per_hour * billed / 3600.0, 6)


@dataclass(frozen=True)
class Machine:
    """What ``up`` returns: where to reach the machine over SSH, and what was rented.

    ``scratch`` is a private directory the provider deletes in ``down``: the private key
    lives there, and the shared layer keeps its known_hosts file and uploads there.
    ``host_keys`` gives the host key fingerprints the machine showed out of band (a cloud
    console), None when they could not be read in time; without it the first key is trusted.
    """

    session_id: str
    host: str
    user: str
    key_path: Path
    scratch: Path
    port: int = 22
    instance_id: str | None = None
    instance_type: str | None = None
    price: Price | None = None
    expires: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    host_keys: Callable[[], set[str] | None] | None = None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SshDeps:
    """How patiently the shared layer reaches a provider's machines over SSH: ``timeout_s``
    for a machine still booting, ``auth_retries`` for a key installed late (cloud-init).
    ``connect`` replaces :func:`.ssh.connect` (tests); None is the real one."""

    connect: Callable[..., Any] | None = None
    timeout_s: float = 600.0
    retry_delay_s: float = 5.0
    auth_retries: int = 12
    #: What sets the SSH user, named when the machine refuses the key.
    user_hint: str = "the SSH user"


@dataclass(frozen=True)
class Leftover:
    """One tagged resource of an earlier session, as ``sweep`` found it."""

    kind: str  # e.g. "instance", "security-group", "key-pair"
    resource_id: str
    session: str
    owner: str
    expires: str

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.resource_id} (session {self.session}, owner {self.owner}, "
            f"expired {self.expires})"
        )


@dataclass
class SweepReport:
    expired: list[Leftover] = field(default_factory=list)
    fresh: list[Leftover] = field(default_factory=list)
    deleted: list[Leftover] = field(default_factory=list)
    errors: list[tuple[Leftover, BaseException]] = field(default_factory=list)


@runtime_checkable
class Provider(Protocol):
    """One cloud. ``down`` destroys whatever ``up`` created, even when ``up`` failed half
    way, runs every step even when one fails, and raises (naming what is left and how to
    delete it) only after trying them all; the shared layer calls it on every exit path.
    """

    #: Short name for progress lines (``gpubench-NAME: ...``) and local paths.
    name: str
    #: The cloud's name in sentences and in the cost line, e.g. "EC2".
    title: str
    ssh: SshDeps

    def up(self) -> Machine:
        """Rent one machine, each resource tagged and recorded before it is used."""
        ...

    def down(self) -> None:
        """Destroy everything this session created (see the class docstring)."""
        ...

    def sweep(self, *, dry_run: bool = False, session: str | None = None) -> SweepReport:
        """Delete expired leftovers of earlier sessions (or one session's, expired or not)."""
        ...

    def price(self) -> Price:
        """The machine's price per hour (an estimate before ``up``)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Where it ran and what it cost: the record :func:`.summary.format_summary` reads
        (``provider``, ``instance_type``, ``instance_id``, ``region``, ``zone``, ``market``,
        ``seconds_held``, ``price_per_hour``, ``cost_usd``, ``price_source``)."""
        ...

    def explain(self, exc: BaseException) -> str | None:
        """Words a user can act on for an error of this cloud's SDK; None if not one."""
        ...
