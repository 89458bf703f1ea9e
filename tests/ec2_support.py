"""Helpers of the EC2 tests: an Ec2Provider wired to moto, injected faults, leftover checks."""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from pytest_gpubench.ec2.faults import Backoff
from pytest_gpubench.ec2.launch import client_config
from pytest_gpubench.ec2.provider import Ec2Provider, ec2_session
from pytest_gpubench.ec2.session import Ec2Deps
from pytest_gpubench.ec2.settings import Ec2Options
from pytest_gpubench.remote.lifecycle import LiveMachine, rented
from pytest_gpubench.remote.provider import SshDeps

REGION = "us-east-1"
AMI = "ami-0123456789abcdef0"
CIDR = "203.0.113.7/32"


_SESSION: list[boto3.session.Session] = []


def boto_session() -> boto3.session.Session:
    """One boto3 session for all tests: its loader caches the (large) EC2 service model."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


def error_response(code: str, status: int = 400) -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` handler returns to make botocore raise ``code``."""
    parsed = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return AWSResponse("https://ec2.invalid", status, {}, None), parsed


@dataclass
class Fault:
    """Fail ``operation`` with ``code`` when ``when(body)`` holds, at most ``times`` times."""

    operation: str
    code: str
    when: Callable[[dict[str, Any]], bool] = lambda body: True
    times: int | None = None
    hits: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], **kwargs: Any) -> Any:
        body = params.get("body") or {}
        if self.when(body) and (self.times is None or len(self.hits) < self.times):
            self.hits.append(dict(body))
            return error_response(self.code)
        return None


def botocore_fault(kind: str) -> BaseException:
    """A failure with no AWS answer: ``connection`` (refused) or ``read-timeout``."""
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    url = "https://ec2.us-east-1.amazonaws.com/"
    if kind == "connection":
        return EndpointConnectionError(endpoint_url=url)
    if kind == "read-timeout":
        return ReadTimeoutError(endpoint_url=url)
    raise ValueError(f"unknown fault kind {kind!r}; expected connection or read-timeout")


@dataclass
class Raise(Fault):
    """Like :class:`Fault`, but raise ``botocore_fault(code)`` (no response at all)."""

    def __call__(self, params: dict[str, Any], **kwargs: Any) -> Any:
        if super().__call__(params, **kwargs) is not None:
            raise botocore_fault(self.code)
        return None


@dataclass
class CtrlC(Fault):
    """On the first call of ``operation``, press Ctrl-C ``times`` times (real SIGINTs)."""

    def __call__(self, params: dict[str, Any], **kwargs: Any) -> Any:
        if not self.hits:
            self.hits.append(dict(params.get("body") or {}))
            for _ in range(self.times or 1):
                os.kill(os.getpid(), signal.SIGINT)
        return None


#: Environment of a pytester run: ``OPERATION:CODE:TIMES,...``; CODE is an AWS error code,
#: ``connection`` / ``read-timeout`` for a failure without an answer, or ``ctrl-c`` (TIMES
#: presses on the first call).
FAULTS_ENV = "GPUBENCH_TEST_FAULTS"
#: Where those faults note each hit (one operation name a line).
FAULT_LOG_ENV = "GPUBENCH_TEST_FAULT_LOG"


@dataclass
class Logged:
    """A fault that appends its operation to ``log`` each time it fires."""

    fault: Fault
    log: Path

    @property
    def operation(self) -> str:
        return self.fault.operation

    def __call__(self, params: dict[str, Any], **kwargs: Any) -> Any:
        before = len(self.fault.hits)
        try:
            return self.fault(params, **kwargs)
        finally:
            if len(self.fault.hits) > before:
                with self.log.open("a") as handle:
                    handle.write(f"{self.fault.operation}\n")


