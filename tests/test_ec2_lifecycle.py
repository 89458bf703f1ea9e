"""The EC2 session lifecycle against moto: creation, tags, faults, and teardown on every path."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("moto")
pytest.importorskip("boto3")

from botocore.exceptions import NoCredentialsError

from pytest_gpubench.ec2.faults import (
    CapacityError,
    CredentialsError,
    Ec2ConfigError,
    QuotaError,
    TeardownError,
)
from pytest_gpubench.ec2.resources import TAG_EXPIRES, TAG_OWNER, TAG_SESSION
from pytest_gpubench.ec2.session import STEPS
from pytest_gpubench.remote.errors import SigtermInterrupt
from tests.ec2_support import CIDR, Fault, Harness, leftovers, options, tags_of


@pytest.fixture(params=["mock_aws", "moto_server"])
def harness(request: pytest.FixtureRequest, aws_env: Path) -> Iterator[Harness]:
    """Moto in-process, and as a ThreadedMotoServer on 127.0.0.1 (validation on in both)."""
    if request.param == "mock_aws":
        request.getfixturevalue("moto_aws")
        yield Harness()
    else:
        yield Harness(endpoint_url=request.getfixturevalue("moto_server"))


@pytest.fixture
def inproc(moto_aws: None) -> Harness:
    return Harness()


def run_on(instance: dict) -> str:
    return instance["Placement"]["AvailabilityZone"]


def describe(h: Harness, instance_id: str) -> dict:
    return h.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"
    ][0]


def test_full_lifecycle_tags_and_teardown(harness: Harness, aws_env: Path) -> None:
    ec2 = harness.client("ec2")
    with harness.session(options(ttl_minutes=45)) as live:
        s = live.provider.session
        expected = {
            TAG_SESSION: s.session_id,
            TAG_OWNER: "arn:aws:sts::123456789012:user/moto",
        }
        instance = describe(harness, live.instance_id)
        assert instance["InstanceType"] == "g4dn.xlarge"
        assert instance["State"]["Name"] == "running"
        for resource in (
            instance,
            ec2.describe_volumes()["Volumes"][0],
            ec2.describe_security_groups(GroupIds=[s.security_group_id])["SecurityGroups"][0],
            ec2.describe_key_pairs(KeyNames=[s.key_name])["KeyPairs"][0],
        ):
            tags = tags_of(resource)
            assert tags.items() >= expected.items()
            expires = datetime.fromisoformat(tags[TAG_EXPIRES].replace("Z", "+00:00"))
            minutes = (expires - datetime.now(timezone.utc)).total_seconds() / 60
            assert 43 < minutes <= 45
        group = ec2.describe_security_groups(GroupIds=[s.security_group_id])["SecurityGroups"][0]
        [rule] = group["IpPermissions"]
        assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (22, 22, "tcp")
        assert [r["CidrIp"] for r in rule["IpRanges"]] == [CIDR]
        shutdown = ec2.describe_instance_attribute(
            InstanceId=live.instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )
        assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        key_type = ec2.describe_key_pairs(KeyNames=[s.key_name])["KeyPairs"][0]["KeyType"]
        assert key_type == "ed25519"
        key_path = s.key_path
        assert key_path.stat().st_mode & 0o777 == 0o600
        ledger = json.loads((aws_env / f"{s.session_id}.json").read_text())
        assert ledger["instance_id"] == live.instance_id
        assert ledger["security_group_id"] == s.security_group_id
        assert ledger["key_name"] == s.key_name
        assert ledger["status"] == "starting"
        assert live.price_per_hour == pytest.approx(0.526)
    assert harness.steps == list(STEPS)
    assert harness.remotes[0].closed
    assert leftovers(ec2) == {}
    assert not key_path.exists()
    assert json.loads((aws_env / f"{s.session_id}.json").read_text())["status"] == "done"
    summary = live.summary()
    assert summary["market"] == "on-demand"
    assert summary["zone"] == run_on(instance)
    billed = max(summary["seconds_held"], 60)  # EC2's minimum charge
    assert summary["cost_usd"] == pytest.approx(0.526 * billed / 3600, abs=1e-6)
    assert "on-demand table" in summary["price_source"]
    # the bill stops at termination: an hour later the session has held it no longer
    an_hour_later = harness.deps().clock() + 3600
    assert s.summary(an_hour_later)["seconds_held"] == summary["seconds_held"] < 3600


def test_user_data_powers_off_at_ttl(inproc: Harness) -> None:
    import base64

    ec2 = inproc.client("ec2")
    with inproc.session(options(ttl_minutes=30)) as live:
        data = ec2.describe_instance_attribute(InstanceId=live.instance_id, Attribute="userData")
        script = base64.b64decode(data["UserData"]["Value"]).decode()
    assert "shutdown -h +30" in script
    assert "--on-active=30m" in script


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.0.0.0/8", "203.0.113.0/31"])
def test_wide_ssh_cidr_refused_before_any_aws_call(
    inproc: Harness, cidr: str, aws_env: Path
) -> None:
    with (
        pytest.raises(Ec2ConfigError, match="--gpubench-ec2-allow-world"),
        inproc.session(options(ssh_cidr=cidr)),
    ):
        pass
    assert inproc.steps == []
    assert not aws_env.exists()


def test_bare_address_becomes_slash_32(inproc: Harness) -> None:
    ec2 = inproc.client("ec2")
    with inproc.session(options(ssh_cidr="198.51.100.4")) as live:
        group = ec2.describe_security_groups(GroupIds=[live.provider.session.security_group_id])
        ranges = group["SecurityGroups"][0]["IpPermissions"][0]["IpRanges"]
        assert [r["CidrIp"] for r in ranges] == ["198.51.100.4/32"]


def test_world_only_when_forced(inproc: Harness) -> None:
    ec2 = inproc.client("ec2")
    with inproc.session(options(ssh_cidr=None, allow_world=True)) as live:
        group = ec2.describe_security_groups(GroupIds=[live.provider.session.security_group_id])
        ranges = group["SecurityGroups"][0]["IpPermissions"][0]["IpRanges"]
        assert [r["CidrIp"] for r in ranges] == ["0.0.0.0/0"]
    assert leftovers(ec2) == {}


def test_public_ip_detection_is_injectable_and_fails_clearly(inproc: Harness) -> None:
    ec2 = inproc.client("ec2")
    with inproc.session(options(ssh_cidr=None), public_ip=lambda: "192.0.2.9\n") as live:
        group = ec2.describe_security_groups(GroupIds=[live.provider.session.security_group_id])
        ranges = group["SecurityGroups"][0]["IpPermissions"][0]["IpRanges"]
        assert [r["CidrIp"] for r in ranges] == ["192.0.2.9/32"]

    def offline() -> str:
        raise OSError("network unreachable")

    with (
        pytest.raises(Ec2ConfigError, match=r"--gpubench-ec2-ssh-cidr YOUR\.PUBLIC\.IP/32"),
        inproc.session(options(ssh_cidr=None), public_ip=offline),
    ):
        pass
    assert leftovers(ec2) == {}


def test_zone_failover_on_insufficient_capacity(harness: Harness) -> None:
    zones = ["us-east-1a", "us-east-1b"]
    fault = Fault(
        "RunInstances",
        "InsufficientInstanceCapacity",
        when=lambda body: body.get("Placement.AvailabilityZone") in zones,
    )
    harness.faults.append(fault)
    with harness.session(options()) as live:
        assert live.provider.session.zone == "us-east-1c"
        assert run_on(describe(harness, live.instance_id)) == "us-east-1c"
    assert [h["Placement.AvailabilityZone"] for h in fault.hits] == zones
    assert leftovers(harness.client("ec2")) == {}


def test_unsupported_zone_also_moves_on(inproc: Harness) -> None:
    inproc.faults.append(Fault("RunInstances", "Unsupported", times=1))
    with inproc.session(options()) as live:
        assert live.provider.session.zone == "us-east-1b"


def test_no_zone_has_capacity(inproc: Harness) -> None:
    inproc.faults.append(Fault("RunInstances", "InsufficientInstanceCapacity"))
    with (
        pytest.raises(CapacityError, match=r"no capacity for g4dn\.xlarge"),
        inproc.session(options()),
    ):
        pass
    assert len(inproc.faults[0].hits) == 5  # every zone moto offers g4dn.xlarge in
    assert leftovers(inproc.client("ec2")) == {}


def test_request_limit_backs_off_with_jitter(harness: Harness) -> None:
    fault = Fault("RunInstances", "RequestLimitExceeded", times=3)
    harness.faults.append(fault)
    with harness.session(options()) as live:
        assert live.provider.session.zone == "us-east-1a"
    throttle_sleeps = harness.sleeps[:3]
    assert len(fault.hits) == 3
    assert len(set(throttle_sleeps)) == 3  # jittered
    for attempt, delay in enumerate(throttle_sleeps):
        assert 0 <= delay <= min(20.0, 1.0 * 2**attempt)


def test_request_limit_gives_up_after_bounded_attempts(inproc: Harness) -> None:
    inproc.faults.append(Fault("RunInstances", "RequestLimitExceeded"))
    with (
        pytest.raises(Exception, match="RequestLimitExceeded"),
        inproc.session(options()),
    ):
        pass
    assert len(inproc.faults[0].hits) == 6
    assert len(inproc.sleeps) == 5
    assert leftovers(inproc.client("ec2")) == {}


def is_spot(body: dict) -> bool:
    return body.get("InstanceMarketOptions.MarketType") == "spot"


def test_spot_instance_with_max_price(harness: Harness) -> None:
    seen = Fault("RunInstances", "never", when=lambda body: False)
    harness.faults.append(seen)
    spy: list[dict] = []

    def record(params: dict, **kwargs: object) -> None:
        spy.append(dict(params["body"]))

    original = harness.client

    def client(service: str, region: str = "us-east-1"):
        c = original(service, region)
        if service == "ec2":
            c.meta.events.register("before-call.ec2.RunInstances", record)
        return c

    harness.client = client  # type: ignore[method-assign]
    with harness.session(options(spot=True, max_price=0.3)) as live:
        assert describe(harness, live.instance_id).get("InstanceLifecycle") == "spot"
        summary = live.summary()
    assert spy[0]["InstanceMarketOptions.SpotOptions.MaxPrice"] == "0.3000"
    assert summary["market"] == "spot"
    assert summary["price_per_hour"] == pytest.approx(0.00001)  # moto's spot history
    assert summary["price_source"].startswith("spot price history us-east-1a")


@pytest.mark.parametrize("code", ["InsufficientInstanceCapacity", "SpotMaxPriceTooLow"])
def test_spot_falls_back_to_on_demand_only_when_allowed(inproc: Harness, code: str) -> None:
    inproc.faults.append(Fault("RunInstances", code, when=is_spot))
    with (
        pytest.raises(CapacityError, match="--gpubench-ec2-spot-fallback"),
        inproc.session(options(spot=True)),
    ):
        pass
    assert leftovers(inproc.client("ec2")) == {}

    with inproc.session(options(spot=True, spot_fallback=True)) as live:
        assert live.provider.session.market == "on-demand"
        assert describe(inproc, live.instance_id).get("InstanceLifecycle") is None
        assert live.price_per_hour == pytest.approx(0.526)
    assert leftovers(inproc.client("ec2")) == {}


def test_spot_count_exceeded_skips_other_zones(inproc: Harness) -> None:
    fault = Fault("RunInstances", "MaxSpotInstanceCountExceeded", when=is_spot)
    inproc.faults.append(fault)
    with inproc.session(options(spot=True, spot_fallback=True)) as live:
        assert (live.provider.session.market, live.provider.session.zone) == (
            "on-demand",
            "us-east-1a",
        )
    assert len(fault.hits) == 1


@pytest.mark.parametrize(
    ("code", "quota"),
    [("VcpuLimitExceeded", "L-DB2E81BA"), ("InstanceLimitExceeded", "L-DB2E81BA")],
)
def test_quota_errors_say_which_quota(inproc: Harness, code: str, quota: str) -> None:
    inproc.faults.append(Fault("RunInstances", code))
    with pytest.raises(QuotaError, match=quota) as info, inproc.session(options()):
        pass
    assert "Running On-Demand G and VT instances" in str(info.value)
    assert len(inproc.faults[0].hits) == 1
    assert leftovers(inproc.client("ec2")) == {}


def test_missing_credentials_stop_before_any_resource(inproc: Harness, aws_env: Path) -> None:
    original = inproc.client

    def client(service: str, region: str = "us-east-1"):
        c = original(service, region)
        if service == "sts":

            def no_credentials(**kwargs: object) -> None:
                raise NoCredentialsError()

            c.meta.events.register("before-call.sts.GetCallerIdentity", no_credentials)
        return c

    inproc.client = client  # type: ignore[method-assign]
    with (
        pytest.raises(CredentialsError, match="aws configure"),
        inproc.session(options()),
    ):
        pass
    assert inproc.steps == []
    assert not aws_env.exists()


def fail_and_check(h: Harness, step: str, exc_type: type[BaseException], ledger_dir: Path) -> None:
    h.fail_at = None if step == "body" else step
    h.fail_with = exc_type
    provider = h.provider(options())
    with pytest.raises(exc_type, match="injected"), h.rent(provider):
        raise exc_type("injected in body")
    assert leftovers(h.client("ec2")) == {}
    session = provider.session
    if session.key_path is not None:
        assert not session.key_path.exists()
        assert not session.key_path.parent.exists()
    ledger = ledger_dir / f"{session.session_id}.json"
    assert json.loads(ledger.read_text())["status"] == "done"


@pytest.mark.parametrize("step", [*STEPS, "body"])
def test_nothing_left_after_an_error_at_any_step(
    harness: Harness, step: str, aws_env: Path
) -> None:
    fail_and_check(harness, step, RuntimeError, aws_env)


@pytest.mark.parametrize("step", [*STEPS, "body"])
def test_nothing_left_after_ctrl_c_at_any_step(inproc: Harness, step: str, aws_env: Path) -> None:
    fail_and_check(inproc, step, KeyboardInterrupt, aws_env)


def test_sigterm_tears_down_and_restores_handler(inproc: Harness) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SigtermInterrupt), inproc.session(options()) as live:
        assert signal.getsignal(signal.SIGTERM) is not before
        key_path = live.provider.session.key_path
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before
    assert leftovers(inproc.client("ec2")) == {}
    assert not key_path.exists()


def test_teardown_errors_never_mask_the_original_and_never_stop_teardown(
    inproc: Harness, aws_env: Path
) -> None:
    inproc.faults.append(Fault("DeleteKeyPair", "InternalError"))
    provider = inproc.provider(options())
    with (
        pytest.raises(ValueError, match="boom") as info,
        inproc.rent(provider),
    ):
        raise ValueError("boom")
    assert any("key_pair" in note for note in info.value.__notes__)
    assert leftovers(inproc.client("ec2")) == {"keys": [provider.session.key_name]}
    assert not provider.session.key_path.exists()
    entry = json.loads((aws_env / f"{provider.session.session_id}.json").read_text())
    assert entry["status"] == "teardown-failed"

    provider = inproc.provider(options())
    with (
        pytest.raises(TeardownError, match="key_pair") as failed,
        inproc.rent(provider),
    ):
        pass
    assert f"sweep --region us-east-1 --session {provider.session.session_id}`" in str(failed.value)


@pytest.mark.parametrize("operation", ["DescribeInstances", "DescribeSecurityGroups"])
@pytest.mark.parametrize("code", ["UnauthorizedOperation", "InternalError"])
def test_a_failed_lookup_in_teardown_still_destroys_what_the_session_recorded(
    inproc: Harness, operation: str, code: str
) -> None:
    """A role without ``ec2:Describe*`` (or an outage) must not leave the known instance or
    group behind: the teardown destroys them and then reports the lookup's failure."""
    tearing_down: list[bool] = []
    inproc.faults.append(Fault(operation, code, when=lambda body: bool(tearing_down)))
    provider = inproc.provider(options())
    with (
        pytest.raises(RuntimeError, match="body failed") as info,
        inproc.rent(provider),
    ):
        tearing_down.append(True)
        raise RuntimeError("body failed")
    tearing_down.clear()
    step = "instance" if operation == "DescribeInstances" else "security_group"
    assert any(step in note and code in note for note in info.value.__notes__)
    assert leftovers(inproc.client("ec2")) == {}
    assert provider.session.teardown_errors and code in provider.session.teardown_errors[0]


