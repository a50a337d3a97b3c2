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
