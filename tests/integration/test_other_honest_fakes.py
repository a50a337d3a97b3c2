"""Our HTTP adapters against OTHER honest fakes of Fiken, Folio, Norges Bank and the Anthropic
Messages API: small loopback servers written here from the specs (../contracts, integrations.md),
not from tests/fakes, that vary one at a time what the spec leaves to the server — the
Location header's form, a 201 with or without a body, unknown fields, field order, optional
fields absent or null, paging at another size with or without the Fiken-Api-* headers, 429
with Retry-After in seconds, as an HTTP date or without it, 5xx with an HTML or empty body, a
slow answer within our timeout, gzip, a charset in the Content-Type, ids and amounts at the
extremes of their types — and drive the product's use cases through them: a purchase
created once, found again by its reference after an answer was lost, its receipt attached
once; Folio's transactions listed with the right sign; a day's exchange rate; an extraction.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import gzip
import json
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.anthropic_admin import AnthropicAdminUsage
from bookkeeper.adapters.fiken import FikenBooks, FikenClient, SlidingWindow
from bookkeeper.adapters.fiken.client import RetryPolicy
from bookkeeper.adapters.folio import FolioBank, FolioClient
from bookkeeper.adapters.intents.claude import ClaudeIntentClassifier
from bookkeeper.adapters.norges_bank import NorgesBankRates
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.execution.books_actions import _attached
from bookkeeper.application.ports import (
    JournalEntryLineOut,
    NewJournalEntry,
    NewPurchase,
    PurchaseLine,
)
from tests.fakes.server import serve

pytestmark = pytest.mark.asyncio(loop_scope="function")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SLUG = "annen-fiken-as"
TOKEN = "other-fake-token"
DAY = dt.date(2026, 3, 14)
#: Beyond 2**53: a JSON number no float holds exactly (int64 in the spec).
BIG_ID = 2**62 + 12345
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


class Sleeps(list[float]):
    """Back-off recorded instead of taken."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


# --- a tiny ASGI toolkit ------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: Seconds to wait before answering (a slow server).
    delay: float = 0.0
    #: The write is done before this reply (whose answer then is lost to the client).
    commit: bool = False


@dataclass
class Style:
    """What the spec leaves to the server, one knob at a time."""

    #: absolute | relative | path | trailing-slash | query
    location: str = "absolute"
    created_body: bool = False
    #: extra unknown fields in every object
    extra_fields: bool = False
    reversed_order: bool = False
    #: optional fields sent as null instead of left out
    nulls: bool = False
    gzip: bool = False
    charset: bool = False
    #: the server pages at most this many (whatever pageSize asks)
    page_cap: int = 100
    #: send Fiken-Api-Page, -Page-Size, -Page-Count, -Result-Count
    page_headers: bool = True
    #: purchase lines answered with netPriceInCurrency/vatInCurrency only ("Either netPrice
    #: or netPriceInCurrency must be provided"), a NOK purchase's too
    lines_in_currency: bool = False
    #: how an attachment's downloadUrl ends: our file name, the server's own name, an id
    download_name: str = "ours"
    #: seconds every answer (but those queued in `before`) waits before it is sent
    delay: float = 0.0
    #: replies served before the real one, per route name
    before: dict[str, list[Reply]] = field(default_factory=dict)


def _shape(value: Any, style: Style) -> Any:
    if isinstance(value, dict):
        # A tool call's input is the model's, after our schema: the server adds nothing.
        items = [(k, v if k == "input" else _shape(v, style)) for k, v in value.items()]
        # A map keyed by ids (SDMX-JSON's series and observations) takes no unknown field.
        keyed = any(re.fullmatch(r"[0-9:]+", k) for k in value)
        if style.extra_fields and not keyed:
            items.append(("someFieldFromTheFuture", {"nested": [1, "x", None]}))
        if style.reversed_order:
            items.reverse()
        return dict(items)
    if isinstance(value, list):
        return [_shape(v, style) for v in value]
    return value


def json_reply(
    status: int, value: Any, style: Style, headers: list[tuple[str, str]] | None = None
) -> Reply:
    body = json.dumps(_shape(value, style)).encode()
    kind = "application/json; charset=utf-8" if style.charset else "application/json"
    out = [("content-type", kind), *(headers or [])]
    if style.gzip:
        body = gzip.compress(body)
        out.append(("content-encoding", "gzip"))
    return Reply(status, out, body)


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def _send(send: Send, reply: Reply) -> None:
    if reply.delay:
        await asyncio.sleep(reply.delay)
    headers = [(k.encode(), v.encode()) for k, v in reply.headers]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def html_503() -> Reply:
    return Reply(503, [("content-type", "text/html")], b"<html><body>Bad gateway</body></html>")


def empty_500() -> Reply:
    return Reply(500, [], b"")


def too_many(retry_after: str | None) -> Reply:
    headers = [("retry-after", retry_after)] if retry_after is not None else []
    return Reply(429, headers, b"")


def http_date(seconds_from_now: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)
    return email.utils.format_datetime(when, usegmt=True)


# --- Fiken, from fiken-openapi.yaml --------------------------------------------------------


