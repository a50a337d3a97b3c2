"""SafeFetcher: fetches a document URL someone else chose (a Discord attachment) without
letting that URL reach anything but the allow-listed hosts on the public internet (SSRF).

The order of checks is the defence, and every refusal happens before the next step:

1. The URL: https only, port 443, no user info, no backslashes, whitespace or control
   characters, parsed alike by `urllib.parse` and httpx (no parser differential), and a host
   that is exactly one of the allowed DNS names. A host written as an IP address in any
   encoding (`2130706433`, `0x7f.0.0.1`, `017700000001`, `[::ffff:127.0.0.1]`) is refused
   here, before any resolution or connection.
2. The host is resolved (the resolver is injectable). If ANY address is not a public
   unicast address — loopback, private, link-local, CGNAT, multicast, reserved,
   unspecified, or an IPv6 address embedding one of those (IPv4-mapped, 6to4, Teredo,
   NAT64) — the fetch is refused.
3. The connection goes to the vetted address itself (the URL is rewritten to the IP), while
   TLS SNI, certificate verification and the Host header keep the host name. DNS is never
   asked again, so a rebinding answer between the check and the connect cannot matter.
4. Redirects are never followed (a 3xx is refused); the body is streamed and cut off past
   `max_bytes`; only PDF, JPEG and PNG content types are accepted; no content encoding.

The client sends no cookies, no credentials and ignores proxy variables (`trust_env` off).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

import httpx

#: Where Discord serves attachments from (integrations.md § Discord).
DISCORD_CDN_HOSTS: Final = ("cdn.discordapp.com", "media.discordapp.net")
ALLOWED_CONTENT_TYPES: Final = frozenset(
    {"application/pdf", "image/jpeg", "image/png", "image/heic", "image/heif", "image/webp",
     "application/xml", "text/xml"}  # XML: an EHF invoice (ADR 0033, addendum 6)
)  # fmt: skip
#: A server that does not know what a file is (the CDN names types by file extension): the
#: body is fetched and its bytes decide (application.documents.sniff), never this header.
UNDECLARED_CONTENT_TYPES: Final = frozenset({"application/octet-stream", "binary/octet-stream"})
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024  # the same as POST /files
DEFAULT_TIMEOUT_SECONDS: Final = 10.0

#: host -> its addresses (as strings). Resolving must not connect anywhere else.
Resolver = Callable[[str], Awaitable[Sequence[str]]]

_DNS_NAME: Final = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z"
)
_FORBIDDEN_URL_CHARS: Final = re.compile(r"[\x00-\x20\x7f\\]")
#: IPv6 prefixes whose last 32 bits are an IPv4 address reached through a translator.
_NAT64: Final = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class FetchError(Exception):
    """The document could not be fetched; `status` is the HTTP status that fits best."""

    code = "fetch-failed"
    status = 502

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FetchRefused(FetchError):
    """The URL, or an address its host resolves to, is not allowed; nothing was sent."""

    code = "fetch-refused"
    status = 422


class FetchTooLarge(FetchError):
    code = "fetch-too-large"
    status = 413


class FetchUnsupportedType(FetchError):
    code = "fetch-unsupported-type"
    status = 415


def is_dns_name(host: str) -> bool:
    """A lowercase DNS name with a non-numeric top label (so never an IPv4 literal)."""
    return bool(_DNS_NAME.match(host))


def is_public_address(address: str) -> bool:
    """True only for a global unicast address that embeds no non-public IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
        if ip.is_site_local:
            return False
    return bool(
        ip.is_global
        and not ip.is_private
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
    )