def test_a_second_ctrl_c_during_the_teardown_lookup_still_terminates(inproc: Harness) -> None:
    tearing_down: list[bool] = []

    def interrupt(params: dict, **kwargs: object) -> None:
        if tearing_down:
            raise KeyboardInterrupt("second Ctrl-C")

    interrupt.operation = "DescribeInstances"  # type: ignore[attr-defined]
    inproc.faults.append(interrupt)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt), inproc.session(options()):
        tearing_down.append(True)
        raise KeyboardInterrupt("first Ctrl-C")
    tearing_down.clear()
    assert leftovers(inproc.client("ec2")) == {}


def test_an_instance_not_yet_known_to_ec2_is_terminated_after_all(inproc: Harness) -> None:
    """An id fresh from RunInstances can read as NotFound for a while (eventual consistency):
    a failure just after launch must not leave it running while the ledger says done."""
    fault = Fault("TerminateInstances", "InvalidInstanceID.NotFound", times=2)
    inproc.faults.append(fault)
    inproc.fail_at = "instance"
    with pytest.raises(RuntimeError, match="injected"), inproc.session(options()):
        pass
    assert len(fault.hits) == 2
    assert leftovers(inproc.client("ec2")) == {}


def test_security_group_delete_waits_for_the_eni(inproc: Harness) -> None:
    fault = Fault("DeleteSecurityGroup", "DependencyViolation", times=2)
    inproc.faults.append(fault)
    with inproc.session(options()):
        pass
    assert len(fault.hits) == 2
    assert inproc.sleeps.count(0.5) == 2
    assert leftovers(inproc.client("ec2")) == {}


