"""Small pieces of the EC2 layer: CIDR rule, AMI lookup, prices, ledger, backoff, secrets."""

from __future__ import annotations

import json
import logging
import random
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("moto")

from pytest_gpubench.ec2 import prices
from pytest_gpubench.ec2.ami import NAME_PATTERN, SSM_PARAMETER, resolve_ami
from pytest_gpubench.ec2.faults import Backoff, Ec2ConfigError, Ec2Error, quota_help
from pytest_gpubench.ec2.ledger import Ledger
from pytest_gpubench.ec2.pricing import (
    ENV_PRICE,
    ENV_PRICE_FILE,
    PriceQuote,
    quote,
)
from pytest_gpubench.ec2.resources import check_ssh_cidr, create_key_pair, session_tags
from tests.ec2_support import REGION, Harness, error_response

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("203.0.113.7/32", "203.0.113.7/32"),
        ("203.0.113.7", "203.0.113.7/32"),
        ("2001:db8::1", "2001:db8::1/128"),
    ],
)
def test_one_address_is_allowed(given: str, kept: str) -> None:
    assert check_ssh_cidr(given) == kept


def test_cidr_errors_name_the_value_and_the_fix() -> None:
    with pytest.raises(Ec2ConfigError, match=r"'nonsense' is not a CIDR.*203\.0\.113\.7/32"):
        check_ssh_cidr("nonsense")
    with pytest.raises(
        Ec2ConfigError, match=r"refusing SSH from 0\.0\.0\.0/0 \(the whole internet\)"
    ):
        check_ssh_cidr("0.0.0.0/0")
    assert check_ssh_cidr("10.0.0.0/8", allow_world=True) == "10.0.0.0/8"


def seed_ssm(value: str) -> None:
    from moto.ssm.models import Parameter, ssm_backends

    backend = ssm_backends[ACCOUNT][REGION]
    backend._parameters[SSM_PARAMETER].append(
        Parameter(
            account_id=ACCOUNT,
            name=SSM_PARAMETER,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.now(timezone.utc),
            version=1,
            data_type="aws:ec2:image",
        )
    )


def register_amazon_image(ec2, name: str, created: str) -> str:
    from moto.ec2.models import ec2_backends

    image_id = ec2.register_image(Name=name, RootDeviceName="/dev/sda1", Architecture="x86_64")[
        "ImageId"
    ]
    image = ec2_backends[ACCOUNT][REGION].amis[image_id]
    image.owner_alias = "amazon"
    image.architecture = "x86_64"  # moto's register_image leaves it unset
    image.creation_date = datetime.fromisoformat(created)
    return image_id


def test_ami_from_the_public_ssm_parameter(moto_aws: None) -> None:
    h = Harness()
    seed_ssm("ami-0ddeeb0b0b0b0b0b0")
    ami = resolve_ami(h.client("ssm"), h.client("ec2"))
    assert ami.image_id == "ami-0ddeeb0b0b0b0b0b0"
    assert SSM_PARAMETER in ami.source


def test_ami_falls_back_to_the_newest_image_by_name(moto_aws: None) -> None:
    h = Harness()
    ec2 = h.client("ec2")
    prefix = NAME_PATTERN.rstrip("*")
    register_amazon_image(ec2, f"{prefix} 20240101", "2024-01-01T00:00:00+00:00")
    newest = register_amazon_image(ec2, f"{prefix} 20250301", "2025-03-01T00:00:00+00:00")
    ec2.register_image(Name=f"{prefix} 20990101", RootDeviceName="/dev/sda1")  # not amazon's
    assert resolve_ami(h.client("ssm"), ec2).image_id == newest


def test_ami_explicit_or_a_clear_error(moto_aws: None) -> None:
    h = Harness()
    assert resolve_ami(None, None, "ami-12345678").source == "--gpubench-ec2-ami"
    with pytest.raises(Ec2Error, match="must be an AMI id"):
        resolve_ami(None, None, "ubuntu")
    with pytest.raises(Ec2Error, match="pass --gpubench-ec2-ami"):
        resolve_ami(h.client("ssm"), h.client("ec2"))


