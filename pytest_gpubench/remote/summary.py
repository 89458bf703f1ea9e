"""The cloud record of a run (``extra["cloud"]``) and its one line: where, how long, cost.

A provider's ``summary()`` is kept in the run's results under :data:`CLOUD_KEY`. Runs saved
before providers were generic hold the same record under ``"ec2"``; :func:`cloud_record`
reads both, so an old saved run still shows where it ran. Imports nothing heavy: the core
reports call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLOUD_KEY = "cloud"
#: Keys of saved runs from before :data:`CLOUD_KEY`, with the provider each one means.
LEGACY_KEYS = {"ec2": "EC2"}


def cloud_record(extra: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The cloud record in a run's ``extra`` (new key or legacy), with its provider named."""
    record = extra.get(CLOUD_KEY)
    if isinstance(record, Mapping):
        return record
    for key, provider in LEGACY_KEYS.items():
        record = extra.get(key)
        if isinstance(record, Mapping):
            return {"provider": provider, **record}
    return None


def format_duration(seconds: float) -> str:
    """``42 s``, ``12 min 14 s``, ``1 h 6 min``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def format_summary(info: Mapping[str, Any]) -> str:
    """One line: where the run happened and what it cost, or that nothing was launched
    (which costs nothing)."""
    provider = info.get("provider") or "a cloud"
    place = info.get("zone") or info.get("region")
    if not info.get("instance_id") and not info.get("seconds_held"):
        what = " in ".join(str(x) for x in (info.get("instance_type"), place) if x)
        return f"Nothing launched on {provider}{f' ({what})' if what else ''}: nothing to pay"
    where = " ".join(str(info[k]) for k in ("instance_type", "instance_id") if info.get(k))
    text = f"Ran on {provider} {where or 'instance'}"
    if place:
        text += f" in {place}"
    if info.get("market"):
        text += f" ({info['market']})"
    if info.get("seconds_held") is not None:
        text += f", held {format_duration(float(info['seconds_held']))}"
    if info.get("cost_usd") is not None:
        text += f": ${float(info['cost_usd']):.4f}"
        if info.get("price_per_hour") is not None:
            text += f" at ${float(info['price_per_hour']):.4f}/h"
        if info.get("price_source"):
            text += f" ({info['price_source']})"
    elif info.get("price_source"):
        text += f": cost unknown ({info['price_source']})"
    return text
