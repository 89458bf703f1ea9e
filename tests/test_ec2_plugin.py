"""The ``--gpubench-ec2`` pytest mode end to end: moto plays EC2, a local sshd the instance.

The remote run is a real SSH session to 127.0.0.1 running a tiny real gpubench benchmark
(the venv step is replaced by a wrapper that runs this interpreter with this tree's package).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("moto")
pytest.importorskip("paramiko")

from pytest_gpubench.ec2 import plugin as ec2_plugin
from pytest_gpubench.ec2.provider import Ec2Provider
from pytest_gpubench.ec2.session import Ec2Deps
from pytest_gpubench.ec2.settings import Ec2Options
from pytest_gpubench.remote.job import Job
from pytest_gpubench.remote.provider import SshDeps
from pytest_gpubench.remote.ssh import Target
from tests.ec2_support import AMI, Fault, Harness, faults_from_env, leftovers
from tests.remote_support import git_commit_all, write_python_wrapper
from tests.sshd import Sshd, public_key_of

BENCH = """
import numpy as np
import pytest

@pytest.mark.parametrize("n", [8, 16], ids=["8", "16"])
def test_matmul(gpubench, device, n):
    a = gpubench.transfer(np.ones((n, n)), "float32")
    gpubench(lambda: a @ a, units="GFLOP", units_per_round=2 * n**3 / 1e9)
"""


FAST = ("--gpubench-max-time", "0.002", "--gpubench-min-rounds", "2", "--gpubench-max-rounds", "3")
EC2 = (
    "--gpubench-ec2",
    "g4dn.xlarge",
    "--gpubench-ec2-ssh-cidr",
    "127.0.0.1/32",
    "--gpubench-ec2-ami",
    AMI,
)


def wire(
    monkeypatch: pytest.MonkeyPatch, sshd: Sshd, base: Path, endpoint: str | None = None
) -> None:
    """The EC2 plugin's provider and job, wired to moto (with the faults $GPUBENCH_TEST_FAULTS
    asks for), the local sshd as the instance, and ``base`` as its home, where a wrapper
    stands in for the venv. $GPUBENCH_TEST_BENCH replaces the remote pytest command."""
    real_job = ec2_plugin.make_job

    def target(instance: dict, key_path: Path, options: object) -> Target:
        # The "instance" accepts the session's new key pair, as cloud-init would install it.
        sshd.authorize(public_key_of(key_path))
        return Target("127.0.0.1", sshd.port, sshd.user)

    def make_provider(options: Ec2Options, say: object) -> Ec2Provider:
        harness = Harness(endpoint_url=endpoint, faults=faults_from_env(dict(os.environ)))
        deps = Ec2Deps(
            client=harness.client,
            target=target,
            sleep=lambda seconds: None,
            waiter_delay_s=0,
            console_wait_s=0,  # moto's console never shows cloud-init's fingerprints
            progress=say,  # type: ignore[arg-type]
        )
        return Ec2Provider(options, deps, SshDeps(timeout_s=20, auth_retries=0))

    def make_job(session: pytest.Session, options: Ec2Options) -> Job:
        bench = os.environ.get("GPUBENCH_TEST_BENCH")
        return replace(
            real_job(session, options),
            remote_base=str(base),
            setup_override=("true",),
            **({"bench_template": bench} if bench else {}),
        )

    write_python_wrapper(base / ".gpubench-venv" / "bin" / "python")
    monkeypatch.setattr(ec2_plugin, "make_provider", make_provider)
    monkeypatch.setattr(ec2_plugin, "make_job", make_job)


@pytest.fixture
def project(
    pytester: pytest.Pytester, sshd: Sshd, moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    wire(monkeypatch, sshd, pytester.path.parent / "remote-home")
    return pytester


@pytest.fixture
def server_project(
    pytester: pytest.Pytester, sshd: Sshd, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """``project`` against moto as a server on 127.0.0.1 (real HTTP), not in-process."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    wire(monkeypatch, sshd, pytester.path.parent / "remote-home", endpoint=moto_server)
    return pytester


def ledger_entries(ledger: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in ledger.glob("*.json")]


