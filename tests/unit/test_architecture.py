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


# --- no import cycle inside a package ----------------------------------------------------


def _module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_graph(root: pathlib.Path, package: str) -> dict[str, set[str]]:
    """Every module of the package (recursively) → the modules of the package it imports,
    wherever the import is: at the top, under TYPE_CHECKING, inside a function."""
    files = {_module_name(path, root): path for path in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the package, one level up per extra dot
                    base = here.split(".")[: len(here.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                for alias in node.names:
                    submodule = f"{module}.{alias.name}"
                    targets.add(submodule if submodule in files else module)
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def _cycle(graph: dict[str, set[str]], modules: set[str]) -> list[str] | None:
    """An import cycle among `modules` (as the path a → … → a), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        path.append(module)
        for target in sorted(graph[module] & modules):
            if target in path:
                return [*path[path.index(target) :], target]
            if target not in done:
                found = visit(target)
                if found is not None:
                    return found
        path.pop()
        done.add(module)
        return None

    for module in sorted(modules):
        if module not in done:
            found = visit(module)
            if found is not None:
                return found
    return None


_GRAPH = _import_graph(SRC.parent, "bookkeeper")
_PACKAGES = sorted({path.parent for path in SRC.rglob("*.py")})


@pytest.mark.parametrize(
    "directory", _PACKAGES, ids=lambda d: _module_name(d / "__init__.py", SRC.parent)
)
def test_no_package_has_an_import_cycle_between_its_own_modules(
    directory: pathlib.Path,
) -> None:
    modules = {_module_name(path, SRC.parent) for path in directory.glob("*.py")}
    cycle = _cycle(_GRAPH, modules)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_check_sees_imports_under_type_checking_and_in_functions(
    tmp_path: pathlib.Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n"
    )
    (package / "c.py").write_text("def f():\n    import pkg.a\n")
    graph = _import_graph(tmp_path, "pkg")
    modules = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    assert _cycle(graph, modules) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    (package / "c.py").write_text("def f():\n    import os\n")
    assert _cycle(_import_graph(tmp_path, "pkg"), modules) is None


# --- layers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: p.name)
def test_domain_imports_only_the_standard_library_msgspec_stdnum_and_itself(
    path: pathlib.Path,
) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        allowed = (
            top in sys.stdlib_module_names
            or top == "msgspec"
            # python-stdnum: pure check-digit functions, no I/O, no framework (ADR 0028).
            or top == "stdnum"
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
