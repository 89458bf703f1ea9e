"""The installed distribution adds only its own top-level names (``pytest_gpubench``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # a dependency of pytest-gpubench below 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = {"experiments", "tests", "benchmarks"}


def _skip_unless_setuptools_can_build() -> None:
    """The wheel is built by this environment's setuptools, not in an isolated build
    environment: one older than pyproject's ``[build-system] requires`` cannot read the
    metadata (a venv's bundled setuptools 65 rejects ``license = "MIT"``)."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        requires = tomllib.load(handle)["build-system"]["requires"]
    wanted = next(r for r in map(Requirement, requires) if r.name == "setuptools")
    try:
        installed = version("setuptools")
    except PackageNotFoundError:
        installed = None
    if installed is None or not wanted.specifier.contains(installed, prereleases=True):
        have = f"setuptools {installed} is" if installed else "setuptools is not"
        pytest.skip(
            f"{have} installed, and pyproject.toml's build-system requires {wanted}; "
            f"the wheel cannot be built with it: pip install '{wanted}'"
        )


def test_the_wheel_holds_only_pytest_gpubench(tmp_path: Path) -> None:
    _skip_unless_setuptools_can_build()
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".venv", "docs")
    for name in ("pyproject.toml", "README.md", "pytest_gpubench", *sorted(FOREIGN)):
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy(path, source / name)
    build = "from setuptools import build_meta; print(build_meta.build_wheel('dist'))"
    done = subprocess.run(
        [sys.executable, "-c", build], cwd=source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = source / "dist" / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"pytest_gpubench", "pytest_gpubench-0.1.0.dist-info"}, tops
    assert not tops & FOREIGN
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "pytest_gpubench/dbn/estimator.py" in names
    assert "pytest_gpubench/dbn/mnist.py" in names
    assert "pytest_gpubench/datasets.py" in names
