"""SafeFetcher refuses every SSRF payload class without a connection being made, and
fetches an allowed host pinned to the address it vetted (quality.md, Security 6).

Two seams stand in for the network: a resolver that records the names it is asked for,
and a transport that records every request that would go on the wire. The end-to-end test
serves TLS on loopback with a certificate for cdn.discordapp.com; its TEST-ONLY transport
redirects the vetted public address to that server. Production code has no such override.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bookkeeper.adapters.fetch import (
    FetchError,
    FetchRefused,
    FetchTooLarge,
    FetchUnsupportedType,
    SafeFetcher,
    is_public_address,
)

HOST = "cdn.discordapp.com"
PUBLIC_IP = "151.101.1.1"  # a global unicast address (never contacted: the transport is fake)
PDF = b"%PDF-1.7\n" + b"x" * 100


class Resolver:
    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers) or [[PUBLIC_IP]]
        self.asked: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Answers every request with `respond(request)` and remembers it."""

    def __init__(
        self,
        status: int = 200,
        headers: dict[str, str] | None = None,
        chunks: Sequence[bytes] = (PDF,),
    ) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.headers = {"content-type": "application/pdf"} if headers is None else headers
        self.chunks = chunks
        self.chunks_sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, headers=self.headers, stream=_Stream(self))


class _Stream(httpx.AsyncByteStream):
    def __init__(self, transport: RecordingTransport) -> None:
        self.transport = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.transport.chunks:
            self.transport.chunks_sent += 1
            yield chunk


def fetcher(
    resolver: Resolver, transport: httpx.AsyncBaseTransport, **kwargs: object
) -> SafeFetcher:
    return SafeFetcher(resolver=resolver, transport=transport, **kwargs)  # type: ignore[arg-type]


# --- refused from the URL alone: no resolution, no connection ------------------------------

URL_PAYLOADS = {
    # schemes
    "http": f"http://{HOST}/a.pdf",
    "ftp": f"ftp://{HOST}/a.pdf",
    "file": "file:///etc/passwd",
    "gopher": "gopher://127.0.0.1:6379/_INFO",
    "no-scheme": f"//{HOST}/a.pdf",
    # IP literals in every encoding
    "decimal-http": "http://2130706433/",
    "decimal": "https://2130706433/",
    "hex-dotted": "https://0x7f.0.0.1/",
    "hex": "https://0x7f000001/",
    "octal": "https://017700000001/",
    "octal-dotted": "https://0177.0.0.1/",
    "short": "https://127.1/",
    "dotted": "https://127.0.0.1/",
    "ipv6-mapped": "https://[::ffff:127.0.0.1]/",
    "ipv6-loopback": "https://[::1]/",
    "metadata": "https://169.254.169.254/latest/meta-data/",
    # host tricks
    "suffix": f"https://{HOST}.evil.com/a.pdf",
    "prefix": f"https://evil{HOST}/a.pdf",
    "subdomain": f"https://x.{HOST}/a.pdf",
    "userinfo": f"https://{HOST}@evil.com/a.pdf",
    "userinfo-password": f"https://{HOST}:443@evil.com/a.pdf",
    "userinfo-on-allowed": f"https://user:pw@{HOST}/a.pdf",
    "backslash": f"https://evil.com\\@{HOST}/a.pdf",
    "trailing-dot": f"https://{HOST}./a.pdf",
    "port": f"https://{HOST}:8443/a.pdf",
    "port-zero": f"https://{HOST}:0/a.pdf",
    "whitespace": f"https://{HOST} /a.pdf",
    "tab": f"https://{HOST}\t.evil.com/a.pdf",
    "newline": f"https://{HOST}/a.pdf\r\nHost: evil",
    "unicode-dot": "https://cdn.discordapp。com/a.pdf",
    "percent-host": "https://cdn%2Ediscordapp.com/a.pdf",
    "other-host": "https://example.com/a.pdf",
    "empty": "",
    "garbage": "https://[/",
    # punycode that is no IDNA: httpx raised idna's own error when asked for the host
    "bad-punycode": "https://xn--cdn-discordapp-com/a.pdf",
    "empty-punycode": "https://xn--/a.pdf",
}


@pytest.mark.parametrize("url", URL_PAYLOADS.values(), ids=URL_PAYLOADS.keys())
async def test_a_refused_url_is_never_resolved_nor_connected(url: str) -> None:
    resolver, transport = Resolver(), RecordingTransport()
    with pytest.raises(FetchRefused):
        await fetcher(resolver, transport).fetch(url)
    assert resolver.asked == []
    assert transport.requests == []


# --- refused by what the name resolves to ---------------------------------------------------

