"""Whether this session runs its benchmarks on a rented machine instead of here.

A provider's plugin says so (:func:`mark_remote`) before any plugin is configured, so the
core can tell at configure that the devices are the machine's, not this one's.
"""

from __future__ import annotations

import pytest

REMOTE_PROVIDER = pytest.StashKey[str]()


def mark_remote(config: pytest.Config, provider: str) -> None:
    """Called by a provider's ``pytest_cmdline_main`` (before ``pytest_configure``)."""
    config.stash[REMOTE_PROVIDER] = provider


def runs_remotely(config: pytest.Config) -> bool:
    return REMOTE_PROVIDER in config.stash
