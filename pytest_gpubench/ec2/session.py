"""One EC2 session as one context manager: credentials → create → ready → run → destroy.

Safety rules, in order: options and the SSH CIDR are checked before AWS is called;
credentials are checked (``sts.get_caller_identity``) before any resource exists; every
resource is tagged (session, owner, expiry) at creation and recorded in the local ledger
before it is used; the instance powers itself off (→ terminated) at its time to live;
teardown runs on every exit path (SIGTERM included), runs every step even when one fails,
and never hides the exception that ended the session.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pytest_gpubench.ec2 import INSTALL_HINT
from pytest_gpubench.ec2.ami import resolve_ami
from pytest_gpubench.ec2.faults import (
    CREDENTIAL_CODES,
    Backoff,
    Ec2ConfigError,
    Ec2Error,
    SigtermInterrupt,
    TeardownError,
    credentials_error,
    error_code,
)
from pytest_gpubench.ec2.launch import (
    LaunchRequest,
    encrypted_root,
    launch,
    offered_zones,
    user_data,
)
from pytest_gpubench.ec2.ledger import Ledger
from pytest_gpubench.ec2.pricing import PriceQuote, override_quote, quote
from pytest_gpubench.ec2.resources import (
    TAG_SESSION,
    allow_ssh,
    check_ssh_cidr,
    create_key_pair,
    create_security_group,
    delete_key_pair,
    delete_security_group,
    detect_public_ip,
    session_instance_ids,
    session_tags,
    terminate_instances,
    wait_for_state,
)

log = logging.getLogger("pytest_gpubench.ec2")

DEFAULT_INSTANCE_TYPE = "g4dn.xlarge"
DEFAULT_REGION = "us-east-1"
DEFAULT_TTL_MINUTES = 120
MAX_TTL_MINUTES = 24 * 60
#: An AMI id: ami- and 8 or 17 hex digits.
AMI_ID_RE = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
#: Below this TTL (minutes) the install alone (torch, CuPy) may outlast the instance.
SHORT_TTL_MINUTES = 15
#: The smallest spot max price EC2's 4-decimal MaxPrice can say.
MIN_MAX_PRICE = 0.0001
STEPS = ("credentials", "plan", "key_pair", "security_group", "instance", "running", "connected")


@dataclass(frozen=True)
class Ec2Options:
    """What the user asked for (the ``--gpubench-ec2*`` options)."""

    instance_type: str = DEFAULT_INSTANCE_TYPE
    region: str = DEFAULT_REGION
    spot: bool = False
    max_price: float | None = None
    spot_fallback: bool = False
    ami: str | None = None
    ttl_minutes: int = DEFAULT_TTL_MINUTES
    ssh_cidr: str | None = None
    allow_world: bool = False
    ssh_user: str = "ubuntu"
    ledger_dir: Path | None = None
    price_per_hour: float | None = None

    def validate(self) -> None:
        if not 1 <= self.ttl_minutes <= MAX_TTL_MINUTES:
            raise Ec2ConfigError(
                f"--gpubench-ec2-ttl must be 1..{MAX_TTL_MINUTES} minutes, got {self.ttl_minutes}"
            )
        if self.max_price is not None and not (
            self.spot and math.isfinite(self.max_price) and self.max_price >= MIN_MAX_PRICE
        ):
            raise Ec2ConfigError(
                f"--gpubench-ec2-max-price {self.max_price} needs --gpubench-ec2-spot and a "
                f"finite USD/hour of at least {MIN_MAX_PRICE} (EC2 takes 4 decimals)"
            )
        if self.price_per_hour is not None and not (
            math.isfinite(self.price_per_hour) and self.price_per_hour > 0
        ):
            raise Ec2ConfigError(
                f"--gpubench-ec2-price must be a finite positive USD/hour, got "
                f"{self.price_per_hour}"
            )
        if self.ami is not None and not AMI_ID_RE.match(self.ami):
            raise Ec2ConfigError(
                f"--gpubench-ec2-ami {self.ami!r} is not an AMI id like ami-0123456789abcdef0"
            )
        if self.spot_fallback and not self.spot:
            raise Ec2ConfigError(
                "--gpubench-ec2-spot-fallback only applies with --gpubench-ec2-spot"
            )


def default_client(service: str, region: str) -> Any:
    """A boto3 client with botocore's retries off (``launch.client_config``)."""
    try:
        import boto3
    except ImportError as exc:
        raise Ec2Error(f"the EC2 mode needs boto3 and paramiko: {INSTALL_HINT}") from exc
    from pytest_gpubench.ec2.launch import client_config

    return boto3.session.Session(region_name=region).client(service, config=client_config())