PRIVATE_ANSWERS = {
    "loopback": ["127.0.0.1"],
    "loopback-other": ["127.8.9.10"],
    "private-10": ["10.0.0.5"],
    "private-172": ["172.16.3.4"],
    "private-192": ["192.168.1.1"],
    "link-local-metadata": ["169.254.169.254"],
    "cgnat": ["100.64.0.1"],
    "this-network": ["0.0.0.0"],
    "zero-net": ["0.1.2.3"],
    "multicast": ["224.0.0.251"],
    "reserved": ["240.0.0.1"],
    "broadcast": ["255.255.255.255"],
    "test-net": ["203.0.113.7"],
    "v6-loopback": ["::1"],
    "v6-unspecified": ["::"],
    "v6-link-local": ["fe80::1"],
    "v6-link-local-scoped": ["fe80::1%eth0"],
    "v6-unique-local": ["fd00::1"],
    "v6-site-local": ["fec0::1"],
    "v6-multicast": ["ff02::1"],
    "v6-mapped-loopback": ["::ffff:127.0.0.1"],
    "v6-mapped-private": ["::ffff:10.0.0.1"],
    "v6-6to4-loopback": ["2002:7f00:1::1"],
    "v6-nat64-private": ["64:ff9b::a00:1"],
    "v6-teredo-private": ["2001:0:4136:e378:8000:63bf:f5ff:fffe"],
    "v6-documentation": ["2001:db8::1"],
    "one-bad-among-good": [PUBLIC_IP, "10.0.0.1"],
    "bad-first": ["127.0.0.1", PUBLIC_IP],
    "not-an-address": ["localhost"],
}


@pytest.mark.parametrize("answer", PRIVATE_ANSWERS.values(), ids=PRIVATE_ANSWERS.keys())
async def test_a_host_resolving_to_a_non_public_address_is_not_connected(
    answer: list[str],
) -> None:
    resolver, transport = Resolver(answer), RecordingTransport()
    with pytest.raises(FetchRefused):
        await fetcher(resolver, transport).fetch(f"https://{HOST}/a.pdf")
    assert resolver.asked == [HOST]
    assert transport.requests == []


@pytest.mark.parametrize(
    "address",
    ["151.101.1.1", "8.8.8.8", "2606:4700::6810:84e5", "2a03:2880:f12f:83:face:b00c::25de"],
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(address)


def test_ipv4_mapped_addresses_are_refused_whatever_they_embed() -> None:
    # A resolver has no business answering ::ffff:a.b.c.d; refusing all of them is simplest.
    assert not is_public_address("::ffff:151.101.1.1")
    assert not is_public_address(str(ipaddress.IPv6Address("::ffff:192.168.0.1")))


# --- what goes on the wire for an allowed host --------------------------------------------


async def test_an_allowed_host_is_fetched_from_the_vetted_address_with_its_own_name() -> None:
    resolver, transport = Resolver(), RecordingTransport()
    content, content_type = await fetcher(resolver, transport).fetch(
        "https://CDN.discordapp.com/attachments/1/2/receipt.pdf?ex=abc#frag"
    )
    assert (content, content_type) == (PDF, "application/pdf")
    [request] = transport.requests
    assert request.url.host == PUBLIC_IP
    assert request.url.scheme == "https"
    assert request.url.raw_path == b"/attachments/1/2/receipt.pdf?ex=abc"
    assert request.headers["host"] == HOST
    assert request.extensions["sni_hostname"] == HOST
    assert "authorization" not in request.headers
    assert "cookie" not in request.headers


async def test_dns_is_asked_once_so_a_rebinding_answer_is_never_used() -> None:
    resolver = Resolver([PUBLIC_IP], ["127.0.0.1"])
    transport = RecordingTransport()
    await fetcher(resolver, transport).fetch(f"https://{HOST}/a.pdf")
    assert resolver.asked == [HOST]
    assert [r.url.host for r in transport.requests] == [PUBLIC_IP]


@pytest.mark.parametrize(
    "location", ["http://169.254.169.254/latest/meta-data/", f"https://{HOST}/other.pdf"]
)
async def test_redirects_are_not_followed(location: str) -> None:
    transport = RecordingTransport(302, {"location": location, "content-type": "text/html"})
    with pytest.raises(FetchRefused, match="redirect"):
        await fetcher(Resolver(), transport).fetch(f"https://{HOST}/a.pdf")
    assert [r.url.host for r in transport.requests] == [PUBLIC_IP]


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    transport = RecordingTransport(
        headers={"content-type": "application/pdf", "content-length": "1001"}
    )
    with pytest.raises(FetchTooLarge):
        await fetcher(Resolver(), transport, max_bytes=1000).fetch(f"https://{HOST}/a.pdf")
    assert transport.chunks_sent == 0


async def test_an_undeclared_body_is_cut_off_past_the_cap() -> None:
    transport = RecordingTransport(chunks=[b"%PDF" + b"x" * 400] * 1000)
    with pytest.raises(FetchTooLarge) as refused:
        await fetcher(Resolver(), transport, max_bytes=1000).fetch(f"https://{HOST}/a.pdf")
    assert refused.value.status == 413
    assert transport.chunks_sent == 3  # stopped as soon as the cap was passed


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/html"},
        {"content-type": "image/svg+xml"},
        {},
        {"content-type": "application/pdf", "content-encoding": "gzip"},
    ],
)
async def test_only_pdf_jpeg_and_png_are_accepted(headers: dict[str, str]) -> None:
    with pytest.raises(FetchUnsupportedType):
        await fetcher(Resolver(), RecordingTransport(headers=headers)).fetch(
            f"https://{HOST}/a.pdf"
        )


