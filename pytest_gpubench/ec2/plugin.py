"""pytest options, hooks and fixture of the EC2 mode.

``pytest --gpubench --gpubench-ec2 TYPE`` runs the selected benchmarks on a fresh instance
(this plugin's ``pytest_runtestloop`` replaces the local loop) and merges the fetched
measurements into the session's results. ``--gpubench-ec2 TYPE`` without ``--gpubench``
runs tests locally and gives them the ``ec2_gpu_session`` fixture. boto3 and paramiko are
imported only when an EC2 option is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_gpubench.ec2 import INSTALL_HINT
from pytest_gpubench.reporters import local_only_options
from pytest_gpubench.results import Measurement, RunResults, results_of

log = logging.getLogger("pytest_gpubench.ec2")

DEFAULT_TYPE = "g4dn.xlarge"
#: What the instance installs unless --gpubench-ec2-extras says otherwise.
DEFAULT_EXTRAS = "cuda,torch"
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
#: Options not forwarded: this plugin's, and outputs and gates made locally from the
#: merged measurements (the remote run gets its own --gpubench-json).
LOCAL_ONLY = (
    "--gpubench-ec2",
    *local_only_options(),
    "--gpubench-save",
    "--gpubench-autosave",
    "--gpubench-compare",
)

OPTIONS_KEY = pytest.StashKey["Any"]()  # Ec2Options, set when --gpubench-ec2 is given
HOOKS_KEY = pytest.StashKey["Any"]()  # session.Hooks, injected by tests
JOB_OVERRIDES_KEY = pytest.StashKey[dict]()  # job.Job field overrides, injected by tests
SAVE_KEY = pytest.StashKey["str | None"]()  # --gpubench-save/-autosave name, done here


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gpubench-ec2", "gpubench on a rented EC2 GPU instance")
    group.addoption(
        "--gpubench-ec2",
        metavar="INSTANCE_TYPE",
        nargs="?",
        const=DEFAULT_TYPE,
        default=None,
        help=f"run on a fresh EC2 instance of this type (alone: {DEFAULT_TYPE}); with "
        "--gpubench the whole selection runs there, otherwise tests get ec2_gpu_session",
    )
    group.addoption(
        "--gpubench-ec2-region",
        metavar="REGION",
        default=None,
        help="AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)",
    )
    group.addoption("--gpubench-ec2-spot", action="store_true", help="use a spot instance")
    group.addoption(
        "--gpubench-ec2-max-price",
        metavar="USD_PER_HOUR",
        type=float,
        default=None,
        help="highest spot price to pay (default: up to the on-demand price)",
    )
    group.addoption(
        "--gpubench-ec2-spot-fallback",
        action="store_true",
        help="fall back to on-demand when no zone can meet the spot request",
    )
    group.addoption(
        "--gpubench-ec2-ami",
        metavar="AMI_ID",
        default=None,
        help="image to boot (default: the AWS Deep Learning Base OSS NVIDIA GPU AMI, Ubuntu 22.04)",
    )
    group.addoption(
        "--gpubench-ec2-ttl",
        metavar="MINUTES",
        type=int,
        default=120,
        help="the instance powers itself off (and is terminated) after this long (default 120)",
    )
    group.addoption(
        "--gpubench-ec2-ssh-cidr",
        metavar="CIDR",
        default=None,
        help="address allowed to SSH in, as a /32 (default: detect via checkip.amazonaws.com)",
    )
    group.addoption(
        "--gpubench-ec2-allow-world",
        action="store_true",
        help="allow a CIDR wider than /32 (0.0.0.0/0 without --gpubench-ec2-ssh-cidr); unsafe",
    )
    group.addoption(
        "--gpubench-ec2-user", metavar="USER", default="ubuntu", help="SSH user (default ubuntu)"
    )
    group.addoption(
        "--gpubench-ec2-price",
        metavar="USD_PER_HOUR",
        type=float,
        default=None,
        help="price per hour for the cost line (default: spot history or the shipped table)",
    )
    group.addoption(
        "--gpubench-ec2-extras",
        metavar="EXTRAS",
        default=DEFAULT_EXTRAS,
        help=f"extras installed on the instance: pip install -e '.[EXTRAS]' (default "
        f"{DEFAULT_EXTRAS})",
    )
    group.addoption(
        "--gpubench-ec2-ledger-dir",
        metavar="DIR",
        default=None,
        help="local record of created resources (default ~/.cache/pytest-gpubench/ec2)",
    )


def ec2_options(config: pytest.Config) -> Any:
    """``Ec2Options`` from the command line (UsageError on a bad value)."""
    from pytest_gpubench.ec2.faults import Ec2ConfigError
    from pytest_gpubench.ec2.resources import check_ssh_cidr
    from pytest_gpubench.ec2.session import Ec2Options

    instance_type = config.getoption("gpubench_ec2")
    if not INSTANCE_TYPE_RE.match(instance_type):
        raise pytest.UsageError(
            f"--gpubench-ec2 {instance_type!r} is not an instance type like {DEFAULT_TYPE}; "
            "write --gpubench-ec2=TYPE, or put test paths before the option"
        )
    region = (
        config.getoption("gpubench_ec2_region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    ledger = config.getoption("gpubench_ec2_ledger_dir")
    if ledger:
        _require_directory(Path(ledger), "--gpubench-ec2-ledger-dir")
    extras = config.getoption("gpubench_ec2_extras")
    given = extras != DEFAULT_EXTRAS  # the default suits this project; another may lack them
    known = {_extra_name(k) for k in _project_extras(config.rootpath)} if given else set()
    unknown = [e for e in extras.split(",") if e and _extra_name(e) not in known]
    if unknown and known:  # found on the paid instance otherwise
        raise pytest.UsageError(
            f"--gpubench-ec2-extras {extras!r}: unknown extra(s) {', '.join(unknown)}; "
            f"{config.rootpath / 'pyproject.toml'} defines {', '.join(sorted(known))}"
        )
    options = Ec2Options(
        instance_type=instance_type,
        region=region,
        spot=config.getoption("gpubench_ec2_spot"),
        max_price=config.getoption("gpubench_ec2_max_price"),
        spot_fallback=config.getoption("gpubench_ec2_spot_fallback"),
        ami=config.getoption("gpubench_ec2_ami"),
        ttl_minutes=config.getoption("gpubench_ec2_ttl"),
        ssh_cidr=config.getoption("gpubench_ec2_ssh_cidr"),
        allow_world=config.getoption("gpubench_ec2_allow_world"),
        ssh_user=config.getoption("gpubench_ec2_user"),
        ledger_dir=Path(ledger) if ledger else None,
        price_per_hour=config.getoption("gpubench_ec2_price"),
    )
    regions = _ec2_regions()
    if regions and region not in regions:
        raise pytest.UsageError(
            f"--gpubench-ec2-region {region!r} is not an EC2 region botocore knows; expected "
            f"one such as us-east-1, eu-west-1 ({len(regions)} known)"
        )
    try:
        options.validate()
        if options.ssh_cidr:
            check_ssh_cidr(options.ssh_cidr, allow_world=options.allow_world)
    except Ec2ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return options


def _require_directory(path: Path, option: str) -> None:
    """A usable directory at ``path`` (created if missing), else a usage error naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"{option} {str(path)!r} cannot be a directory ({exc.strerror or exc}); give a "
            "directory path"
        ) from None


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


