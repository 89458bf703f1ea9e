"""Find gpubench-tagged resources past their ``gpubench:expires`` time and delete them.

Fresh resources (a session may still be using them) are left alone; ``dry_run`` only lists.
Instances go first (their network interfaces hold the security groups), then groups, then
key pairs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pytest_gpubench.ec2.faults import Backoff
from pytest_gpubench.ec2.resources import (
    TAG_EXPIRES,
    TAG_OWNER,
    TAG_SESSION,
    delete_key_pair,
    delete_security_group,
    parse_expiry,
    terminate_instances,
)
from pytest_gpubench.remote.provider import Leftover, SweepReport

log = logging.getLogger("pytest_gpubench.ec2")

LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
TAGGED = [{"Name": "tag-key", "Values": [TAG_SESSION]}]


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _leftover(kind: str, resource_id: str, tags: dict[str, str]) -> Leftover:
    return Leftover(
        kind,
        resource_id,
        tags.get(TAG_SESSION, "?"),
        tags.get(TAG_OWNER, "?"),
        tags.get(TAG_EXPIRES, ""),
    )


def tagged_resources(ec2: Any) -> list[Leftover]:
    """Every gpubench-tagged instance (not terminated), security group and key pair."""
    found: list[Leftover] = []
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[*TAGGED, {"Name": "instance-state-name", "Values": LIVE_STATES}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                found.append(_leftover("instance", instance["InstanceId"], _tags(instance)))
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=TAGGED):
        for group in page["SecurityGroups"]:
            found.append(_leftover("security-group", group["GroupId"], _tags(group)))
    for pair in ec2.describe_key_pairs(Filters=TAGGED)["KeyPairs"]:
        found.append(_leftover("key-pair", pair["KeyName"], _tags(pair)))
    return found


def is_expired(leftover: Leftover, now: datetime) -> bool:
    """Past its expiry; a missing or unreadable expiry counts as fresh (never guess)."""
    try:
        return parse_expiry(leftover.expires) < now
    except ValueError:
        log.warning("%s has no readable %s tag; leaving it alone", leftover, TAG_EXPIRES)
        return False


def sweep(
    ec2: Any,
    now: datetime,
    *,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    delay_s: float = 5.0,
    session: str | None = None,
    backoff: Backoff | None = None,
) -> SweepReport:
    """Delete expired gpubench resources (or, with ``dry_run``, only list them).

    With ``session``, that session's resources go whatever their expiry (a teardown that
    was abandoned), and no other. Every call runs under ``backoff``.
    """
    backoff = (backoff or Backoff(sleep=sleep)).patient()
    report = SweepReport()
    for leftover in backoff.call(tagged_resources, ec2):
        if session is not None:
            if leftover.session == session:
                report.expired.append(leftover)
        else:
            (report.expired if is_expired(leftover, now) else report.fresh).append(leftover)
    if dry_run:
        return report

    def delete(leftover: Leftover, fn: Callable[[], None]) -> None:
        try:
            fn()
            report.deleted.append(leftover)
        except Exception as exc:
            report.errors.append((leftover, exc))

    instances = [x for x in report.expired if x.kind == "instance"]
    if instances:
        refused: list[tuple[str, BaseException]] = []  # one protected instance stops no other
        try:
            ids = terminate_instances(
                ec2,
                [x.resource_id for x in instances],
                delay_s=delay_s,
                sleep=sleep,
                failures=refused,
                backoff=backoff,
            )
            report.deleted.extend(x for x in instances if x.resource_id in ids)
            why = dict(refused)
            report.errors.extend((x, why[x.resource_id]) for x in instances if x.resource_id in why)
        except Exception as exc:  # the wait for termination failed: none is known gone
            report.errors.extend((x, exc) for x in instances)
    for x in report.expired:
        if x.kind == "security-group":
            delete(
                x,
                lambda x=x: delete_security_group(
                    ec2, x.resource_id, delay_s=delay_s, sleep=sleep, backoff=backoff
                ),
            )
        elif x.kind == "key-pair":
            delete(x, lambda x=x: delete_key_pair(ec2, x.resource_id, backoff))
    return report