@dataclass
class Hooks:
    """Injection points: AWS clients, clocks, SSH target, progress; defaults are real."""

    client: Callable[[str, str], Any] = default_client
    public_ip: Callable[[], str] | None = None
    target: Callable[[dict[str, Any], Path, Ec2Options], Any] | None = None
    connect: Callable[..., Any] | None = None  # remote.connect's signature
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    on_step: Callable[[str], None] = lambda step: None
    progress: Callable[[str], None] = log.info
    on_session: Callable[[Ec2Session], None] = lambda session: None
    backoff: Backoff | None = None
    waiter_delay_s: float = 5.0
    sg_delete_delay_s: float = 5.0
    ssh_timeout_s: float = 600.0
    ssh_retry_delay_s: float = 5.0
    ssh_auth_retries: int = 12
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
        """The ``results.extra["ec2"]`` record."""
        held = round(self.seconds_held(now), 1)
        price = self.price or PriceQuote(None, "unknown")
        summary = {
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


class LiveInstance:
    """A running instance with an SSH connection, handed to the session's user."""

    def __init__(self, session: Ec2Session, remote: Any, hooks: Hooks, scratch: Path) -> None:
        self.session = session
        self.remote = remote
        self.scratch = scratch
        self._hooks = hooks

    @property
    def instance_id(self) -> str:
        assert self.session.instance_id
        return self.session.instance_id

    @property
    def price_per_hour(self) -> float | None:
        return self.session.price.usd_per_hour if self.session.price else None

    def run(self, command: str, on_line: Callable[[str], None] | None = None) -> tuple[int, str]:
        return self.remote.run(command, on_line)

    def put(self, local: Path | str, remote: str) -> None:
        self.remote.put(local, remote)

    def get(self, remote: str, local: Path | str) -> None:
        self.remote.get(remote, local)

    def step(self, name: str) -> None:
        """Report a step of the work done on the instance (tests inject faults here)."""
        self._hooks.on_step(name)

    def summary(self) -> dict[str, Any]:
        return self.session.summary(self._hooks.clock())


def new_session_id(now: datetime) -> str:
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``SigtermInterrupt`` (main thread only); restore the old handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SigtermInterrupt("SIGTERM received: tearing the EC2 session down")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def sweep_command(region: str, session_id: str | None = None) -> str:
    """The command that deletes a session's leftovers (or every expired one)."""
    only = f" --session {session_id}" if session_id else ""
    return f"python -m pytest_gpubench.ec2 sweep --region {region}{only}"


@contextmanager
def ctrl_c_said_then_abandons(say: Callable[[str], None], abandoned: list[bool]) -> Iterator[None]:
    """While teardown runs (main thread): the first Ctrl-C is said and ignored, the next
    appends to ``abandoned`` and raises ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    presses = 0

    def handler(signum: int, frame: Any) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            say(
                "gpubench-ec2: teardown is still running (terminating the instance, deleting "
                "its security group and key pair); press Ctrl-C again to abandon it"
            )
            return
        abandoned.append(True)
        raise KeyboardInterrupt("EC2 teardown abandoned")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(
            signal.SIGINT, previous if previous is not None else signal.default_int_handler
        )


def ssh_cidr_for(options: Ec2Options, hooks: Hooks) -> str:
    if options.ssh_cidr:
        return check_ssh_cidr(options.ssh_cidr, allow_world=options.allow_world)
    if options.allow_world:
        return "0.0.0.0/0"
    return check_ssh_cidr(detect_public_ip(hooks.public_ip))


def default_target(instance: dict[str, Any], key_path: Path, options: Ec2Options) -> Any:
    from pytest_gpubench.ec2.remote import Target

    host = instance.get("PublicIpAddress") or instance.get("PublicDnsName")
    if not host:
        raise Ec2Error(
            f"instance {instance.get('InstanceId')} has no public address; the default VPC's "
            "subnets must assign public IPv4 addresses"
        )
    return Target(host, 22, options.ssh_user)


class _Lifecycle:
    """The steps of one session; ``up`` creates, ``down`` destroys what exists."""

    def __init__(self, options: Ec2Options, hooks: Hooks, scratch: Path) -> None:
        self.options = options
        self.hooks = hooks
        self.scratch = scratch
        self.ledger = Ledger(options.ledger_dir)
        self.backoff = hooks.backoff or Backoff(sleep=hooks.sleep, clock=hooks.clock)
        self.patient = self.backoff.patient()  # teardown: giving up leaves a bill running
        now = hooks.now()
        self.session = Ec2Session(new_session_id(now), options.instance_type, options.region)
        hooks.on_session(self.session)
        self.ec2: Any = None
        self.remote: Any = None

    def _step(self, name: str) -> None:
        self.hooks.progress(f"gpubench-ec2 [{self.session.session_id}] {name}: done")
        self.hooks.on_step(name)

    def _record(self, **fields: Any) -> None:
        self.ledger.record(self.session.session_id, **fields)

    def up(self) -> LiveInstance:
        options, hooks, session = self.options, self.hooks, self.session
        cidr = ssh_cidr_for(options, hooks)
        explicit_price = override_quote(options.instance_type, options.price_per_hour, _env())

        sts = hooks.client("sts", options.region)
        identity = self._identity(sts)
        self.ec2 = hooks.client("ec2", options.region)
        session.owner = identity["Arn"]
        session.expires = hooks.now() + timedelta(minutes=options.ttl_minutes)
        tags = session_tags(session.session_id, session.owner, session.expires)
        self._record(
            status="starting",
            region=options.region,
            owner=session.owner,
            expires=tags["gpubench:expires"],
            instance_type=options.instance_type,
        )
        self._step("credentials")

        ami = resolve_ami(hooks.client("ssm", options.region), self.ec2, options.ami)
        session.image_id = ami.image_id
        zones = offered_zones(self.ec2, options.instance_type, options.region)
        self._step("plan")

        name = f"gpubench-{session.session_id}"
        self._record(key_name=name)
        session.key_name = name
        key = self.backoff.call(
            create_key_pair, self.ec2, name, tags, self.scratch, idempotent=False
        )
        session.key_path = key.path
        self._step("key_pair")

        self._record(security_group_name=name)
        session.security_group_name = name
        session.security_group_id = self.backoff.call(
            create_security_group, self.ec2, name, cidr, tags, idempotent=False
        )
        self._record(security_group_id=session.security_group_id, ssh_cidr=cidr)
        self.backoff.call(allow_ssh, self.ec2, session.security_group_id, cidr, idempotent=False)
        self._step("security_group")

        request = LaunchRequest(
            instance_type=options.instance_type,
            image_id=ami.image_id,
            key_name=name,
            security_group_id=session.security_group_id,
            user_data=user_data(options.ttl_minutes),
            tags=tags,
            session_id=session.session_id,
            region=options.region,
            spot=options.spot,
            max_price=options.max_price,
            spot_fallback=options.spot_fallback,
            block_devices=self.backoff.call(encrypted_root, self.ec2, ami.image_id),
        )
        if request.block_devices is None:
            hooks.progress(
                f"gpubench-ec2: could not describe {ami.image_id}: its root volume is "
                "encrypted only if the account encrypts EBS by default"
            )
        launched = launch(
            self.ec2,
            request,
            zones,
            backoff=self.backoff,
            before_call=lambda token: self._record(client_tokens=[token]),
        )
        session.launched_at = hooks.clock()
        session.instance_id, session.zone, session.market = (
            launched.instance_id,
            launched.zone,
            launched.market,
        )
        self._record(instance_id=launched.instance_id, zone=launched.zone, market=launched.market)
        session.price = explicit_price or self._quote()
        self._step("instance")

        [instance] = wait_for_state(
            self.ec2,
            [launched.instance_id],
            "running",
            backoff=self.backoff,
            delay_s=hooks.waiter_delay_s,
            sleep=hooks.sleep,
        )
        target = (hooks.target or default_target)(instance, key.path, options)
        session.address = str(target)
        self._step("running")

        from pytest_gpubench.ec2.remote import connect

        self.remote = (hooks.connect or connect)(
            target,
            key.path,
            self.scratch / "known_hosts",
            timeout_s=hooks.ssh_timeout_s,
            retry_delay_s=hooks.ssh_retry_delay_s,
            auth_retries=hooks.ssh_auth_retries,
            clock=hooks.clock,
            sleep=hooks.sleep,
            expected_fingerprints=self._console_fingerprints(launched.instance_id),
            say=hooks.progress,
        )
        self._step("connected")
        return LiveInstance(session, self.remote, hooks, self.scratch)

    def _console_fingerprints(self, instance_id: str) -> Callable[[], set[str] | None]:
        """Reads the host key fingerprints the instance printed (``GetConsoleOutput``),
        polling up to ``hooks.console_wait_s``; None if they did not show in time. The
        answer is kept: a reconnect does not wait again."""
        from pytest_gpubench.ec2.remote import console_fingerprints

        hooks, found = self.hooks, []

        def read() -> set[str] | None:
            if found:
                return found[0]
            delay = max(hooks.ssh_retry_delay_s, 1.0)
            deadline = hooks.clock() + hooks.console_wait_s
            for _ in range(max(1, int(hooks.console_wait_s / delay) + 1)):
                try:
                    output = self.backoff.call(
                        self.ec2.get_console_output, InstanceId=instance_id, Latest=True
                    ).get("Output")
                except Exception as exc:  # a missing permission: say so, don't stop
                    log.warning("could not read the console of %s: %r", instance_id, exc)
                    break
                printed = console_fingerprints(output) if output else None
                if printed or hooks.clock() >= deadline:
                    found.append(printed)
                    return printed
                hooks.sleep(delay)
            found.append(None)
            return None

        return read

    def _identity(self, sts: Any) -> dict[str, Any]:
        from botocore.exceptions import NoCredentialsError, PartialCredentialsError

        try:
            return self.backoff.call(sts.get_caller_identity)
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise credentials_error(str(exc)) from None
        except Exception as exc:
            if error_code(exc) in CREDENTIAL_CODES:
                raise credentials_error(f"{error_code(exc)}: {exc}") from None
            raise

    def _quote(self) -> PriceQuote:
        s = self.session
        try:
            return quote(
                s.instance_type,
                s.region,
                market=s.market or "on-demand",
                zone=s.zone,
                ec2=self.ec2,
                env=_env(),
            )
        except Exception as exc:  # a price is reporting, never a reason to leak an instance
            log.warning("could not price %s: %r", s.instance_type, exc)
            return PriceQuote(None, f"unavailable ({exc!r})")

    def down(self) -> list[tuple[str, BaseException]]:
        """Destroy everything this session may have created; collect, don't stop on, errors.

        A Ctrl-C while it runs is said and ignored once; the next one abandons the steps
        left, and what is still in AWS is printed with the command that deletes it.
        """
        errors: list[tuple[str, BaseException]] = []
        s = self.session
        abandoned: list[bool] = []
        left: list[str] = []

        def attempt(step: str, fn: Callable[[], None], what: str = "") -> None:
            if abandoned:
                if what:
                    left.append(what)
                return
            try:
                fn()
            except (Exception, KeyboardInterrupt) as exc:
                log.error("EC2 teardown step %s failed: %r", step, exc)
                errors.append((step, exc))
                if what:
                    left.append(what)

        with ctrl_c_said_then_abandons(self.hooks.progress, abandoned):
            if self.remote is not None:
                attempt("ssh", self.remote.close)
            if self.ec2 is not None:
                attempt("instance", self._terminate, f"instance {s.instance_id or '(tagged)'}")
                group = s.security_group_id or s.security_group_name or "(tagged)"
                attempt("security_group", self._delete_security_groups, f"security group {group}")
                if s.key_name:
                    name = s.key_name
                    attempt(
                        "key_pair",
                        lambda: delete_key_pair(self.ec2, name, self.patient),
                        f"key pair {name}",
                    )
        attempt("key_file", lambda: shutil.rmtree(self.scratch, ignore_errors=False))
        s.teardown_errors = [f"{step}: {exc!r}" for step, exc in errors]
        if abandoned:
            s.teardown_errors.append("abandoned by Ctrl-C")
            self.hooks.progress(
                f"gpubench-ec2: teardown ABANDONED; still in AWS ({s.region}): "
                f"{'; '.join(left) or 'nothing known'}. Delete them with: "
                f"{sweep_command(s.region, s.session_id)}"
            )
            errors.append(("abandoned", KeyboardInterrupt("teardown abandoned by Ctrl-C")))
        abandoned.clear()  # the ledger is written whatever happened
        if self.ec2 is not None:
            status = "done" if not errors else "teardown-failed"
            attempt("ledger", lambda: self._record(status=status, errors=s.teardown_errors))
        return errors

    def _terminate(self) -> None:
        s = self.session
        ids, lookup_error = self._with_tagged(
            s.instance_id, lambda: session_instance_ids(self.ec2, s.session_id)
        )
        try:
            if ids:
                self.hooks.progress(f"gpubench-ec2: terminating {', '.join(ids)}")
                terminate_instances(
                    self.ec2,
                    ids,
                    delay_s=self.hooks.waiter_delay_s,
                    sleep=self.hooks.sleep,
                    backoff=self.patient,
                )
        finally:
            if s.launched_at is not None:
                s.ended_at = self.hooks.clock()
        if lookup_error is not None:
            raise lookup_error

    def _delete_security_groups(self) -> None:
        s = self.session

        def tagged_groups() -> list[str]:
            groups = self.ec2.describe_security_groups(
                Filters=[{"Name": f"tag:{TAG_SESSION}", "Values": [s.session_id]}]
            )["SecurityGroups"]
            return [g["GroupId"] for g in groups]

        ids, lookup_error = self._with_tagged(s.security_group_id, tagged_groups)
        for group_id in ids:
            delete_security_group(
                self.ec2,
                group_id,
                delay_s=self.hooks.sg_delete_delay_s,
                sleep=self.hooks.sleep,
                backoff=self.patient,
            )
        if lookup_error is not None:
            raise lookup_error

    def _with_tagged(
        self, known: str | None, find_tagged: Callable[[], Iterable[str]]
    ) -> tuple[list[str], BaseException | None]:
        """The ids this session's tag finds, plus the one it recorded itself. A failed lookup
        (a missing ``Describe*`` permission, an outage, a second Ctrl-C) still gives the
        recorded id, so that one is destroyed, and the error, to raise once it is: the
        teardown then reports it."""
        ids = {known} if known else set()
        try:
            ids.update(self.patient.call(find_tagged))
        except (Exception, KeyboardInterrupt) as exc:
            log.error("EC2 teardown could not list the session's resources: %r", exc)
            return sorted(ids), exc
        return sorted(ids), None


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)``; on Python 3.10, which lacks it, the same ``__notes__`` list."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


@contextmanager
def ec2_session(options: Ec2Options, hooks: Hooks | None = None) -> Iterator[LiveInstance]:
    """A live instance for the ``with`` block; everything is destroyed when it ends.

    Teardown errors are raised as ``TeardownError`` when the block succeeded, and added as
    a note to the block's own exception otherwise (so that one is never masked).
    """
    hooks = hooks or Hooks()
    options.validate()
    scratch = Path(tempfile.mkdtemp(prefix="gpubench-ec2-"))
    lifecycle = _Lifecycle(options, hooks, scratch)
    failure: BaseException | None = None
    with sigterm_as_interrupt():
        try:
            yield lifecycle.up()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            errors = lifecycle.down()
            if errors:
                s = lifecycle.session
                problem = TeardownError(errors, sweep_command(s.region, s.session_id))
                if failure is None:
                    raise problem
                add_note(failure, str(problem))
                log.error("%s", problem)


__all__ = [
    "STEPS",
    "Ec2Options",
    "Ec2Session",
    "Hooks",
    "LiveInstance",
    "ec2_session",
]