def test_prices_precedence_and_sources(tmp_path: Path) -> None:
    table = quote("g5.xlarge", "us-east-1", market="on-demand", env={})
    assert table == PriceQuote(1.006, f"on-demand table us-east-1 {prices.AS_OF}")
    assert (
        "eu-west-1 may differ" in quote("g5.xlarge", "eu-west-1", market="on-demand", env={}).source
    )
    price_file = tmp_path / "prices.json"
    price_file.write_text(json.dumps({"g5.xlarge": 1.2}))
    env = {ENV_PRICE_FILE: str(price_file)}
    assert quote("g5.xlarge", "us-east-1", market="on-demand", env=env).usd_per_hour == 1.2
    for not_a_table in ("g5.xlarge", [1.2]):  # a JSON string indexed like a table: TypeError
        price_file.write_text(json.dumps(not_a_table))
        with pytest.raises(Ec2ConfigError, match=r"prices\.json holds a JSON \w+; expected an"):
            quote("g5.xlarge", "us-east-1", market="on-demand", env=env)
    price_file.write_text(json.dumps({"g5.xlarge": 1.2}))
    env[ENV_PRICE] = "0.9"
    assert quote("g5.xlarge", "us-east-1", market="on-demand", env=env).usd_per_hour == 0.9
    explicit = quote("g5.xlarge", "us-east-1", market="on-demand", env=env, explicit=0.7)
    assert explicit == PriceQuote(0.7, "--gpubench-ec2-price")
    unknown = quote("x9.huge", "us-east-1", market="on-demand", env={})
    assert unknown.usd_per_hour is None and ENV_PRICE in unknown.source
    with pytest.raises(
        Ec2ConfigError, match="must be a finite positive number of USD, got 'cheap'"
    ):
        quote("g5.xlarge", "us-east-1", market="on-demand", env={ENV_PRICE: "cheap"})
    assert PriceQuote(0.526, "t").cost(3600 * 2) == pytest.approx(1.052)
    assert PriceQuote(None, "t").cost(10) is None
    # EC2 bills a launched instance at least 60 s; nothing held, nothing billed
    assert PriceQuote(0.6, "t").cost(5) == pytest.approx(0.01)
    assert PriceQuote(0.6, "t").cost(0) == 0.0
    for bad in ("nan", "inf", "-1"):
        with pytest.raises(Ec2ConfigError, match="finite positive"):
            quote("g4dn.xlarge", "us-east-1", market="on-demand", env={ENV_PRICE: bad})
    assert set(prices.ON_DEMAND_USD_PER_HOUR) >= {
        "g4dn.xlarge",
        "g5.xlarge",
        "g6.xlarge",
        "p3.2xlarge",
        "g2.2xlarge",
    }


def test_spot_without_history_is_priced_at_the_on_demand_bound() -> None:
    class NoHistory:
        def describe_spot_price_history(self, **kwargs):
            return {"SpotPriceHistory": []}

    q = quote("g4dn.xlarge", "us-east-1", market="spot", zone="us-east-1a", ec2=NoHistory(), env={})
    assert q.usd_per_hour == 0.526 and "upper bound: no spot history" in q.source


