"""Hooks through which other plugins (or a ``conftest.py``) add devices and report formats.

Registered by ``pytest_addhooks`` in :mod:`.plugin`; implement them as plain functions with
these names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_gpubench.devices import DeviceSpec
    from pytest_gpubench.reporters import Reporter


@pytest.hookspec(historic=True)
def pytest_gpubench_add_reporters(config: pytest.Config) -> Iterable[Reporter] | None:
    """Return report formats to add: instances of
    :class:`pytest_gpubench.reporters.Reporter` subclasses, each with its own option.

    Called as each plugin or initial ``conftest.py`` is loaded, like ``pytest_addoption``,
    so that the formats' options are on the command line before it is read: ``config`` is
    not configured yet (don't read options here).
    """


def pytest_gpubench_add_devices(config: pytest.Config) -> Iterable[DeviceSpec] | None:
    """Return devices to add for this run: :class:`pytest_gpubench.devices.DeviceSpec`
    (name, kind ``cpu``/``gpu``, library, probe). Called at ``pytest_configure``, before the
    ``--gpubench-devices`` names are checked; the devices are removed when the run ends."""
