"""The web page's session: the bearer token in an HttpOnly cookie, verified on every request.

The session cookie (`bk_session`, Path=/app, HttpOnly, SameSite=Lax, Secure over https)
holds the same JWT the API takes as a bearer token — pasted from `bookkeeper token` on the
embedded default, or the access token the OIDC issuer gave at login — and every request
verifies it with the app's TokenVerifier, so expiry, the issuer's key rotation and the
claims → Principal mapping are exactly the API's. Nothing of the session lives on the
server; logging out clears the cookie (the token stays valid until it expires, as it does
for any bearer).

POSTs carry a CSRF token (Litestar's CSRFMiddleware on the /app router: a double-submit
cookie HMAC-keyed with `web_secret`); SameSite=Lax keeps the session cookie off
cross-site POSTs as a second line.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from litestar import Request, Response

from bookkeeper.application.errors import InvalidToken
from bookkeeper.application.ports import Principal, TokenVerifier
from bookkeeper.settings import Settings

SESSION_COOKIE: Final = "bk_session"
CSRF_COOKIE: Final = "bk_csrf"
STATE_COOKIE: Final = "bk_oidc"
APP_PATH: Final = "/app"
#: A JWT longer than this is not ours (the verifiers refuse longer ones too).
MAX_TOKEN: Final = 8192


class LoginRequired(Exception):
    """No valid session: the page answers with the login form (see routes.py)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "")
        self.reason = reason


def web_secret(settings: Settings) -> str:
    """BOOKKEEPER_WEB_SECRET, else `<data dir>/web-secret` (made on first use, mode 0600),
    so a restart keeps the CSRF cookies of open pages valid."""
    if settings.web_secret:
        return settings.web_secret
    path = Path(settings.data_dir) / "web-secret"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(value)
    return value


class Sessions:
    """Reads and writes the session cookie; verifies its token like the API's middleware."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier
        self._averify: Callable[[str], Awaitable[Principal]] | None = getattr(
            verifier, "averify", None
        )

    async def verify(self, token: str) -> Principal:
        """The principal of `token`; InvalidToken when it cannot be trusted."""
        token = token.strip()
        if not token or len(token) > MAX_TOKEN:
            raise InvalidToken("the token is empty or too long")
        if self._averify is not None:
            return await self._averify(token)
        return self._verifier.verify(token)

    async def principal(self, request: Request[Any, Any, Any]) -> Principal:
        """The signed-in principal; LoginRequired when there is no valid session."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise LoginRequired()
        try:
            return await self.verify(token)
        except InvalidToken as error:
            raise LoginRequired(str(error)) from None

    @staticmethod
    def start(response: Response[Any], request: Request[Any, Any, Any], token: str) -> None:
        """Put `token` in the session cookie of `response`."""
        response.set_cookie(
            SESSION_COOKIE,
            token.strip(),
            path=APP_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def end(response: Response[Any]) -> None:
        """Clear the session cookie."""
        response.delete_cookie(SESSION_COOKIE, path=APP_PATH)
