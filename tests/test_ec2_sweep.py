"""``sweep`` deletes gpubench resources past their expiry and leaves fresh ones alone."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("moto")

from pytest_gpubench.ec2.__main__ import main
from pytest_gpubench.ec2.faults import error_code
from pytest_gpubench.ec2.resources import session_tags, tag_specifications
from pytest_gpubench.ec2.sweep import sweep
from tests.ec2_support import AMI, Harness, leftovers, options

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def plant(ec2, name: str, expires: datetime) -> dict[str, str]:
    """A tagged key pair, security group and running instance, as a session leaves them."""
    tags = session_tags(name, "arn:aws:iam::123456789012:user/someone", expires)
    ec2.create_key_pair(
        KeyName=name, KeyType="ed25519", TagSpecifications=tag_specifications(tags, "key-pair")
    )
    group = ec2.create_security_group(
        GroupName=name,
        Description="t",
        TagSpecifications=tag_specifications(tags, "security-group"),
    )["GroupId"]
    instance = ec2.run_instances(
        ImageId=AMI,
        InstanceType="g4dn.xlarge",
        MinCount=1,
        MaxCount=1,
        KeyName=name,
        SecurityGroupIds=[group],
        TagSpecifications=tag_specifications(tags, "instance"),
    )["Instances"][0]["InstanceId"]
    return {"instance": instance, "security-group": group, "key-pair": name}


@pytest.fixture
def ec2(moto_aws: None):
    return Harness().client("ec2")


def test_sweep_deletes_expired_and_keeps_fresh(ec2) -> None:
    old = plant(ec2, "old", NOW - timedelta(minutes=1))
    fresh = plant(ec2, "fresh", NOW + timedelta(minutes=30))
    ec2.create_key_pair(KeyName="not-ours")  # untagged: never touched

    report = sweep(ec2, NOW, sleep=lambda s: None, delay_s=0)

    assert {(x.kind, x.resource_id) for x in report.deleted} == set(old.items())
    assert {(x.kind, x.resource_id) for x in report.fresh} == set(fresh.items())
    assert report.errors == []
    left = leftovers(ec2)
    assert left["instances"] == [fresh["instance"]]
    assert left["groups"] == [fresh["security-group"]]
    assert sorted(left["keys"]) == ["fresh", "not-ours"]


def test_an_expiry_without_a_time_zone_is_left_alone_and_does_not_stop_the_sweep(ec2) -> None:
    old = plant(ec2, "old", NOW - timedelta(minutes=1))
    naive = ec2.create_security_group(GroupName="hand-tagged", Description="t")["GroupId"]
    ec2.create_tags(
        Resources=[naive],
        Tags=[
            {"Key": "gpubench:session", "Value": "hand"},
            {"Key": "gpubench:expires", "Value": "2000-01-01T00:00:00"},
        ],
    )

    report = sweep(ec2, NOW, sleep=lambda s: None, delay_s=0)

    assert {(x.kind, x.resource_id) for x in report.deleted} == set(old.items())
    assert [x.resource_id for x in report.fresh] == [naive]
    assert leftovers(ec2)["groups"] == [naive]


class RefusingToTerminate:
    """The moto client, except that EC2 refuses to terminate ``protected`` (termination
    protection: OperationNotPermitted)."""

    def __init__(self, ec2, protected: str) -> None:
        self._ec2, self._protected = ec2, protected

    def __getattr__(self, name: str):
        return getattr(self._ec2, name)

    def terminate_instances(self, InstanceIds: list[str]):  # boto3's keyword
        if self._protected in InstanceIds:
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "OperationNotPermitted", "Message": "protected"}}
            raise ClientError(error, "TerminateInstances")
        return self._ec2.terminate_instances(InstanceIds=InstanceIds)


def test_one_instance_ec2_refuses_stops_neither_the_others_nor_their_groups(ec2) -> None:
    """A protected instance first in line kept every later expired one running, billed."""
    first = plant(ec2, "a-protected", NOW - timedelta(minutes=5))
    second = plant(ec2, "b-plain", NOW - timedelta(minutes=5))
    report = sweep(
        RefusingToTerminate(ec2, first["instance"]), NOW, sleep=lambda s: None, delay_s=0
    )
    assert [(x.resource_id, error_code(exc)) for x, exc in report.errors] == [
        (first["instance"], "OperationNotPermitted")
    ]
    assert {(x.kind, x.resource_id) for x in report.deleted} >= set(second.items())
    left = leftovers(ec2)
    assert left["instances"] == [first["instance"]]
    assert second["security-group"] not in left.get("groups", [])


def test_a_stopped_expired_instance_is_swept(ec2) -> None:
    """Stopped instances still bill for their disks and hold their security group."""
    old = plant(ec2, "old", NOW - timedelta(minutes=1))
    ec2.stop_instances(InstanceIds=[old["instance"]])
    report = sweep(ec2, NOW, sleep=lambda s: None, delay_s=0)
    assert {(x.kind, x.resource_id) for x in report.deleted} == set(old.items())
    assert "instances" not in leftovers(ec2)


def test_dry_run_lists_and_deletes_nothing(ec2) -> None:
    old = plant(ec2, "old", NOW - timedelta(hours=2))
    before = leftovers(ec2)
    report = sweep(ec2, NOW, dry_run=True)
    assert {(x.kind, x.resource_id) for x in report.expired} == set(old.items())
    assert report.deleted == []
    assert leftovers(ec2) == before


def test_sweep_cleans_up_after_a_client_that_died_mid_session(moto_aws: None) -> None:
    harness = Harness()
    machine = harness.provider(options(ttl_minutes=10)).up()  # ... then the client is killed
    shutil.rmtree(machine.scratch)
    ec2 = harness.client("ec2")
    assert leftovers(ec2)["instances"] == [machine.instance_id]
    assert sweep(ec2, datetime.now(timezone.utc)).deleted == []  # not expired yet
    later = datetime.now(timezone.utc) + timedelta(minutes=11)
    report = sweep(ec2, later, sleep=lambda s: None, delay_s=0)
    assert len(report.deleted) == 3
    assert leftovers(ec2) == {}


def test_cli_sweep(ec2, capsys: pytest.CaptureFixture[str]) -> None:
    plant(ec2, "old", datetime.now(timezone.utc) - timedelta(minutes=5))
    plant(ec2, "fresh", datetime.now(timezone.utc) + timedelta(minutes=5))

    assert main(["sweep", "--dry-run", "--region", "us-east-1"]) == 0
    out = capsys.readouterr().out
    assert out.count("would delete: ") == 3
    assert "3 expired, 3 would delete, 3 fresh left alone, 0 errors" in out
    assert len(leftovers(ec2)["instances"]) == 2

    assert main(["sweep", "--region", "us-east-1"]) == 0
    assert "3 expired, 3 deleted, 3 fresh left alone" in capsys.readouterr().out
    assert len(leftovers(ec2)["instances"]) == 1


def test_sweep_cli_explains_an_unusable_region_or_network(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tracebacks before: ValueError 'Invalid endpoint' and EndpointConnectionError."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert main(["sweep", "--dry-run", "--region", ""]) == 2
    assert "error: --region '' is not usable" in capsys.readouterr().err

    from botocore.exceptions import EndpointConnectionError

    def offline(*args: object, **kwargs: object) -> None:
        raise EndpointConnectionError(endpoint_url="https://ec2.mars-1.amazonaws.com/")

    monkeypatch.setattr("pytest_gpubench.ec2.sweep.sweep", offline)
    assert main(["sweep", "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "error: EC2 in us-east-1 could not be reached" in err and "nothing was deleted" in err


def test_sweep_retries_throttling_and_lost_connections(moto_aws: None) -> None:
    from tests.ec2_support import Fault, Raise

    faults = [
        Fault("DescribeInstances", "RequestLimitExceeded", times=1),
        Fault("DeleteSecurityGroup", "RequestLimitExceeded", times=1),
        Raise("TerminateInstances", "connection", times=1),
        Raise("DeleteKeyPair", "read-timeout", times=1),
    ]
    ec2 = Harness(faults=faults).client("ec2")
    plant(ec2, "old", NOW - timedelta(minutes=1))
    slept: list[float] = []

    report = sweep(ec2, NOW, sleep=slept.append, delay_s=0)

    assert not report.errors and len(report.deleted) == 3
    assert [len(f.hits) for f in faults] == [1, 1, 1, 1]
    assert len([s for s in slept if s > 0]) >= 3
    assert leftovers(Harness().client("ec2")) == {}


def test_sweep_of_one_session_deletes_it_before_expiry_and_nothing_else(ec2) -> None:
    plant(ec2, "abandoned", NOW + timedelta(minutes=90))
    other = plant(ec2, "other", NOW + timedelta(minutes=90))

    report = sweep(ec2, NOW, sleep=lambda s: None, delay_s=0, session="abandoned")

    assert {x.session for x in report.deleted} == {"abandoned"} and len(report.deleted) == 3
    assert leftovers(ec2) == {
        "instances": [other["instance"]],
        "groups": [other["security-group"]],
        "keys": ["other"],
    }
