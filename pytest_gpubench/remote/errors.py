"""Errors of a remote run, whatever the cloud, and the helpers that keep them visible."""

from __future__ import annotations


class CloudError(RuntimeError):
    """A remote run could not go on; the message says what to do about it."""


class CloudUsageError(CloudError):
    """Something the user must change first (an option, credentials, a quota): pytest's
    usage-error exit code, not a test failure."""


class RemoteError(CloudError):
    """The machine could not be reached over SSH, or a command there failed or hung."""


class SigtermInterrupt(KeyboardInterrupt):
    """SIGTERM received during a remote session; raised so that teardown runs."""


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)``; on Python 3.10, which lacks it, the same ``__notes__`` list."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
