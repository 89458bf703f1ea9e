"""Find the AWS Deep Learning base GPU AMI (NVIDIA driver, CUDA) for a region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_gpubench.ec2.faults import Ec2Error, error_code

SSM_PARAMETER = (
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
)
NAME_PATTERN = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*"


@dataclass(frozen=True)
class Ami:
    image_id: str
    source: str


def resolve_ami(ssm: Any, ec2: Any, explicit: str | None = None) -> Ami:
    """``explicit`` if given, else the public SSM parameter, else the newest image by name."""
    if explicit:
        if not explicit.startswith("ami-"):
            raise Ec2Error(f"--gpubench-ec2-ami must be an AMI id like ami-0123…, got {explicit!r}")
        return Ami(explicit, "--gpubench-ec2-ami")
    try:
        value = ssm.get_parameter(Name=SSM_PARAMETER)["Parameter"]["Value"]
        return Ami(value, f"SSM {SSM_PARAMETER}")
    except Exception as exc:
        if error_code(exc) not in {"ParameterNotFound", "AccessDeniedException"}:
            raise
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[
            {"Name": "name", "Values": [NAME_PATTERN]},
            {"Name": "state", "Values": ["available"]},
            {"Name": "architecture", "Values": ["x86_64"]},
        ],
    )["Images"]
    if not images:
        raise Ec2Error(
            f"no Deep Learning GPU AMI found (SSM {SSM_PARAMETER} missing and no amazon image "
            f"named {NAME_PATTERN!r}) in this region; pass --gpubench-ec2-ami ami-…"
        )
    newest = max(images, key=lambda image: image.get("CreationDate", ""))
    return Ami(newest["ImageId"], f"describe_images {newest.get('Name', '')}")
