"""pytest options, hooks and fixture of the EC2 mode.

``pytest --gpubench --gpubench-ec2 TYPE`` runs the selected benchmarks on a fresh instance:
this plugin's ``pytest_runtestloop`` replaces the local loop with the shared remote driver
(``remote.driver.run_remote``), given an :class:`~.provider.Ec2Provider`. ``--gpubench-ec2
TYPE`` without ``--gpubench`` runs tests locally and gives them the ``ec2_gpu_session``
fixture. The options are checked by :func:`.settings.ec2_options` before anything is
launched; boto3 and paramiko are imported only when an EC2 option is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_gpubench.ec2 import INSTALL_HINT
from pytest_gpubench.ec2.faults import Ec2ConfigError
from pytest_gpubench.ec2.settings import (
    DEFAULT_EXTRAS,
    DEFAULT_INSTANCE_TYPE,
    ec2_options,
    short_ttl_warning,
    stray_options,
)
from pytest_gpubench.remote.mode import mark_remote
from pytest_gpubench.results import results_of

log = logging.getLogger("pytest_gpubench.ec2")

OPTIONS_KEY = pytest.StashKey["Any"]()  # settings.Ec2Options, set when --gpubench-ec2 is given
#: The prefix of this plugin's options: they stay here, never sent to the instance. The
#: bare ``--gpubench-ec2`` takes its type only when one follows (``nargs="?"``).
OWN_PREFIX = "--gpubench-ec2"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gpubench-ec2", "gpubench on a rented EC2 GPU instance")
    group.addoption(
        "--gpubench-ec2",
        metavar="INSTANCE_TYPE",
        nargs="?",
        const=DEFAULT_INSTANCE_TYPE,
        default=None,
        help=f"run on a fresh EC2 instance of this type (alone: {DEFAULT_INSTANCE_TYPE}); with "
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


def _require_extras() -> None:
    try:
        import boto3  # noqa: F401
        import paramiko  # noqa: F401
    except ImportError as exc:
        raise pytest.UsageError(
            f"--gpubench-ec2 needs boto3 and paramiko ({exc}): {INSTALL_HINT}"
        ) from None


def whole_suite_mode(config: pytest.Config) -> bool:
    return config.getoption("gpubench_ec2", default=None) is not None and bool(
        config.getoption("gpubench", default=False)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Say the run is remote before any plugin is configured (the core checks devices)."""
    if whole_suite_mode(config):
        mark_remote(config, "ec2")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("gpubench_ec2", default=None) is None:
        stray = stray_options(config.invocation_params.args)
        if stray:
            raise pytest.UsageError(stray)
        return
    _require_extras()
    try:
        options = ec2_options(vars(config.option), config.rootpath, os.environ)
    except Ec2ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[OPTIONS_KEY] = options
    warning = short_ttl_warning(options)
    if warning:
        config.issue_config_time_warning(pytest.PytestConfigWarning(warning), stacklevel=2)
    if whole_suite_mode(config):
        from pytest_gpubench.remote.document import take_over_outputs

        take_over_outputs(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Earlier EC2 sessions whose teardown is not known done, with the sweep for each."""
    if OPTIONS_KEY not in config.stash:
        return []
    from pytest_gpubench.ec2.ledger import Ledger, unfinished_report

    options = config.stash[OPTIONS_KEY]
    return unfinished_report(Ledger(options.ledger_dir), options.region)


def _writer(config: pytest.Config) -> Callable[[str], None]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return log.info
    return lambda line: reporter.write_line(line)


def make_provider(options: Any, say: Callable[[str], None]) -> Any:
    """The session's :class:`~.provider.Ec2Provider`, its progress said on the terminal."""
    from pytest_gpubench.ec2.provider import Ec2Provider
    from pytest_gpubench.ec2.session import Ec2Deps

    return Ec2Provider(options, Ec2Deps(progress=say))


def make_job(session: pytest.Session, options: Any) -> Any:
    """The remote job of the session's selection (``remote.selection.job_for``)."""
    from pytest_gpubench.remote.selection import job_for

    return job_for(session, options.extras, local_only=(OWN_PREFIX,), optional=(OWN_PREFIX,))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    config = session.config
    if not whole_suite_mode(config) or config.option.collectonly:
        return None
    from pytest_gpubench.remote.driver import run_remote

    say = _writer(config)
    options = config.stash[OPTIONS_KEY]
    provider = make_provider(options, say)
    run_remote(session, provider, lambda: make_job(session, options), say=say)
    return True


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if OPTIONS_KEY in config.stash:
        from pytest_gpubench.remote.driver import terminal_summary

        terminal_summary(terminalreporter, config, "ec2")


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
    from pytest_gpubench.remote.lifecycle import rented
    from pytest_gpubench.remote.summary import CLOUD_KEY

    say = _writer(config)
    provider = make_provider(config.stash[OPTIONS_KEY], say)
    try:
        with rented(provider, say=say) as live:
            yield live
    finally:
        results_of(config).extra[CLOUD_KEY] = provider.summary()
