"""The installed distribution adds only its own top-level names (``pytest_gpubench``), and
the package's modules import each other without cycles."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that runs: at module level or inside a function (a lazy import is
    still an edge), leaving out ``if TYPE_CHECKING:`` blocks, which never run."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (i for child in node.orelse for i in _imports(ast.Module([child], [])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def import_graph(package: Path) -> dict[str, set[str]]:
    """Which of ``package``'s modules each of its modules imports (by dotted name)."""
    modules: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
                continue
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:  # "from pkg import module" imports the module
                full = f"{source}.{alias.name}"
                edges.add(full if full in modules else source)
        graph[name] = {edge for edge in edges if edge in modules and edge != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for edge in sorted(graph[name]):
            cycle = visit(edge, [*path, name])
            if cycle:
                return cycle
        done.add(name)
        return None

    return next(filter(None, (visit(name, []) for name in sorted(graph))), None)


def test_the_package_has_no_import_cycles() -> None:
    graph = import_graph(ROOT / "pytest_gpubench")
    assert {"pytest_gpubench.plugin", "pytest_gpubench.session"} <= graph.keys()
    assert "pytest_gpubench.session" in graph["pytest_gpubench.plugin"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from .c import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n"
    )
    assert find_cycle(import_graph(package)) is None
    (package / "c.py").write_text("import pkg.a\n")
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