def test_a_security_group_already_gone_is_not_a_teardown_failure(
    inproc: Harness, aws_env: Path
) -> None:
    fault = Fault("DeleteSecurityGroup", "InvalidGroup.NotFound", times=1)
    inproc.faults.append(fault)
    provider = inproc.provider(options())
    with inproc.rent(provider):
        pass
    assert len(fault.hits) == 1 and not provider.session.teardown_errors
    entry = json.loads((aws_env / f"{provider.session.session_id}.json").read_text())
    assert entry["status"] == "done"


def test_a_security_group_that_stays_in_use_fails_the_teardown_loudly(
    inproc: Harness, aws_env: Path
) -> None:
    """Retries run out: the open-SSH group is reported, never given up on silently."""
    fault = Fault("DeleteSecurityGroup", "DependencyViolation")
    inproc.faults.append(fault)
    provider = inproc.provider(options())
    with (
        pytest.raises(TeardownError, match="security_group"),
        inproc.rent(provider),
    ):
        pass
    assert len(fault.hits) == 30  # every attempt, then the error
    entry = json.loads((aws_env / f"{provider.session.session_id}.json").read_text())
    assert entry["status"] == "teardown-failed"
    assert "groups" in leftovers(inproc.client("ec2"))


def test_unknown_instance_type_is_refused_by_validation(inproc: Harness) -> None:
    with (
        pytest.raises(Ec2ConfigError, match=r"g9x\.nope"),
        inproc.session(options(instance_type="g9x.nope")),
    ):
        pass
    assert leftovers(inproc.client("ec2")) == {}


