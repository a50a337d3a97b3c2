"""What a serving worker runs first: the app factory the server hands its workers (P7).

Some libraries import optional integrations whenever they are installed, and a worker
pays for them in memory although it never uses them (measured with bench/import_rss.py,
ADR 0039 "P7: memory", addendum):

    httpx._main        httpx's command line (rich, pygments): 2.9 MB
    pydantic, pydantic_settings, pydantic_core
                       dependency-injector's `Configuration.from_pydantic` and Litestar's
                       default pydantic plugins (pydantic.v1 included): ~9 MB; the app
                       speaks msgspec and its container reads no pydantic settings
    werkzeug           dependency-injector's wiring filter for werkzeug's LocalProxy
                       (nothing is wired): 1.8 MB

`app_factory` builds the app while those imports are refused (each library then takes
the branch it takes when they are not installed); the refusal ends when the app is built,
so a later import of any of them (a client library that needs pydantic, say) works as
usual. `uvicorn --factory bookkeeper.entrypoints.http.app:app_factory` still works, with
them loaded.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from litestar import Litestar

#: Imported only by optional integrations a worker never uses (see the module docstring).
LEFT_OUT: Final = ("httpx._main", "pydantic", "pydantic_settings", "werkzeug")


class _Refuse(importlib.abc.MetaPathFinder):
    """Refuses to find the named modules (and their submodules), as if not installed."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        # A left-out module loaded before the block is not refused, nor are its
        # submodules: a loaded package imports them lazily (pydantic's `__getattr__` does),
        # and refusing them broke it. `serve` builds the app in a process that may have
        # loaded pydantic (an SDK's models) when it cannot become the lean server process.
        # What counts is the left-out name itself, not its top package: httpx is always
        # loaded, its command line `httpx._main` (rich, pygments) still left out.
        for name in self._names:
            if (fullname == name or fullname.startswith(name + ".")) and name not in sys.modules:
                raise ModuleNotFoundError(f"No module named {fullname!r} (left out)", name=fullname)
        return None


@contextmanager
def left_out(*names: str) -> Iterator[None]:
    """Within the block, importing one of `names` that is not loaded yet raises
    ModuleNotFoundError, as if it were not installed. Already loaded ones are unaffected."""
    finder = _Refuse(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def app_factory() -> Litestar:
    """The app configured from BOOKKEEPER_* variables, built without `LEFT_OUT`."""
    with left_out(*LEFT_OUT):
        from bookkeeper.entrypoints.http.app import app_factory as build

        return build()
