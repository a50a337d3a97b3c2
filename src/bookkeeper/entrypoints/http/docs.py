"""The interactive API docs, served whole by this process: no CDN, works offline.

Swagger UI's assets come from the pinned `swagger-ui-bundle-v2` package (Swagger UI 5,
which renders OpenAPI 3.1 as Litestar writes it) and are served under `ASSETS_PATH`; the
viewer answers at /schema and /schema/swagger. Scalar and Redoc only ship from a CDN in
Python land, so they are not offered (ADR 0025).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

#: Where the viewer's scripts, styles and icons are served (public, like /schema).
ASSETS_PATH: Final = "/schema-assets"
#: The files the viewer page loads (checked at start: a broken install fails loudly).
_ASSETS: Final = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
)


def assets_directory() -> Path:
    """The pinned package's Swagger UI distribution."""
    return Path(swagger_ui_path)


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema (the default) and /schema/swagger, loading only our assets."""
    return [
        SwaggerRenderPlugin(
            path=["/", "/swagger"],
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        )
    ]


def assets_router() -> Router:
    """Serves the viewer's assets (cached for a day: they change only with the package)."""
    directory = assets_directory()
    missing = [name for name in _ASSETS if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"the Swagger UI package is incomplete: {missing} in {directory}")
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[directory],
        name="docs-assets",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86400, public=True),
    )
