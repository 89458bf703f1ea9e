"""The session's cloud resources: tags, SSH key pair, security group (SSH from one /32).

Every resource is created with its tags (``TagSpecifications``), so even one whose id was
lost can be found by ``sweep``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_gpubench.ec2.faults import Backoff, Ec2ConfigError, Ec2Error, error_code

log = logging.getLogger("pytest_gpubench.ec2")

TAG_SESSION = "gpubench:session"
TAG_OWNER = "gpubench:owner"
TAG_EXPIRES = "gpubench:expires"
SSH_PORT = 22
WORLD = frozenset({ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")})
CHECKIP_URL = "https://checkip.amazonaws.com"


def format_expiry(when: datetime) -> str:
    """ISO 8601 UTC with a Z, second precision: sortable and parseable by ``parse_expiry``."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expiry(text: str) -> datetime:
    """The expiry tag as an aware datetime; ``ValueError`` if unreadable or without a zone."""
    expiry = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if expiry.tzinfo is None:
        raise ValueError(f"expiry {text!r} has no time zone")
    return expiry


def session_tags(session_id: str, owner: str, expires: datetime) -> dict[str, str]:
    return {
        TAG_SESSION: session_id,
        TAG_OWNER: owner,
        TAG_EXPIRES: format_expiry(expires),
        "Name": f"gpubench-{session_id}",
    }


def tag_specifications(tags: dict[str, str], *resource_types: str) -> list[dict[str, Any]]:
    pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
    return [{"ResourceType": rt, "Tags": pairs} for rt in resource_types]


def check_ssh_cidr(cidr: str, *, allow_world: bool = False) -> str:
    """The CIDR allowed to reach port 22: one address (/32, /128) unless forced.

    A bare address becomes its /32 (/128). ``0.0.0.0/0``, ``::/0`` and any wider prefix
    are refused unless ``allow_world`` (``--gpubench-ec2-allow-world``).
    """
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=True)
    except ValueError as exc:
        raise Ec2ConfigError(
            f"--gpubench-ec2-ssh-cidr {cidr!r} is not a CIDR ({exc}); give your public "
            "address, e.g. 203.0.113.7/32"
        ) from exc
    if network.prefixlen != network.max_prefixlen and not allow_world:
        what = "the whole internet" if network in WORLD else f"{network.num_addresses} addresses"
        raise Ec2ConfigError(
            f"refusing SSH from {network} ({what}): only your own address as a "
            f"/{network.max_prefixlen} is allowed; pass --gpubench-ec2-ssh-cidr "
            f"{'YOUR:IPV6::ADDRESS/128' if network.version == 6 else 'YOUR.IP/32'}, "
            "or --gpubench-ec2-allow-world to open it wider on purpose"
        )
    return str(network)


def detect_public_ip(fetch: Callable[[], str] | None = None) -> str:
    """This machine's public IPv4 address as seen by AWS (``checkip.amazonaws.com``)."""

    def _fetch() -> str:
        with urllib.request.urlopen(CHECKIP_URL, timeout=5) as response:
            return response.read().decode().strip()

    try:
        text = (fetch or _fetch)()
        address = ipaddress.ip_address(text.strip())
    except Exception as exc:
        raise Ec2ConfigError(
            f"could not detect your public IP address via {CHECKIP_URL} ({exc!r}); pass "
            "--gpubench-ec2-ssh-cidr YOUR.PUBLIC.IP/32"
        ) from exc
    return f"{address}/{address.max_prefixlen}"


class _DropSecrets(logging.Filter):
    """Drops log records that carry private key material (botocore logs response bodies)."""

    MARKERS = ("PRIVATE KEY", "KeyMaterial")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            return False
        return not any(marker in text for marker in self.MARKERS)


