"""The shared remote layer with a provider of the tests' own (``FakeProvider``: the local sshd
as its machine): up, the job over SSH, the fetched JSON, down on every path; and no EC2 code
anywhere on that path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("paramiko")

from pytest_gpubench.remote.driver import run_on
from pytest_gpubench.remote.errors import CloudError, RemoteError
from pytest_gpubench.remote.job import Job
from pytest_gpubench.remote.provider import Provider
from tests.remote_support import FakeProvider, git_commit_all, write_python_wrapper
from tests.sshd import Sshd

ROOT = Path(__file__).resolve().parents[1]
#: Writes what the remote pytest would: a results JSON in the output directory.
WRITES_RESULTS = 'echo measured there; echo \'{{"gpubench": {{"measurements": []}}}}\' > {results}'


def project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "test_x.py").write_text("def test_x():\n    pass\n")
    git_commit_all(root)
    return root


def job(tmp_path: Path, **fields: object) -> Job:
    values: dict = {
        "project_root": project(tmp_path / "project"),
        "node_ids": ("test_x.py::test_x",),
        "remote_base": str(tmp_path / "home"),
        "setup_override": ("true",),
        "bench_template": WRITES_RESULTS,
    }
    values.update(fields)
    return Job(**values)


def test_the_fake_provider_implements_the_protocol(sshd: Sshd) -> None:
    assert isinstance(FakeProvider(sshd), Provider)


def test_a_whole_remote_run_goes_up_runs_fetches_and_goes_down(sshd: Sshd, tmp_path: Path) -> None:
    provider = FakeProvider(sshd)
    said: list[str] = []

    outcome = run_on(provider, job(tmp_path), tmp_path / "local", say=said.append)

    assert outcome.problem is None
    assert outcome.job.exit_code == 0
    fetched = tmp_path / "local" / "fake" / "fake-1" / "results.json"
    assert outcome.job.results_json == fetched
    assert json.loads(fetched.read_text()) == {"gpubench": {"measurements": []}}
    assert provider.calls == ["up", "down"]
    assert provider.scratch is not None and not provider.scratch.exists()
    address = f"{sshd.user}@127.0.0.1:{sshd.port}"
    for line in (
        "gpubench-fake [fake-1] connected: done",
        f"gpubench-fake: running 1 tests on {address}",
        f"gpubench-fake: uploaded {tmp_path / 'project'} (1 files tracked by git)",
        "measured there",
    ):
        assert line in said


def test_down_runs_when_the_job_fails(sshd: Sshd, tmp_path: Path) -> None:
    provider = FakeProvider(sshd)

    outcome = run_on(provider, job(tmp_path, setup_override=("false",)), tmp_path / "local")

    assert isinstance(outcome.problem, RemoteError)
    assert "'false' exited 1" in str(outcome.problem)
    assert outcome.job is None
    assert provider.calls == ["up", "down"]


def test_down_runs_when_up_fails_half_way(sshd: Sshd, tmp_path: Path) -> None:
    provider = FakeProvider(sshd, fail_up=True)

    outcome = run_on(provider, job(tmp_path), tmp_path / "local")

    assert isinstance(outcome.problem, CloudError)
    assert str(outcome.problem) == "RuntimeError: no capacity in the fake cloud"
    assert provider.calls == ["up", "down"]
    assert provider.scratch is not None and not provider.scratch.exists()


def test_ctrl_c_during_the_job_still_goes_down(sshd: Sshd, tmp_path: Path) -> None:
    provider = FakeProvider(sshd)

    def ctrl_c(step: str) -> None:
        if step == "uploaded":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_on(provider, job(tmp_path), tmp_path / "local", on_step=ctrl_c)
    assert provider.calls == ["up", "down"]


def test_a_teardown_error_never_hides_the_jobs_error(sshd: Sshd, tmp_path: Path) -> None:
    provider = FakeProvider(sshd, fail_down=True)
    failed = run_on(provider, job(tmp_path, setup_override=("false",)), tmp_path / "local")
    assert isinstance(failed.problem, RemoteError)
    assert "the fake cloud kept vm-1" in "".join(failed.problem.__notes__)

    provider = FakeProvider(sshd, fail_down=True)
    ended = run_on(provider, job(tmp_path / "again"), tmp_path / "local")
    assert str(ended.problem) == "RuntimeError: the fake cloud kept vm-1"
    assert ended.job is not None and ended.job.exit_code == 0


CONFTEST = """
import json
import sys
from pathlib import Path

