"""The dependency rule, checked: the domain is pure, the application knows no adapter."""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "bookkeeper"


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(layer: str) -> list[pathlib.Path]:
    return sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: p.name)
def test_domain_imports_only_the_standard_library_msgspec_and_itself(path: pathlib.Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        allowed = (
            top in sys.stdlib_module_names
            or top == "msgspec"
            or name.startswith("bookkeeper.domain")
            or name == "__future__"
        )
        assert allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("application"), ids=lambda p: p.name)
def test_application_never_imports_adapters_entrypoints_or_frameworks(path: pathlib.Path) -> None:
    forbidden = (
        "bookkeeper.adapters",
        "bookkeeper.entrypoints",
        "sqlalchemy",
        "litestar",
        "hikari",
        "httpx",
        "anthropic",
        "casbin",
        "psycopg",
        "dependency_injector",
    )
    for name in _imports(path):
        assert not name.startswith(forbidden), f"{path.name} imports {name}"