def _require_extras() -> None:
    try:
        import boto3  # noqa: F401
        import paramiko  # noqa: F401
    except ImportError as exc:
        raise pytest.UsageError(
            f"--gpubench-ec2 needs boto3 and paramiko ({exc}): {INSTALL_HINT}"
        ) from None


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("gpubench_ec2", default=None) is None:
        given = [
            arg.split("=", 1)[0]
            for arg in config.invocation_params.args
            if arg.startswith("--gpubench-ec2-")
        ]
        if given:
            raise pytest.UsageError(
                f"{', '.join(dict.fromkeys(given))} only "
                f"{'applies' if len(set(given)) == 1 else 'apply'} with --gpubench-ec2 TYPE (e.g. "
                f"--gpubench-ec2 {DEFAULT_TYPE}); without it the run is local"
            )
        return
    _require_extras()
    config.stash[OPTIONS_KEY] = options = ec2_options(config)
    from pytest_gpubench.ec2.session import SHORT_TTL_MINUTES

    if options.ttl_minutes < SHORT_TTL_MINUTES:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"--gpubench-ec2-ttl {options.ttl_minutes}: the instance powers itself off "
                f"after that many minutes, and installing torch and CuPy alone can take "
                f"{SHORT_TTL_MINUTES}; the run may be cut short"
            ),
            stacklevel=2,
        )
    if config.getoption("gpubench", default=False):
        # Nothing is benchmarked here: the instance's document is written and saved by
        # keep_instance_document. pytest-benchmark (configured after this) must not try.
        option = config.option
        config.stash[SAVE_KEY] = getattr(option, "benchmark_save", None) or getattr(
            option, "benchmark_autosave", None
        )
        option.benchmark_save = option.benchmark_autosave = option.benchmark_json = None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Earlier EC2 sessions whose teardown is not known done, with the sweep for each."""
    if OPTIONS_KEY not in config.stash:
        return []
    from pytest_gpubench.ec2.ledger import Ledger, unfinished_report

    options = config.stash[OPTIONS_KEY]
    return unfinished_report(Ledger(options.ledger_dir), options.region)


def whole_suite_mode(config: pytest.Config) -> bool:
    return OPTIONS_KEY in config.stash and bool(config.getoption("gpubench", default=False))


def option_arity(config: pytest.Config) -> dict[str, str]:
    """``"flag"``, ``"optional"`` (nargs ``?``) or ``"value"`` per option string.

    Read from pytest's parser (private attributes, stable for years); empty if missing.
    """
    arity: dict[str, str] = {}
    no_value = {"store_true", "store_false", "store_const", "count", "append_const", "help"}
    try:
        parser = config._parser
        for group in [*parser._groups, parser._anonymous]:
            for option in group.options:
                attrs = option.attrs()
                kind = (
                    "flag"
                    if attrs.get("action") in no_value
                    else "optional"
                    if attrs.get("nargs") == "?"
                    else "value"
                )
                arity.update(dict.fromkeys(option.names(), kind))
    except AttributeError:
        pass
    return arity


def forwarded_args(args: Sequence[str], arity: dict[str, str]) -> list[str]:
    """The user's ``--gpubench-*`` options for the remote run, minus ``LOCAL_ONLY`` ones.

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
        if name == "--gpubench" or name.startswith(LOCAL_ONLY):
            continue
        out += [arg, *value]
    return out