import pytest

PROVIDERS = []


def pytest_addoption(parser):
    parser.addoption("--fake-cloud", action="store_true")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if config.getoption("fake_cloud"):
        from pytest_gpubench.remote.mode import mark_remote

        mark_remote(config, "fake")


def pytest_configure(config):
    if config.getoption("fake_cloud"):
        from pytest_gpubench.remote.document import take_over_outputs

        take_over_outputs(config)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    config = session.config
    if not config.getoption("fake_cloud"):
        return None  # the remote run loads this conftest too
    from pytest_gpubench.remote.driver import run_remote
    from pytest_gpubench.remote.selection import job_for
    from tests.remote_support import FakeProvider
    from tests.sshd import Sshd

    sshd = Sshd(Path({directory!r}), {port}, {user!r}, Path({key!r}))
    PROVIDERS.append(FakeProvider(sshd))
    writer = config.pluginmanager.get_plugin("terminalreporter")
    run_remote(
        session,
        PROVIDERS[0],
        lambda: job_for(session, (), remote_base={base!r}, setup_override=("true",)),
        say=writer.write_line,
    )
    return True


def pytest_terminal_summary(terminalreporter, config):
    if config.getoption("fake_cloud"):
        from pytest_gpubench.remote.driver import terminal_summary

        terminal_summary(terminalreporter, config, "fake")


def pytest_unconfigure(config):
    if config.getoption("fake_cloud"):
        loaded = [
            name
            for name in sys.modules
            if name.startswith("pytest_gpubench.ec2") or name.split(".")[0] in ("boto3", "botocore")
        ]
        Path({out!r}).write_text(json.dumps({{"calls": PROVIDERS[0].calls, "loaded": loaded}}))
"""

BENCH = """
import numpy as np
import pytest

@pytest.mark.parametrize("n", [8, 16], ids=["8", "16"])
def test_matmul(gpubench, device, n):
    a = gpubench.transfer(np.ones((n, n)), "float32")
    gpubench(lambda: a @ a, units="GFLOP", units_per_round=2 * n**3 / 1e9)
"""


def test_a_pytest_session_runs_remotely_through_the_shared_layer_with_no_ec2_code(
    pytester: pytest.Pytester, sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole flow a user sees (selection sent, output streamed, results merged into the
    speedup table, the cost line), in a fresh interpreter that never imports EC2's code."""
    base = pytester.path.parent / "remote-home"
    write_python_wrapper(base / ".gpubench-venv" / "bin" / "python")
    out = pytester.path.parent / "seen.json"
    conftest = CONFTEST.format(
        directory=str(sshd.directory),
        port=sshd.port,
        user=sshd.user,
        key=str(sshd.client_key),
        base=str(base),
        out=str(out),
    )
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_bench=BENCH)
    git_commit_all(pytester.path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))

    result = pytester.runpytest_subprocess(
        "-p",
        "no:gpubench-ec2",
        "-p",
        "no:hypothesispytest",
        "--fake-cloud",
        "--gpubench",
        "--gpubench-devices",
        "numpy",
        *("--gpubench-max-time", "0.002", "--gpubench-min-rounds", "2"),
        *("--gpubench-max-rounds", "3"),
    )

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "gpubench-fake: running 2 tests on *@127.0.0.1:*",
            "test_bench.py .. *[[]100%[]]",  # streamed from the remote pytest
            "*2 passed*",
            "gpubench-fake: the 2 selected tests were sent to the instance*",
            "*gpubench: speedup vs numpy*",
        ]
    )
    text = " ".join(result.stdout.lines)
    assert "Ran on Fake cloud tiny vm-1 in here, held 10 s: $0.0010 at $0.3600/h" in text
    seen = json.loads(out.read_text())
    assert seen == {"calls": ["up", "down"], "loaded": []}