def ctrl_c_on_terminate(presses: int) -> object:
    """A before-call handler that presses Ctrl-C ``presses`` times on TerminateInstances."""

    def press(params: dict, **kwargs: object) -> None:
        for _ in range(presses):
            os.kill(os.getpid(), signal.SIGINT)

    press.operation = "TerminateInstances"  # type: ignore[attr-defined]
    return press


def test_a_ctrl_c_during_teardown_is_said_and_the_teardown_finishes(inproc: Harness) -> None:
    said: list[str] = []
    inproc.faults.append(ctrl_c_on_terminate(1))  # type: ignore[arg-type]
    before = signal.getsignal(signal.SIGINT)
    with (
        pytest.raises(KeyboardInterrupt, match="first"),
        inproc.session(options(), progress=said.append),
    ):
        raise KeyboardInterrupt("first Ctrl-C")
    assert any("teardown is still running" in line for line in said)
    assert not any("ABANDONED" in line for line in said)
    assert signal.getsignal(signal.SIGINT) is before
    assert leftovers(inproc.client("ec2")) == {}


def test_the_next_ctrl_c_abandons_the_teardown_and_says_what_is_left(
    inproc: Harness, aws_env: Path
) -> None:
    from pytest_gpubench.ec2.__main__ import main

    said: list[str] = []
    inproc.faults.append(ctrl_c_on_terminate(2))  # type: ignore[arg-type]
    provider = inproc.provider(options(), progress=said.append)
    with pytest.raises(KeyboardInterrupt, match="first") as info, inproc.rent(provider):
        raise KeyboardInterrupt("first Ctrl-C")
    s = provider.session
    [line] = [line for line in said if "ABANDONED" in line]
    for what in (s.instance_id, s.security_group_id, s.key_name):
        assert what in line
    command = f"python -m pytest_gpubench.ec2 sweep --region us-east-1 --session {s.session_id}"
    assert line.endswith(command)
    assert any("abandoned" in note for note in info.value.__notes__)
    assert json.loads((aws_env / f"{s.session_id}.json").read_text())["status"] == (
        "teardown-failed"
    )
    left = leftovers(inproc.client("ec2"))
    assert set(left) == {"instances", "groups", "keys"}

    assert main(command.split()[3:]) == 0  # the printed command cleans it all up
    assert leftovers(inproc.client("ec2")) == {}