def faults_from_env(environ: dict[str, str]) -> list[Any]:
    """The faults ``GPUBENCH_TEST_FAULTS`` asks for, logging to ``GPUBENCH_TEST_FAULT_LOG``."""
    faults: list[Any] = []
    for spec in filter(None, environ.get(FAULTS_ENV, "").split(",")):
        operation, code, times = spec.split(":")
        kind = (
            Raise
            if code in ("connection", "read-timeout")
            else CtrlC
            if code == "ctrl-c"
            else Fault
        )
        fault = kind(operation, code, times=int(times))
        faults.append(
            Logged(fault, Path(environ[FAULT_LOG_ENV])) if FAULT_LOG_ENV in environ else fault
        )
    return faults


@dataclass
class FakeRemote:
    """Stands in for SSH in the lifecycle tests (the remote layer has its own sshd tests)."""

    key_path: Path
    closed: bool = False

    def run(self, command: str, on_line: Any = None) -> tuple[int, str]:
        return 0, ""

    def close(self) -> None:
        self.closed = True


@dataclass
class Harness:
    """An EC2 session against moto, with recorded sleeps, steps and faults, and a fake SSH."""

    endpoint_url: str | None = None
    faults: list[Fault] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    remotes: list[FakeRemote] = field(default_factory=list)
    fail_at: str | None = None
    fail_with: type[BaseException] = RuntimeError

    def client(self, service: str, region: str = REGION) -> Any:
        client = boto_session().client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=client_config()
        )
        for fault in self.faults:
            service_id = "sts" if fault.operation == "GetCallerIdentity" else "ec2"
            if service_id == service:
                client.meta.events.register(f"before-call.{service}.{fault.operation}", fault)
        return client

    def on_step(self, name: str) -> None:
        self.steps.append(name)
        if name == self.fail_at:
            raise self.fail_with(f"injected after {name}")

    def connect(self, target: Any, key_path: Path, known_hosts: Path, **kwargs: Any) -> Any:
        assert key_path.stat().st_mode & 0o777 == 0o600
        remote = FakeRemote(key_path)
        self.remotes.append(remote)
        return remote

    def deps(self, **overrides: Any) -> Ec2Deps:
        values: dict[str, Any] = {
            "client": self.client,
            "sleep": self.sleeps.append,
            "on_step": self.on_step,
            "backoff": Backoff(sleep=self.sleeps.append, rng=random.Random(7)),
            "waiter_delay_s": 0,
            "sg_delete_delay_s": 0.5,
            "console_wait_s": 0,
        }
        values.update(overrides)
        return Ec2Deps(**values)

    def ssh(self, **overrides: Any) -> SshDeps:
        return SshDeps(**{"connect": self.connect, **overrides})

    def provider(
        self, options: Ec2Options, ssh: SshDeps | None = None, **overrides: Any
    ) -> Ec2Provider:
        return Ec2Provider(options, self.deps(**overrides), ssh or self.ssh())

    def rent(self, provider: Ec2Provider) -> AbstractContextManager[LiveMachine]:
        """The shared layer's session of ``provider``, as ``ec2_session`` runs it."""
        return rented(provider, say=provider.deps.progress, on_step=provider.deps.on_step)

    def session(
        self, options: Ec2Options, ssh: SshDeps | None = None, **overrides: Any
    ) -> AbstractContextManager[LiveMachine]:
        """``ec2_session`` against moto, ``overrides`` replacing ``Ec2Deps`` fields."""
        return ec2_session(options, self.deps(**overrides), ssh or self.ssh())


def options(**overrides: Any) -> Ec2Options:
    values: dict[str, Any] = {"ami": AMI, "ssh_cidr": CIDR, "region": REGION}
    values.update(overrides)
    return Ec2Options(**values)


def leftovers(ec2: Any) -> dict[str, list[str]]:
    """Non-terminated instances, non-default security groups and key pairs in moto."""
    instances = [
        i["InstanceId"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    groups = [
        g["GroupId"]
        for g in ec2.describe_security_groups()["SecurityGroups"]
        if g["GroupName"] != "default"
    ]
    keys = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
    return {k: v for k, v in (("instances", instances), ("groups", groups), ("keys", keys)) if v}


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