def test_whole_suite_runs_on_the_instance_and_reports_where_and_cost(
    project: pytest.Pytester, aws_env: Path
) -> None:
    project.makepyfile(test_bench=BENCH)
    git_commit_all(project.path)

    result = project.runpytest("--gpubench", "--gpubench-devices", "numpy", *FAST, *EC2)

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*gpubench-ec2: running 2 tests on root@127.0.0.1:*",
            "test_bench.py .. *[[]100%[]]",  # streamed live from the remote pytest
            "*2 passed*",
            "gpubench-ec2: the 2 selected tests were sent to the instance (its pytest summary*",
            "*gpubench: speedup vs numpy*",
        ]
    )
    text = " ".join(result.stdout.lines)  # the report wraps its lines at the terminal width
    assert re.search(
        r"Ran on EC2 g4dn\.xlarge i-\w+ in us-east-1a \(on-demand\), held \d+ s: "
        r"\$\d\.\d{4} at \$0\.5260/h \(on-demand table us-east-1",
        text,
    ), text
    [entry] = ledger_entries(aws_env)
    assert entry["status"] == "done"
    fetched = project.path / ".gpubench" / "ec2" / entry["session"] / "results.json"
    assert json.loads(fetched.read_text())["gpubench"]["measurements"]
    assert leftovers(Harness().client("ec2")) == {}


@pytest.mark.parametrize(
    ("fault", "hits"),
    [
        ("TerminateInstances:connection:1", 1),
        ("TerminateInstances:read-timeout:1", 1),
        ("DeleteSecurityGroup:RequestLimitExceeded:1", 1),
        ("DeleteKeyPair:connection:1", 1),
        ("DescribeInstances:RequestLimitExceeded:2", 2),  # the wait for running
        ("DescribeInstances:read-timeout:1", 1),
        ("DeleteSecurityGroup:InternalError:2", 2),
    ],
)
def test_a_transient_aws_fault_is_retried_and_leaves_nothing(
    server_project: pytest.Pytester,
    moto_server: str,
    aws_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    hits: int,
) -> None:
    """One connection error, read timeout, throttle or 5xx, in the wait or the teardown: the
    run goes on, and nothing is left billed (findings 2 and 3 of issue 13)."""
    log = server_project.path / "fault-log"  # untracked: not uploaded
    monkeypatch.setenv("GPUBENCH_TEST_FAULTS", fault)
    monkeypatch.setenv("GPUBENCH_TEST_FAULT_LOG", str(log))
    server_project.makepyfile(test_bench=BENCH)
    git_commit_all(server_project.path)

    result = server_project.runpytest("--gpubench", "--gpubench-devices", "numpy", *FAST, *EC2)

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*2 passed*", "*gpubench: speedup vs numpy*"])
    assert "TEARDOWN FAILED" not in result.stdout.str()
    assert log.read_text().splitlines() == [fault.split(":")[0]] * hits
    assert [e["status"] for e in ledger_entries(aws_env)] == ["done"]
    assert leftovers(Harness(endpoint_url=moto_server).client("ec2")) == {}