async def system_resolver(host: str) -> Sequence[str]:
    """The host's addresses from the operating system's resolver (getaddrinfo)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, 443, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class SafeFetcher:
    """Fetches https URLs of allow-listed hosts, pinned to addresses vetted as public.

    `resolver` and `transport` are the seams for tests (and for nothing else): a transport
    sees exactly the requests that would go on the wire."""

    def __init__(
        self,
        allowed_hosts: Iterable[str] = DISCORD_CDN_HOSTS,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        hosts = frozenset(allowed_hosts)
        bad = sorted(host for host in hosts if not is_dns_name(host))
        if bad:
            raise ValueError(f"allowed hosts must be lowercase DNS names, not {bad}")
        if max_bytes < 1 or timeout <= 0:
            raise ValueError("max_bytes and timeout must be positive")
        self.allowed_hosts = hosts
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._resolver = resolver
        self._transport = transport or httpx.AsyncHTTPTransport(
            verify=ssl.create_default_context(), trust_env=False, retries=0
        )

    async def fetch(self, url: str) -> tuple[bytes, str]:
        """The body and content type (without parameters) of `url`; FetchError if refused
        (FetchRefused, FetchTooLarge, FetchUnsupportedType) or failed (FetchError)."""
        target, host = self._checked_url(url)
        try:
            async with asyncio.timeout(self.timeout):
                address = await self._vetted_address(host)
                return await self._get(target.copy_with(host=address), host)
        except TimeoutError:
            raise FetchError(f"{host} did not answer within {self.timeout:g} s") from None

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _checked_url(self, url: str) -> tuple[httpx.URL, str]:
        if len(url) > 2048 or _FORBIDDEN_URL_CHARS.search(url):
            raise FetchRefused("the URL is too long or has whitespace, control or \\ characters")
        try:
            split = urllib.parse.urlsplit(url)
            parsed = httpx.URL(url)
            split_port = split.port
            # httpx decodes an "xn--" label on reading `host`: a malformed one raises
            # idna's IDNAError (a ValueError) here, not at parsing.
            host = parsed.host
        except (ValueError, httpx.InvalidURL):
            raise FetchRefused("the URL cannot be parsed") from None
        if split.scheme.lower() != "https" or parsed.scheme != "https":
            raise FetchRefused("only https URLs are fetched")
        if "@" in split.netloc or parsed.userinfo:
            raise FetchRefused("a URL with user info is not fetched")
        if split_port not in (None, 443) or parsed.port not in (None, 443):
            raise FetchRefused("only the default https port is allowed")
        if (split.hostname or "") != host or not is_dns_name(host):
            raise FetchRefused("the URL's host must be a DNS name, not an address")
        if host not in self.allowed_hosts:
            raise FetchRefused(f"{host} is not an allowed host")
        return parsed.copy_with(fragment=None), host

    async def _vetted_address(self, host: str) -> str:
        try:
            addresses = list(await self._resolver(host))
        except OSError as error:
            raise FetchError(f"{host} cannot be resolved ({type(error).__name__})") from None
        if not addresses:
            raise FetchError(f"{host} has no address")
        refused = [address for address in addresses if not is_public_address(address)]
        if refused:
            raise FetchRefused(f"{host} resolves to a non-public address")
        return addresses[0]

    async def _get(self, pinned: httpx.URL, host: str) -> tuple[bytes, str]:
        timeout = self.timeout
        request = httpx.Request(
            "GET",
            pinned,
            headers={"Host": host, "Accept": ", ".join(sorted(ALLOWED_CONTENT_TYPES))}
            | {"Accept-Encoding": "identity", "User-Agent": "bookkeeper-fetch"},
            extensions={
                "sni_hostname": host,
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout},
            },
        )
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.HTTPError as error:
            raise FetchError(f"{host} could not be reached ({type(error).__name__})") from None
        try:
            return await self._read(response, host)
        finally:
            await response.aclose()

    async def _read(self, response: httpx.Response, host: str) -> tuple[bytes, str]:
        if 300 <= response.status_code < 400:
            raise FetchRefused(f"{host} answered with a redirect, which is not followed")
        if response.status_code != 200:
            raise FetchError(f"{host} answered {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type in UNDECLARED_CONTENT_TYPES:
            content_type = ""  # undeclared: the bytes decide
        elif content_type not in ALLOWED_CONTENT_TYPES:
            raise FetchUnsupportedType(f"content type {content_type or 'none'!r} is not accepted")
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise FetchUnsupportedType("an encoded (compressed) body is not accepted")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchTooLarge(f"the document is larger than {self.max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchTooLarge(f"the document is larger than {self.max_bytes} bytes")
                chunks.append(chunk)
        except httpx.HTTPError as error:
            raise FetchError(f"{host} broke off ({type(error).__name__})") from None
        return b"".join(chunks), content_type
