"""The import graph of the provider seam: the shared remote layer imports no cloud, and the
core plugin names none in its code (only a provider knows its cloud)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_gpubench"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports in functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            prefix = "pytest_gpubench." if node.level else ""
            found.add(prefix + node.module)
    return found


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "remote").glob("*.py")), ids=lambda path: path.name
)
def test_the_shared_layer_never_imports_a_cloud(path: Path) -> None:
    clouds = {"pytest_gpubench.ec2", "boto3", "botocore"}
    assert not {m for m in imports_of(path) if m.split(".")[0] in clouds or m in clouds}
    assert not {m for m in imports_of(path) if m.startswith("pytest_gpubench.ec2")}


def code_names(path: Path) -> set[str]:
    """The strings and names a module's code uses, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                names.add(node.value)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_the_core_plugin_names_no_cloud_in_its_code(path: Path) -> None:
    """Only providers know their cloud; the core asks ``remote`` (docstrings may say EC2)."""
    assert not [name for name in code_names(path) if "ec2" in name.lower()]


def test_the_check_for_cloud_names_would_see_one(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        textwrap.dedent(
            '''
            """Runs on EC2, says the docstring."""
            local = not getattr(option, "gpubench_ec2", None)
            '''
        )
    )
    assert {n for n in code_names(module) if "ec2" in n.lower()} == {"gpubench_ec2"}
