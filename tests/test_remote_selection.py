"""What a rented machine is sent: the options that travel, and the command it runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_gpubench.remote.job import Job, bench_command, remote_paths, setup_commands
from pytest_gpubench.remote.selection import (
    LOCAL_ONLY,
    OPTIONAL_VALUE,
    forwarded_args,
    option_arity,
    remote_pytest_args,
)

#: argparse actions that take no value.
NO_VALUE = {"store_true", "store_false", "store_const", "count", "append_const", "help"}


def test_forwarded_args_keep_measurement_options_only() -> None:
    arity = {
        "--gpubench": "flag",
        "--gpubench-devices": "value",
        "--gpubench-json": "value",
        "--gpubench-compare": "optional",
        "--gpubench-ec2": "optional",
        "--gpubench-ec2-spot": "flag",
        "--gpubench-max-time": "value",
    }
    args = [
        "-x",
        "--gpubench",
        "--gpubench-devices",
        "numpy,cupy",
        "--gpubench-ec2",
        "g5.xlarge",
        "--gpubench-ec2-spot",
        "--gpubench-json",
        "out.json",
        "--gpubench-compare",
        "tests/",
        "--gpubench-max-time=2",
    ]
    assert forwarded_args(args, arity, (*LOCAL_ONLY, "--gpubench-ec2")) == [
        "--gpubench-devices",
        "numpy,cupy",
        "--gpubench-max-time=2",
    ]
    assert "--gpubench-plot" in LOCAL_ONLY
    # PYTEST_ADDOPTS comes first (the command line wins) and -o gpubench_* overrides travel
    remote = remote_pytest_args(
        ["--gpubench", "--gpubench-max-time", "0.5"],
        "--gpubench-baseline=array-api-strict --gpubench-json x.json -p no:cacheprovider",
        ["gpubench_profile=seed", "console_output_style=classic"],
        {**arity, "--gpubench-baseline": "value"},
        (*LOCAL_ONLY, "--gpubench-ec2"),
    )
    assert remote == [
        "--gpubench-baseline=array-api-strict",
        "--gpubench-max-time",
        "0.5",
        "-o",
        "gpubench_profile=seed",
    ]


def test_the_remote_command() -> None:
    job = Job(Path("/p"), ("t.py::a",), pytest_args=("--gpubench-devices", "numpy,cupy"))
    paths = remote_paths("/home/ubuntu", job)
    command = bench_command(job, paths)
    assert command == textwrap.dedent(
        """\
        cd /home/ubuntu/gpubench-project && /home/ubuntu/.gpubench-venv/bin/python -m pytest \
--gpubench --gpubench-json /home/ubuntu/gpubench-project/.gpubench-remote-out/results.json \
--gpubench-devices numpy,cupy @/home/ubuntu/gpubench-project/.gpubench-remote-out/nodeids.txt"""
    )
    assert setup_commands(job, paths)[-1].endswith("pip install -q -e '.[cuda,torch]'")


def test_each_gpubench_options_arity_is_read_right_from_its_parsed_value(
    pytester: pytest.Pytester,
) -> None:
    """``option_arity`` reads public parsed values, plus a kept list of ``nargs="?"``
    options; this checks both against pytest's parser (private, read in this test only), so
    an option added to the core or to a provider plugin cannot be forwarded wrong."""
    from pytest_gpubench.ec2.plugin import OWN_PREFIX

    config = pytester.parseconfig("-p", "no:hypothesispytest")
    parser = config._parser
    expected = {}
    for group in [*parser._groups, parser._anonymous]:
        for option in group.options:
            attrs = option.attrs()
            kind = (
                "optional"
                if attrs.get("nargs") == "?"
                else "flag"
                if attrs.get("nargs") == 0 or attrs.get("action") in NO_VALUE  # pytest 9; 7-8
                else "value"
            )
            expected.update({n: kind for n in option.names() if n.startswith("--gpubench")})
    assert {"--gpubench", "--gpubench-devices", "--gpubench-ec2-ttl"} <= set(expected)
    assert option_arity(config, expected, (*OPTIONAL_VALUE, OWN_PREFIX)) == expected
    assert option_arity(config, ["--gpubench-nonesuch"]) == {"--gpubench-nonesuch": "flag"}


def test_a_flag_never_swallows_the_option_after_it(pytester: pytest.Pytester) -> None:
    """Read from pytest 9's parser as before, every flag counted as taking a value: the
    usual ``--gpubench --gpubench-devices numpy`` lost its devices on the way."""
    config = pytester.parseconfig("-p", "no:hypothesispytest")
    args = [
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        "--gpubench-overwrite",
        "--gpubench-max-time",
        "0.1",
    ]
    arity = option_arity(config, [a for a in args if a.startswith("--")])
    assert forwarded_args(args, arity) == args[1:]
