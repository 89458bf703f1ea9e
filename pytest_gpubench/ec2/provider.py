"""EC2 as a :class:`~pytest_gpubench.remote.provider.Provider`: up creates, down destroys.

Safety rules, in order: options and the SSH CIDR are checked before AWS is called;
credentials are checked (``sts.get_caller_identity``) before any resource exists; every
resource is tagged (session, owner, expiry) at creation and recorded in the local ledger
before it is used; the instance powers itself off (→ terminated) at its time to live;
``down`` runs every step even when one fails, finds the session's resources by the ids it
recorded and by its tag, and raises only once all were tried. The shared layer
(``remote.lifecycle.rented``) calls ``down`` on every exit path, SIGTERM included, and never
lets its error hide the one that ended the session.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from pytest_gpubench.ec2.ami import resolve_ami
from pytest_gpubench.ec2.faults import (
    CREDENTIAL_CODES,
    Backoff,
    Ec2Error,
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
from pytest_gpubench.ec2.pricing import PriceQuote, on_demand_quote, override_quote, quote
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
from pytest_gpubench.ec2.session import Ec2Deps, Ec2Session, new_session_id
from pytest_gpubench.ec2.settings import Ec2Options
from pytest_gpubench.remote.lifecycle import LiveMachine, rented
from pytest_gpubench.remote.provider import Machine, SshDeps, SweepReport

log = logging.getLogger("pytest_gpubench.ec2")


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


def ssh_cidr_for(options: Ec2Options, deps: Ec2Deps) -> str:
    if options.ssh_cidr:
        return check_ssh_cidr(options.ssh_cidr, allow_world=options.allow_world)
    if options.allow_world:
        return "0.0.0.0/0"
    return check_ssh_cidr(detect_public_ip(deps.public_ip))


def default_target(instance: dict[str, Any], key_path: Path, options: Ec2Options) -> Any:
    from pytest_gpubench.remote.ssh import Target

    host = instance.get("PublicIpAddress") or instance.get("PublicDnsName")
    if not host:
        raise Ec2Error(
            f"instance {instance.get('InstanceId')} has no public address; the default VPC's "
            "subnets must assign public IPv4 addresses"
        )
    return Target(host, 22, options.ssh_user)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


class Ec2Provider:
    """One EC2 session: ``up`` creates the key pair, security group and instance; ``down``
    destroys whatever exists of them. ``session`` records what was created."""

    name = "ec2"
    title = "EC2"

    def __init__(
        self, options: Ec2Options, deps: Ec2Deps | None = None, ssh: SshDeps | None = None
    ) -> None:
        options.validate()
        self.options = options
        self.deps = deps = deps or Ec2Deps()
        self.ssh = ssh or SshDeps(user_hint="--gpubench-ec2-user")
        self.ledger = Ledger(options.ledger_dir)
        self.backoff = deps.backoff or Backoff(sleep=deps.sleep, clock=deps.clock)
        self.patient = self.backoff.patient()  # teardown: giving up leaves a bill running
        self.session = Ec2Session(new_session_id(deps.now()), options.instance_type, options.region)
        self.scratch: Path | None = None
        self.ec2: Any = None

    def _step(self, name: str) -> None:
        self.deps.progress(f"gpubench-ec2 [{self.session.session_id}] {name}: done")
        self.deps.on_step(name)

    def _record(self, **fields: Any) -> None:
        self.ledger.record(self.session.session_id, **fields)

    def up(self) -> Machine:
        options, deps, session = self.options, self.deps, self.session
        cidr = ssh_cidr_for(options, deps)
        explicit_price = override_quote(options.instance_type, options.price_per_hour, _env())
        self.scratch = scratch = Path(tempfile.mkdtemp(prefix="gpubench-ec2-"))

        sts = deps.client("sts", options.region)
        identity = self._identity(sts)
        self.ec2 = deps.client("ec2", options.region)
        session.owner = identity["Arn"]
        session.expires = deps.now() + timedelta(minutes=options.ttl_minutes)
        tags = session_tags(session.session_id, session.owner, session.expires)
        self._record(
            status="starting",
            region=options.region,
            owner=session.owner,
            expires=tags["gpubench:expires"],
            instance_type=options.instance_type,
        )
        self._step("credentials")

        ami = resolve_ami(deps.client("ssm", options.region), self.ec2, options.ami)
        session.image_id = ami.image_id
        zones = offered_zones(self.ec2, options.instance_type, options.region)
        self._step("plan")

        name = f"gpubench-{session.session_id}"
        self._record(key_name=name)
        session.key_name = name
        key = self.backoff.call(create_key_pair, self.ec2, name, tags, scratch, idempotent=False)
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
            deps.progress(
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
        session.launched_at = deps.clock()
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
            delay_s=deps.waiter_delay_s,
            sleep=deps.sleep,
        )
        target = (deps.target or default_target)(instance, key.path, options)
        session.address = str(target)
        self._step("running")
        return Machine(
            session_id=session.session_id,
            host=target.host,
            port=target.port,
            user=target.user,
            key_path=key.path,
            scratch=scratch,
            instance_id=launched.instance_id,
            instance_type=options.instance_type,
            price=session.price,
            expires=session.expires,
            tags=tags,
            host_keys=self._console_fingerprints(launched.instance_id),
        )

    def _console_fingerprints(self, instance_id: str) -> Callable[[], set[str] | None]:
        """Reads the host key fingerprints the instance printed (``GetConsoleOutput``),
        polling up to ``deps.console_wait_s``; None if they did not show in time. The
        answer is kept: a reconnect does not wait again."""
        from pytest_gpubench.remote.ssh import console_fingerprints

        deps, found = self.deps, []

        def read() -> set[str] | None:
            if found:
                return found[0]
            delay = max(self.ssh.retry_delay_s, 1.0)
            deadline = deps.clock() + deps.console_wait_s
            for _ in range(max(1, int(deps.console_wait_s / delay) + 1)):
                try:
                    output = self.backoff.call(
                        self.ec2.get_console_output, InstanceId=instance_id, Latest=True
                    ).get("Output")
                except Exception as exc:  # a missing permission: say so, don't stop
                    log.warning("could not read the console of %s: %r", instance_id, exc)
                    break
                printed = console_fingerprints(output) if output else None
                if printed or deps.clock() >= deadline:
                    found.append(printed)
                    return printed
                deps.sleep(delay)
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

    def price(self) -> PriceQuote:
        """The instance's quote once launched; before, the user's price or the table's."""
        if self.session.price is not None:
            return self.session.price
        options = self.options
        explicit = override_quote(options.instance_type, options.price_per_hour, _env())
        return explicit or on_demand_quote(options.instance_type, options.region)

    def summary(self) -> dict[str, Any]:
        return self.session.summary(self.deps.clock())

    def sweep(self, *, dry_run: bool = False, session: str | None = None) -> SweepReport:
        """Expired gpubench resources in this region deleted (``ec2.sweep.sweep``)."""
        from pytest_gpubench.ec2.sweep import sweep

        ec2 = self.deps.client("ec2", self.options.region)
        return sweep(
            ec2,
            self.deps.now(),
            dry_run=dry_run,
            session=session,
            sleep=self.deps.sleep,
            delay_s=self.deps.waiter_delay_s,
            backoff=self.backoff,
        )

    def explain(self, exc: BaseException) -> str | None:
        """What AWS refused, or that it could not be reached, in words to act on."""
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            return None
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return (
                f"AWS refused {exc.operation_name}: {error.get('Code')}: "
                f"{error.get('Message')}. Check that these credentials may call it (IAM), "
                "and the options"
            )
        if isinstance(exc, BotoCoreError):
            return f"AWS could not be reached ({exc}); check --gpubench-ec2-region and the network"
        return None

    def down(self) -> None:
        """Destroy everything this session may have created; collect, don't stop on, errors,
        then raise ``TeardownError`` naming them and the sweep that deletes what is left.

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

        with ctrl_c_said_then_abandons(self.deps.progress, abandoned):
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
        if self.scratch is not None:
            scratch = self.scratch
            attempt("key_file", lambda: shutil.rmtree(scratch, ignore_errors=False))
        s.teardown_errors = [f"{step}: {exc!r}" for step, exc in errors]
        if abandoned:
            s.teardown_errors.append("abandoned by Ctrl-C")
            self.deps.progress(
                f"gpubench-ec2: teardown ABANDONED; still in AWS ({s.region}): "
                f"{'; '.join(left) or 'nothing known'}. Delete them with: "
                f"{sweep_command(s.region, s.session_id)}"
            )
            errors.append(("abandoned", KeyboardInterrupt("teardown abandoned by Ctrl-C")))
        abandoned.clear()  # the ledger is written whatever happened
        if self.ec2 is not None:
            status = "done" if not errors else "teardown-failed"
            attempt("ledger", lambda: self._record(status=status, errors=s.teardown_errors))
        if errors:
            raise TeardownError(errors, sweep_command(s.region, s.session_id))

    def _terminate(self) -> None:
        s = self.session
        ids, lookup_error = self._with_tagged(
            s.instance_id, lambda: session_instance_ids(self.ec2, s.session_id)
        )
        try:
            if ids:
                self.deps.progress(f"gpubench-ec2: terminating {', '.join(ids)}")
                terminate_instances(
                    self.ec2,
                    ids,
                    delay_s=self.deps.waiter_delay_s,
                    sleep=self.deps.sleep,
                    backoff=self.patient,
                )
        finally:
            if s.launched_at is not None:
                s.ended_at = self.deps.clock()
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
                delay_s=self.deps.sg_delete_delay_s,
                sleep=self.deps.sleep,
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


@contextmanager
def ec2_session(
    options: Ec2Options, deps: Ec2Deps | None = None, ssh: SshDeps | None = None
) -> Iterator[LiveMachine]:
    """A live instance for the ``with`` block (``run``, ``put``, ``get``); everything is
    destroyed when it ends (``remote.lifecycle.rented``)."""
    provider = Ec2Provider(options, deps, ssh)
    with rented(provider, say=provider.deps.progress, on_step=provider.deps.on_step) as live:
        yield live