def remote_pytest_args(
    args: Sequence[str], addopts: str, override_ini: Sequence[str], arity: dict[str, str]
) -> list[str]:
    """The ``--gpubench-*`` options the remote run needs to measure what this one would:
    from ``PYTEST_ADDOPTS`` (which pytest reads before the command line) and the command
    line (:func:`forwarded_args`), plus ``-o gpubench_*=...`` ini overrides. The instance's
    shell has neither this environment nor these ``-o`` options otherwise."""
    out = forwarded_args([*shlex.split(addopts), *args], arity)
    for override in override_ini:
        if override.startswith("gpubench_"):
            out += ["-o", override]
    return out


def load_remote_results(path: Path) -> RunResults:
    """The fetched JSON as ``RunResults`` (``report.load_results`` when available)."""
    try:
        from pytest_gpubench.report import load_results
    except ImportError:
        data = json.loads(path.read_text())
        section = data.get("gpubench", data)
        return RunResults(
            measurements=[Measurement.from_dict(m) for m in section.get("measurements", [])],
            devices={k: dict(v) for k, v in section.get("devices", {}).items()},
        )
    return load_results(path)


def _writer(config: pytest.Config) -> Any:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return log.info
    return lambda line: reporter.write_line(line)


def _hooks(config: pytest.Config, sessions: list[Any]) -> Any:
    from dataclasses import replace

    from pytest_gpubench.ec2.session import Hooks

    base = config.stash.get(HOOKS_KEY, None) or Hooks(progress=_writer(config))
    return replace(base, on_session=lambda s: (sessions.append(s), base.on_session(s)))


def _exit_code(exc: BaseException) -> int:
    from pytest_gpubench.ec2.faults import CredentialsError, Ec2ConfigError, QuotaError

    if isinstance(exc, CredentialsError | Ec2ConfigError | QuotaError):
        return pytest.ExitCode.USAGE_ERROR
    return pytest.ExitCode.TESTS_FAILED