async def test_an_error_status_is_a_fetch_error() -> None:
    with pytest.raises(FetchError) as failed:
        await fetcher(Resolver(), RecordingTransport(404)).fetch(f"https://{HOST}/a.pdf")
    assert failed.value.status == 502


async def test_a_resolver_that_hangs_is_cut_off_by_the_timeout() -> None:
    async def slow(host: str) -> Sequence[str]:
        await asyncio.sleep(10)
        return [PUBLIC_IP]

    transport = RecordingTransport()
    fetch = SafeFetcher(resolver=slow, transport=transport, timeout=0.05)
    with pytest.raises(FetchError, match="did not answer"):
        await fetch.fetch(f"https://{HOST}/a.pdf")
    assert transport.requests == []


def test_the_allow_list_takes_dns_names_only() -> None:
    for bad in ("127.0.0.1", "2130706433", "Cdn.discordapp.com", "*.discordapp.com", "a:443"):
        with pytest.raises(ValueError, match="DNS names"):
            SafeFetcher([bad])


# --- end to end over TLS on loopback -----------------------------------------------------


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for cdn.discordapp.com (trusted by the test client only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class LoopbackForTests(httpx.AsyncBaseTransport):
    """TEST ONLY: sends a request for the vetted PUBLIC_IP to the loopback server instead,
    keeping Host and SNI. It exists in this file and nowhere else."""

    def __init__(self, port: int, verify: ssl.SSLContext) -> None:
        self.port = port
        self.inner = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        assert request.url.host == PUBLIC_IP
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_allowed_host_is_fetched_over_tls_checked_against_its_name(
    tmp_path: Path,
) -> None:
    cert_file, key_file = _certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    seen: dict[str, object] = {}

    def on_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        seen["sni"] = name

    server_context.sni_callback = on_sni  # type: ignore[assignment]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen["head"] = head.decode("latin-1")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n"
            + f"Content-Length: {len(PDF)}\r\nConnection: close\r\n\r\n".encode()
            + PDF
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    transport = LoopbackForTests(port, ssl.create_default_context(cafile=str(cert_file)))
    fetch = SafeFetcher(resolver=Resolver(), transport=transport)
    try:
        async with server:
            content, content_type = await fetch.fetch(f"https://{HOST}/attachments/r.pdf")
    finally:
        await fetch.aclose()
    assert (content, content_type) == (PDF, "application/pdf")
    assert seen["sni"] == HOST
    assert f"Host: {HOST}" in str(seen["head"]) or f"host: {HOST}" in str(seen["head"])
    assert transport.hosts == [PUBLIC_IP]


async def test_an_octet_stream_is_fetched_undeclared_so_its_bytes_decide() -> None:
    # Issue 13: the CDN names a type by the file's extension, or not at all; the bytes are
    # sniffed by application.documents (one place), so the header is passed on as "".
    transport = RecordingTransport(
        headers={"content-type": "application/octet-stream"}, chunks=[b"\x89PNG\r\n\x1a\n"]
    )
    content, content_type = await fetcher(Resolver(), transport).fetch(f"https://{HOST}/a.heic")
    assert content.startswith(b"\x89PNG") and content_type == ""


@pytest.mark.parametrize("declared", ["image/heic", "image/heif", "image/webp"])
async def test_a_phone_photo_from_discord_is_fetched(declared: str) -> None:
    # Issue 13: Discord names an iPhone photo image/heic (a WebP image/webp); the upload
    # converts it, so the fetcher must not refuse it first.
    transport = RecordingTransport(headers={"content-type": declared}, chunks=[b"\x00photo"])
    content, content_type = await fetcher(Resolver(), transport).fetch(f"https://{HOST}/a.heic")
    assert (content, content_type) == (b"\x00photo", declared)
