"""Every app has route handlers of its own (entrypoints/http/routing.py): the routers are
registered as themselves, not as Litestar's deep copies, so a handler object that two apps
shared would share its owner, guards and resolved dependencies — one app's runtime, CSRF
secret or rate limiter serving the other's requests."""

from __future__ import annotations

from pathlib import Path

from bookkeeper.entrypoints.http.app import create_app
from tests.http_helpers import memory_container


def _handlers(app: object) -> dict[int, str]:
    routes = app.routes
    found: dict[int, str] = {}
    for route in routes:
        for handler in getattr(route, "route_handlers", ()):
            found[id(handler)] = f"{route.path} {sorted(getattr(handler, 'http_methods', ()))}"
    return found


def test_two_apps_share_no_route_handler(tmp_path: Path) -> None:
    first = create_app(memory_container(tmp_path / "a"))
    second = create_app(memory_container(tmp_path / "b"))
    one, other = _handlers(first), _handlers(second)
    assert len(one) > 100  # every route of the API and the web page
    shared = sorted(one[key] for key in one.keys() & other.keys())
    assert shared == []


def test_a_handler_resolves_its_own_apps_dependencies(tmp_path: Path) -> None:
    """The provider a route resolves is the one of the app it serves (the closure over that
    app's runtime), not the first app's."""
    first = create_app(memory_container(tmp_path / "a"))
    second = create_app(memory_container(tmp_path / "b"))

    def provider(app: object, path: str) -> object:
        route = next(r for r in app.routes if r.path == path)
        handler = route.route_handlers[0]
        return handler.resolve_dependencies()["handlers"].dependency

    path = "/api/book-keeper/v1/events"
    assert provider(first, path) is not provider(second, path)


def test_the_modules_with_route_handlers_keep_their_annotations_evaluated() -> None:
    """Litestar reads every handler's annotations at each app's start; as strings (`from
    __future__ import annotations`) each is compiled and evaluated again, per handler and
    app: 0.04 of an app's 0.17 CPU-s (ADR 0063). The handler modules leave them evaluated."""
    import re

    import bookkeeper.entrypoints as entrypoints

    root = Path(entrypoints.__file__).parent
    handler = re.compile(r"^\s*@(get|post|put|patch|delete|route)\(|\(Controller\):", re.M)
    future = re.compile(r"^from __future__ import annotations$", re.M)
    stringly = [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*.py"))
        if handler.search(text := path.read_text(encoding="utf-8")) and future.search(text)
    ]
    assert stringly == []