def project_root(config: pytest.Config) -> Path:
    """The git checkout to upload: the one pytest was started in, never one found from an
    option's value (pytest takes ``--opt /some/dir`` as a test path and may move its rootdir
    there). Its rootdir must lie inside it, for the node ids to mean the same there."""
    from pytest_gpubench.ec2.faults import Ec2ConfigError
    from pytest_gpubench.ec2.remote import git_root

    root = git_root(Path(config.invocation_params.dir)).resolve()
    rootdir = config.rootpath.resolve()
    if rootdir != root and root not in rootdir.parents:
        raise Ec2ConfigError(
            f"pytest's rootdir {rootdir} is outside the project {root} that would be uploaded "
            "(an option's value taken as a test path?); write options as --option=VALUE, or "
            "give the rootdir with --rootdir"
        )
    return root


def _make_job(session: pytest.Session) -> Any:
    from pytest_gpubench.ec2.job import Job

    config = session.config
    root = project_root(config)
    plot = bool(config.getoption("gpubench_plot", default=None))
    extras = tuple(e for e in config.getoption("gpubench_ec2_extras").split(",") if e)
    if plot and "plot" not in extras:
        extras += ("plot",)
    fields: dict[str, Any] = {
        "project_root": root,
        "node_ids": tuple(item.nodeid for item in session.items),
        "workdir": config.rootpath.resolve().relative_to(root.resolve()).as_posix(),
        "pytest_args": tuple(
            remote_pytest_args(
                config.invocation_params.args,
                os.environ.get("PYTEST_ADDOPTS", ""),
                config.getoption("override_ini", default=None) or [],
                option_arity(config),
            )
        ),
        "extras": extras,
        "plot": plot,
    }
    fields.update(config.stash.get(JOB_OVERRIDES_KEY, {}))
    return Job(**fields)


#: Seconds kept in hand before the instance's TTL, to fetch results and tear down.
TTL_MARGIN_S = 120.0


def _seconds_left(ec2_session: Any, hooks: Any) -> float | None:
    """Seconds until the instance powers itself off, less :data:`TTL_MARGIN_S`."""
    if ec2_session.expires is None:
        return None
    return (ec2_session.expires - hooks.now()).total_seconds() - TTL_MARGIN_S


