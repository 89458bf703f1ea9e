"""The ``--gpubench-ec2*`` options as one checked ``Ec2Options``, before anything is launched.

Plain functions over the parsed option values (``vars(config.option)``), the project root
and the environment: every bad value is an ``Ec2ConfigError`` naming it and the fix, and the
plugin turns that into a usage error. Nothing here calls AWS (the region list is botocore's
bundled data).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_gpubench.ec2.faults import Ec2ConfigError
from pytest_gpubench.integers import check_int

DEFAULT_INSTANCE_TYPE = "g4dn.xlarge"
DEFAULT_REGION = "us-east-1"
DEFAULT_TTL_MINUTES = 120
MAX_TTL_MINUTES = 24 * 60
#: What the instance installs unless --gpubench-ec2-extras says otherwise.
DEFAULT_EXTRAS = "cuda,torch"
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
#: An AMI id: ami- and 8 or 17 hex digits.
AMI_ID_RE = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
#: Below this TTL (minutes) the install alone (torch, CuPy) may outlast the instance.
SHORT_TTL_MINUTES = 15
#: The smallest spot max price EC2's 4-decimal MaxPrice can say.
MIN_MAX_PRICE = 0.0001


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
    extras: tuple[str, ...] = tuple(DEFAULT_EXTRAS.split(","))

    def validate(self) -> None:
        """``Ec2ConfigError`` for a value no session could use (checked by the provider too,
        so a session built without the plugin is held to the same rules)."""
        try:
            check_int(self.ttl_minutes, "--gpubench-ec2-ttl (minutes)", 1, MAX_TTL_MINUTES)
        except ValueError as exc:
            raise Ec2ConfigError(str(exc)) from None
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


def stray_options(args: Sequence[str]) -> str | None:
    """The error for ``--gpubench-ec2-*`` options given without ``--gpubench-ec2``."""
    given = [arg.split("=", 1)[0] for arg in args if arg.startswith("--gpubench-ec2-")]
    if not given:
        return None
    verb = "applies" if len(set(given)) == 1 else "apply"
    return (
        f"{', '.join(dict.fromkeys(given))} only {verb} with --gpubench-ec2 TYPE (e.g. "
        f"--gpubench-ec2 {DEFAULT_INSTANCE_TYPE}); without it the run is local"
    )


def short_ttl_warning(options: Ec2Options) -> str | None:
    """A warning for a time to live that an install alone may outlast."""
    if options.ttl_minutes >= SHORT_TTL_MINUTES:
        return None
    return (
        f"--gpubench-ec2-ttl {options.ttl_minutes}: the instance powers itself off after that "
        f"many minutes, and installing torch and CuPy alone can take {SHORT_TTL_MINUTES}; the "
        "run may be cut short"
    )


def ec2_options(values: Mapping[str, Any], root: Path, env: Mapping[str, str]) -> Ec2Options:
    """``Ec2Options`` from the parsed options (``vars(config.option)``), checked whole.

    ``root`` is the project whose extras the instance installs; ``env`` gives the default
    region (``AWS_REGION``, ``AWS_DEFAULT_REGION``).
    """
    instance_type = values["gpubench_ec2"]
    if not INSTANCE_TYPE_RE.match(instance_type):
        raise Ec2ConfigError(
            f"--gpubench-ec2 {instance_type!r} is not an instance type like "
            f"{DEFAULT_INSTANCE_TYPE}; write --gpubench-ec2=TYPE, or put test paths before the "
            "option"
        )
    region = (
        values.get("gpubench_ec2_region")
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    ledger = values.get("gpubench_ec2_ledger_dir")
    if ledger:
        _require_directory(Path(ledger), "--gpubench-ec2-ledger-dir")
    extras = values.get("gpubench_ec2_extras") or DEFAULT_EXTRAS
    _check_extras(extras, root)
    options = Ec2Options(
        instance_type=instance_type,
        region=region,
        spot=bool(values.get("gpubench_ec2_spot")),
        max_price=values.get("gpubench_ec2_max_price"),
        spot_fallback=bool(values.get("gpubench_ec2_spot_fallback")),
        ami=values.get("gpubench_ec2_ami"),
        ttl_minutes=values.get("gpubench_ec2_ttl", DEFAULT_TTL_MINUTES),
        ssh_cidr=values.get("gpubench_ec2_ssh_cidr"),
        allow_world=bool(values.get("gpubench_ec2_allow_world")),
        ssh_user=values.get("gpubench_ec2_user") or "ubuntu",
        ledger_dir=Path(ledger) if ledger else None,
        price_per_hour=values.get("gpubench_ec2_price"),
        extras=tuple(e for e in extras.split(",") if e),
    )
    regions = _ec2_regions()
    if regions and region not in regions:
        raise Ec2ConfigError(
            f"--gpubench-ec2-region {region!r} is not an EC2 region botocore knows; expected "
            f"one such as us-east-1, eu-west-1 ({len(regions)} known)"
        )
    options.validate()
    if options.ssh_cidr:
        from pytest_gpubench.ec2.resources import check_ssh_cidr

        check_ssh_cidr(options.ssh_cidr, allow_world=options.allow_world)
    return options


def _require_directory(path: Path, option: str) -> None:
    """A usable directory at ``path`` (created if missing), else an error naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Ec2ConfigError(
            f"{option} {str(path)!r} cannot be a directory ({exc.strerror or exc}); give a "
            "directory path"
        ) from None


def _check_extras(extras: str, root: Path) -> None:
    """Extras the project under test defines; checked only when given, since the default
    suits this project and another may lack them (found on the paid instance otherwise)."""
    if extras == DEFAULT_EXTRAS:
        return
    known = {_extra_name(k) for k in _project_extras(root)}
    unknown = [e for e in extras.split(",") if e and _extra_name(e) not in known]
    if unknown and known:
        raise Ec2ConfigError(
            f"--gpubench-ec2-extras {extras!r}: unknown extra(s) {', '.join(unknown)}; "
            f"{root / 'pyproject.toml'} defines {', '.join(sorted(known))}"
        )


def _extra_name(name: str) -> str:
    """An extra's name as pip compares it (PEP 685: case and runs of ``-_.`` folded)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_extras(root: Path) -> set[str]:
    """The extras the instance can install: ``[project.optional-dependencies]`` of the
    project under test (``pip install -e '.[EXTRAS]'`` there); empty where unknown."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # a dependency there (pyproject.toml)
        import tomli as tomllib
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {})
    except (OSError, ValueError):
        return set()
    return set(project.get("optional-dependencies", {}))


def _ec2_regions() -> set[str]:
    """EC2's regions in every partition, from botocore's bundled data (no network)."""
    import boto3

    session = boto3.session.Session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    }
