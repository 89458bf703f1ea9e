"""``python -m pytest_gpubench.ec2 sweep [--dry-run] [--region R]``: delete expired leftovers.

``pytest-gpubench sweep ...`` (the console script, :mod:`pytest_gpubench.cli`) runs the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pytest_gpubench.ec2 import INSTALL_HINT
from pytest_gpubench.ec2.faults import CREDENTIALS_HELP, error_code


def _parser(prog: str = "python -m pytest_gpubench.ec2") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser(
        "sweep", help="delete gpubench-tagged instances, security groups and key pairs past expiry"
    )
    sweep.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    sweep.add_argument(
        "--session",
        metavar="ID",
        default=None,
        help="delete this session's resources now, expired or not (an abandoned teardown)",
    )
    sweep.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)",
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m pytest_gpubench.ec2") -> int:
    """Run the sweep; ``prog`` names the command in usage and errors."""
    args = _parser(prog).parse_args(argv)
    try:
        import boto3
        from botocore.exceptions import NoCredentialsError
    except ImportError:
        print(f"error: sweeping needs boto3: {INSTALL_HINT}", file=sys.stderr)
        return 2
    from botocore.exceptions import BotoCoreError

    from pytest_gpubench.ec2.provider import Ec2Provider
    from pytest_gpubench.ec2.session import Ec2Deps
    from pytest_gpubench.ec2.settings import Ec2Options

    try:
        from pytest_gpubench.ec2.launch import client_config

        ec2 = boto3.session.Session(region_name=args.region).client("ec2", config=client_config())
    except (ValueError, BotoCoreError) as exc:  # botocore: "Invalid endpoint" for a bad name
        print(f"error: --region {args.region!r} is not usable ({exc})", file=sys.stderr)
        return 2
    provider = Ec2Provider(Ec2Options(region=args.region), Ec2Deps(client=lambda *_: ec2))
    try:
        report = provider.sweep(dry_run=args.dry_run, session=args.session)
    except NoCredentialsError:
        print(f"error: no AWS credentials; {CREDENTIALS_HELP}", file=sys.stderr)
        return 2
    except BotoCoreError as exc:  # no network, or a region EC2 does not answer in
        print(
            f"error: EC2 in {args.region} could not be reached ({exc}); check --region and "
            "the network, then run the sweep again (nothing was deleted)",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:
        if error_code(exc) in {"AuthFailure", "UnauthorizedOperation"}:
            print(f"error: {exc}; {CREDENTIALS_HELP}", file=sys.stderr)
            return 2
        raise
    verb = "would delete" if args.dry_run else "deleted"
    done = report.expired if args.dry_run else report.deleted
    for leftover in done:
        print(f"{verb}: {leftover}")
    for leftover, exc in report.errors:
        print(f"FAILED: {leftover}: {exc}", file=sys.stderr)
    print(
        f"{args.region}: {len(report.expired)} expired, {len(done)} {verb}, "
        f"{len(report.fresh)} fresh left alone, {len(report.errors)} errors"
    )
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
