"""Price per hour of the session's instance (what it cost: :class:`PriceQuote`'s ``cost``).

Order of precedence: an explicit price (option), ``GPUBENCH_EC2_PRICE_PER_HOUR``, a JSON
file named by ``GPUBENCH_EC2_PRICE_FILE`` (``{"g4dn.xlarge": 0.5}``), the spot price
history (spot sessions), the shipped on-demand table (``prices.py``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_gpubench.ec2 import prices
from pytest_gpubench.ec2.faults import Ec2ConfigError, error_code
from pytest_gpubench.remote.provider import Price

ENV_PRICE = "GPUBENCH_EC2_PRICE_PER_HOUR"
#: EC2's minimum charge per instance launch, in seconds (per-second billing, Linux).
MIN_BILLED_S = 60.0
ENV_PRICE_FILE = "GPUBENCH_EC2_PRICE_FILE"


@dataclass(frozen=True)
class PriceQuote(Price):
    """An EC2 price: Linux instances are billed per second with a minimum of 60 seconds
    (so a session that failed early still costs a minute)."""

    min_billed_s: float = MIN_BILLED_S


def _positive(value: Any, where: str) -> float:
    try:
        price = float(value)
    except (TypeError, ValueError):
        price = -1.0
    if not (price > 0 and math.isfinite(price)):
        raise Ec2ConfigError(
            f"price per hour from {where} must be a finite positive number of USD, got {value!r}"
        )
    return price


def on_demand_quote(instance_type: str, region: str) -> PriceQuote:
    """The shipped table's price (None when the type is not in it)."""
    price = prices.ON_DEMAND_USD_PER_HOUR.get(instance_type)
    if price is None:
        return PriceQuote(
            None,
            f"unknown: {instance_type} not in the price table of {prices.AS_OF}; "
            f"set --gpubench-ec2-price or {ENV_PRICE}",
        )
    where = "" if region == prices.REGION else f"; {region} may differ"
    return PriceQuote(price, f"on-demand table {prices.REGION} {prices.AS_OF}{where}")


def spot_quote(
    ec2: Any, instance_type: str, zone: str, now: datetime | None = None
) -> PriceQuote | None:
    """The spot price of ``instance_type`` in ``zone`` in effect ``now`` (None without
    history). With ``StartTime=now`` EC2 returns the price in effect then, not whichever
    20 past prices come first."""
    history = ec2.describe_spot_price_history(
        InstanceTypes=[instance_type],
        ProductDescriptions=["Linux/UNIX"],
        AvailabilityZone=zone,
        StartTime=now or datetime.now(timezone.utc),
        MaxResults=20,
    ).get("SpotPriceHistory", [])
    history = [h for h in history if h.get("AvailabilityZone", zone) == zone]
    if not history:
        return None
    latest = max(history, key=lambda h: h["Timestamp"])
    when = f"{latest['Timestamp']:%Y-%m-%d %H:%M}"
    return PriceQuote(float(latest["SpotPrice"]), f"spot price history {zone} {when}")


def override_quote(
    instance_type: str, explicit: float | None, env: Mapping[str, str]
) -> PriceQuote | None:
    """A user-given price, if any (option, environment, or price file)."""
    if explicit is not None:
        return PriceQuote(_positive(explicit, "--gpubench-ec2-price"), "--gpubench-ec2-price")
    if env.get(ENV_PRICE):
        return PriceQuote(_positive(env[ENV_PRICE], ENV_PRICE), ENV_PRICE)
    if env.get(ENV_PRICE_FILE):
        path = Path(env[ENV_PRICE_FILE])
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise Ec2ConfigError(
                f"{ENV_PRICE_FILE}={path} is not a readable JSON object of type → USD/h: {exc}"
            ) from exc
        if not isinstance(table, Mapping):
            raise Ec2ConfigError(
                f"{ENV_PRICE_FILE}={path} holds a JSON {type(table).__name__}; expected an "
                'object of instance type → USD/h, e.g. {"g4dn.xlarge": 0.526}'
            )
        if instance_type in table:
            return PriceQuote(_positive(table[instance_type], str(path)), f"price file {path}")
    return None


def quote(
    instance_type: str,
    region: str,
    *,
    market: str,
    zone: str | None = None,
    ec2: Any = None,
    explicit: float | None = None,
    env: Mapping[str, str] | None = None,
) -> PriceQuote:
    """The price per hour of one instance, by the precedence in the module docstring."""
    found = override_quote(instance_type, explicit, os.environ if env is None else env)
    if found:
        return found
    if market == "spot" and ec2 is not None and zone:
        try:
            spot = spot_quote(ec2, instance_type, zone)
        except Exception as exc:  # e.g. no ec2:DescribeSpotPriceHistory permission
            spot, why = None, f"spot history unavailable: {error_code(exc) or type(exc).__name__}"
        else:
            why = "no spot history"
        if spot:
            return spot
        table = on_demand_quote(instance_type, region)
        return PriceQuote(table.usd_per_hour, f"{table.source} (upper bound: {why})")
    return on_demand_quote(instance_type, region)
