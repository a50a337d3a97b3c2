"""POST /events through the lean path (lean_submit.py, ADR 0045) answers exactly as its
Litestar route: the same requests go to an app with the lean path and to one without it
(each on its own in-memory storage, in the same order), and status, body, headers and the
access line must be the same — for valid proposals and queries, idempotent replays and
conflicts, and every refusal (malformed JSON, wrong schema, unknown type, no or bad token,
a forbidden role, an oversized body, a wrong content type, the rate limit). A request the
lean path takes it answers itself, whatever the outcome; one it does not take reaches the
route untouched."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from litestar import Litestar
from litestar import post as litestar_post
from litestar.testing import AsyncTestClient

from bookkeeper.adapters.auth.local_jwt import LocalJwtIssuer
from bookkeeper.application.errors import StorageUnavailable
from bookkeeper.application.handlers import Handlers
from bookkeeper.container import Container
from bookkeeper.entrypoints.http.app import MAX_BODY_BYTES, create_app
from bookkeeper.entrypoints.http.decoding import StrictJson
from bookkeeper.entrypoints.http.lean_submit import PATH, LeanSubmit
from bookkeeper.entrypoints.http.ratelimit import RateLimitMiddleware
from bookkeeper.entrypoints.http.security import BearerAuthMiddleware
from bookkeeper.settings import Settings
from tests.http_helpers import (
    API,
    bearer,
    memory_container,
    mint,
    pattern,
    raw_asgi,
    receipt,
    submission,
)
from tests.unit.conftest import FixedClock

EVENTS = f"{API}/events"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SECONDS = re.compile(r"\d+ s\b")


class Side:
    """One app (lean path on or off) with its client and tokens."""

    def __init__(self, container: Container, client: AsyncTestClient[Litestar]) -> None:
        self.container = container
        self.client = client

    def token(self, subject: str, *roles: str, tenant: str = "acme") -> dict[str, str]:
        return bearer(mint(self.container, subject, *roles, tenant=tenant))

    @property
    def agent(self) -> dict[str, str]:
        return self.token("book-e", "agent")


def _make(directory: Path) -> None:
    directory.mkdir()


@asynccontextmanager
async def side(data_dir: Path, *, lean: bool, **settings: Any) -> AsyncIterator[Side]:
    _make(data_dir)
    container = memory_container(data_dir, clock=FixedClock())
    settings.setdefault("executor_enabled", False)
    container.settings.override(providers.Object(Settings.for_data_dir(data_dir, **settings)))
    async with AsyncTestClient(create_app(container, lean_submit=lean)) as client:
        yield Side(container, client)


@asynccontextmanager
async def both(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[Side, Side]]:
    async with AsyncExitStack() as stack:
        lean = await stack.enter_async_context(side(tmp_path / "lean", lean=True, **settings))
        route = await stack.enter_async_context(side(tmp_path / "route", lean=False, **settings))
        yield lean, route


def _normal(text: str) -> str:
    """Ids (new on every submission) and seconds to wait (the clock moves) left out."""
    return _SECONDS.sub("N s", _UUID.sub("<uuid>", text))


def _answer(response: httpx.Response) -> tuple[int, Any, list[tuple[str, str]]]:
    try:
        body: Any = json.loads(_normal(response.text))
    except json.JSONDecodeError:
        body = _normal(response.text)
    headers = sorted(
        (name, _normal(value) if name != "retry-after" else "N")
        for name, value in response.headers.multi_items()
    )
    return response.status_code, body, headers


def _access(records: list[logging.LogRecord]) -> list[tuple[Any, ...]]:
    return [
        (r.http_method, r.route, r.status, r.actor, r.tenant, r.request_id)  # type: ignore[attr-defined]
        for r in records
        if r.name == "bookkeeper.access"
    ]


Send = Callable[[Side], Awaitable[httpx.Response]]


async def same(
    lean: Side, route: Side, send: Send, caplog: pytest.LogCaptureFixture
) -> httpx.Response:
    """`send` through both; the answers (and access lines) must be equal. The lean one."""
    caplog.clear()
    first = await send(lean)
    lean_lines = _access(caplog.records)
    caplog.clear()
    second = await send(route)
    route_lines = _access(caplog.records)
    assert _answer(first) == _answer(second)
    assert lean_lines == route_lines
    assert len(lean_lines) == 1
    return first


def post(
    body: Any,
    *,
    headers: Callable[[Side], dict[str, str]] = lambda s: s.agent,
    extra: dict[str, str] | None = None,
    path: str = EVENTS,
) -> Send:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()

    async def send(s: Side) -> httpx.Response:
        chosen = {
            "Content-Type": "application/json",
            "X-Request-ID": "parity-1",
            **headers(s),
            **(extra or {}),
        }
        return await s.client.post(path, content=content, headers=chosen)

    return send


RECEIPT = submission("ReceiptAttachmentProposed", receipt())
PATTERN = submission("PatternSuggested", pattern())


async def test_valid_submissions_answer_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path) as (lean, route):
        answer = await same(lean, route, post(RECEIPT), caplog)
        assert answer.status_code == 201
        assert answer.headers["location"] == f"{EVENTS}/{answer.json()['eventId']}"
        assert (await same(lean, route, post(PATTERN), caplog)).status_code == 201
        given = {**RECEIPT, "id": str(uuid.uuid4()), "correlationId": str(uuid.uuid4())}
        given["data"] = receipt(folioEventId="ev-9", documentNumber="R-9")
        assert (await same(lean, route, post(given), caplog)).status_code == 201
        full = {
            **submission("ReceiptAttachmentProposed", receipt(folioEventId="ev-2")),
            "proposerConfidence": 0.75,
            "bankTransactionVerified": True,
            "source": {"channel": "mail"},
        }
        assert (await same(lean, route, post(full), caplog)).status_code == 201
        charset = post(
            submission("PatternSuggested", pattern("Telenor", "6900")),
            extra={"Content-Type": "application/json; charset=utf-8"},
        )
        assert (await same(lean, route, charset, caplog)).status_code == 201
        # Handed on to the route, answered the same (a query string, a trailing slash).
        query = post(submission("PatternSuggested", pattern("Ruter", "7140")), path=EVENTS + "?x=1")
        assert (await same(lean, route, query, caplog)).status_code == 201


async def test_idempotent_replays_and_conflicts_answer_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path) as (lean, route):
        keyed = post(RECEIPT, extra={"Idempotency-Key": "k-1"})
        assert (await same(lean, route, keyed, caplog)).status_code == 201
        replay = await same(lean, route, keyed, caplog)
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        other = post(PATTERN, extra={"Idempotency-Key": "k-1"})
        assert (await same(lean, route, other, caplog)).status_code == 409
        for bad_key in ("", "k" * 201):
            answer = await same(
                lean, route, post(PATTERN, extra={"Idempotency-Key": bad_key}), caplog
            )
            assert answer.status_code == 400
        event_id = str(uuid.uuid4())
        with_id = post({**PATTERN, "id": event_id})
        assert (await same(lean, route, with_id, caplog)).status_code == 201
        await same(lean, route, with_id, caplog)  # the same id again
        other_body = post({**PATTERN, "id": event_id, "data": pattern("Other")})
        await same(lean, route, other_body, caplog)  # the same id, another body
        # An id and a key together: the id is the event's and decides (ADR 0001 addendum).
        id_and_key = post({**PATTERN, "id": str(uuid.uuid4())}, extra={"Idempotency-Key": "k-2"})
        assert (await same(lean, route, id_and_key, caplog)).status_code == 201
        replayed = await same(lean, route, id_and_key, caplog)
        assert replayed.headers["idempotent-replayed"] == "true"
        fresh_id = post({**PATTERN, "id": str(uuid.uuid4())}, extra={"Idempotency-Key": "k-2"})
        assert (await same(lean, route, fresh_id, caplog)).status_code == 201


async def _raw_post(s: Side, headers: list[tuple[bytes, bytes]], body: bytes) -> httpx.Response:
    """POST /events with its headers exactly as given (raw_asgi)."""
    return await raw_asgi(s.client.app, "POST", EVENTS, headers, body)


async def test_two_idempotency_keys_answer_the_same_400(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    body = json.dumps(PATTERN).encode()

    def keyed(*keys: bytes) -> Send:
        async def send(s: Side) -> httpx.Response:
            headers = [
                (b"authorization", s.agent["Authorization"].encode()),
                (b"content-type", b"application/json"),
                (b"x-request-id", b"parity-1"),
                *((b"idempotency-key", key) for key in keys),
            ]
            return await _raw_post(s, headers, body)

        return send

    async with both(tmp_path) as (lean, route):
        for keys in ((b"k-1", b"k-2"), (b"k-2", b"k-1"), (b"k-1", b"k-1")):
            answer = await same(lean, route, keyed(*keys), caplog)
            assert answer.status_code == 400, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert "one Idempotency-Key" in answer.json()["detail"]
        # Nothing was recorded under either key: one key now is a first submission.
        first = await same(lean, route, keyed(b"k-1"), caplog)
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers


REFUSALS: list[tuple[str, Send, int]] = [
    ("malformed JSON", post(b'{"type": "PatternSuggested", "data": {'), 400),
    ("not an object", post(b"[1, 2]"), 400),
    ("empty body", post(b""), 400),
    ("unknown field", post({**PATTERN, "status": "APPROVED"}), 400),
    ("missing type", post({"data": pattern()}), 400),
    ("bad payload", post(submission("ReceiptAttachmentProposed", receipt(amount=True))), 400),
    ("not a number", post(submission("ReceiptAttachmentProposed", receipt(amount="abc"))), 422),
    ("spaced number", post(submission("ReceiptAttachmentProposed", receipt(amount=" 1"))), 422),
    ("grouped number", post(submission("PatternSuggested", pattern(vat_rate="2_5"))), 422),
    ("foreign digits", post(submission("PatternSuggested", pattern(vat_rate="٢٥"))), 422),
    (
        "exponent number",
        post(
            b'{"type": "PatternSuggested", "data": {"merchant": "A", "accountCode": "6540", '
            b'"vatRate": 2.5e1}}'
        ),
        422,
    ),
    ("accept xml", post(PATTERN, extra={"Accept": "application/xml"}), 406),
    ("accept csv", post(PATTERN, extra={"Accept": "text/csv"}), 406),
    ("accept json q=0", post(PATTERN, extra={"Accept": "application/json;q=0"}), 406),
    ("accept xml no token", post(PATTERN, headers=lambda s: {"Accept": "text/xml"}), 401),
    ("payload field missing", post(submission("PatternSuggested", {"merchant": "X"})), 400),
    ("unknown type", post(submission("NoSuchThing", {})), 422),
    ("confidence over 1", post({**PATTERN, "proposerConfidence": 1.5}), 400),
    (
        "too deep",
        post(b'{"type": "PatternSuggested", "data": ' + b"[" * 40 + b"]" * 40 + b"}"),
        400,
    ),
    ("no token", post(PATTERN, headers=lambda s: {}), 401),
    ("empty bearer", post(PATTERN, headers=lambda s: {"Authorization": "Bearer "}), 401),
    ("basic scheme", post(PATTERN, headers=lambda s: {"Authorization": "Basic eDp5"}), 401),
    ("garbage token", post(PATTERN, headers=lambda s: {"Authorization": "Bearer x.y.z"}), 401),
    ("viewer may not propose", post(PATTERN, headers=lambda s: s.token("vera", "viewer")), 403),
    ("reviewer may not propose", post(PATTERN, headers=lambda s: s.token("kari", "reviewer")), 403),
    ("oversized", post(b'{"type": "PatternSuggested", "data": "' + b"x" * 1_100_000 + b'"}'), 413),
    ("text/plain", post(PATTERN, extra={"Content-Type": "text/plain"}), 0),
    ("no content type", post(PATTERN, extra={"Content-Type": ""}), 0),
]


@pytest.mark.parametrize(("name", "send", "status"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_refusals_answer_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, send: Send, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path) as (lean, route):
        answer = await same(lean, route, send, caplog)
        if status:
            assert answer.status_code == status, answer.text


async def test_a_token_of_another_key_answers_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path) as (lean, route):
        # Each side's own agent token is signed with the other side's key for the other.
        swapped = {id(lean): route.agent, id(route): lean.agent}
        answer = await same(lean, route, post(PATTERN, headers=lambda s: swapped[id(s)]), caplog)
        assert answer.status_code == 401


async def test_the_rate_limit_answers_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path, rate_limit="100/minute", rate_limit_writes="2/minute") as (
        lean,
        route,
    ):
        statuses = []
        for n in range(4):
            proposal = submission("PatternSuggested", pattern(f"Merchant {n}"))
            statuses.append((await same(lean, route, post(proposal), caplog)).status_code)
        assert statuses == [201, 201, 429, 429]
        # A refused request spent nothing more: a read still passes on both.
        for s in (lean, route):
            assert (await s.client.get(EVENTS, headers=s.agent)).status_code == 200


async def test_the_lean_path_answers_without_the_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean path really is taken: with the route's body decoder broken, an ordinary
    proposal is still recorded (and a refusal handed on still reaches the route)."""

    def broken(self: object, value: bytes) -> Any:
        raise AssertionError("the route's decoder was used")

    async with side(tmp_path / "lean", lean=True) as lean:
        monkeypatch.setattr(StrictJson, "decode_bytes", broken)
        answer = await lean.client.post(EVENTS, json=RECEIPT, headers=lean.agent)
        assert answer.status_code == 201, answer.text
        assert answer.json()["type"] == "ReceiptAttachmentProposed"
        listed = await lean.client.get(EVENTS, headers=lean.agent)
        assert [e["type"] for e in listed.json()["items"]] == ["ReceiptAttachmentProposed"]
        handed_on = await lean.client.post(EVENTS, content=b"{", headers=lean.agent)
        assert handed_on.status_code == 500  # the broken decoder: proof it was the route