def test_the_uploaded_tree_is_the_invocation_dirs_never_an_options_value(
    project: pytest.Pytester, aws_env: Path
) -> None:
    """pytest takes ``--opt /some/dir`` as a test path: with the ledger in another git
    checkout, that checkout was uploaded (issue 13, finding 6). The project is the checkout
    pytest was started in; a rootdir moved outside it is refused before any AWS call."""
    project.makepyfile(test_bench=BENCH)
    git_commit_all(project.path)
    other = project.path.parent / f"{project.path.name}-other"
    other.mkdir()
    (other / "unrelated.py").write_text("x = 1\n")
    git_commit_all(other)
    ledger = other / "ledger"
    ledger.mkdir()  # an existing path: pytest's rootdir search takes it as a test path

    result = project.runpytest(
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        *FAST,
        *EC2,
        "--gpubench-ec2-ledger-dir",
        str(ledger),
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stdout.fnmatch_lines(["*rootdir*is outside the project*--option=VALUE*"])
    assert "gpubench-ec2: uploaded" not in result.stdout.str()
    assert not list(ledger.glob("*.json"))  # refused before any AWS call
    assert leftovers(Harness().client("ec2")) == {}
    # written as --option=VALUE, the same run uploads this tree and says so
    result = project.runpytest(
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        *FAST,
        *EC2,
        f"--gpubench-ec2-ledger-dir={ledger}",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [f"gpubench-ec2: uploaded {project.path} (1 files tracked by git)", "*2 passed*"]
    )
    assert leftovers(Harness().client("ec2")) == {}


def test_the_next_run_reports_sessions_left_unfinished_and_the_sweep(
    project: pytest.Pytester, aws_env: Path
) -> None:
    """The ledger was written but never read (issue 13, finding 9)."""
    from pytest_gpubench.ec2.ledger import Ledger

    ledger = Ledger(aws_env)
    ledger.record("20300101-aaaaaa", status="starting", region="eu-west-1", instance_id="i-1")
    ledger.record("20300101-bbbbbb", status="teardown-failed", key_name="gpubench-b")
    ledger.record("20300101-cccccc", status="done", instance_id="i-3")
    project.makepyfile(test_bench=BENCH)
    git_commit_all(project.path)

    result = project.runpytest("--gpubench", "--gpubench-devices", "numpy", *FAST, *EC2)

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "gpubench-ec2: session 20300101-aaaaaa is starting in * (instance i-1); *"
            "sweep --region eu-west-1 --session 20300101-aaaaaa",
            "gpubench-ec2: session 20300101-bbbbbb is teardown-failed in * (key pair "
            "gpubench-b); *sweep --region us-east-1 --session 20300101-bbbbbb",
            "*2 passed*",
        ]
    )
    assert "20300101-cccccc" not in result.stdout.str()


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_teardown_is_said_once_and_the_next_abandons_it(
    server_project: pytest.Pytester,
    moto_server: str,
    aws_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    presses: int,
) -> None:
    """Real SIGINTs while TerminateInstances runs in a real EC2 run (issue 13, finding 2)."""
    from pytest_gpubench.ec2.__main__ import main

    monkeypatch.setenv("GPUBENCH_TEST_FAULTS", f"TerminateInstances:ctrl-c:{presses}")
    server_project.makepyfile(test_bench=BENCH)
    git_commit_all(server_project.path)

    result = server_project.runpytest("--gpubench", "--gpubench-devices", "numpy", *FAST, *EC2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["*gpubench-ec2: teardown is still running*Ctrl-C again*"])
    ec2 = Harness(endpoint_url=moto_server).client("ec2")
    if presses == 1:
        assert result.ret == 0, out
        assert "ABANDONED" not in out
        assert leftovers(ec2) == {}
        return
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    [entry] = ledger_entries(aws_env)
    session = entry["session"]
    command = f"python -m pytest_gpubench.ec2 sweep --region us-east-1 --session {session}"
    result.stdout.fnmatch_lines(
        [
            f"gpubench-ec2: teardown ABANDONED; still in AWS (us-east-1): instance "
            f"{entry['instance_id']}; security group {entry['security_group_id']}; key pair "
            f"{entry['key_name']}. Delete them with: {command}"
        ]
    )
    assert entry["status"] == "teardown-failed"
    assert set(leftovers(ec2)) == {"instances", "groups", "keys"}
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    assert main(command.split()[3:]) == 0  # what it printed cleans up
    assert leftovers(ec2) == {}


# Only on the "instance" (the remote run's home): a usable cupy, as a GPU box has.
REMOTE_ONLY_GPU = """
import os
if "remote-home" in os.getcwd():
    from pytest_gpubench import devices
    devices._PROBED["cupy"] = devices.Device("cupy", "gpu", "cupy", backend=devices.NumpyBackend())
"""


def test_an_alias_picks_the_instances_gpu_though_the_client_has_none(
    project: pytest.Pytester, aws_env: Path
) -> None:
    """The default devices name ``cuda``: n/a on a laptop, cupy on the instance. The test
    ids sent to the instance must still exist there (they keep the name as typed)."""
    project.makepyfile(test_bench=BENCH)
    project.makeconftest(REMOTE_ONLY_GPU)
    git_commit_all(project.path)

    result = project.runpytest("--gpubench", "--gpubench-devices", "numpy,cuda", *FAST, *EC2)

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*gpubench-ec2: running 4 tests on *", "*4 passed*"])
    [entry] = ledger_entries(aws_env)
    fetched = project.path / ".gpubench" / "ec2" / entry["session"] / "results.json"
    measured = json.loads(fetched.read_text())["gpubench"]["measurements"]
    assert {(m["size"], m["device"]) for m in measured if m["rounds_s"]} == {
        (size, device) for size in ("8", "16") for device in ("numpy", "cupy")
    }


