"""The interactive API docs work without internet: every script, style sheet and icon the
docs pages load is served by the app itself, from the pinned Swagger UI package."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from tests.http_helpers import Api


class _Assets(HTMLParser):
    """Collects the URLs a page loads: <script src>, <link href>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def loaded_urls(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_every_asset_of_the_docs_is_served_by_the_app(api: Api, page: str) -> None:
    response = await api.client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = loaded_urls(response.text)
    assert any(url.endswith(".js") for url in urls), urls
    assert any(url.endswith(".css") for url in urls), urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


async def test_the_docs_page_loads_swagger_ui_that_reads_openapi_3_1(api: Api) -> None:
    """Swagger UI 4 shows a blank 'no valid version' page for the 3.1 document Litestar
    writes; the bundle must be Swagger UI 5 or later."""
    page = (await api.client.get("/schema")).text
    script = next(url for url in loaded_urls(page) if url.endswith("swagger-ui-bundle.js"))
    bundle = (await api.client.get(script)).text
    schema = (await api.client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    assert "SwaggerUIBundle" in bundle
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    major = int(str(swagger_ui_path).rsplit("swagger-ui-", 1)[1].split(".")[0])
    assert major >= 5


async def test_an_asset_that_does_not_exist_is_a_404(api: Api) -> None:
    response = await api.client.get("/schema-assets/no-such-file.js")
    assert response.status_code == 404