async def test_with_cors_an_origin_is_answered_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path, cors_origins=("https://books.example",)) as (lean, route):
        for origin in ("https://books.example", "https://evil.example"):
            answer = await same(lean, route, post(PATTERN, extra={"Origin": origin}), caplog)
            assert answer.status_code == 201
        assert (await same(lean, route, post(RECEIPT), caplog)).status_code == 201


def test_a_step_the_lean_path_does_not_take_stops_the_start() -> None:
    """A guard (or hook, middleware, header …) added to the route later would be skipped
    by the lean path: building it refuses instead."""

    def guard(connection: Any, handler: Any) -> None:
        return None

    @litestar_post(PATH, guards=[guard], sync_to_thread=False)
    def submit() -> None:
        return None

    app = Litestar(route_handlers=[submit], request_max_body_size=MAX_BODY_BYTES)
    limiter = RateLimitMiddleware("off", "off")
    with pytest.raises(RuntimeError, match=r"guards.*middleware"):
        LeanSubmit(
            app.asgi_handler,
            app,
            verifier=None,  # type: ignore[arg-type]
            limiter=limiter,
            handlers=lambda: None,  # type: ignore[arg-type,return-value]
            max_body=MAX_BODY_BYTES,
            cors=False,
        )


@pytest.mark.parametrize(
    "error",
    [StorageUnavailable("connection refused by db.internal:5432"), RuntimeError("boom")],
    ids=["storage unavailable", "unexpected"],
)
async def test_a_failing_handler_answers_the_same(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    """Errors from the application (503 with Retry-After, a logged 500) are rendered by
    the same exception handlers on both paths."""

    async def failing(self: Handlers, command: object) -> None:
        raise error

    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path) as (lean, route):
        monkeypatch.setattr(Handlers, "dispatch", failing)
        answer = await same(lean, route, post(RECEIPT), caplog)
        assert answer.status_code == (503 if isinstance(error, StorageUnavailable) else 500)
        assert "db.internal" not in answer.text and "boom" not in answer.text


