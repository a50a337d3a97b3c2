"""constraints.txt (ADR 0050): every install takes the versions it pins, and it pins every
package the project needs, each within what pyproject.toml accepts."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
#: The extras constraints.txt pins (`make bench` adds `bench`; `granian` is a subset of dev).
EXTRAS = ("dev", "bench", "granian")
#: The extras every `make` installs, so every environment the suite runs in has them.
INSTALLED_EXTRAS = ("dev",)


def _pins() -> dict[NormalizedName, Version]:
    pins: dict[NormalizedName, Version] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, equals, version = text.partition("==")
        assert equals, f"constraints.txt line {number} is not an exact pin: {text!r}"
        key = canonicalize_name(name)
        assert key not in pins, f"constraints.txt pins {name} twice"
        pins[key] = Version(version)
    return pins


def _project_requirements(extras: tuple[str, ...] = EXTRAS) -> Iterator[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    yield from map(Requirement, pyproject["dependencies"])
    for extra in extras:
        yield from map(Requirement, pyproject["optional-dependencies"][extra])
    plugin = ROOT / "plugins" / "bookkeeper-example-translators" / "pyproject.toml"
    yield from map(Requirement, tomllib.loads(plugin.read_text())["project"]["dependencies"])


def _applies(requirement: Requirement, extra: str = "") -> bool:
    marker = requirement.marker
    return marker is None or marker.evaluate({"extra": extra})


def _needed() -> dict[NormalizedName, Requirement]:
    """Every distribution the requirements `make` installs reach in this environment,
    transitively, with the extras asked of each (what pip installed for them)."""
    needed: dict[NormalizedName, Requirement] = {}
    todo = [r for r in _project_requirements(INSTALLED_EXTRAS) if _applies(r)]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        key = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        needed.setdefault(key, requirement)
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            if _applies(child) or any(_applies(child, extra) for extra in extras):
                todo.append(child)
    return needed


def test_every_line_is_an_exact_pin_of_a_distinct_package() -> None:
    assert len(_pins()) > 50


def test_every_direct_requirement_is_pinned_within_its_range() -> None:
    pins = _pins()
    for requirement in _project_requirements():
        if not _applies(requirement):
            continue
        key = canonicalize_name(requirement.name)
        assert key in pins, f"{requirement.name} is required but not in constraints.txt"
        assert requirement.specifier.contains(pins[key], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pins[key]}, outside {requirement}"
        )


def test_this_environment_was_installed_from_the_pins() -> None:
    """The venv the suite runs in has every package the project reaches, at its pin: `make`
    installs with `-c constraints.txt`, and nothing the project needs is missing from it."""
    pins = _pins()
    for key, requirement in _needed().items():
        if key == "bookkeeper":
            continue
        try:
            installed = Version(metadata.version(requirement.name))
        except metadata.PackageNotFoundError:
            pytest.fail(f"{requirement.name} is required ({requirement}) but not installed")
        assert key in pins, f"{requirement.name} is installed and needed but not pinned"
        assert installed == pins[key], (
            f"{requirement.name} {installed} is installed, constraints.txt pins {pins[key]}"
        )
