"""What a rented machine runs: this session's selected tests, the ``--gpubench-*`` options
that change what is measured, and the git checkout they live in.

The options are read back from the words the user typed (``PYTEST_ADDOPTS`` and the command
line, both public in ``config.invocation_params`` and the environment). Whether an option
takes a value is read from its parsed value through the public ``config.getoption``: a flag
parses to a bool, a value option to anything else. Only ``nargs="?"`` options cannot be told
apart that way; they are listed here (:data:`OPTIONAL_VALUE`), and a test checks the list
against pytest's parser.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.options import reporters_of
from pytest_gpubench.remote.errors import CloudUsageError
from pytest_gpubench.reporters import local_only_options

#: Options that stay here, never sent: the report formats' (written here from the merged
#: measurements; the remote run gets its own --gpubench-json) and the saved-run gate's. A
#: format a plugin adds is kept here too (:func:`job_for` asks the run's registry), and a
#: provider adds its own options' prefix.
LOCAL_ONLY = (
    *local_only_options(),
    "--gpubench-save",
    "--gpubench-autosave",
    "--gpubench-compare",
)
#: The core's options that take a value only when one follows (``nargs="?"``).
OPTIONAL_VALUE = ("--gpubench-compare",)
_MISSING = object()


def option_arity(
    config: pytest.Config, names: Iterable[str], optional: Collection[str] = OPTIONAL_VALUE
) -> dict[str, str]:
    """``"flag"``, ``"optional"`` or ``"value"`` for each option name; unknown ones are flags."""
    arity = {}
    for name in names:
        value = config.getoption(name.lstrip("-").replace("-", "_"), default=_MISSING)
        if name in optional:
            arity[name] = "optional"
        elif value is _MISSING or isinstance(value, bool):
            arity[name] = "flag"
        else:
            arity[name] = "value"
    return arity


def forwarded_args(
    args: Sequence[str], arity: Mapping[str, str], local_only: Sequence[str] = LOCAL_ONLY
) -> list[str]:
    """The user's ``--gpubench-*`` options for the remote run, minus ``local_only`` ones.

    Values are taken as argparse takes them: always for value options, for ``nargs="?"``
    options only when the next word is not an option; unknown options count as flags.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        i += 1
        if not name.startswith("--gpubench"):
            continue
        kind = "flag" if "=" in arg else arity.get(name, "flag")
        takes = kind == "value" or (
            kind == "optional" and i < len(args) and not args[i].startswith("-")
        )
        value = [args[i]] if takes and i < len(args) else []
        i += len(value)
        if name == "--gpubench" or name.startswith(tuple(local_only)):
            continue
        out += [arg, *value]
    return out


def remote_pytest_args(
    args: Sequence[str],
    addopts: str,
    override_ini: Sequence[str],
    arity: Mapping[str, str],
    local_only: Sequence[str] = LOCAL_ONLY,
) -> list[str]:
    """The ``--gpubench-*`` options the remote run needs to measure what this one would:
    from ``PYTEST_ADDOPTS`` (which pytest reads before the command line) and the command
    line (:func:`forwarded_args`), plus ``-o gpubench_*=...`` ini overrides. The machine's
    shell has neither this environment nor these ``-o`` options otherwise."""
    out = forwarded_args([*shlex.split(addopts), *args], arity, local_only)
    for override in override_ini:
        if override.startswith("gpubench_"):
            out += ["-o", override]
    return out


def project_root(config: pytest.Config) -> Path:
    """The git checkout to upload: the one pytest was started in, never one found from an
    option's value (pytest takes ``--opt /some/dir`` as a test path and may move its rootdir
    there). Its rootdir must lie inside it, for the node ids to mean the same there."""
    from pytest_gpubench.remote.upload import git_root

    root = git_root(Path(config.invocation_params.dir)).resolve()
    rootdir = config.rootpath.resolve()
    if rootdir != root and root not in rootdir.parents:
        raise CloudUsageError(
            f"pytest's rootdir {rootdir} is outside the project {root} that would be uploaded "
            "(an option's value taken as a test path?); write options as --option=VALUE, or "
            "give the rootdir with --rootdir"
        )
    return root


def job_for(
    session: pytest.Session,
    extras: Sequence[str],
    *,
    local_only: Sequence[str] = (),
    optional: Collection[str] = (),
    **overrides: Any,
) -> Any:
    """The :class:`.job.Job` that runs this session's selection remotely. A provider adds
    its own options' prefix to ``local_only`` and its ``nargs="?"`` options to
    ``optional``; ``overrides`` replace Job fields."""
    from pytest_gpubench.remote.job import Job

    config = session.config
    root = project_root(config)
    plot = bool(config.getoption("gpubench_plot", default=None))
    extras = tuple(e for e in extras if e)
    if plot and "plot" not in extras:
        extras += ("plot",)
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    words = [*shlex.split(addopts), *config.invocation_params.args]
    names = {word.split("=", 1)[0] for word in words if word.startswith("--gpubench")}
    arity = option_arity(config, names, (*OPTIONAL_VALUE, *optional))
    fields: dict[str, Any] = {
        "project_root": root,
        "node_ids": tuple(item.nodeid for item in session.items),
        "workdir": config.rootpath.resolve().relative_to(root).as_posix(),
        "pytest_args": tuple(
            remote_pytest_args(
                config.invocation_params.args,
                addopts,
                config.getoption("override_ini", default=None) or [],
                arity,
                (*LOCAL_ONLY, *reporters_of(config).local_only(), *local_only),
            )
        ),
        "extras": extras,
        "plot": plot,
    }
    fields.update(overrides)
    return Job(**fields)
