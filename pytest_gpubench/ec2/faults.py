"""EC2 error codes, what they mean for a session, and retries with jittered backoff."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pytest_gpubench.remote.errors import CloudError, CloudUsageError

log = logging.getLogger("pytest_gpubench.ec2")

T = TypeVar("T")

#: Errors that say "this zone cannot run this type now": try the next zone.
ZONE_CODES = frozenset({"InsufficientInstanceCapacity", "Unsupported"})
#: Spot requests that this zone cannot meet (next zone, then on-demand if allowed).
SPOT_ZONE_CODES = frozenset({"InsufficientInstanceCapacity", "SpotMaxPriceTooLow", "Unsupported"})
#: Spot refusals that no other zone will change.
SPOT_ACCOUNT_CODES = frozenset({"MaxSpotInstanceCountExceeded"})
THROTTLE_CODES = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})
#: Server-side hiccups worth another try (our clients have botocore's retries off).
TRANSIENT_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"}
)
QUOTA_CODES = frozenset({"VcpuLimitExceeded", "InstanceLimitExceeded"})
CREDENTIAL_CODES = frozenset(
    {
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)

CREDENTIALS_HELP = (
    "configure AWS credentials: run `aws configure` (or `aws sso login`), or set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE"
)


class Ec2Error(CloudError):
    """An EC2 session problem; the message says what to do about it."""


class Ec2ConfigError(Ec2Error, CloudUsageError):
    """A bad option value (caught before any resource exists)."""


class CredentialsError(Ec2Error, CloudUsageError):
    """No usable AWS credentials."""


class QuotaError(Ec2Error, CloudUsageError):
    """The account's quota does not allow this instance."""


class CapacityError(Ec2Error):
    """No zone (and market) could provide the instance."""


class TeardownError(Ec2Error):
    """One or more teardown steps failed; ``errors`` holds (step, exception) pairs."""

    def __init__(self, errors: list[tuple[str, BaseException]], sweep: str | None = None) -> None:
        self.errors = errors
        details = "; ".join(f"{step}: {exc!r}" for step, exc in errors)
        how = (
            f"run `{sweep}` to delete what is left now"
            if sweep
            else "run `python -m pytest_gpubench.ec2 sweep` after the resources expire"
        )
        super().__init__(
            f"EC2 teardown incomplete ({details}); {how}, or delete them in the EC2 console"
        )


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def quota_help(code: str, instance_type: str, region: str, spot: bool) -> str:
    """What to ask Service Quotas for when ``code`` stops a launch."""
    letter = instance_type[:1].upper()
    if letter == "P":
        name, quota = (
            ("All P Spot Instance Requests", "L-7212CCBC")
            if spot
            else ("Running On-Demand P instances", "L-417A185B")
        )
    elif letter in "GV":
        name, quota = (
            ("All G and VT Spot Instance Requests", "L-3819A6DF")
            if spot
            else ("Running On-Demand G and VT instances", "L-DB2E81BA")
        )
    else:
        name, quota = "the EC2 vCPU quota of this instance family", "see Service Quotas → EC2"
    return (
        f"{code}: your account may not run {instance_type} in {region} "
        f"({'spot' if spot else 'on-demand'}); request an increase of the '{name}' quota "
        f"({quota}, counted in vCPUs) in the Service Quotas console for {region}, "
        "or choose another --gpubench-ec2 type or --gpubench-ec2-region"
    )


def credentials_error(detail: str) -> CredentialsError:
    return CredentialsError(f"no usable AWS credentials ({detail}); {CREDENTIALS_HELP}")


def is_transient(exc: BaseException, *, idempotent: bool = True) -> bool:
    """Worth another try: throttling, a 5xx, or no answer (connection refused or reset, a
    connect or read timeout). A read timeout or a dropped connection may hide a request that
    was applied, so those count only for an ``idempotent`` call."""
    code = error_code(exc)
    if code in THROTTLE_CODES or code in TRANSIENT_CODES:
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return isinstance(status, int) and status >= 500
    try:
        from botocore.exceptions import ConnectionError as NotConnected
        from botocore.exceptions import HTTPClientError
    except ImportError:
        return False
    if isinstance(exc, NotConnected) and not isinstance(exc, HTTPClientError):
        return True  # never reached AWS (refused, DNS, connect timeout): safe to resend
    return idempotent and isinstance(exc, HTTPClientError)  # read timeout, connection reset


class Backoff:
    """Retry a call on transient failures (:func:`is_transient`) with full-jitter
    exponential backoff, for at most ``attempts`` tries and ``budget_s`` seconds.

    ``sleep``, ``rng`` and ``clock`` are injectable so tests can record the delays; the
    budget counts the slept seconds too, so an injected sleep still bounds it.
    """

    def __init__(
        self,
        *,
        attempts: int = 6,
        base_s: float = 1.0,
        cap_s: float = 20.0,
        budget_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        self.attempts = attempts
        self.base_s = base_s
        self.cap_s = cap_s
        self.budget_s = budget_s
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.clock = clock

    def patient(self, attempts: int = 12, budget_s: float = 300.0) -> Backoff:
        """The same backoff with more tries and time: for teardown, where giving up leaves
        a billed resource behind."""
        return Backoff(
            attempts=max(attempts, self.attempts),
            base_s=self.base_s,
            cap_s=self.cap_s,
            budget_s=max(budget_s, self.budget_s),
            sleep=self.sleep,
            rng=self.rng,
            clock=self.clock,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return self.rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))

    def call(
        self, fn: Callable[..., T], /, *args: Any, idempotent: bool = True, **kwargs: Any
    ) -> T:
        start, slept = self.clock(), 0.0
        for attempt in range(self.attempts):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                wait = self.delay(attempt)
                spent = max(self.clock() - start, slept)
                if (
                    not is_transient(exc, idempotent=idempotent)
                    or attempt == self.attempts - 1
                    or spent + wait > self.budget_s
                ):
                    raise
                log.info("EC2 call failed (%s); retrying in %.1f s", error_code(exc) or exc, wait)
                self.sleep(wait)
                slept += wait
        raise AssertionError("unreachable")