def test_the_root_volume_is_encrypted_with_the_account_default_and_the_eni_tagged(
    inproc: Harness,
) -> None:
    """Issue 13, 10a and 10b: the root EBS volume is encrypted (no KmsKeyId: the account's
    default key), at the image's own size; the network interface carries the session tags."""
    ec2 = inproc.client("ec2")
    image = ec2.register_image(
        Name="dlami",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 75}}],
    )["ImageId"]
    [mapping] = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
    size = mapping["Ebs"]["VolumeSize"]  # moto keeps a size of its own
    runs: list[dict] = []

    def record(params: dict, **kwargs: object) -> None:
        runs.append(params["body"])

    ec2.meta.events.register("before-call.ec2.RunInstances", record)
    original = inproc.client
    inproc.client = lambda service, region="us-east-1": (  # type: ignore[method-assign]
        ec2 if service == "ec2" else original(service, region)
    )
    with inproc.session(options(ami=image)) as live:
        instance = describe(inproc, live.instance_id)
        [volume] = ec2.describe_volumes(
            Filters=[{"Name": "attachment.instance-id", "Values": [live.instance_id]}]
        )["Volumes"]
        assert volume["Encrypted"] is True
        assert instance["NetworkInterfaces"]
        session_id = live.provider.session.session_id
    [body] = runs
    assert {k: v for k, v in body.items() if k.startswith("BlockDeviceMapping")} == {
        "BlockDeviceMapping.1.DeviceName": "/dev/sda1",
        "BlockDeviceMapping.1.Ebs.Encrypted": "true",
        "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
        "BlockDeviceMapping.1.Ebs.VolumeSize": size,  # the image's own
    }  # no KmsKeyId: the account's default key
    # moto does not apply RunInstances' network-interface tags, so the request is checked
    tagged = {
        body[k]: k.split(".")[1]
        for k in body
        if k.startswith("TagSpecification.") and k.endswith("ResourceType")
    }
    assert set(tagged) == {"instance", "volume", "network-interface"}
    eni = tagged["network-interface"]
    pairs = {
        body[k]: body[k.replace(".Key", ".Value")]
        for k in body
        if k.startswith(f"TagSpecification.{eni}.Tag.") and k.endswith(".Key")
    }
    assert pairs[TAG_SESSION] == session_id
    assert leftovers(ec2) == {}


def test_the_session_reads_host_key_fingerprints_from_the_console_bounded(
    inproc: Harness,
) -> None:
    """moto's console shows no cloud-init fingerprints: the check polls GetConsoleOutput for
    ``console_wait_s`` only, then answers None (the SSH layer then says so on screen)."""
    answers: list[object] = []
    calls: list[dict] = []

    def connect(target: object, key_path: Path, known_hosts: Path, **kwargs: object) -> object:
        expected = kwargs["expected_fingerprints"]
        answers.extend([expected(), expected()])  # type: ignore[operator]
        return inproc.connect(target, key_path, known_hosts)

    ec2 = inproc.client("ec2")
    original = inproc.client
    ec2.meta.events.register(
        "before-call.ec2.GetConsoleOutput", lambda params, **kw: calls.append(params)
    )
    inproc.client = lambda service, region="us-east-1": (  # type: ignore[method-assign]
        ec2 if service == "ec2" else original(service, region)
    )
    ssh = inproc.ssh(connect=connect, retry_delay_s=5)
    with inproc.session(options(), ssh, console_wait_s=20):
        pass
    assert answers == [None, None]
    assert len(calls) == 5  # 20 s at 5 s apart, once: the answer is kept
    assert leftovers(ec2) == {}
