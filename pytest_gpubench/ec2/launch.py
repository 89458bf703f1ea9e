"""Launch one instance: zone failover, spot with optional on-demand fallback, throttling.

Capacity errors move on to the next zone; quota errors stop with what to request.
The EC2 client should have botocore's retries off (``client_config``) so that these
decisions, and the backoff on ``RequestLimitExceeded``, are ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_gpubench.ec2.faults import (
    QUOTA_CODES,
    SPOT_ACCOUNT_CODES,
    SPOT_ZONE_CODES,
    ZONE_CODES,
    Backoff,
    CapacityError,
    Ec2ConfigError,
    QuotaError,
    error_code,
    is_transient,
    quota_help,
)
from pytest_gpubench.ec2.resources import tag_specifications

log = logging.getLogger("pytest_gpubench.ec2")


def client_config() -> Any:
    """botocore config for EC2 calls whose faults we handle ourselves (no SDK retries)."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 1})


@dataclass(frozen=True)
class LaunchRequest:
    instance_type: str
    image_id: str
    key_name: str
    security_group_id: str
    user_data: str
    tags: dict[str, str]
    session_id: str
    region: str
    spot: bool = False
    max_price: float | None = None
    spot_fallback: bool = False
    block_devices: list[dict[str, Any]] | None = None  # encrypted_root's


@dataclass(frozen=True)
class Launched:
    instance_id: str
    zone: str
    market: str  # "spot" or "on-demand"
    attempts: list[str] = field(default_factory=list)


def offered_zones(ec2: Any, instance_type: str, region: str) -> list[str]:
    """Zones of the region that offer ``instance_type``, sorted."""
    offerings = ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": [instance_type]}],
    )["InstanceTypeOfferings"]
    zones = sorted({o["Location"] for o in offerings})
    if not zones:
        raise Ec2ConfigError(
            f"instance type {instance_type!r} is not offered in {region}; check the name "
            "(e.g. g4dn.xlarge) or pick another --gpubench-ec2-region"
        )
    return zones


def encrypted_root(ec2: Any, image_id: str) -> list[dict[str, Any]] | None:
    """A block device mapping that encrypts the image's root volume, or None where the image
    cannot be described (its root device and size are then unknown).

    No KmsKeyId: EBS uses the account's default key (aws/ebs, or the one chosen with
    ModifyEbsDefaultKmsKeyId), as the console does. The size is the image's own.
    """
    try:
        [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    except Exception as exc:
        if is_transient(exc):
            raise  # the caller's backoff retries it
        log.warning(
            "could not describe %s (%r): root volume encryption left to the account", image_id, exc
        )
        return None
    root = image.get("RootDeviceName")
    ebs: dict[str, Any] = {"Encrypted": True, "DeleteOnTermination": True}
    for mapping in image.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root and mapping.get("Ebs", {}).get("VolumeSize"):
            ebs["VolumeSize"] = mapping["Ebs"]["VolumeSize"]
    if not root:
        return None
    return [{"DeviceName": root, "Ebs": ebs}]


def user_data(ttl_minutes: int) -> str:
    """Boot script that powers the instance off (→ terminated) at its time to live."""
    return (
        "#!/bin/bash\n"
        "# gpubench: the instance ends itself even if its client is gone.\n"
        f"systemd-run --unit gpubench-ttl --on-active={ttl_minutes}m /sbin/shutdown -h now "
        "|| true\n"
        f'shutdown -h +{ttl_minutes} "gpubench: time to live reached"\n'
    )


def _market_options(request: LaunchRequest) -> dict[str, Any]:
    spot_options: dict[str, Any] = {
        "SpotInstanceType": "one-time",
        "InstanceInterruptionBehavior": "terminate",
    }
    if request.max_price is not None:
        spot_options["MaxPrice"] = f"{request.max_price:.4f}"
    return {"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": spot_options}}


def launch(
    ec2: Any,
    request: LaunchRequest,
    zones: list[str],
    *,
    backoff: Backoff,
    before_call: Callable[[str], None] = lambda token: None,
) -> Launched:
    """Run the instance in the first zone (and market) that has it.

    ``before_call(client_token)`` runs before each attempt, so the caller can record
    the idempotency token before anything can exist.
    """
    markets = ["spot", "on-demand"] if request.spot else ["on-demand"]
    attempts: list[str] = []
    for market in markets:
        if market == "on-demand" and request.spot and not request.spot_fallback:
            break
        for zone in zones:
            token = f"{request.session_id}-{len(attempts)}"
            kwargs: dict[str, Any] = {
                "ImageId": request.image_id,
                "InstanceType": request.instance_type,
                "MinCount": 1,
                "MaxCount": 1,
                "KeyName": request.key_name,
                "SecurityGroupIds": [request.security_group_id],
                "Placement": {"AvailabilityZone": zone},
                "InstanceInitiatedShutdownBehavior": "terminate",
                "UserData": request.user_data,
                "ClientToken": token,
                "TagSpecifications": tag_specifications(
                    request.tags, "instance", "volume", "network-interface"
                ),
                "MetadataOptions": {"HttpTokens": "required"},
            }
            if request.block_devices:
                kwargs["BlockDeviceMappings"] = request.block_devices
            if market == "spot":
                kwargs.update(_market_options(request))
            before_call(token)
            try:
                response = backoff.call(ec2.run_instances, **kwargs)
            except Exception as exc:
                code = error_code(exc)
                attempts.append(f"{market} {zone}: {code or exc!r}")
                if code in QUOTA_CODES:
                    raise QuotaError(
                        quota_help(code, request.instance_type, request.region, market == "spot")
                    ) from exc
                if market == "spot" and code in SPOT_ACCOUNT_CODES:
                    log.info("spot refused (%s); no other zone will help", code)
                    break
                codes = SPOT_ZONE_CODES if market == "spot" else ZONE_CODES
                if code in codes:
                    log.info("%s in %s: %s; trying the next zone", market, zone, code)
                    continue
                raise
            instance = response["Instances"][0]
            attempts.append(f"{market} {zone}: ok")
            return Launched(instance["InstanceId"], zone, market, attempts)
    hint = (
        "; pass --gpubench-ec2-spot-fallback to allow on-demand"
        if request.spot and not request.spot_fallback
        else ""
    )
    raise CapacityError(
        f"no capacity for {request.instance_type} in {request.region} "
        f"({'; '.join(attempts)}); try later, another --gpubench-ec2-region or type{hint}"
    )