def test_the_instances_run_is_written_and_saved_as_pytest_benchmark_documents(
    project: pytest.Pytester, aws_env: Path
) -> None:
    """pytest-benchmark ran nothing locally: the instance's document (its benchmarks and
    machine_info, plus where it ran and the cost) is what --gpubench-json and
    --gpubench-save keep, so a GPU run can be the baseline of the next one."""
    project.makepyfile(test_bench=BENCH)
    git_commit_all(project.path)
    store = project.path / "store"
    result = project.runpytest(
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        *FAST,
        *EC2,
        "--gpubench-json",
        "out.json",
        "--gpubench-save",
        "gpu",
        "--benchmark-storage",
        str(store),
    )
    assert result.ret == 0, result.stdout.str()
    assert "Not saving anything" not in result.stdout.str()
    result.stdout.fnmatch_lines(["gpubench: wrote out.json"])
    [saved] = store.glob("*/0001_gpu.json")
    for document in (
        json.loads(saved.read_text()),
        json.loads((project.path / "out.json").read_text()),
    ):
        assert {b["name"] for b in document["benchmarks"]} == {
            "test_matmul[numpy-8]",
            "test_matmul[numpy-16]",
        }
        assert document["machine_info"]
        cloud = document["gpubench"]["extra"]["cloud"]
        assert (cloud["provider"], cloud["instance_type"]) == ("EC2", "g4dn.xlarge")


def test_a_remote_failure_fails_the_session_and_still_tears_down(
    project: pytest.Pytester, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = "cd {workdir} && echo 'broken on the instance'; exit 1"
    monkeypatch.setenv("GPUBENCH_TEST_BENCH", prepared)
    project.makepyfile(test_bench=BENCH)
    git_commit_all(project.path)

    result = project.runpytest("--gpubench", "--gpubench-devices", "numpy", *EC2)

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*broken on the instance*",
            "*gpubench-ec2: the remote run wrote no results JSON*",
            "*gpubench-ec2: remote pytest exited 1*",
            "*gpubench ec2*",
            "Ran on EC2 g4dn.xlarge i-* in us-east-1a (on-demand), held * s: $0.* at $0.5260/h *",
        ]
    )
    assert [e["status"] for e in ledger_entries(aws_env)] == ["done"]
    assert leftovers(Harness().client("ec2")) == {}