def test_spot_history_asks_for_the_price_in_effect_now_and_survives_a_refusal() -> None:
    from botocore.exceptions import ClientError

    asked: list[dict] = []

    class History:
        def describe_spot_price_history(self, **kwargs):
            asked.append(kwargs)
            return {"SpotPriceHistory": []}

    class Refused:
        def describe_spot_price_history(self, **kwargs):
            error = {"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}
            raise ClientError(error, "DescribeSpotPriceHistory")

    quote("g4dn.xlarge", "us-east-1", market="spot", zone="us-east-1a", ec2=History(), env={})
    assert asked[0]["StartTime"].tzinfo is not None
    q = quote("g4dn.xlarge", "us-east-1", market="spot", zone="us-east-1a", ec2=Refused(), env={})
    assert q.usd_per_hour == 0.526
    assert "upper bound: spot history unavailable: UnauthorizedOperation" in q.source


def test_a_wide_ipv6_cidr_is_refused_with_an_ipv6_example() -> None:
    from pytest_gpubench.ec2.faults import Ec2ConfigError
    from pytest_gpubench.ec2.resources import check_ssh_cidr

    with pytest.raises(Ec2ConfigError, match=r"--gpubench-ec2-ssh-cidr YOUR:IPV6::ADDRESS/128"):
        check_ssh_cidr("::/0")
    with pytest.raises(Ec2ConfigError, match=r"--gpubench-ec2-ssh-cidr YOUR\.IP/32"):
        check_ssh_cidr("0.0.0.0/0")


def test_ledger_merges_and_lists_open_sessions(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l")
    ledger.record("s1", status="starting", client_tokens=["s1-0"])
    ledger.record("s1", client_tokens=["s1-1", "s1-0"], instance_id="i-1")
    ledger.record("s2", status="done")
    assert ledger.read("s1")["client_tokens"] == ["s1-0", "s1-1"]
    assert [e["session"] for e in ledger.open_entries()] == ["s1"]
    assert not list((tmp_path / "l").glob(".tmp-*"))
    # a process killed inside record() leaves a half-written temporary file: not an entry
    (tmp_path / "l" / ".tmp-abc.json").write_text('{"session": "s3", "sta')
    assert [e["session"] for e in ledger.open_entries()] == ["s1"]
    # an entry damaged some other way is listed as unreadable: its teardown is not known
    (tmp_path / "l" / "s4.json").write_text("{not json")
    assert [(e["session"], e["status"]) for e in ledger.open_entries()] == [
        ("s1", "starting"),
        ("s4", "unreadable"),
    ]


def test_quota_help_by_family() -> None:
    assert "L-417A185B" in quota_help("VcpuLimitExceeded", "p3.2xlarge", "us-west-2", spot=False)
    assert "L-3819A6DF" in quota_help("VcpuLimitExceeded", "g5.xlarge", "us-west-2", spot=True)


def test_backoff_retries_throttling_only_with_bounded_jitter() -> None:
    from botocore.exceptions import ClientError

    sleeps: list[float] = []
    backoff = Backoff(attempts=8, base_s=1, cap_s=4, sleep=sleeps.append, rng=random.Random(1))
    calls = []

    def throttled() -> str:
        calls.append(1)
        if len(calls) < 8:
            raise ClientError(error_response("RequestLimitExceeded")[1], "RunInstances")
        return "ok"

    assert backoff.call(throttled) == "ok"
    assert len(sleeps) == 7 and all(0 <= s <= 4 for s in sleeps) and len(set(sleeps)) == 7

    def denied() -> None:
        calls.append(1)
        raise ClientError(error_response("UnauthorizedOperation")[1], "RunInstances")

    calls.clear()
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        backoff.call(denied)
    assert len(calls) == 1


def test_private_key_never_reaches_the_logs(
    moto_aws: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ec2 = Harness().client("ec2")
    tags = session_tags("s", "arn", datetime(2030, 1, 1, tzinfo=timezone.utc))
    with caplog.at_level(logging.DEBUG, logger="botocore"):
        key = create_key_pair(ec2, "k", tags, tmp_path)
        ec2.describe_key_pairs()
    assert "Response body" in caplog.text  # botocore does dump bodies at DEBUG
    assert "PRIVATE KEY" not in caplog.text
    assert "PRIVATE KEY" in key.path.read_text()
    assert key.path.stat().st_mode & 0o777 == 0o600


def test_add_note_keeps_the_error_where_python_has_no_add_note() -> None:
    """Python 3.10 has no ``BaseException.add_note``: the teardown report must still reach
    ``__notes__``, and the AttributeError must not mask the session's own error."""
    from pytest_gpubench.remote.errors import add_note

    class Py310Error:  # what an exception offers there: attributes, no add_note
        pass

    old = Py310Error()
    add_note(old, "teardown: key_pair")  # type: ignore[arg-type]
    add_note(old, "teardown: ledger")  # type: ignore[arg-type]
    assert old.__notes__ == ["teardown: key_pair", "teardown: ledger"]  # type: ignore[attr-defined]
    new = ValueError("boom")
    add_note(new, "teardown: instance")
    assert new.__notes__ == ["teardown: instance"]


@pytest.mark.parametrize("name", ["../x", "../../x", "/etc/x", "..", ".", "", "a/../../x", "lnk"])
def test_a_fetched_name_outside_the_output_dir_is_refused(tmp_path: Path, name: str) -> None:
    from pytest_gpubench.remote.errors import RemoteError
    from pytest_gpubench.remote.job import fetched_path

    out = tmp_path / "out"
    out.mkdir()
    (out / "lnk").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RemoteError, match="outside"):
        fetched_path(out, name)


def test_a_plain_fetched_name_lands_in_the_output_dir(tmp_path: Path) -> None:
    from pytest_gpubench.remote.job import fetched_path

    assert fetched_path(tmp_path, "results.json") == tmp_path / "results.json"


def test_run_job_refuses_a_hostile_listing_and_writes_nothing_outside(tmp_path: Path) -> None:
    from pytest_gpubench.remote.errors import RemoteError
    from pytest_gpubench.remote.job import Job, run_job

    class Instance:
        def check(self, command: str, *args: object, **kwargs: object) -> str:
            return "/home/ubuntu\n"

        def run(self, command: str, *args: object, **kwargs: object) -> tuple[int, str]:
            return 0, ""

        def put(self, local: object, remote: str) -> None:
            pass

        def listdir(self, remote: str) -> list[str]:
            return ["../../escaped.txt"]

        def get(self, remote: str, local: Path) -> None:
            Path(local).write_text("from the instance")

    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(RemoteError, match="escaped"):
        run_job(Instance(), Job(project, ("t.py::x",)), out, tmp_path)  # type: ignore[arg-type]
    assert not (tmp_path / "a" / "escaped.txt").exists()


def test_the_instance_document_is_written_whole_or_the_earlier_one_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remote run writes --gpubench-json from the machine's document: a full disk leaves the
    earlier report as it was, with no partial file, and says so instead of a traceback."""
    import errno
    from types import SimpleNamespace

    from pytest_gpubench.remote.document import keep_instance_document

    fetched = tmp_path / "fetched.json"
    fetched.write_text(json.dumps({"benchmarks": [], "gpubench": {"measurements": []}}))
    report = tmp_path / "r.json"
    report.write_text('{"gpubench": {"earlier": true}}\n')
    config = SimpleNamespace(option=SimpleNamespace(gpubench_json=str(report)), stash={})
    said: list[str] = []
    real_write_text = Path.write_text

    def full_disk(self: Path, *args: object, **kwargs: object) -> int:
        if self.name.endswith(".partial.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    keep_instance_document(config, fetched, {"instance_type": "g4dn.xlarge"}, said.append)
    assert report.read_text() == '{"gpubench": {"earlier": true}}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fetched.json", "r.json"]
    assert said and "could not write" in said[0] and "No space left on device" in said[0]
    monkeypatch.setattr(Path, "write_text", real_write_text)
    keep_instance_document(config, fetched, {"instance_type": "g4dn.xlarge"}, said.append)
    written = json.loads(report.read_text())
    assert written["gpubench"]["extra"]["cloud"] == {"instance_type": "g4dn.xlarge"}


def test_the_options_are_checked_by_a_plain_function_before_any_launch(tmp_path: Path) -> None:
    from pytest_gpubench.ec2.settings import ec2_options, stray_options

    given = {"gpubench_ec2": "g5.xlarge", "gpubench_ec2_ssh_cidr": "203.0.113.7/32"}
    options = ec2_options(given, tmp_path, {"AWS_DEFAULT_REGION": "eu-west-1"})
    assert (options.instance_type, options.region, options.extras) == (
        "g5.xlarge",
        "eu-west-1",
        ("cuda", "torch"),
    )
    with pytest.raises(Ec2ConfigError, match=r"'tests/' is not an instance type"):
        ec2_options({"gpubench_ec2": "tests/"}, tmp_path, {})
    with pytest.raises(Ec2ConfigError, match=r"refusing SSH from 0\.0\.0\.0/0"):
        ec2_options({**given, "gpubench_ec2_ssh_cidr": "0.0.0.0/0"}, tmp_path, {})
    assert stray_options(["-x", "--gpubench-ec2-spot", "--gpubench-ec2-ttl=5"]) == (
        "--gpubench-ec2-spot, --gpubench-ec2-ttl only apply with --gpubench-ec2 TYPE (e.g. "
        "--gpubench-ec2 g4dn.xlarge); without it the run is local"
    )
    assert stray_options(["--gpubench-ec2", "g5.xlarge"]) is None


def test_ec2_is_a_provider_and_before_up_prices_and_summarises_nothing_launched() -> None:
    from pytest_gpubench.ec2.provider import Ec2Provider
    from pytest_gpubench.ec2.settings import Ec2Options
    from pytest_gpubench.remote.provider import Provider
    from pytest_gpubench.remote.summary import format_summary

    provider = Ec2Provider(Ec2Options(region="us-east-1"))
    assert isinstance(provider, Provider)
    assert provider.price() == PriceQuote(0.526, f"on-demand table us-east-1 {prices.AS_OF}")
    assert provider.price().cost(1) == round(0.526 / 60, 6)  # EC2's minimum: a minute
    assert format_summary(provider.summary()) == (
        "Nothing launched on EC2 (g4dn.xlarge in us-east-1): nothing to pay"
    )
    with pytest.raises(Ec2ConfigError, match=r"-ttl \(minutes\) must be an integer from 1 to 1440"):
        Ec2Provider(Ec2Options(ttl_minutes=0))
