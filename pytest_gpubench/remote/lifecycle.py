"""One rented machine for a ``with`` block: up, SSH in, the block, then down on every exit.

What every provider gets from here: ``down`` runs after the block, after an exception at any
step (``up`` half done included), on Ctrl-C and on SIGTERM; a teardown error never hides the
error that ended the block (it becomes a note on it), and is raised when the block succeeded.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_gpubench.remote.errors import SigtermInterrupt, add_note
from pytest_gpubench.remote.provider import Machine, Provider

log = logging.getLogger("pytest_gpubench.remote")


class LiveMachine:
    """A rented machine with an open SSH connection, handed to the ``with`` block."""

    def __init__(
        self,
        provider: Provider,
        machine: Machine,
        remote: Any,
        on_step: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.provider = provider
        self.machine = machine
        self.remote = remote
        self._on_step = on_step

    @property
    def instance_id(self) -> str | None:
        return self.machine.instance_id

    @property
    def price_per_hour(self) -> float | None:
        return self.machine.price.usd_per_hour if self.machine.price else None

    @property
    def scratch(self) -> Path:
        return self.machine.scratch

    def run(self, command: str, on_line: Callable[[str], None] | None = None) -> tuple[int, str]:
        return self.remote.run(command, on_line)

    def put(self, local: Path | str, remote: str) -> None:
        self.remote.put(local, remote)

    def get(self, remote: str, local: Path | str) -> None:
        self.remote.get(remote, local)

    def step(self, name: str) -> None:
        """Report a step of the work done on the machine (tests inject faults here)."""
        self._on_step(name)

    def summary(self) -> dict[str, Any]:
        return self.provider.summary()


@contextmanager
def sigterm_as_interrupt(title: str) -> Iterator[None]:
    """Turn SIGTERM into ``SigtermInterrupt`` (main thread only); restore the old handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SigtermInterrupt(f"SIGTERM received: tearing the {title} session down")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def connect_to(provider: Provider, machine: Machine, say: Callable[[str], None]) -> Any:
    """An SSH connection to ``machine``, as patient as the provider says its machines need."""
    from pytest_gpubench.remote.ssh import Target, connect

    deps = provider.ssh
    return (deps.connect or connect)(
        Target(machine.host, machine.port, machine.user),
        machine.key_path,
        machine.scratch / "known_hosts",
        timeout_s=deps.timeout_s,
        retry_delay_s=deps.retry_delay_s,
        auth_retries=deps.auth_retries,
        expected_fingerprints=machine.host_keys,
        say=lambda line: say(f"gpubench-{provider.name}: {line}"),
        user_hint=deps.user_hint,
    )


@contextmanager
def rented(
    provider: Provider,
    *,
    say: Callable[[str], None] = log.info,
    on_step: Callable[[str], None] = lambda name: None,
) -> Iterator[LiveMachine]:
    """A live machine for the ``with`` block; ``provider.down()`` runs however it ends.

    ``say`` gets progress lines, ``on_step`` the names of the steps done here
    (``connected``, then the block's own through :meth:`LiveMachine.step`).
    """
    failure: BaseException | None = None
    with sigterm_as_interrupt(provider.title):
        try:
            machine = provider.up()
            remote = connect_to(provider, machine, say)
            try:
                say(f"gpubench-{provider.name} [{machine.session_id}] connected: done")
                on_step("connected")
                yield LiveMachine(provider, machine, remote, on_step)
            finally:
                try:
                    remote.close()
                except Exception as exc:  # nothing billed hangs on it: log, go on to down
                    log.error("closing the SSH connection to %s failed: %r", machine.host, exc)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            try:
                provider.down()
            except Exception as problem:
                if failure is None:
                    raise
                add_note(failure, str(problem))
                log.error("%s", problem)