@pytest.mark.parametrize(
    ("code", "exit_code", "message"),
    [
        (  # a quota: what to request, and where
            "VcpuLimitExceeded",
            pytest.ExitCode.USAGE_ERROR,
            "*VcpuLimitExceeded*Running On-Demand G and VT*L-DB2E81BA*",
        ),
        (  # an IAM-limited user: what AWS refused, not an INTERNALERROR traceback
            "UnauthorizedOperation",
            pytest.ExitCode.TESTS_FAILED,
            "*AWS refused RunInstances: UnauthorizedOperation*IAM*",
        ),
    ],
)
def test_a_refused_launch_stops_with_what_to_do_and_leaves_nothing(
    pytester: pytest.Pytester,
    moto_aws: None,
    aws_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    exit_code: int,
    message: str,
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    harness = Harness(faults=[Fault("RunInstances", code)])
    monkeypatch.setattr(
        ec2_plugin,
        "make_provider",
        lambda options, say: Ec2Provider(
            options, Ec2Deps(client=harness.client, waiter_delay_s=0, progress=say)
        ),
    )
    pytester.makepyfile(test_bench=BENCH)
    git_commit_all(pytester.path)

    result = pytester.runpytest("--gpubench", "--gpubench-devices", "numpy", *EC2)

    assert result.ret == exit_code
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([message])
    assert leftovers(Harness().client("ec2")) == {}


def test_a_lost_ssh_connection_ends_cleanly_and_tears_down(
    project: pytest.Pytester, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUBENCH_TEST_BENCH", "echo started; kill -9 $PPID; sleep 3")
    project.makepyfile(test_bench=BENCH)
    git_commit_all(project.path)

    result = project.runpytest("--gpubench", "--gpubench-devices", "numpy", *EC2)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*lost the SSH connection to the instance*terminated*"])
    assert [e["status"] for e in ledger_entries(aws_env)] == ["done"]
    assert leftovers(Harness().client("ec2")) == {}


def test_fixture_gives_tests_a_live_instance(project: pytest.Pytester, aws_env: Path) -> None:
    project.makepyfile(
        """
        def test_on_the_instance(ec2_gpu_session):
            status, output = ec2_gpu_session.run("echo hello from $(hostname)")
            assert status == 0 and output.startswith("hello from")
            assert ec2_gpu_session.instance_id.startswith("i-")
            assert ec2_gpu_session.price_per_hour == 0.526
        """
    )
    result = project.runpytest("--gpubench-devices", "numpy", *EC2)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*gpubench ec2*", "Ran on EC2 g4dn.xlarge i-*"])
    assert leftovers(Harness().client("ec2")) == {}
    assert [e["status"] for e in ledger_entries(aws_env)] == ["done"]


def test_fixture_skips_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(ec2_gpu_session):\n    pass\n")
    result = pytester.runpytest("-rs", "-p", "no:hypothesispytest")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*ec2_gpu_session needs --gpubench-ec2 INSTANCE_TYPE*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpubench-ec2", "tests/"], "*'tests/' is not an instance type like g4dn.xlarge*"),
        (["--gpubench-ec2=g4dn.xlarge", "--gpubench-ec2-ssh-cidr", "0.0.0.0/0"], "*refusing*"),
        (
            ["--gpubench-ec2", "--gpubench-ec2-ttl", "0"],
            "*-ttl (minutes) must be an integer from 1 to 1440*",
        ),
        (["--gpubench-ec2", "--gpubench-ec2-spot-fallback"], "*only applies with*-spot*"),
        (
            ["--gpubench-ec2", "--gpubench-ec2-region", "us east 1"],
            "*--gpubench-ec2-region 'us east 1' is not an EC2 region*us-east-1*",
        ),
        (
            ["--gpubench-ec2", "--gpubench-ec2-spot", "--gpubench-ec2-max-price", "nan"],
            "*--gpubench-ec2-max-price nan needs*finite USD/hour of at least 0.0001*",
        ),
        (["--gpubench-ec2", "--gpubench-ec2-price", "inf"], "*--gpubench-ec2-price must be*inf*"),
        (["--gpubench-ec2", "--gpubench-ec2-ami", "foo"], "*'foo' is not an AMI id like ami-*"),
        (
            ["--gpubench-ec2", "--gpubench-ec2-ledger-dir", "a-file"],
            "*--gpubench-ec2-ledger-dir 'a-file' cannot be a directory*",
        ),
        (
            ["--gpubench-ec2", "--gpubench-ec2-extras", "cuda,tourch"],
            "*--gpubench-ec2-extras 'cuda,tourch': unknown extra(s) tourch; *defines cuda, torch*",
        ),
        (
            ["--gpubench", "--gpubench-ec2-spot", "--gpubench-ec2-ttl=0"],
            "*--gpubench-ec2-spot, --gpubench-ec2-ttl only apply with --gpubench-ec2 TYPE*",
        ),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyprojecttoml(
        '[project]\nname = "p"\n[project.optional-dependencies]\ncuda = []\ntorch = []\n'
    )
    (pytester.path / "a-file").write_text("not a directory\n")
    result = pytester.runpytest("-p", "no:hypothesispytest", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_extras_are_checked_only_as_given_and_by_pips_rules(pytester: pytest.Pytester) -> None:
    """Another project needs no cuda/torch extras for the default to be accepted, and names
    compare as pip compares them (PEP 685)."""
    pytester.makepyprojecttoml(
        '[project]\nname = "p"\n[project.optional-dependencies]\nmy_gpu = []\n'
    )
    pytester.makepyfile("def test_x():\n    pass\n")
    base = ["-p", "no:hypothesispytest", "--gpubench-ec2", "--collect-only", "-q"]
    assert pytester.runpytest(*base).ret == pytest.ExitCode.OK
    assert pytester.runpytest(*base, "--gpubench-ec2-extras", "My.GPU").ret == pytest.ExitCode.OK
    refused = pytester.runpytest(*base, "--gpubench-ec2-extras", "cuda")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*unknown extra(s) cuda; *defines my-gpu*"])


def test_a_ttl_shorter_than_an_install_warns(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "-p", "no:hypothesispytest", "--gpubench-ec2", "--gpubench-ec2-ttl", "5", "--co"
    )
    result.stdout.fnmatch_lines(["*PytestConfigWarning: --gpubench-ec2-ttl 5: *cut short*"])


def test_plugin_imports_without_the_ec2_extra() -> None:
    code = (
        "import sys\n"
        "for name in ('boto3', 'botocore', 'paramiko'):\n"
        "    sys.modules[name] = None\n"
        "import pytest_gpubench.ec2.plugin, pytest_gpubench.ec2.provider\n"
        "import pytest_gpubench.ec2.settings, pytest_gpubench.remote.driver\n"
        "from pytest_gpubench.ec2.plugin import _require_extras\n"
        "try:\n"
        "    _require_extras()\n"
        "except Exception as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'pytest-gpubench[ec2]'" in out.stdout