def _explain(exc: Exception) -> str:
    """What went wrong in words a user can act on, for errors the EC2 layer did not map."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return (
            f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}. "
            "Check that these credentials may call it (IAM), and the options"
        )
    if isinstance(exc, BotoCoreError):
        return f"AWS could not be reached ({exc}); check --gpubench-ec2-region and the network"
    if isinstance(exc, OSError | EOFError) or type(exc).__module__.startswith("paramiko"):
        return (
            f"lost the SSH connection to the instance ({type(exc).__name__}: {exc}); the "
            "instance was terminated. Run again; if it recurs, check the network and the TTL"
        )
    return f"{type(exc).__name__}: {exc}"


def keep_instance_document(
    config: pytest.Config, fetched: Path, ec2_summary: Any, write: Any
) -> None:
    """Write and save the instance's own pytest-benchmark document.

    pytest-benchmark ran nothing here, so it neither writes ``--gpubench-json`` nor saves
    ``--gpubench-save``/``--gpubench-autosave``. The instance's document is the real one:
    its benchmarks, and its ``machine_info`` (the instance, not this machine). Where it ran
    and what it cost are added to its ``gpubench`` section.
    """
    document = json.loads(fetched.read_text())
    if ec2_summary:
        document.setdefault("gpubench", {}).setdefault("extra", {})["ec2"] = ec2_summary
    from pytest_gpubench.outputs import write_failure, write_whole
    from pytest_gpubench.plugin import state_of

    option = config.option
    if getattr(option, "gpubench_json", None):
        text = json.dumps(document, indent=2) + "\n"
        target = Path(option.gpubench_json)
        try:  # replaced whole or not at all, like every local report (see .outputs)
            write_whole(target, lambda path: path.write_text(text, encoding="utf-8"))
        except OSError as exc:
            write(f"gpubench-ec2: {write_failure(target, exc)}")
            state = state_of(config)
            if state is not None:
                state.report_errors.append(write_failure(target, exc))
    name = config.stash.get(SAVE_KEY, None)
    if name:
        from types import SimpleNamespace

        from pytest_benchmark.storage.file import FileStorage
        from pytest_benchmark.utils import get_machine_id

        from pytest_gpubench.settings import storage_path

        say = SimpleNamespace(info=lambda text, **_: write(f"gpubench-ec2: {text}"))
        storage = FileStorage(storage_path(option.benchmark_storage), say, get_machine_id())
        storage.save(document, name)


def run_on_ec2(session: pytest.Session) -> None:
    """The whole selection on a fresh instance; measurements merged into the results."""
    from pytest_gpubench.ec2.faults import Ec2Error
    from pytest_gpubench.ec2.job import run_job
    from pytest_gpubench.ec2.session import ec2_session

    config = session.config
    write = _writer(config)
    results = results_of(config)
    sessions: list[Any] = []
    hooks = _hooks(config, sessions)
    outcome = None
    problem: BaseException | None = None
    try:
        job = _make_job(session)
        with ec2_session(config.stash[OPTIONS_KEY], hooks) as live:
            write(f"gpubench-ec2: running {len(job.node_ids)} tests on {live.session.address}")
            local_out = config.rootpath / ".gpubench" / "ec2" / live.session.session_id
            outcome = run_job(
                live.remote,
                job,
                local_out,
                live.scratch,
                write,
                live.step,
                timeout_s=_seconds_left(live.session, hooks),
            )
    except Ec2Error as exc:  # TeardownError included
        problem = exc
    except Exception as exc:  # torn down already; say what happened, not a traceback
        problem = Ec2Error(_explain(exc))
    finally:
        if sessions:
            results.extra["ec2"] = sessions[0].summary(hooks.clock())
    if outcome is not None:
        if outcome.results_json is not None:
            fetched = load_remote_results(outcome.results_json)
            results.extend(fetched.measurements)
            for device, info in fetched.devices.items():
                results.devices.setdefault(device, dict(info))
            keep_instance_document(config, outcome.results_json, results.extra.get("ec2"), write)
        else:
            write("gpubench-ec2: the remote run wrote no results JSON")
        if outcome.exit_code not in (0, 5):
            session.testsfailed = max(session.testsfailed, 1)
            write(f"gpubench-ec2: remote pytest exited {outcome.exit_code}")
        write(
            f"gpubench-ec2: the {len(session.items)} selected tests were sent to the instance (its "
            "pytest summary is above); this machine ran none itself"
        )
    if problem is not None:
        pytest.exit(f"gpubench-ec2: {problem}", returncode=_exit_code(problem))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    config = session.config
    if not whole_suite_mode(config) or config.option.collectonly:
        return None
    if session.testsfailed and not config.option.continue_on_collection_errors:
        raise session.Interrupted(
            f"{session.testsfailed} error{'s' if session.testsfailed != 1 else ''} during "
            "collection; no EC2 instance started"
        )
    if not session.items:
        _writer(config)("gpubench-ec2: no tests selected; no instance started")
        return True
    run_on_ec2(session)
    return True


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Where it ran and the cost, when the speedup table (which says so) is not printed."""
    results = results_of(config)
    info = results.extra.get("ec2")
    if not info:
        return
    if not results.measurements:
        from pytest_gpubench.ec2.pricing import format_summary

        terminalreporter.write_sep("-", "gpubench ec2")
        terminalreporter.write_line(format_summary(info))
    for error in info.get("teardown_errors", []):
        terminalreporter.write_line(f"gpubench-ec2 TEARDOWN FAILED: {error}", red=True)


@pytest.fixture(scope="session")
def ec2_gpu_session(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A live EC2 instance for the whole test session (``run``, ``put``, ``get``).

    Skips unless ``--gpubench-ec2 TYPE`` was given; torn down after the last test.
    """
    config = request.config
    if OPTIONS_KEY not in config.stash:
        pytest.skip(
            "ec2_gpu_session needs --gpubench-ec2 INSTANCE_TYPE (e.g. g4dn.xlarge), AWS "
            f"credentials and {INSTALL_HINT}"
        )
    from pytest_gpubench.ec2.session import ec2_session

    sessions: list[Any] = []
    hooks = _hooks(config, sessions)
    try:
        with ec2_session(config.stash[OPTIONS_KEY], hooks) as live:
            yield live
    finally:
        if sessions:
            results_of(config).extra["ec2"] = sessions[0].summary(hooks.clock())
