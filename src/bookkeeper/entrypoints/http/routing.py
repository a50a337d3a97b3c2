"""A router made for one app only.

Litestar deep-copies a `Router` each time one is registered (on its parent router, then
with that on the app), so that one router instance can serve several parents; a handler it
registers it copies anyway (a shallow copy per registration). Ours are all built anew by
every `create_app`, so the deep copies copy a fresh object graph for nothing: 0.05 of the
0.2 CPU-s every `create_app` took, which every HTTP test pays
(tests/integration/test_fresh_routers.py keeps the apps apart).
"""

from __future__ import annotations

from typing import Any

from litestar import Router


class FreshRouter(Router):
    """A `Router` registered as itself, not as a deep copy: only for one built during one
    app's construction (never a module-level router, which several apps would share)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> FreshRouter:
        return self
