"""HEAD answered as GET without the body (RFC 9110 §9.3.2: a server that answers GET on a
resource answers HEAD on it too, with the same status and header fields).

Litestar routes a HEAD request only to a handler declared for HEAD, so every page, report,
file and `/health` answered 405 to a HEAD — what monitors, link checkers and caches send
to learn whether something is there, and how big it is. This layer, outside Litestar and
inside `observe`, hands a HEAD on as a GET and drops the body of the answer: the status,
`Content-Length`, `Content-Type`, `ETag` and every other header are the GET's, because it
is the GET's answer. Authentication, authorisation, the rate limit (a HEAD costs what a GET
costs) and every refusal are the GET's too; a path with no GET answers 405 with the methods
it has. The access line and the metrics still say HEAD: the route's scope keys (template,
user) are copied back to the request's own scope, whose method stays HEAD.
"""

from __future__ import annotations

from typing import Any, cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send


def head_as_get(app: ASGIApp) -> ASGIApp:
    """`app` answering HEAD as it answers GET, without the body."""

    async def headed(scope: Scope, receive: Receive, send: Send) -> None:
        request = cast("dict[str, Any]", scope)
        if request["type"] != "http" or request["method"] != "HEAD":
            await app(scope, receive, send)
            return
        inner = {**request, "method": "GET"}

        async def bodiless(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {
                    "type": "http.response.body",
                    "body": b"",
                    "more_body": message.get("more_body", False),
                }
            await send(message)

        try:
            await app(cast("Scope", inner), receive, bodiless)
        finally:
            request.update((k, v) for k, v in inner.items() if k != "method")

    return headed