class OtherFiken:
    """Purchases, their attachments and contacts of one company, as the spec describes them."""

    def __init__(self, style: Style | None = None) -> None:
        self.style = style or Style()
        self.purchases: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.entries: dict[int, dict[str, Any]] = {}
        #: where a general journal entry's Location points: journalEntries | general | transaction
        self.entry_location = "journalEntries"
        self.next_id = BIG_ID
        self.base = ""
        self.posts: list[str] = []
        self.seen_page_sizes: list[int] = []

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _location(self, path: str) -> str:
        style = self.style.location
        if style == "absolute":
            return f"{self.base}{path}"
        if style == "path":
            return path
        if style == "relative":  # relative to the request's URL (RFC 9110 § 10.2.2)
            return path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1]
        if style == "trailing-slash":
            return f"{self.base}{path}/"
        if style == "query":
            return f"{self.base}{path}?from=api"
        raise AssertionError(style)

    def _created(self, path: str, value: dict[str, Any]) -> Reply:
        headers = [("location", self._location(path))]
        if self.style.created_body:
            return json_reply(201, value, self.style, headers)
        return Reply(201, headers)

    def _download_url(self, name: str) -> str:
        stored = uuid.uuid4()
        if self.style.download_name == "ours":
            return f"{self.base}/files/{stored}/{urllib.parse.quote(name)}"
        if self.style.download_name == "server":
            return f"{self.base}/files/{stored}/original.pdf"
        return f"{self.base}/files/{stored}"

    def _purchase_out(self, stored: dict[str, Any]) -> dict[str, Any]:
        out = dict(stored)
        if self.style.lines_in_currency:
            out["lines"] = [
                {
                    **{k: v for k, v in line.items() if k not in ("netPrice", "vat")},
                    "netPriceInCurrency": line.get("netPriceInCurrency", line.get("netPrice")),
                    "vatInCurrency": line.get("vatInCurrency", line.get("vat")),
                }
                for line in out["lines"]
            ]
        if self.style.nulls:
            for name in ("dueDate", "supplier", "settledDate", "kid"):
                out.setdefault(name, None)
            out["lines"] = [
                {**line, "account": line.get("account"), "projectId": None} for line in out["lines"]
            ]
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        reply = self.handle(scope, body)
        await _send(send, reply)

    def handle(self, scope: Scope, body: bytes) -> Reply:
        method, path = scope["method"], scope["path"]
        query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, [("content-type", "text/plain")], b"Unauthorized")
        prefix = f"/api/v2/companies/{SLUG}"
        if not path.startswith(prefix):
            return Reply(404)
        rest = path[len(prefix) :]
        route = self._route(method, rest)
        queued = self.style.before.get(route)
        if queued:
            reply = queued.pop(0)
            if reply.commit:  # done, but the answer is lost (slow or broken)
                self._commit(route, rest, body, headers)
            return reply
        answer = self._answer(route, rest, body, headers, query, path)
        answer.delay = self.style.delay
        return answer

    @staticmethod
    def _route(method: str, rest: str) -> str:
        if rest == "/purchases":
            return f"{method} purchases"
        if re.fullmatch(r"/purchases/\d+", rest):
            return f"{method} purchase"
        if re.fullmatch(r"/purchases/\d+/attachments", rest):
            return f"{method} attachments"
        if re.fullmatch(r"/contacts/\d+", rest):
            return f"{method} contact"
        if re.fullmatch(r"/journalEntries/\d+/attachments", rest):
            return f"{method} entry attachments"
        return f"{method} {rest.lstrip('/')}"

    def _commit(
        self, route: str, rest: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, Any]:
        if route == "POST purchases":
            request = json.loads(body)
            for name in ("date", "kind", "paid", "lines", "currency"):
                assert name in request, name
            purchase_id = self._new_id()
            stored = {
                "purchaseId": purchase_id,
                "transactionId": self._new_id(),
                "identifier": request.get("identifier"),
                "date": request["date"],
                "kind": request["kind"],
                "paid": request["paid"],
                "lines": request["lines"],
                "currency": request["currency"],
                "payments": [],
                "purchaseAttachments": [],
                "deleted": False,
                "settled": bool(request["paid"]),
            }
            self.purchases[purchase_id] = stored
            self.posts.append(rest)
            return stored
        if route == "POST attachments":
            purchase_id = int(rest.split("/")[2])
            match = re.search(rb'name="filename"\r\n\r\n([^\r]*)\r\n', body)
            assert match is not None, "the multipart form has no filename field"
            assert b'name="file"' in body
            name = match.group(1).decode()
            attachment = {
                "identifier": None,
                "downloadUrl": self._download_url(name),
                "comment": None,
                "type": "unspecified",
            }
            self.purchases[purchase_id]["purchaseAttachments"].append(attachment)
            self.posts.append(rest)
            return attachment
        if route == "POST entry attachments":
            match = re.search(rb'name="filename"\r\n\r\n([^\r]*)\r\n', body)
            assert match is not None and b'name="file"' in body
            attachment = {"downloadUrl": self._download_url(match.group(1).decode())}
            self.entries[int(rest.split("/")[2])]["attachments"].append(attachment)
            self.posts.append(rest)
            return attachment
        if route == "POST contacts":
            request = json.loads(body)
            contact_id = self._new_id()
            self.contacts[contact_id] = {
                "contactId": contact_id,
                "name": request["name"],
                "organizationNumber": request.get("organizationNumber"),
                "supplier": bool(request.get("supplier")),
                "supplierAccountCode": f"2400:{20000 + len(self.contacts) + 1}",
                "inactive": False,
            }
            self.posts.append(rest)
            return self.contacts[contact_id]
        if route == "POST generalJournalEntries":
            request = json.loads(body)
            (entry,) = request["journalEntries"]
            entry_id = self._new_id()
            self.entries[entry_id] = {
                "journalEntryId": entry_id,
                "transactionId": self._new_id(),
                "journalEntryNumber": len(self.entries) + 1,
                "description": f"Fri postering registrert via API: {entry['description']}",
                "date": entry["date"],
                "lines": [
                    {"amount": line["amount"], "account": line.get("debitAccount")}
                    for line in entry["lines"]
                ],
                "attachments": [],
            }
            self.posts.append(rest)
            return self.entries[entry_id]
        raise AssertionError(route)

    def _answer(
        self,
        route: str,
        rest: str,
        body: bytes,
        headers: dict[str, str],
        query: dict[str, str],
        path: str,
    ) -> Reply:
        style = self.style
        if route == "POST purchases":
            stored = self._commit(route, rest, body, headers)
            return self._created(f"{path}/{stored['purchaseId']}", self._purchase_out(stored))
        if route == "POST attachments":
            if int(rest.split("/")[2]) not in self.purchases:
                return Reply(404)
            attachment = self._commit(route, rest, body, headers)
            return self._created(f"{path}/{len(self.posts)}", attachment)
        if route in ("POST entry attachments", "POST contacts"):
            if route == "POST entry attachments" and int(rest.split("/")[2]) not in self.entries:
                return Reply(404)
            created = self._commit(route, rest, body, headers)
            made = created.get("contactId", len(self.posts))
            return self._created(f"{path}/{made}", created)
        if route == "POST generalJournalEntries":
            entry = self._commit(route, rest, body, headers)
            prefix = path.removesuffix("/generalJournalEntries")
            where = {
                "journalEntries": f"{prefix}/journalEntries/{entry['journalEntryId']}",
                "general": f"{path}/{entry['journalEntryId']}",
                "transaction": f"{prefix}/transactions/{entry['transactionId']}",
            }[self.entry_location]
            return self._created(where, entry)
        if route == "GET journalEntries":
            rows = [e for e in self.entries.values() if e["date"] == query.get("date", e["date"])]
            return self._page(rows, query)
        if route == "GET contact":
            contact = self.contacts.get(int(rest.rsplit("/", 1)[1]))
            return json_reply(200, contact, style) if contact else Reply(404)
        if route == "GET contacts":
            # Another reading of the name filter: a case-insensitive part of the name.
            name = query.get("name", "").casefold()
            number = query.get("organizationNumber")
            rows = [
                c
                for c in self.contacts.values()
                if name in c["name"].casefold()
                and (number is None or c["organizationNumber"] == number)
                and (query.get("supplier") != "true" or c["supplier"])
            ]
            return self._page(rows, query)
        if route == "GET purchase":
            found = self.purchases.get(int(rest.rsplit("/", 1)[1]))
            if found is None:
                return Reply(404)
            return json_reply(200, self._purchase_out(found), style)
        if route == "GET purchases":
            rows = [
                p
                for p in self.purchases.values()
                if "date" not in query or p["date"] == query["date"]
            ]
            rows.sort(key=lambda p: p["purchaseId"])
            return self._page(rows, query)
        return Reply(404)

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        rows = [self._purchase_out(r) if "purchaseId" in r else r for r in rows]
        style = self.style
        if "page" in query and "pageSize" in query:
            asked = int(query["pageSize"])
            self.seen_page_sizes.append(asked)
            size = min(asked, style.page_cap, 100)
            page = int(query["page"])
        else:
            size, page = 25, 0
        chunk = rows[page * size : (page + 1) * size]
        headers: list[tuple[str, str]] = []
        if style.page_headers:
            count = max(1, -(-len(rows) // size))
            headers = [
                ("Fiken-Api-Page", str(page)),
                ("Fiken-Api-Page-Size", str(size)),
                ("Fiken-Api-Page-Count", str(count)),
                ("Fiken-Api-Result-Count", str(len(rows))),
            ]
        return json_reply(200, chunk, style, headers)


@contextlib.asynccontextmanager
async def _fiken(
    style: Style, *, wait: float = 2.0
) -> AsyncIterator[tuple[OtherFiken, FikenBooks, Sleeps]]:
    fake = OtherFiken(style)
    async with serve(fake) as base:
        fake.base = base
        sleeps = Sleeps()
        client = FikenClient(
            f"{base}/api/v2",
            TOKEN,
            timeout=wait,
            sleep=sleeps,
            window=SlidingWindow(limit=10_000, window=1.0),
            retry=RetryPolicy(first_backoff=0.01, max_backoff=0.05),
        )
        try:
            yield fake, FikenBooks(client, SLUG), sleeps
        finally:
            await client.aclose()


def purchase(reference: str, net: str = "800.00", vat: str = "200.00") -> NewPurchase:
    return NewPurchase(
        date=DAY,
        kind="cash_purchase",
        paid=True,
        currency="NOK",
        reference=reference,
        lines=(
            PurchaseLine(
                description="Kontorrekvisita",
                vat_type="HIGH",
                net=Decimal(net),
                vat=Decimal(vat),
                account="6800",
            ),
        ),
        payment_account="1920:10001",
    )


def ref() -> str:
    return f"bk-{uuid.uuid4().hex}"


async def execute_once(books: FikenBooks, new: NewPurchase, *, reconcile: bool) -> str:
    """The executor's steps for an approved receipt (books_actions.register_purchase):
    look the purchase up by its reference when an earlier attempt may have made it, else
    create it; then attach the receipt unless it is there already."""
    filename = f"kvittering-{new.reference}.pdf"
    existing = await books.find_purchase(new.reference, new.date) if reconcile else None
    if existing is None:
        purchase_id = await books.create_purchase(new)
        attached: tuple[str, ...] = ()
        unnamed = 0
    else:
        purchase_id, attached = existing.id, existing.attachments
        unnamed = existing.unnamed_attachments
    if not _attached(attached, unnamed):
        await books.attach_to_purchase(purchase_id, filename, PDF, "application/pdf")
    return purchase_id


FIKEN_STYLES = {
    "location-absolute": Style(location="absolute"),
    "location-path-only": Style(location="path"),
    "location-relative": Style(location="relative"),
    "location-trailing-slash": Style(location="trailing-slash"),
    "location-with-query": Style(location="query"),
    "201-with-body": Style(created_body=True),
    "unknown-fields": Style(extra_fields=True),
    "fields-reversed": Style(reversed_order=True),
    "optional-null": Style(nulls=True),
    "nok-lines-in-currency": Style(lines_in_currency=True),
    "gzip": Style(gzip=True),
    "charset": Style(charset=True),
}


@pytest.mark.parametrize("style", list(FIKEN_STYLES.values()), ids=list(FIKEN_STYLES))
async def test_fiken_purchase_with_receipt_is_made_once(style: Style) -> None:
    async with _fiken(style) as (fake, books, _sleeps):
        new = purchase(ref())
        purchase_id = await execute_once(books, new, reconcile=False)
        assert int(purchase_id) in fake.purchases
        # A later attempt (the executor after a crash) finds it and its receipt: nothing new.
        again = await execute_once(books, new, reconcile=True)
        assert again == purchase_id
        stored = fake.purchases[int(purchase_id)]
        assert len(fake.purchases) == 1
        assert len(stored["purchaseAttachments"]) == 1
        found = await books.find_purchase(new.reference, DAY)
        assert found is not None
        assert found.gross == Decimal("1000.00")
        assert found.id == str(BIG_ID + 1)


@pytest.mark.parametrize("download_name", ["ours", "server", "id"])
async def test_fiken_receipt_is_attached_once_whatever_its_download_url_ends_in(
    download_name: str,
) -> None:
    """The attachment schema has no file name, and nothing says how downloadUrl ends: in
    the name sent, in a name of the server's own ("original.pdf"), or in an id. An answer
    to the upload that is lost after Fiken stored the file is reconciled by looking at
    the purchase: the receipt is there, so it is not uploaded a second time."""
    lost = Reply(500, commit=True)
    style = Style(download_name=download_name, before={"POST attachments": [lost]})
    async with _fiken(style) as (fake, books, _sleeps):
        new = purchase(ref())
        with pytest.raises(ExternalUnavailable):
            await execute_once(books, new, reconcile=False)
        purchase_id = await execute_once(books, new, reconcile=True)
        assert list(fake.purchases) == [int(purchase_id)]
        assert len(fake.purchases[int(purchase_id)]["purchaseAttachments"]) == 1


@pytest.mark.parametrize(
    ("cap", "headers", "rows"),
    [(100, True, 130), (7, True, 30), (25, True, 26), (100, False, 130), (100, True, 0)],
)
async def test_fiken_finds_a_purchase_on_any_page(cap: int, headers: bool, rows: int) -> None:
    async with _fiken(Style(page_cap=cap, page_headers=headers)) as (_fake, books, _sleeps):
        references = [ref() for _ in range(rows)]
        for reference in references:
            await books.create_purchase(purchase(reference))
        for reference in references[-3:]:
            found = await books.find_purchase(reference, DAY)
            assert found is not None and found.reference == reference
        assert await books.find_purchase(ref(), DAY) is None
        assert len(await books.purchases(DAY, DAY)) == rows


@pytest.mark.parametrize(
    "retry_after", ["2", "0", None, "date"], ids=["seconds", "zero", "absent", "http-date"]
)
async def test_fiken_429_on_the_write_is_sent_again_and_made_once(retry_after: str | None) -> None:
    header = http_date(3) if retry_after == "date" else retry_after
    style = Style(before={"POST purchases": [too_many(header), too_many(header)]})
    async with _fiken(style) as (fake, books, sleeps):
        new = purchase(ref())
        purchase_id = await execute_once(books, new, reconcile=False)
        assert list(fake.purchases) == [int(purchase_id)]
        assert len(sleeps) == 2
        if retry_after == "date":
            assert all(1.0 <= s <= 3.5 for s in sleeps), sleeps
        elif retry_after is not None:
            assert sleeps == [float(retry_after)] * 2


@pytest.mark.parametrize("broken", [html_503, empty_500], ids=["html-503", "empty-500"])
async def test_fiken_5xx_on_a_read_is_read_again(broken: Callable[[], Reply]) -> None:
    style = Style(before={"GET purchases": [broken()]})
    async with _fiken(style) as (_fake, books, _sleeps):
        new = purchase(ref())
        await books.create_purchase(new)
        found = await books.find_purchase(new.reference, DAY)
        assert found is not None


@pytest.mark.parametrize(
    ("lost", "wait"),
    [
        (Reply(500, commit=True), 2.0),
        (
            Reply(502, [("content-type", "text/html")], b"<h1>Bad gateway</h1>", commit=True),
            2.0,
        ),
        (Reply(201, commit=True), 2.0),  # created, but no Location: which one is not said
        # made, and answered after our whole deadline (three timeouts of 0.4 s)
        (Reply(201, [("location", "/purchases/1")], delay=2.0, commit=True), 0.4),
    ],
    ids=["500-after-commit", "html-502-after-commit", "201-without-location", "answer-too-late"],
)
async def test_fiken_a_lost_answer_to_the_write_is_reconciled_not_repeated(
    lost: Reply, wait: float
) -> None:
    """Fiken made the purchase but its answer did not reach us: the next attempt finds it
    by our reference instead of making it again."""
    style = Style(before={"POST purchases": [lost]})
    async with _fiken(style, wait=wait) as (fake, books, _sleeps):
        new = purchase(ref())
        with pytest.raises(ExternalUnavailable):
            await execute_once(books, new, reconcile=False)
        purchase_id = await execute_once(books, new, reconcile=True)
        assert list(fake.purchases) == [int(purchase_id)]
        assert len(fake.purchases[int(purchase_id)]["purchaseAttachments"]) == 1


async def test_fiken_a_slow_answer_within_the_timeout_is_taken() -> None:
    """Every answer 1.2 s late, the client's timeout 2 s: slow is not down."""
    async with _fiken(Style(delay=1.2)) as (fake, books, sleeps):
        new = purchase(ref())
        purchase_id = await execute_once(books, new, reconcile=False)
        assert await execute_once(books, new, reconcile=True) == purchase_id
        assert list(fake.purchases) == [int(purchase_id)] and not sleeps


@pytest.mark.parametrize("ore", [1, 2**63 - 1, 999_999_999_999_99])
async def test_fiken_amounts_at_the_extremes_are_exact(ore: int) -> None:
    async with _fiken(Style()) as (fake, books, _sleeps):
        new = purchase(ref(), net=str(Decimal(ore) / 100), vat="0")
        purchase_id = await books.create_purchase(new)
        assert fake.purchases[int(purchase_id)]["lines"][0]["netPrice"] == ore
        found = await books.find_purchase(new.reference, DAY)
        assert found is not None and found.gross == Decimal(ore) / 100


@pytest.mark.parametrize("style", ["absolute", "path", "relative", "trailing-slash", "query"])
@pytest.mark.parametrize("points_at", ["journalEntries", "general", "transaction"])
async def test_fiken_credit_note_entry_is_made_once_and_its_document_attached_once(
    style: str, points_at: str
) -> None:
    """A supplier's credit note (ADR 0054): the supplier found or made, a general journal
    entry whose Location may name the entry, the general journal entry or its transaction
    (the spec says only "Full URL of newly created General Journal Entry"), its document
    attached; a later attempt finds both by our reference and makes nothing new."""
    async with _fiken(Style(location=style, download_name="id")) as (fake, books, _sleeps):
        fake.entry_location = points_at
        supplier = await books.find_supplier("913 312 465", "Kontorland AS")
        assert supplier is None
        supplier = await books.create_supplier("Kontorland AS", "913312465")
        await books.create_supplier("Kontorland AS Avd. Bergen", None)
        again = await books.find_supplier(None, "Kontorland AS")
        assert again is not None and again.id == supplier.id
        assert supplier.supplier_account_code is not None
        reference = ref()
        entry = NewJournalEntry(
            date=DAY,
            description="Kreditnota 17 Kontorland AS",
            reference=reference,
            lines=(
                JournalEntryLineOut(
                    amount=Decimal("1250.00"),
                    debit_account=supplier.supplier_account_code,
                    credit_account="6800",
                    credit_vat_code=1,
                ),
            ),
        )
        entry_id = await books.create_journal_entry(entry)
        assert int(entry_id) in fake.entries
        await books.attach_to_journal_entry(entry_id, f"{reference}.pdf", PDF, "application/pdf")
        found = await books.find_journal_entry(reference, DAY)
        assert found is not None and found.id == entry_id and not found.cancelled
        assert _attached(found.attachments, found.unnamed_attachments)
        assert len(fake.entries) == 1 and len(fake.contacts) == 2


# --- Folio, from folio-openapi.yml ------------------------------------------------------------

OPERATING = "36060000000"
SUPPLIER_ACCOUNT = "15035646830"
FOLIO_KEY = "other-folio-key"


class OtherFolio:
    """One company's accounts, booked transactions and events, as the Folio spec has them."""

    def __init__(self, style: Style | None = None) -> None:
        self.style = style or Style()
        self.transactions: list[dict[str, Any]] = []
        self.uploads: dict[str, list[dict[str, Any]]] = {}
        #: how our account is spelled in the parties: bban | iban | dotted
        self.own_spelling = "bban"

    def own(self) -> str:
        if self.own_spelling == "iban":
            return "NO93" + OPERATING
        if self.own_spelling == "dotted":
            return f"{OPERATING[:4]}.{OPERATING[4:6]}.{OPERATING[6:]}"
        return OPERATING

    def book(self, day: dt.date, amount: str, *, out: bool, text: str = "Kontorland AS") -> str:
        event_id = str(uuid.uuid4())
        ours = {"name": "Annen Fiken AS", "accountNumber": self.own()}
        other = {"name": text, "accountNumber": SUPPLIER_ACCOUNT}
        self.transactions.append(
            {
                "id": str(uuid.uuid4()),
                "eventId": event_id,
                "description": text,
                "bookingDate": day.isoformat(),
                "transactionAmount": {"amount": amount, "currency": "NOK"},
                "currencyAmount": {"amount": amount, "currency": "NOK"},
                "creditor": other if out else ours,
                "debtor": ours if out else other,
                "attachments": [],
                "complete": False,
            }
        )
        self.uploads[event_id] = []
        return event_id

    def _optional(self, value: dict[str, Any]) -> dict[str, Any]:
        if not self.style.nulls:
            return value
        nulls = dict.fromkeys(
            ("paymentId", "kid", "creditorEventId", "cardAuthorization", "purpose", "note")
        )
        return {**nulls, **value, "ledgerCategory": None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        reply = self.handle(scope, body)
        await _send(send, reply)

    def handle(self, scope: Scope, body: bytes) -> Reply:
        method, path = scope["method"], scope["path"].removeprefix("/v2")
        query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if headers.get("authorization") != f"Bearer {FOLIO_KEY}":
            return Reply(401)
        route = f"{method} {re.sub(r'/[0-9a-f-]{36}', '/{id}', path)}"
        queued = self.style.before.get(route)
        if queued:
            reply = queued.pop(0)
            if reply.commit:
                self._upload(path, body, headers)
            return reply
        answer = self._answer(route, path, body, headers, query)
        answer.delay = self.style.delay
        return answer

    def _in_window(self, query: dict[str, str]) -> list[dict[str, Any]]:
        start = dt.date.fromisoformat(query["startDate"])
        end = dt.date.fromisoformat(query.get("endDate", dt.date.today().isoformat()))
        return [
            t for t in self.transactions if start <= dt.date.fromisoformat(t["bookingDate"]) <= end
        ]

    def _with_uploads(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "attachments": list(self.uploads.get(item["eventId"], []))}

    def _upload(self, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        event_id = path.split("/")[2]
        assert headers["content-type"] in ("application/pdf", "image/jpeg", "image/png")
        match = re.search(r'filename="([^"]*)"', headers.get("content-disposition", ""))
        attachment = {
            "id": str(uuid.uuid4()),
            "filename": match.group(1) if match else "generated-name.pdf",
            "mimeType": headers["content-type"],
            "orgNum": "",
            "fileSize": len(body),
            "uploadedByAgentId": str(uuid.uuid4()),
            "averageColor": "#feddfe",
        }
        self.uploads[event_id].append(attachment)
        return attachment

    def _answer(
        self,
        route: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
        query: dict[str, str],
    ) -> Reply:
        style = self.style
        if route == "GET /accounts":
            moment = "2026-03-14T13:37:00+01:00"
            account = {
                "accountNumber": OPERATING,
                "balance": "1000.00",
                "balanceUpdatedAt": moment,
                "matchingTransactionsAt": moment,
                "completeTransactionsAt": moment,
                "name": "Drift",
                "type": "Operational",
            }
            return json_reply(200, {"accounts": [account]}, style)
        if route == "GET /transactions":
            booked = [self._optional(self._with_uploads(t)) for t in self._in_window(query)]
            return json_reply(200, {"transactions": {"booked": booked}}, style)
        if route == "GET /events":
            events = []
            for t in self._in_window(query):
                only = {
                    k: v for k, v in t.items() if k not in ("eventId", "attachments", "complete")
                }
                events.append(
                    self._optional(
                        {
                            "id": t["eventId"],
                            "time": f"{t['bookingDate']}T10:00:00.123456789Z",
                            "amount": t["currencyAmount"],
                            "transactions": [only],
                            "attachments": list(self.uploads[t["eventId"]]),
                            "complete": False,
                        }
                    )
                )
            return json_reply(200, {"events": events}, style)
        if route == "POST /events/{id}/attachments":
            if path.split("/")[2] not in self.uploads:
                return Reply(403)
            attachment = self._upload(path, body, headers)
            return json_reply(200, {"id": attachment["id"]}, style)
        return Reply(404)


@contextlib.asynccontextmanager
async def _folio(style: Style) -> AsyncIterator[tuple[OtherFolio, FolioBank, Sleeps]]:
    fake = OtherFolio(style)
    async with serve(fake) as base:
        sleeps = Sleeps()
        client = FolioClient(f"{base}/v2", FOLIO_KEY, timeout=2.0, sleep=sleeps, backoff=0.01)
        try:
            yield fake, FolioBank(client), sleeps
        finally:
            await client.aclose()


FOLIO_STYLES: dict[str, Callable[[], Style]] = {
    "plain": Style,
    "unknown-fields": lambda: Style(extra_fields=True),
    "fields-reversed": lambda: Style(reversed_order=True),
    "optional-null": lambda: Style(nulls=True),
    "gzip": lambda: Style(gzip=True),
    "charset": lambda: Style(charset=True),
    "429-seconds": lambda: Style(before={"GET /transactions": [too_many("1"), too_many("0")]}),
    "429-date": lambda: Style(before={"GET /transactions": [too_many(http_date(2))]}),
    "429-bare": lambda: Style(before={"GET /transactions": [too_many(None)]}),
    "503-html": lambda: Style(before={"GET /transactions": [html_503()]}),
    "500-empty": lambda: Style(before={"GET /transactions": [empty_500()]}),
}


@pytest.mark.parametrize(
    ("style", "spelling"),
    [(style, "bban") for style in FOLIO_STYLES] + [("plain", "iban"), ("plain", "dotted")],
)
async def test_folio_transactions_are_listed_with_their_direction(
    style: str, spelling: str
) -> None:
    async with _folio(FOLIO_STYLES[style]()) as (fake, bank, _sleeps):
        fake.own_spelling = spelling
        fake.book(DAY, "1250.00", out=True)
        fake.book(DAY, "0.01", out=False, text="Kunde AS")
        fake.book(DAY + dt.timedelta(days=40), "99999999999999.99", out=True)
        fake.book(DAY + dt.timedelta(days=90), "5.00", out=True)  # outside the range
        listed = await bank.transactions(DAY, DAY + dt.timedelta(days=60))
        assert [t.amount for t in listed] == [
            Decimal("-1250.00"),
            Decimal("0.01"),
            Decimal("-99999999999999.99"),
        ]
        assert {t.account_number for t in listed} == {OPERATING}
        events = await bank.events(DAY, DAY + dt.timedelta(days=60))
        assert [e.amount for e in events] == [t.amount for t in listed]
        assert [e.date for e in events] == [t.date for t in listed]


async def test_folio_a_slow_answer_within_the_timeout_is_taken() -> None:
    """Every answer 1.2 s late, the client's timeout 2 s: slow is not down."""
    async with _folio(Style(delay=1.2)) as (fake, bank, sleeps):
        fake.book(DAY, "1250.00", out=True)
        listed = await bank.transactions(DAY, DAY)
        assert [t.amount for t in listed] == [Decimal("-1250.00")] and not sleeps


@pytest.mark.parametrize("name", list(FOLIO_STYLES)[:6])
async def test_folio_receipt_upload_whose_answer_is_lost_is_found_not_repeated(
    name: str,
) -> None:
    style = FOLIO_STYLES[name]()
    style.before["POST /events/{id}/attachments"] = [Reply(502, commit=True)]
    async with _folio(style) as (fake, bank, _sleeps):
        event_id = fake.book(DAY, "1250.00", out=True)
        name = "bk-kvittering-æøå.pdf"
        with pytest.raises(ExternalUnavailable):
            await bank.attach_receipt(event_id, name, PDF, "application/pdf")
        found = await bank.find_attachment(event_id, name, DAY, size=len(PDF))
        assert found is not None
        assert [a["id"] for a in fake.uploads[event_id]] == [found]


# --- Norges Bank, SDMX-JSON 1.0 (sdmx-twg/sdmx-json field guide) ------------------------------

#: NOK per `10**exponent` units, by currency and banking day.
RATES = {
    ("EUR", dt.date(2026, 3, 13)): ("11.4725", 0),
    ("JPY", dt.date(2026, 3, 13)): ("7.0825", 2),
    ("SEK", dt.date(2026, 3, 12)): ("101.35", 2),
}


class OtherNorgesBank:
    """GET /api/data/EXR/B.{CUR}.NOK.SP as SDMX-JSON, with UNIT_MULT attached at the level
    `unit_level` ("series", "dataSet", "observation" or the component's "default"): the
    field guide lets an attribute's value be "attached physically in the message at a
    different level" than its definition says."""

    def __init__(self, unit_level: str = "series", style: Style | None = None) -> None:
        self.unit_level = unit_level
        self.style = style or Style()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _read_body(receive)
        query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
        queued = self.style.before.get("GET rates")
        reply = queued.pop(0) if queued else self.answer(scope["path"], query)
        await _send(send, reply)

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        currency = path.rsplit("/", 1)[1].split(".")[1]
        start = dt.date.fromisoformat(query["startPeriod"])
        end = dt.date.fromisoformat(query["endPeriod"])
        found = sorted(
            (day, rate)
            for (code, day), rate in RATES.items()
            if code == currency and start <= day <= end
        )
        if not found:
            return Reply(404, [("content-type", "text/plain")], b"NoResultsFound")
        exponent = found[0][1][1]
        unit = {"id": "UNIT_MULT", "name": "Unit Multiplier", "values": [{"id": str(exponent)}]}
        decimals = {"id": "DECIMALS", "values": [{"id": "4"}]}
        level = self.unit_level
        attributes: dict[str, list[dict[str, Any]]] = {
            "dataSet": [],
            "series": [decimals],
            "observation": [],
        }
        series: dict[str, Any] = {"attributes": [0]}
        data_set: dict[str, Any] = {"action": "Information"}
        observation_tail: list[Any] = []
        if level == "series":
            attributes["series"].append(unit)
            series["attributes"].append(0)
        elif level == "dataSet":
            attributes["dataSet"].append(unit)
            data_set["attributes"] = [0]
        elif level == "observation":
            attributes["observation"].append(unit)
            observation_tail = [0]
        else:  # no value anywhere: the component's default applies
            attributes["series"].append({**unit, "default": str(exponent)})
        series["observations"] = {
            str(i): [rate, *observation_tail] for i, (_, (rate, _)) in enumerate(found)
        }
        data_set["series"] = {"0:0:0:0": series}
        time = {
            "id": "TIME_PERIOD",
            "keyPosition": 4,
            "role": "time",
            "values": [
                {"id": day.isoformat(), "start": f"{day}T00:00:00", "end": f"{day}T23:59:59"}
                for day, _ in found
            ],
        }
        body = {
            "meta": {"id": "other", "prepared": "2026-03-14T10:00:00Z"},
            "data": {
                "dataSets": [data_set],
                "structure": {
                    "name": "Exchange rates",
                    "dimensions": {"dataSet": [], "series": [], "observation": [time]},
                    "attributes": attributes,
                },
            },
        }
        reply = json_reply(200, body, self.style)
        reply.headers[0] = (
            "content-type",
            "application/vnd.sdmx.data+json; version=1.0.0; charset=utf-8",
        )
        return reply


@contextlib.asynccontextmanager
async def _norges_bank(fake: OtherNorgesBank) -> AsyncIterator[NorgesBankRates]:
    async with serve(fake) as base:
        rates = NorgesBankRates(base_url=f"{base}/api", timeout=2.0)
        try:
            yield rates
        finally:
            await rates.aclose()


@pytest.mark.parametrize("level", ["series", "dataSet", "observation", "default"])
async def test_norges_bank_reads_the_unit_multiplier_wherever_it_is_attached(level: str) -> None:
    async with _norges_bank(OtherNorgesBank(level)) as rates:
        saturday = dt.date(2026, 3, 14)
        jpy = await rates.to_nok("JPY", saturday)
        assert (jpy.date, jpy.rate) == (dt.date(2026, 3, 13), Decimal("0.070825"))
        sek = await rates.to_nok("SEK", saturday)
        assert (sek.date, sek.rate) == (dt.date(2026, 3, 12), Decimal("1.0135"))
        eur = await rates.to_nok("EUR", saturday)
        assert eur.rate == Decimal("11.4725")


@pytest.mark.parametrize(
    "style",
    [
        Style(extra_fields=True),
        Style(reversed_order=True),
        Style(gzip=True),
        Style(before={"GET rates": [html_503()]}),
    ],
    ids=["unknown-fields", "fields-reversed", "gzip", "503-html-then-ok"],
)
async def test_norges_bank_other_answers_of_the_same_rate(style: Style) -> None:
    async with _norges_bank(OtherNorgesBank(style=style)) as rates:
        day = dt.date(2026, 3, 13)
        if style.before:
            with pytest.raises(ExternalUnavailable):
                await rates.to_nok("EUR", day)
        assert (await rates.to_nok("EUR", day)).rate == Decimal("11.4725")


# --- the Anthropic Admin API's cost and usage reports (integrations.md § 3) ---------------------

ADMIN_KEY = "sk-ant-admin01-other-fake"
#: (day, model) → (cents as the report spells them, input tokens, output tokens)
USAGE = {
    (dt.date(2026, 3, d), model): (cents, 1000 * d, 10 * d)
    for d in range(1, 15)
    for model, cents in (("claude-haiku-4-5", f"{d}.5"), ("claude-sonnet-4-5", "123456.789012"))
}


class OtherAnthropicAdmin:
    """Daily buckets, at most `per_page` of them per answer whatever `limit` asks (the
    rest behind an opaque `next_page`), `starting_at` spelled with `offset`."""

    def __init__(self, per_page: int, offset: str, style: Style | None = None) -> None:
        self.per_page = per_page
        self.offset = offset
        self.style = style or Style()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        assert headers["x-api-key"] == ADMIN_KEY and headers["anthropic-version"] == "2023-06-01"
        query = urllib.parse.parse_qs(scope["query_string"].decode())
        queued = self.style.before.get(scope["path"])
        reply = queued.pop(0) if queued else self.answer(scope["path"], query)
        await _send(send, reply)

    def answer(self, path: str, query: dict[str, list[str]]) -> Reply:
        start = dt.datetime.fromisoformat(query["starting_at"][0]).date()
        end = dt.datetime.fromisoformat(query["ending_at"][0]).date()  # exclusive
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        first = int(query.get("page", ["cursor-0"])[0].removeprefix("cursor-"))
        shown = days[first : first + min(self.per_page, int(query["limit"][0]))]
        buckets = []
        for day in shown:
            results: list[dict[str, Any]] = []
            for (when, model), (cents, tokens_in, tokens_out) in USAGE.items():
                if when != day:
                    continue
                if path.endswith("cost_report"):
                    results.append(
                        {
                            "currency": "USD",
                            "amount": cents,
                            "model": model,
                            "cost_type": "tokens",
                            "token_type": "output_tokens",
                            "description": f"{model} output",
                            "workspace_id": None,
                        }
                    )
                else:
                    results.append(
                        {
                            "uncached_input_tokens": tokens_in,
                            "cache_read_input_tokens": 0,
                            "cache_creation": {
                                "ephemeral_5m_input_tokens": 0,
                                "ephemeral_1h_input_tokens": None,
                            },
                            "output_tokens": tokens_out,
                            "server_tool_use": {"web_search_requests": 0},
                            "model": model,
                            "workspace_id": None,
                            "api_key_id": None,
                        }
                    )
            buckets.append(
                {
                    "starting_at": f"{day}T00:00:00{self.offset}",
                    "ending_at": f"{day + dt.timedelta(days=1)}T00:00:00{self.offset}",
                    "results": results,
                }
            )
        more = first + len(shown) < len(days)
        body = {
            "data": buckets,
            "has_more": more,
            "next_page": f"cursor-{first + len(shown)}" if more else None,
        }
        return json_reply(200, body, self.style)


@pytest.mark.parametrize(
    ("per_page", "offset", "style"),
    [
        (31, "Z", Style()),
        (7, "Z", Style()),
        (1, "+00:00", Style()),
        (5, "Z", Style(extra_fields=True, reversed_order=True, gzip=True, charset=True)),
        (7, "Z", Style(before={"/v1/organizations/cost_report": [too_many(http_date(1))]})),
        (7, "Z", Style(before={"/v1/organizations/usage_report/messages": [too_many(None)]})),
    ],
    ids=["one-page", "pages-of-7", "pages-of-1", "other-shapes", "429-date", "429-bare"],
)
async def test_anthropic_costs_are_read_across_every_page(
    per_page: int, offset: str, style: Style
) -> None:
    fake = OtherAnthropicAdmin(per_page, offset, style)
    sleeps = Sleeps()
    async with serve(fake) as base:
        source = AnthropicAdminUsage(ADMIN_KEY, base_url=base, timeout=2.0, sleep=sleeps)
        try:
            records = await source.costs(dt.date(2026, 3, 2), dt.date(2026, 3, 12))
        finally:
            await source.aclose()
    expected = {
        (day, model): (Decimal(cents) / 100, tokens_in, tokens_out)
        for (day, model), (cents, tokens_in, tokens_out) in USAGE.items()
        if dt.date(2026, 3, 2) <= day <= dt.date(2026, 3, 12)
    }
    assert {
        (r.day, r.model): (r.amount, r.input_tokens, r.output_tokens) for r in records
    } == expected
    assert all(r.currency == "USD" for r in records)
    assert len(sleeps) == (1 if style.before else 0)


# --- the Anthropic Messages API (integrations.md § 6), as the chat's intents call it ----------


class OtherMessages:
    """POST /v1/messages answering one forced tool call (the `costs` intent)."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = json.loads(await _read_body(receive))
        self.calls += 1
        assert scope["path"] == "/v1/messages" and request["tool_choice"]["type"] == "any"
        queued = self.style.before.get("POST messages")
        if queued:
            await _send(send, queued.pop(0))
            return
        message = {
            "id": "msg_01OtherFake",
            "type": "message",
            "role": "assistant",
            "model": request["model"],
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "costs",
                    "input": {"from": "2026-01-01", "to": "2026-03-31", "account": "6810"},
                }
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 812,
                "output_tokens": 41,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }
        reply = json_reply(200, message, self.style, [("request-id", "req_other")])
        reply.delay = self.style.delay
        await _send(send, reply)


def overloaded_html() -> Reply:
    return Reply(529, [("content-type", "text/html")], b"<html>Overloaded</html>")


@pytest.mark.parametrize(
    "style",
    [
        Style(),
        Style(gzip=True),
        Style(charset=True, extra_fields=True, reversed_order=True),
        Style(delay=1.2),
        Style(before={"POST messages": [overloaded_html()]}),
        Style(before={"POST messages": [empty_500()]}),
        Style(before={"POST messages": [too_many(http_date(1))]}),
        Style(before={"POST messages": [too_many(None)]}),
    ],
    ids=["plain", "gzip", "other-shapes", "slow", "529-html", "500-empty", "429-date", "429-bare"],
)
async def test_the_chats_intent_is_read_from_any_honest_answer(style: Style) -> None:
    fake = OtherMessages(style)
    sleeps = Sleeps()
    async with serve(fake) as base:
        classifier = ClaudeIntentClassifier(
            "sk-ant-api03-other", base_url=base, timeout=2.0, sleep=sleeps, jitter=lambda: 0.0
        )
        try:
            intent = await classifier.classify("hva brukte vi på konto 6810 i første kvartal?")
        finally:
            await classifier.aclose()
    assert (intent.name, intent.account) == ("costs", "6810")
    assert (intent.start, intent.end) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert intent.usage is not None
    assert fake.calls == 1 + len(sleeps)
