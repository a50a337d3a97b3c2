"""Logging a person in at the OIDC issuer: the authorization-code flow with PKCE (RFC 7636).

The web page (entrypoints/web) sends the browser to the issuer's authorization endpoint
with a random `state` and the S256 challenge of a random verifier, and on the way back
trades the code (and the verifier) for tokens at the token endpoint. The access token it
gets is then verified by the same OidcVerifier as every API call, so the web page and the
API trust exactly the same tokens.

Both endpoints come from the issuer's discovery document (fetched once, whose `issuer`
must be ours); like the verifier's, they must be https or http to a loopback host. Calls
time out after 5 s, do not follow redirects and read at most 64 KiB. A confidential
client sends its secret with HTTP Basic (client_secret_basic); a public one only its id.
Every failure is InvalidToken (the login is refused, with the reason in words, never a
token) or ExternalUnavailable (the issuer could not be reached).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
from typing import Any, Final

import httpx

from bookkeeper.adapters import outbound
from bookkeeper.adapters.auth.oidc import (
    DISCOVERY_PATH,
    MAX_DOCUMENT_BYTES,
    require_discovered_url,
)
from bookkeeper.adapters.outbound import AnswerTooLarge
from bookkeeper.application.errors import ExternalUnavailable, InvalidToken

TIMEOUT: Final = 5.0
#: The most of an answer read: as much as the key fetches take.
MAX_BYTES: Final = MAX_DOCUMENT_BYTES
SCOPE: Final = "openid profile"


def pkce_pair() -> tuple[str, str]:
    """A random code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcLogin:
    """The authorization-code flow against one issuer for one client."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._transport = transport
        self._endpoints: tuple[str, str] | None = None

    async def _fetch(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        # The whole answer within TIMEOUT and at most MAX_BYTES of it (the guarded client:
        # httpx's timeouts bound each read, and `content` would read an endless answer
        # whole). An answer larger than that is no JSON document we read.
        try:
            async with (
                outbound.client(
                    timeout=TIMEOUT, deadline=TIMEOUT, limit=MAX_BYTES, transport=self._transport
                ) as client,
                client.stream(method, url, **kwargs) as response,
            ):
                body = await response.aread()
        except AnswerTooLarge:
            raise InvalidToken(
                f"the identity provider answered more than {MAX_BYTES} bytes, not JSON"
            ) from None
        except httpx.HTTPError as error:
            raise ExternalUnavailable(
                f"the identity provider could not be reached ({type(error).__name__})",
                system="oidc",
            ) from None
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise InvalidToken(f"the identity provider answered {response.status_code}, not JSON")
        if response.status_code >= 400:
            said = str(document.get("error") or response.status_code)[:100]
            raise InvalidToken(f"the identity provider refused the login ({said})")
        return document

    async def endpoints(self) -> tuple[str, str]:
        """(authorization endpoint, token endpoint), discovered once."""
        if self._endpoints is None:
            document = await self._fetch("GET", self.issuer + DISCOVERY_PATH)
            if str(document.get("issuer", "")).rstrip("/") != self.issuer:
                raise InvalidToken("the discovery document names another issuer")
            try:
                authorize = require_discovered_url(
                    str(document["authorization_endpoint"]), "authorization endpoint", self.issuer
                )
                token = require_discovered_url(
                    str(document["token_endpoint"]), "token endpoint", self.issuer
                )
            except (KeyError, ValueError) as error:
                raise InvalidToken(f"the discovery document is not usable: {error}") from None
            self._endpoints = (authorize, token)
        return self._endpoints

    async def authorization_url(self, redirect_uri: str, state: str, challenge: str) -> str:
        """Where to send the browser to log in."""
        authorize, _ = await self.endpoints()
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPE,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{authorize}{'&' if '?' in authorize else '?'}{query}"

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        """The access token the issuer gives for `code`; InvalidToken when it gives none."""
        _, token_url = await self.endpoints()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": self.client_id,
        }
        auth = (self.client_id, self._secret) if self._secret else None
        document = await self._fetch(
            "POST", token_url, data=form, auth=auth, headers={"Accept": "application/json"}
        )
        token = document.get("access_token")
        if not isinstance(token, str) or not token:
            raise InvalidToken("the identity provider gave no access token")
        return token