def _expired(s: Side) -> dict[str, str]:
    """An agent token of the side's own key that expired an hour ago."""
    settings = s.container.settings()
    two_hours_ago = FixedClock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    issuer = LocalJwtIssuer(
        s.container.signing_key(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=two_hours_ago,
    )
    return bearer(issuer.mint("book-e", "acme", ["agent"], dt.timedelta(hours=1)))


def _wrong_audience(s: Side) -> dict[str, str]:
    settings = s.container.settings()
    issuer = LocalJwtIssuer(
        s.container.signing_key(),
        issuer=settings.jwt_issuer,
        audience="someone-else",
        clock=FixedClock(dt.datetime.now(dt.UTC)),
    )
    return bearer(issuer.mint("book-e", "acme", ["agent"], dt.timedelta(hours=1)))


async def test_tokens_that_do_not_verify_answer_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Taken by the lean path (a Bearer token), refused by the verifier: the 401 with its
    reason and `WWW-Authenticate` is the route's."""
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path) as (lean, route):
        for headers in (_expired, _wrong_audience):
            answer = await same(lean, route, post(PATTERN, headers=headers), caplog)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
        assert (
            "expired" in (await lean.client.post(EVENTS, json=PATTERN, headers=_expired(lean))).text
        )


def raw(
    messages: list[dict[str, Any]], *, length: int, headers: Callable[[Side], dict[str, str]]
) -> Send:
    """POST /events straight into the app's ASGI callable with the body messages given:
    what a test client cannot send (a body longer than its Content-Length, a disconnect)."""

    async def send(s: Side) -> httpx.Response:
        chosen = {
            "host": "testserver",
            "content-type": "application/json",
            "content-length": str(length),
            "x-request-id": "parity-1",
            **{name.lower(): value for name, value in headers(s).items()},
        }
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": EVENTS,
            "raw_path": EVENTS.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in chosen.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        pending = list(messages)

        async def receive() -> dict[str, Any]:
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def record(message: dict[str, Any]) -> None:
            sent.append(message)

        await s.client.app(scope, receive, record)  # type: ignore[arg-type]
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return httpx.Response(
            start["status"],
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]],
            content=body,
        )

    return send