@contextmanager
def secrets_kept_out_of_logs() -> Iterator[None]:
    """While active, botocore's DEBUG dump of a response body cannot leak a private key."""
    secret_filter = _DropSecrets()
    loggers = [logging.getLogger(name) for name in ("botocore.parsers", "botocore.endpoint")]
    for logger in loggers:
        logger.addFilter(secret_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(secret_filter)


@dataclass(frozen=True)
class KeyFile:
    name: str
    path: Path


def create_key_pair(ec2: Any, name: str, tags: dict[str, str], key_dir: Path) -> KeyFile:
    """An ed25519 key pair; the private key goes to ``key_dir/<name>`` with mode 0600 only."""
    with secrets_kept_out_of_logs():
        response = ec2.create_key_pair(
            KeyName=name,
            KeyType="ed25519",
            KeyFormat="pem",
            TagSpecifications=tag_specifications(tags, "key-pair"),
        )
    path = key_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(response["KeyMaterial"])
    return KeyFile(name, path)


def default_vpc_id(ec2: Any) -> str | None:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    return vpcs[0]["VpcId"] if vpcs else None


def create_security_group(ec2: Any, name: str, cidr: str, tags: dict[str, str]) -> str:
    """A group that lets only ``cidr`` reach TCP 22 (``cidr`` already checked)."""
    kwargs: dict[str, Any] = {}
    vpc_id = default_vpc_id(ec2)
    if vpc_id:
        kwargs["VpcId"] = vpc_id
    group_id = ec2.create_security_group(
        GroupName=name,
        Description="gpubench: SSH from one address, deleted after the session",
        TagSpecifications=tag_specifications(tags, "security-group"),
        **kwargs,
    )["GroupId"]
    return group_id


def allow_ssh(ec2: Any, group_id: str, cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    ranges = (
        {"IpRanges": [{"CidrIp": cidr, "Description": "gpubench client"}]}
        if network.version == 4
        else {"Ipv6Ranges": [{"CidrIpv6": cidr, "Description": "gpubench client"}]}
    )
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": SSH_PORT, "ToPort": SSH_PORT, **ranges}],
    )


def delete_security_group(
    ec2: Any,
    group_id: str,
    *,
    attempts: int = 30,
    delay_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    backoff: Backoff | None = None,
) -> None:
    """Delete the group, waiting while a terminating instance's ENI still holds it; each
    call under ``backoff`` (throttling, no answer)."""
    call = (backoff or Backoff(attempts=1)).call
    for attempt in range(attempts):
        try:
            call(ec2.delete_security_group, GroupId=group_id)
            return
        except Exception as exc:
            code = error_code(exc)
            if code == "InvalidGroup.NotFound":
                return
            if code != "DependencyViolation" or attempt == attempts - 1:
                raise
            log.info("security group %s still in use; retrying in %.0f s", group_id, delay_s)
            sleep(delay_s)


def delete_key_pair(ec2: Any, name: str, backoff: Backoff | None = None) -> None:
    """Delete the key pair (idempotent in EC2), under ``backoff``."""
    (backoff or Backoff(attempts=1)).call(ec2.delete_key_pair, KeyName=name)


#: Tries of an instance id that EC2 says does not exist. An id fresh from RunInstances can
#: read as NotFound for a while (EC2's eventual consistency); with the waiter's delay of 5 s
#: this waits a minute before believing it.
NOT_FOUND_ATTEMPTS = 12


def terminate_instances(
    ec2: Any,
    instance_ids: list[str],
    *,
    delay_s: float = 5.0,
    max_attempts: int = 120,
    sleep: Callable[[float], None] = time.sleep,
    failures: list[tuple[str, BaseException]] | None = None,
    backoff: Backoff | None = None,
) -> list[str]:
    """Terminate and wait until EC2 reports them terminated (billing stops); the ids that
    were terminated. Ids are terminated one by one, so one that EC2 does not know (yet)
    neither hides the others nor counts as gone before :data:`NOT_FOUND_ATTEMPTS` tries.

    An id EC2 refuses to terminate (termination protection, a permission) raises, unless
    ``failures`` is given: then it is recorded there and the other ids still go. Every
    call, the wait's included, runs under ``backoff``.
    """
    call = (backoff or Backoff(attempts=1)).call
    terminated = []
    for instance_id in instance_ids:
        for attempt in range(NOT_FOUND_ATTEMPTS):
            try:
                call(ec2.terminate_instances, InstanceIds=[instance_id])
            except Exception as exc:
                if error_code(exc) != "InvalidInstanceID.NotFound":
                    if failures is None:
                        raise
                    failures.append((instance_id, exc))
                    break
                if attempt < NOT_FOUND_ATTEMPTS - 1:
                    sleep(delay_s)
                continue
            terminated.append(instance_id)
            break
        else:
            log.warning("EC2 does not know instance %s (never launched?)", instance_id)
    if terminated:
        wait_for_state(
            ec2,
            terminated,
            "terminated",
            backoff=backoff,
            delay_s=delay_s,
            max_attempts=max_attempts,
            sleep=sleep,
        )
    return terminated


#: States from which an instance will not reach the state waited for.
DEAD_ENDS = {
    "running": {"shutting-down", "terminated", "stopping", "stopped"},
    "terminated": set(),
}


def wait_for_state(
    ec2: Any,
    instance_ids: list[str],
    state: str,
    *,
    backoff: Backoff | None = None,
    delay_s: float = 5.0,
    max_attempts: int = 120,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Poll ``DescribeInstances`` until every instance is in ``state``; their descriptions.

    Each describe runs under ``backoff`` (botocore's waiters stop at one throttled call).
    An id EC2 does not know yet is waited for; while waiting for ``terminated`` it counts as
    gone. Raises ``Ec2Error`` on a dead end (a launch that died) or after ``max_attempts``.
    """
    call = (backoff or Backoff(attempts=1)).call
    seen: list[dict[str, Any]] = []
    for attempt in range(max_attempts):
        try:
            reservations = call(ec2.describe_instances, InstanceIds=instance_ids)["Reservations"]
        except Exception as exc:
            if error_code(exc) != "InvalidInstanceID.NotFound":
                raise
            if state == "terminated":
                return []
            reservations = []
        seen = [i for r in reservations for i in r["Instances"]]
        states = {i["InstanceId"]: i["State"]["Name"] for i in seen}
        for instance_id, now in states.items():
            if now in DEAD_ENDS[state]:
                reason = next(i for i in seen if i["InstanceId"] == instance_id).get(
                    "StateReason", {}
                )
                raise Ec2Error(
                    f"instance {instance_id} went to {now} while waiting for {state} "
                    f"({reason.get('Message', 'no reason given')}); see the EC2 console"
                )
        if len(states) == len(instance_ids) and all(v == state for v in states.values()):
            return seen
        if attempt < max_attempts - 1:
            sleep(delay_s)
    last = {i["InstanceId"]: i["State"]["Name"] for i in seen}
    raise Ec2Error(
        f"instances {', '.join(instance_ids)} not {state} after {max_attempts} checks "
        f"{delay_s:g} s apart (last seen: {last or 'unknown to EC2'}); see the EC2 console"
    )


def session_instance_ids(ec2: Any, session_id: str) -> list[str]:
    """Instances tagged with this session that are not terminated."""
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{TAG_SESSION}", "Values": [session_id]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
            },
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def ensure_key_absent(path: Path | None) -> None:
    if path is not None and path.exists():
        path.unlink()
