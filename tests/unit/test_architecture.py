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


def _all_imports(path: pathlib.Path) -> set[str]:
    """Every module a file imports, wherever the import stands (functions and
    TYPE_CHECKING blocks included), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(("bookkeeper", *path.relative_to(SRC).with_suffix("").parts[:-1]))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, *(node.module.split(".") if node.module else [])]))
            elif node.module:
                names.add(node.module)
    return names


def test_the_container_imports_no_entrypoint() -> None:
    imports = _all_imports(SRC / "container.py")
    assert not [n for n in imports if n.startswith("bookkeeper.entrypoints")], imports


@pytest.mark.parametrize("path", _modules("adapters"), ids=lambda p: str(p.relative_to(SRC)))
def test_adapters_import_neither_the_container_nor_an_entrypoint(path: pathlib.Path) -> None:
    for name in _all_imports(path):
        assert not name.startswith(("bookkeeper.container", "bookkeeper.entrypoints")), (
            f"{path.relative_to(SRC)} imports {name}"
        )


@pytest.mark.parametrize("path", _modules("application"), ids=lambda p: str(p.relative_to(SRC)))
def test_the_application_imports_no_adapter_even_lazily(path: pathlib.Path) -> None:
    for name in _all_imports(path):
        assert not name.startswith(
            ("bookkeeper.adapters", "bookkeeper.entrypoints", "bookkeeper.container")
        ), f"{path.relative_to(SRC)} imports {name}"