def _part(body: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


RAW: list[tuple[str, Send, int]] = [
    (
        "a body that grows over the limit",
        raw(
            [_part(b'{"data": "' + b"x" * 600_000), _part(b"x" * 600_000 + b'"}', more=False)],
            length=100,
            headers=lambda s: s.agent,
        ),
        413,
    ),
    (
        "a disconnect in the body",
        raw(
            [_part(b'{"type": "Pat'), {"type": "http.disconnect"}],
            length=50,
            headers=lambda s: s.agent,
        ),
        500,
    ),
    (
        "no body although announced",
        raw([_part(b"", more=False)], length=20, headers=lambda s: s.agent),
        400,
    ),
    (
        "an announced body without a token",
        raw([_part(b"", more=False)], length=20, headers=lambda s: {}),
        401,
    ),
]


@pytest.mark.parametrize(("name", "send", "status"), RAW, ids=[r[0] for r in RAW])
async def test_bodies_a_client_cannot_send_answer_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, send: Send, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    async with both(tmp_path) as (lean, route):
        answer = await same(lean, route, send, caplog)
        assert answer.status_code == status, answer.text


async def test_a_taken_request_is_answered_by_the_lean_path_whatever_the_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once it has taken a request (a JSON body of an announced size, a Bearer token), the
    lean path answers every outcome itself — it never hands a request on after verifying
    the token or spending the budget. With the route's authentication broken, each refusal
    still comes out right; only what the lean path does not take reaches the broken route."""

    async def broken(self: object, connection: object) -> None:
        raise AssertionError("the route's authentication was used")

    async with side(tmp_path / "lean", lean=True, rate_limit_writes="2/minute") as lean:
        monkeypatch.setattr(BearerAuthMiddleware, "authenticate_request", broken)
        garbage = {"Authorization": "Bearer x.y.z"}
        taken: list[tuple[dict[str, str], Any, int]] = [
            (garbage, PATTERN, 401),  # verified nothing, spent nothing
            (_expired(lean), PATTERN, 401),
            (lean.token("vera", "viewer"), PATTERN, 403),  # vera's budget
            (lean.agent, b"{", 400),  # book-e's 1st write
            (lean.agent, submission("NoSuchThing", {}), 422),  # the 2nd
            (lean.agent, PATTERN, 429),
        ]
        for headers, body, status in taken:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            answer = await lean.client.post(
                EVENTS, content=content, headers={"Content-Type": "application/json", **headers}
            )
            assert answer.status_code == status, answer.text
        too_big = raw(
            [_part(b"x" * 600_000), _part(b"x" * 600_000, more=False)],
            length=100,
            headers=lambda s: garbage,
        )
        assert (await too_big(lean)).status_code == 401  # the token first, as on the route
        # Not taken (no token; not JSON): handed on, to the broken route.
        handed_on = [
            await lean.client.post(EVENTS, json=PATTERN),
            await lean.client.post(EVENTS, content=b"{}", headers=lean.agent),
        ]
        assert [a.status_code for a in handed_on] == [500, 500]


async def test_a_request_not_taken_reaches_the_route_untouched(tmp_path: Path) -> None:
    """What the lean path hands on it has not changed: the same scope, the same `receive`
    (no body read, nothing verified or spent, no marks left for the middleware)."""
    async with side(tmp_path / "lean", lean=True) as lean:
        app = lean.client.app
        reached: list[tuple[dict[str, Any], object]] = []

        async def recorder(scope: Any, receive: Any, send: Any) -> None:
            reached.append((dict(scope), receive))

        layer = LeanSubmit(
            recorder,
            app,
            verifier=lean.container.token_verifier(),
            limiter=RateLimitMiddleware(),
            handlers=lambda: None,  # type: ignore[arg-type,return-value]
            max_body=MAX_BODY_BYTES,
            cors=False,
        )
        agent = [(b"authorization", lean.agent["Authorization"].encode())]
        json_type = [(b"content-type", b"application/json")]
        for headers in (
            [*json_type, (b"content-length", b"2")],  # no token
            [*agent, *json_type, (b"content-length", b"0")],  # no body
            [*agent, (b"content-type", b"text/plain"), (b"content-length", b"2")],
            [*agent, *json_type, (b"content-length", b"2"), (b"idempotency-key", b"")],
            [
                *agent,
                *json_type,
                (b"content-length", b"2"),
                (b"idempotency-key", b"k-1"),
                (b"idempotency-key", b"k-2"),
            ],
        ):
            scope = {"type": "http", "method": "POST", "path": EVENTS, "headers": headers}

            async def receive() -> dict[str, Any]:
                raise AssertionError("the lean path read the body of a request it did not take")

            await layer(scope, receive, None)  # type: ignore[arg-type]
            seen, given = reached.pop()
            assert seen == {"type": "http", "method": "POST", "path": EVENTS, "headers": headers}
            assert given is receive


async def test_a_repeated_member_answers_the_same_400(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`{"amount": "1.00", "amount": "9999.00"}` (ADR 0049, round three): refused on both
    paths, naming the member, and nothing is recorded."""
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    body = json.dumps(RECEIPT).replace(
        '"amount": "199.00"', '"amount": "1.00", "amount": "9999.00"'
    )
    assert body.count('"amount"') == 2
    async with both(tmp_path) as (lean, route):
        answer = await same(lean, route, post(body.encode()), caplog)
        assert answer.status_code == 400
        assert "$.data.amount" in answer.json()["detail"]
        for s in (lean, route):
            listed = await s.client.get(EVENTS, headers=s.agent)
            assert listed.json()["items"] == []
