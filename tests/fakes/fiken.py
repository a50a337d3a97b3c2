"""A fake Fiken API v2 that speaks the documented contract on a loopback socket.

`FakeFiken` is the state (one company, its chart of accounts, contacts, purchases, journal
entries, attachments) and `.app` the ASGI application; `running_fake_fiken()` serves one and
yields `(fake, base_url)`, base_url ending in `/api/v2` as the real one does.

What it checks, as Fiken would: the bearer token (401); every request against its operation
in the vendored OpenAPI document — path, path and query parameters with their types and
formats, the body's media type and schema, multipart field names — as a fake generated from
the spec would (400 with a JSON error body, the problems also kept in `spec_violations`);
request bodies against their schemas again where they are handled; the business rules the
spec does not write down (a supplier purchase needs an existing supplierId, a cash purchase
is paid from a bank account, accounts exist, amounts are integers, attachments are
.pdf/.png/.jpeg/.jpg/.gif — a purchase's with attachToSale or attachToPayment true, a
general journal entry's (POST /journalEntries/{id}/attachments, listed back in its
`attachments`) with neither —, a journal entry's description fits with Fiken's prefix). POST
answers 201 with an empty body and a Location header with the full URL.

What it watches, always: requests that arrive while another request with the same token is
in flight (`concurrent_violations`, answered 429 like the real API) and the arrival times
(`max_requests_in_any_second()`).

Faults on demand, each for the next `n` matching requests (`method`, and `path`: a regular
expression searched in the path below /api/v2, e.g. r"/purchases$"):
`fail_next` (a status instead of an answer, optionally after committing),
`rate_limit_next` (429, optionally with Retry-After), `hang_next` (no answer, nothing
done, until the client gives up) and `commit_then_hang` (done, then no answer until the
client gives up: the "timeout after committing" case).

Assumptions where Fiken documents nothing (an adapter must not rely on them): the error body
shape, attachment download URLs ending in the file name (`download_urls` "opaque": not), a
general journal entry's Location pointing at /journalEntries/{id}, a second delete of a
purchase answering 400, and account balances that ignore VAT codes on journal entry lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import math
import operator
import re
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final, cast

from litestar import Litestar, Request, Response, Router, get, patch, post
from litestar.datastructures import UploadFile

from tests.fakes.contract import FIKEN_SPEC, errors, request_errors
from tests.fakes.hostile import Misbehaviour
from tests.fakes.server import serve

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AnyRequest = Request[Any, Any, Any]

DEFAULT_TOKEN: Final = "fiken-test-token"
DEFAULT_COMPANY: Final = "fiken-demo-as"
API_PREFIX: Final = "/api/v2"
JOURNAL_PREFIX: Final = "Fri postering registrert via API: "
BANK_ACCOUNT_CODE: Final = "1920:10001"

CHART: Final = {
    "1500": "Kundefordringer",
    "1920": "Bankinnskudd",
    BANK_ACCOUNT_CODE: "Driftskonto",
    "2400": "Leverandørgjeld",
    "2710": "Inngående merverdiavgift, høy sats",
    "2711": "Inngående merverdiavgift, middels sats",
    "2712": "Inngående merverdiavgift, råfisk",
    "2713": "Inngående merverdiavgift, lav sats",
    "2740": "Oppgjørskonto merverdiavgift",
    "3000": "Salgsinntekt, avgiftspliktig",
    "4000": "Innkjøp av råvarer og halvfabrikata",
    "6300": "Leie lokale",
    "6540": "Inventar",
    "6800": "Kontorrekvisita",
    "6900": "Telefon",
    "7140": "Reisekostnad, ikke oppgavepliktig",
    "7350": "Representasjon, fradragsberettiget",
    "7770": "Bank og kortgebyrer",
    "7790": "Annen kostnad, fradragsberettiget",
}

PURCHASE_VAT_TYPES: Final = frozenset(
    {
        "NONE",
        "HIGH",
        "MEDIUM",
        "RAW_FISH",
        "LOW",
        "HIGH_DIRECT",
        "HIGH_BASIS",
        "MEDIUM_DIRECT",
        "MEDIUM_BASIS",
        "NONE_IMPORT_BASIS",
        "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
        "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE",
        "LOW_FOREIGN_SERVICE_DEDUCTIBLE",
        "LOW_FOREIGN_SERVICE_NONDEDUCTIBLE",
        "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_DEDUCTIBLE",
        "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE",
    }
)
#: Where the fake books a purchase line's VAT, by vatType (for account balances).
#: (1 purchase | -1 sale, vatType) → the vatCode a journal entry line shows (SAF-T's).
TRADE_VAT_CODES: Final = {
    (1, "HIGH"): "1",
    (1, "MEDIUM"): "11",
    (1, "LOW"): "13",
    (-1, "HIGH"): "3",
    (-1, "MEDIUM"): "31",
    (-1, "LOW"): "33",
}
#: A journal entry line's numeric VAT code (SAF-T's) → (percent, its VAT account): the
#: input codes of a purchase (a supplier's credit note credits them) and the output codes.
JOURNAL_VAT_CODES: Final[dict[int, tuple[int, str]]] = {
    1: (25, "2710"),
    11: (15, "2711"),
    13: (12, "2713"),
    3: (25, "2700"),
    31: (15, "2700"),
    33: (12, "2700"),
}
VAT_ACCOUNT: Final = {"HIGH": "2710", "MEDIUM": "2711", "RAW_FISH": "2712", "LOW": "2713"}
#: Reverse charge (omvendt avgiftsplikt) by vatType: (vatCode, percent, the input VAT
#: account of the deduction or None: not deductible, the cost takes it). The fake posts
#: the VAT the buyer calculates on the net amount (today's rates), as Fiken does: output
#: VAT on 2700 and the deduction, while the supplier is owed the net amount.
REVERSE_CHARGE: Final[dict[str, tuple[str, int, str | None]]] = {
    "HIGH_FOREIGN_SERVICE_DEDUCTIBLE": ("86", 25, "2710"),
    "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE": ("87", 25, None),
    "LOW_FOREIGN_SERVICE_DEDUCTIBLE": ("88", 12, "2713"),
    "LOW_FOREIGN_SERVICE_NONDEDUCTIBLE": ("89", 12, None),
    "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_DEDUCTIBLE": ("91", 25, "2710"),
    "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE": ("92", 25, None),
}


def reverse_charge_lines(line: dict[str, Any], sign: int = 1) -> list[tuple[str, int, str]]:
    """(account, amount in øre debit positive, vatCode) of a reverse-charge purchase line:
    the cost at the net amount, the calculated VAT (half up) on 2700 and its deduction."""
    code, percent, deduction = REVERSE_CHARGE[line["vatType"]]
    net = line.get("netPrice", 0)
    vat = line.get("vat") or (abs(net) * percent + 50) // 100 * (1 if net >= 0 else -1)
    return [
        (line["account"], sign * net, code),
        ("2700", -sign * vat, code),
        (deduction or line["account"], sign * vat, code if deduction else ""),
    ]


def cash_purchase(
    date: str, lines: list[dict[str, Any]], currency: str = "NOK", **fields: Any
) -> dict[str, Any]:
    """A purchase paid at once from the bank account (BANK_ACCOUNT_CODE), as
    `FakeFiken.create_purchase` takes it: `fields` such as identifier or supplierId."""
    return {
        "date": date,
        "kind": "cash_purchase",
        "paid": True,
        "currency": currency,
        "paymentAccount": BANK_ACCOUNT_CODE,
        **fields,
        "lines": lines,
    }


ATTACHMENT_EXTENSIONS: Final = (".pdf", ".png", ".jpeg", ".jpg", ".gif")
MAX_PAGE_SIZE: Final = 100
DEFAULT_PAGE_SIZE: Final = 25


class Invalid(Exception):
    """A request the real API would answer 400."""


@dataclasses.dataclass
class SeenRequest:
    """One request as the fake received it (arrival and finish on the fake's clock)."""

    method: str
    path: str  # below /api/v2
    query: dict[str, str]
    arrived: float
    request_id: str | None
    authorized: bool = False
    concurrent: bool = False
    fault: str | None = None
    status: int | None = None
    finished: float | None = None
    #: The body as received (b"" when none, or gone before it was read).
    body: bytes = b""


@dataclasses.dataclass
class ReceivedAttachment:
    """One upload: to a purchase (`purchase_id`) or to a journal entry (`journal_entry_id`,
    whose endpoint has no attachToSale/attachToPayment: both False)."""

    purchase_id: int | None
    filename: str
    content: bytes
    content_type: str | None
    attach_to_sale: bool
    attach_to_payment: bool
    journal_entry_id: int | None = None


@dataclasses.dataclass
class _Fault:
    kind: str  # fail | rate_limit | hang | commit_then_hang
    remaining: int
    status: int = 500
    retry_after: float | None = None
    seconds: float = 30.0
    after_commit: bool = False
    method: str | None = None
    path: re.Pattern[str] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


class FakeFiken:
    """State and behaviour of one fake Fiken account with one company."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        company: str = DEFAULT_COMPANY,
        clock: Callable[[], float] = time.monotonic,
        today: dt.date | None = None,
        lists_trade_postings: bool = False,
    ) -> None:
        self.token = token
        #: GET /journalEntries also lists each purchase's and sale's own posting, under the
        #: purchase's or sale's transactionId (the spec's journalEntry and purchaseResult /
        #: saleResult share `transactionId`; its journalEntry example is a purchase).
        self.lists_trade_postings = lists_trade_postings
        #: Those postings, by transactionId (ids stable between reads).
        self._trade_postings: dict[int, dict[str, Any]] = {}
        self.slug = company
        self.company: dict[str, Any] = {
            "name": "Fiken Demo AS",
            "slug": company,
            "organizationNumber": "912345678",
            "vatType": "bi-monthly",
            "hasApiAccess": True,
            "testCompany": True,
            "creationDate": "2024-01-01",
        }
        self.accounts: dict[str, str] = dict(CHART)
        self.bank_accounts: list[dict[str, Any]] = [
            {
                "bankAccountId": 2747365,
                "name": "Driftskonto",
                "accountCode": BANK_ACCOUNT_CODE,
                "bankAccountNumber": "12345678903",
                "type": "normal",
                "inactive": False,
            }
        ]
        self.contacts: dict[int, dict[str, Any]] = {}
        self.purchases: dict[int, dict[str, Any]] = {}
        #: The POST /purchases bodies as received, by purchase id (write-only fields too).
        self.purchase_requests: dict[int, dict[str, Any]] = {}
        self.journal_entries: dict[int, dict[str, Any]] = {}
        #: Sales ("annet salg"), as GET /sales answers them (seeded: add_sale).
        self.sales: dict[int, dict[str, Any]] = {}
        self.journal_entry_requests: list[dict[str, Any]] = []
        self.attachments: list[ReceivedAttachment] = []
        #: (date, account, øre; debit positive) for account balances.
        self.postings: list[tuple[dt.date, str, int]] = []

        self.requests: list[SeenRequest] = []
        #: Called with a list's name ("journalEntries", "sales", "purchases") and the page
        #: asked for before GET of that list is answered: a test changes the records there,
        #: as someone working in Fiken while the import pages does.
        self.before_page: Callable[[str, int], None] | None = None
        #: Every way a request broke the spec's operation (contract.request_errors),
        #: answered 400 as a fake generated from the spec would answer it.
        self.spec_violations: list[str] = []
        self.concurrent_violations = 0
        self.max_in_flight = 0
        self._in_flight: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self._waiters: list[asyncio.Future[None]] = []
        #: Seconds every authorised request waits before it is handled (a slow Fiken).
        self.latency = 0.0
        #: What POST /generalJournalEntries' Location names (undocumented): the new
        #: journalEntries/{id}, its transactions/{id}, or generalJournalEntries/{an id of
        #: its own}.
        self.journal_entry_location = "journalEntries"
        #: How an attachment's downloadUrl reads (undocumented): "named", ending in the
        #: file name as uploaded, or "opaque", a file id only (nothing in it says the name).
        self.download_urls = "named"
        self._clock = clock
        self._today = today or dt.date(2026, 1, 1)
        self._ids = iter(range(1001, 10**9))
        #: The routes, as a plain ASGI callable for the limits and faults around them.
        self._litestar: Callable[[Scope, Receive, Send], Awaitable[None]] = cast(
            Any, self._build_app()
        )

        #: Broken answers on demand (tests/fakes/hostile.py).
        self.misbehave = Misbehaviour()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self.misbehave.serve(self._asgi, scope, receive, send)

        #: The ASGI application (a plain coroutine function, so servers detect ASGI 3).
        self.app = app

    # --- the ASGI application ---------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Limits, token and faults around the routes (Litestar)."""
        if scope["type"] != "http":
            await self._litestar(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = str(scope["path"])
        below = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        seen = SeenRequest(
            method=str(scope["method"]),
            path=below,
            query=dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            arrived=self._clock(),
            request_id=headers.get("x-request-id"),
        )
        self.requests.append(seen)
        self._wake()
        presented = headers.get("authorization", "")
        if self._in_flight.get(presented, 0) > 0:
            self.concurrent_violations += 1
            seen.concurrent = True
            await self._finish(seen, send, 429, _error("too_many_requests", "one at a time"))
            return
        self._in_flight[presented] = self._in_flight.get(presented, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight[presented])
        try:
            await self._handle(seen, presented, scope, receive, send)
        finally:
            self._in_flight[presented] -= 1
            seen.finished = self._clock()

    async def _handle(
        self, seen: SeenRequest, presented: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if presented != f"Bearer {self.token}":
            await self._finish(seen, send, 401, _error("unauthorized", "invalid bearer token"))
            return
        seen.authorized = True
        receive, problems = await _checked_against_spec(seen, scope, receive)
        if problems:
            # As a fake generated from the spec would: the request is refused unread.
            self.spec_violations.extend(problems)
            await self._finish(seen, send, 400, _error("bad_request", "; ".join(problems)))
            return
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(seen.method, seen.path)
        seen.fault = fault.kind if fault else None
        if fault is None:
            await self._litestar(scope, receive, _status_recorder(seen, send))
            return
        if fault.kind == "rate_limit":
            extra = [] if fault.retry_after is None else [("retry-after", _seconds(fault))]
            await self._finish(seen, send, 429, _error("too_many_requests", "slow down"), extra)
            return
        failed = [] if fault.retry_after is None else [("retry-after", _seconds(fault))]
        if fault.kind == "fail" and not fault.after_commit:
            await self._finish(seen, send, fault.status, _error("server_error", "injected"), failed)
            return
        if fault.kind == "hang":
            if not await _until_disconnect(receive, fault.seconds):
                await self._finish(seen, send, 504, _error("gateway_timeout", "injected hang"))
            return
        # Committing faults: let the routes do the work, then withhold or replace the answer.
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self._litestar(scope, receive, hold)
        if fault.kind == "fail":
            await self._finish(seen, send, fault.status, _error("server_error", "injected"), failed)
            return
        if await _until_disconnect(receive, fault.seconds):
            return
        recorder = _status_recorder(seen, send)
        for message in held:
            await recorder(message)

    async def _finish(
        self,
        seen: SeenRequest,
        send: Send,
        status: int,
        body: dict[str, Any],
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        seen.status = status
        payload = json.dumps(body).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
        raw += [(k.encode(), v.encode()) for k, v in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})

    # --- faults -----------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        after_commit: bool = False,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer `status` to the next n matching requests (after doing them, if asked),
        with Retry-After seconds if given (a 503 may say when to come back)."""
        self._add(
            "fail",
            n,
            method,
            path,
            status=status,
            after_commit=after_commit,
            retry_after=retry_after,
        )

    def rate_limit_next(
        self,
        n: int = 1,
        retry_after: float | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer 429 (with Retry-After seconds, if given) to the next n matching requests."""
        self._add("rate_limit", n, method, path, retry_after=retry_after)

    def hang_next(
        self,
        n: int = 1,
        seconds: float = 30.0,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Do nothing and answer nothing until the client disconnects (504 after `seconds`)."""
        self._add("hang", n, method, path, seconds=seconds)

    def commit_then_hang(
        self,
        n: int = 1,
        seconds: float = 30.0,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Do the request, then withhold the answer until the client disconnects (the
        answer is sent late if it has not after `seconds`)."""
        self._add("commit_then_hang", n, method, path, seconds=seconds)

    def clear_faults(self) -> None:
        self._faults.clear()

    def _add(self, kind: str, n: int, method: str | None, path: str | None, **options: Any) -> None:
        self._faults.append(
            _Fault(
                kind=kind,
                remaining=n,
                method=method.upper() if method else None,
                path=re.compile(path) if path else None,
                **options,
            )
        )

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None

    # --- what was seen ----------------------------------------------------------------

    def max_requests_in_any_window(self, seconds: float) -> int:
        """The most requests that arrived within any `seconds` long (half-open) window."""
        times = sorted(request.arrived for request in self.requests)
        best = start = 0
        for end, arrived in enumerate(times):
            while arrived - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def max_requests_in_any_second(self) -> int:
        return self.max_requests_in_any_window(1.0)

    async def arrived(self, count: int) -> None:
        """Wait until `count` requests have arrived (for tests that act mid-request)."""
        while len(self.requests) < count:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def purchases_with_reference(self, reference: str) -> list[dict[str, Any]]:
        """Purchases whose first line ends with `[reference]` or whose identifier it is."""
        tag = f"[{reference}]"
        return [
            p
            for p in self.purchases.values()
            if p.get("identifier") == reference
            or (p["lines"] and p["lines"][0]["description"].endswith(tag))
        ]

    def journal_entries_with_reference(self, reference: str) -> list[dict[str, Any]]:
        """General journal entries whose description ends with `[reference]`."""
        tag = f"[{reference}]"
        return [e for e in self.journal_entries.values() if e["description"].endswith(tag)]

    # --- seeding ----------------------------------------------------------------------

    def add_contact(
        self,
        name: str,
        organization_number: str | None = None,
        *,
        supplier: bool = True,
        customer: bool = False,
        inactive: bool = False,
    ) -> int:
        body: dict[str, Any] = {"name": name, "supplier": supplier, "customer": customer}
        if organization_number is not None:
            body["organizationNumber"] = organization_number
        if inactive:
            body["inactive"] = True
        return self.create_contact(body)

    def create_contact(self, body: dict[str, Any]) -> int:
        """POST /contacts without HTTP (validated the same way); the new contact's id."""
        _check(errors(FIKEN_SPEC, "contact", body))
        contact_id = next(self._ids)
        number = len(self.contacts) + 1
        contact = {
            "contactId": contact_id,
            "createdDate": self._today.isoformat(),
            "lastModifiedDate": self._today.isoformat(),
            "name": body["name"],
            "supplier": bool(body.get("supplier", False)),
            "customer": bool(body.get("customer", False)),
            "inactive": bool(body.get("inactive", False)),
        }
        for key in ("email", "organizationNumber", "bankAccountNumber"):
            if key in body:
                contact[key] = body[key]
        if contact["supplier"]:
            contact["supplierNumber"] = 20000 + number
            contact["supplierAccountCode"] = f"2400:{20000 + number}"
        if contact["customer"]:
            contact["customerNumber"] = 10000 + number
            contact["customerAccountCode"] = f"1500:{10000 + number}"
        self.contacts[contact_id] = contact
        return contact_id

    def create_purchase(self, body: dict[str, Any]) -> int:
        """POST /purchases without HTTP (validated the same way); the new purchase's id."""
        _check(errors(FIKEN_SPEC, "purchaseRequest", body))
        kind = body["kind"]
        supplier = None
        if kind == "supplier" and "supplierId" not in body:
            raise Invalid("supplierId is required for a supplier purchase")
        if "supplierId" in body:  # optional on a cash purchase (who was paid at once)
            supplier = self.contacts.get(body["supplierId"])
            if supplier is None:
                raise Invalid(f"no contact with id {body['supplierId']}")
        paid = body["paid"]
        if not isinstance(paid, bool):
            raise Invalid("paid must be a boolean")
        if kind == "cash_purchase" and not paid:
            raise Invalid("a cash purchase is paid")
        if paid and body.get("paymentAccount") not in self._bank_codes():
            raise Invalid("paymentAccount must be a bank account's accountCode")
        if paid and body["currency"] != "NOK" and "paymentAmountInNok" not in body:
            # The spec's purchaseRequest.paymentAmountInNok: "Required when creating a
            # purchase with payment in a foreign currency".
            raise Invalid("paymentAmountInNok is required for a payment in a foreign currency")
        lines = body["lines"]
        if not lines:
            raise Invalid("a purchase needs lines")
        gross = 0
        for index, line in enumerate(lines):
            for key in ("netPrice", "vat", "netPriceInCurrency", "vatInCurrency"):
                if key in line and type(line[key]) is not int:
                    raise Invalid(f"lines[{index}].{key} must be an integer (øre)")
            if "netPrice" not in line and "netPriceInCurrency" not in line:
                raise Invalid(f"lines[{index}] needs netPrice or netPriceInCurrency")
            if line["vatType"] not in PURCHASE_VAT_TYPES:
                raise Invalid(f"lines[{index}].vatType {line['vatType']!r} is not for purchases")
            self._check_account(line.get("account"), f"lines[{index}].account")
            reverse = line["vatType"] in REVERSE_CHARGE  # the VAT is the buyer's, not owed
            gross += line.get("netPrice", 0) + (0 if reverse else line.get("vat", 0))
        date = _date(body["date"], "date")
        purchase_id = next(self._ids)
        purchase: dict[str, Any] = {
            "purchaseId": purchase_id,
            "transactionId": next(self._ids),
            "date": body["date"],
            "kind": kind,
            "paid": paid,
            "currency": body["currency"],
            "lines": [
                {k: v for k, v in line.items() if k != "projectId"} for line in body["lines"]
            ],
            "payments": [],
            "purchaseAttachments": [],
            "deleted": False,
            "settled": paid,
        }
        for key in ("identifier", "dueDate"):
            if key in body:
                purchase[key] = body[key]
        if supplier is not None:
            purchase["supplier"] = supplier
        if paid:
            payment: dict[str, Any] = {
                "paymentId": next(self._ids),
                "date": body.get("paymentDate", body["date"]),
                "account": body["paymentAccount"],
                "amount": gross,
            }
            if body["currency"] != "NOK":
                # As Fiken reads a foreign payment back: the amount in the currency, and
                # what the bank paid in NOK (the request's paymentAmountInNok).
                in_currency = [line.get("netPriceInCurrency") for line in lines]
                if all(amount is not None for amount in in_currency):
                    payment["amount"] = sum(
                        line["netPriceInCurrency"]
                        + (0 if line["vatType"] in REVERSE_CHARGE else line.get("vatInCurrency", 0))
                        for line in lines
                    )
                payment["currency"] = body["currency"]
                payment["amountInNok"] = body["paymentAmountInNok"]
            purchase["payments"].append(payment)
            purchase["settledDate"] = body.get("paymentDate", body["date"])
        self.purchases[purchase_id] = purchase
        self.purchase_requests[purchase_id] = body
        credit = body["paymentAccount"] if paid else (supplier or {}).get("supplierAccountCode")
        self._post_purchase(date, lines, credit or "2400", sign=1)
        return purchase_id

    # --- the books' history (GET /journalEntries, /purchases, /sales) -----------------

    def add_journal_entry(
        self,
        date: dt.date,
        lines: Iterable[tuple[str, int] | tuple[str, int, str]],
        description: str = "Fri postering",
        *,
        modified: dt.date | None = None,
        cancelled: bool = False,
    ) -> int:
        """A journal entry as GET /journalEntries answers it (lines: account, øre signed
        debit positive, optional vatCode), checked against the spec's journalEntry."""
        entry_id = next(self._ids)
        read_lines = []
        for line in lines:
            row: dict[str, Any] = {"account": line[0], "amount": line[1]}
            if len(line) > 2:
                row["vatCode"] = line[2]
            read_lines.append(row)
        entry: dict[str, Any] = {
            "journalEntryId": entry_id,
            "journalEntryNumber": len(self.journal_entries) + 1,
            "transactionId": next(self._ids),
            "createdDate": (modified or self._today).isoformat(),
            "lastModifiedDate": (modified or self._today).isoformat(),
            "description": description,
            "date": date.isoformat(),
            "lines": read_lines,
            "attachments": [],
        }
        if cancelled:
            entry["offsetTransactionId"] = next(self._ids)
        _check(errors(FIKEN_SPEC, "journalEntry", entry))
        self.journal_entries[entry_id] = entry
        return entry_id

    def cancel_journal_entry(
        self, entry_id: int, date: dt.date | None = None, description: str | None = None
    ) -> int:
        """Delete a journal entry as Fiken does: a balancing entry of the opposite lines
        (dated `date`, else the entry's own day) is added, and the entry names its
        transaction as `offsetTransactionId`, modified today. Returns the balancing entry,
        listed after the cancelled one."""
        entry = self.journal_entries[entry_id]
        balancing = self.add_journal_entry(
            date or dt.date.fromisoformat(entry["date"]),
            [
                (
                    line["account"],
                    -line["amount"],
                    *([line["vatCode"]] if "vatCode" in line else []),
                )
                for line in entry["lines"]
            ],
            description or f"{entry['description']} (slettet)",
        )
        entry.update(
            offsetTransactionId=self.journal_entries[balancing]["transactionId"],
            lastModifiedDate=self._today.isoformat(),
        )
        return balancing

    def add_sale(
        self,
        date: dt.date,
        lines: Iterable[dict[str, Any]],
        *,
        kind: str = "invoice",
        customer_id: int | None = None,
        sale_number: str | None = None,
        payments: Iterable[tuple[dt.date, str, int]] = (),
        modified: dt.date | None = None,
        deleted: bool = False,
    ) -> int:
        """A sale as GET /sales answers it (lines as orderLine: description, vatType,
        netPrice, vat, account), checked against the spec's saleResult."""
        sale_id = next(self._ids)
        order_lines = list(lines)
        net = sum(line.get("netPrice", 0) for line in order_lines)
        vat = sum(line.get("vat", 0) for line in order_lines)
        paid = [
            {"paymentId": next(self._ids), "date": d.isoformat(), "account": a, "amount": m}
            for d, a, m in payments
        ]
        sale: dict[str, Any] = {
            "saleId": sale_id,
            "transactionId": next(self._ids),
            "lastModifiedDate": (modified or self._today).isoformat(),
            "date": date.isoformat(),
            "kind": kind,
            "netAmount": net,
            "vatAmount": vat,
            "settled": sum(p["amount"] for p in paid) >= net + vat,
            "writeOff": False,
            "totalPaid": sum(p["amount"] for p in paid),
            "outstandingBalance": net + vat - sum(p["amount"] for p in paid),
            "lines": order_lines,
            "currency": "NOK",
            "salePayments": paid,
            "saleAttachments": [],
            "deleted": deleted,
        }
        if sale_number is not None:
            sale["saleNumber"] = sale_number
        if customer_id is not None:
            sale["customer"] = self.contacts[customer_id]
        _check(errors(FIKEN_SPEC, "saleResult", sale))
        self.sales[sale_id] = sale
        return sale_id

    def pay_purchase(self, purchase_id: int, date: dt.date, account: str, amount: int) -> None:
        """A payment of a purchase registered in Fiken (settles it when it covers it)."""
        purchase = self.purchases[purchase_id]
        purchase["payments"].append(
            {
                "paymentId": next(self._ids),
                "date": date.isoformat(),
                "account": account,
                "amount": amount,
            }
        )
        gross = sum(
            line.get("netPrice", 0)
            + (0 if line["vatType"] in REVERSE_CHARGE else line.get("vat", 0))
            for line in purchase["lines"]
        )
        if sum(p["amount"] for p in purchase["payments"]) >= gross:
            purchase["paid"] = purchase["settled"] = True
            purchase["settledDate"] = date.isoformat()

    def trade_postings(self) -> list[dict[str, Any]]:
        """The journal entries of purchases and sales (when `lists_trade_postings`): one
        per purchase or sale, under its transactionId, lines as its posting (debit
        positive, vatCode of its vatType), checked against the spec's journalEntry."""
        if not self.lists_trade_postings:
            return []
        for record, sign, name in [
            *((p, 1, "Purchase") for p in self.purchases.values() if "lines" in p),
            *((s, -1, "Sale") for s in self.sales.values() if "lines" in s),
        ]:
            transaction = record.get("transactionId")
            if transaction is None or transaction in self._trade_postings:
                continue
            lines: list[dict[str, Any]] = []
            gross = 0
            for line in record["lines"]:
                if sign > 0 and line["vatType"] in REVERSE_CHARGE:
                    for account, amount, vat_code in reverse_charge_lines(line):
                        posted: dict[str, Any] = {"account": account, "amount": amount}
                        if vat_code:
                            posted["vatCode"] = vat_code
                        lines.append(posted)
                    gross += line.get("netPrice", 0)
                    continue
                net, vat = line.get("netPrice", 0), line.get("vat", 0)
                code = TRADE_VAT_CODES.get((sign, line["vatType"]))
                vat_account = (
                    (VAT_ACCOUNT.get(line["vatType"]) if sign > 0 else "2700") if vat else None
                )
                row: dict[str, Any] = {"account": line["account"], "amount": sign * net}
                if code:
                    row["vatCode"] = code
                lines.append(row)
                if vat_account:
                    lines.append({"account": vat_account, "amount": sign * vat})
                else:
                    row["amount"] = sign * (net + vat)
                gross += net + vat
            party = record.get("supplier") if sign > 0 else record.get("customer")
            payments = record.get("payments") or record.get("salePayments") or []
            counter = (
                (party or {}).get("supplierAccountCode" if sign > 0 else "customerAccountCode")
                if record["kind"] in ("supplier", "invoice")
                else payments[0]["account"]
                if payments
                else BANK_ACCOUNT_CODE
            )
            lines.append({"account": counter or "2400", "amount": -sign * gross})
            entry = {
                "journalEntryId": next(self._ids),
                "journalEntryNumber": len(self.journal_entries) + len(self._trade_postings) + 1,
                "transactionId": transaction,
                "createdDate": record["date"],
                "lastModifiedDate": record.get("lastModifiedDate", self._today.isoformat()),
                "description": f"{name}, {(party or {}).get('name', '')}".rstrip(", "),
                "date": record["date"],
                "lines": lines,
                "attachments": [],
            }
            _check(errors(FIKEN_SPEC, "journalEntry", entry))
            self._trade_postings[transaction] = entry
        return list(self._trade_postings.values())

    def add_raw(self, what: str, record: dict[str, Any]) -> None:
        """A record exactly as given, unchecked: what a broken answer would hold
        (`what`: journalEntries, purchases or sales; the record keeps its own id)."""
        table = {
            "journalEntries": (self.journal_entries, "journalEntryId"),
            "purchases": (self.purchases, "purchaseId"),
            "sales": (self.sales, "saleId"),
        }[what]
        table[0][record.get(table[1], next(self._ids))] = record

    # --- routes -----------------------------------------------------------------------

    def _build_app(self) -> Litestar:
        fake = self

        @get("/companies", sync_to_thread=False)
        def companies(request: AnyRequest) -> Response[bytes]:
            return fake._paged(request, [fake.company])

        @get("/companies/{slug:str}", sync_to_thread=False)
        def company(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            return _json(fake.company)

        @get("/companies/{slug:str}/accounts", sync_to_thread=False)
        def accounts(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            rows = [{"code": code, "name": name} for code, name in sorted(fake.accounts.items())]
            return fake._paged(request, rows)

        @get("/companies/{slug:str}/accountBalances", sync_to_thread=False)
        def account_balances(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            if "date" not in request.query_params:
                raise Invalid("date is required")
            at = _date(request.query_params["date"], "date")
            return fake._paged(request, fake.balances(at))

        @get("/companies/{slug:str}/bankAccounts", sync_to_thread=False)
        def bank_accounts(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            rows = fake.bank_accounts
            if "inactive" in request.query_params:
                wanted = request.query_params["inactive"] == "true"
                rows = [row for row in rows if row["inactive"] == wanted]
            return fake._paged(request, rows)

        @get("/companies/{slug:str}/contacts", sync_to_thread=False)
        def contacts(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            query = request.query_params
            rows = list(fake.contacts.values())
            for key in ("name", "organizationNumber", "email"):
                if key in query:
                    rows = [row for row in rows if row.get(key) == query[key]]
            for key in ("supplier", "customer"):
                if query.get(key) == "true":
                    rows = [row for row in rows if row[key]]
            if "inactive" in query:
                rows = [row for row in rows if row["inactive"] == (query["inactive"] == "true")]
            return fake._paged(request, rows)

        @get("/companies/{slug:str}/contacts/{contact_id:int}", sync_to_thread=False)
        def contact(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            return _json(_found(fake.contacts.get(request.path_params["contact_id"])))

        @post("/companies/{slug:str}/contacts")
        async def create_contact(request: AnyRequest) -> Response[bytes]:
            slug = fake._company(request)
            contact_id = fake.create_contact(await _body(request))
            return _created(request, f"/companies/{slug}/contacts/{contact_id}")

        @get("/companies/{slug:str}/purchases", sync_to_thread=False)
        def purchases(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            fake._paging("purchases", request)
            rows = _by_date(fake.purchases.values(), request.query_params)
            rows = _by_date(rows, request.query_params, "settledDate", "settledDate")
            if "paid" in request.query_params:
                rows = [p for p in rows if p["paid"] == (request.query_params["paid"] == "true")]
            return fake._paged(request, rows)

        @post("/companies/{slug:str}/purchases")
        async def create_purchase(request: AnyRequest) -> Response[bytes]:
            slug = fake._company(request)
            purchase_id = fake.create_purchase(await _body(request))
            return _created(request, f"/companies/{slug}/purchases/{purchase_id}")

        @get("/companies/{slug:str}/purchases/{purchase_id:int}", sync_to_thread=False)
        def purchase(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            return _json(fake._purchase(request))

        @get("/companies/{slug:str}/purchases/{purchase_id:int}/attachments", sync_to_thread=False)
        def purchase_attachments(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            return _json(fake._purchase(request)["purchaseAttachments"])

        @post("/companies/{slug:str}/purchases/{purchase_id:int}/attachments")
        async def attach(request: AnyRequest) -> Response[bytes]:
            slug = fake._company(request)
            return await fake._attach(request, slug, fake._purchase(request))

        @patch("/companies/{slug:str}/purchases/{purchase_id:int}/delete", sync_to_thread=False)
        def delete_purchase(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            target = fake._purchase(request)
            if not request.query_params.get("description", "").strip():
                raise Invalid("description is required")
            if target["deleted"]:
                raise Invalid("the purchase is already deleted")
            target["deleted"] = True
            target["deletedDescription"] = request.query_params["description"]
            credit = (
                target["payments"][0]["account"]
                if target["paid"]
                else target.get("supplier", {}).get("supplierAccountCode", "2400")
            )
            fake._post_purchase(_date(target["date"], "date"), target["lines"], credit, sign=-1)
            return _json(target)

        @post("/companies/{slug:str}/generalJournalEntries")
        async def create_journal_entries(request: AnyRequest) -> Response[bytes]:
            slug = fake._company(request)
            ids = fake._create_journal_entries(await _body(request))
            entry = fake.journal_entries[ids[0]]
            # Which resource the Location names is not documented ("Full URL of newly
            # created General Journal Entry"): the journal entry unless told otherwise.
            named = {
                "journalEntries": entry["journalEntryId"],
                "transactions": entry["transactionId"],
                "generalJournalEntries": entry["journalEntryId"] + 500_000,
            }[fake.journal_entry_location]
            return _created(request, f"/companies/{slug}/{fake.journal_entry_location}/{named}")

        @get("/companies/{slug:str}/journalEntries", sync_to_thread=False)
        def journal_entries(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            fake._paging("journalEntries", request)
            listed = [*fake.journal_entries.values(), *fake.trade_postings()]
            rows = _by_date(listed, request.query_params)
            rows = _by_date(rows, request.query_params, "lastModified", "lastModifiedDate")
            rows = _by_date(rows, request.query_params, "createdDate", "createdDate")
            return fake._paged(request, rows)

        @get("/companies/{slug:str}/sales", sync_to_thread=False)
        def sales(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            fake._paging("sales", request)
            query = request.query_params
            rows = _by_date(fake.sales.values(), query)
            rows = _by_date(rows, query, "lastModified", "lastModifiedDate")
            if "saleNumber" in query:
                rows = [row for row in rows if row.get("saleNumber") == query["saleNumber"]]
            if "settled" in query:
                rows = [row for row in rows if row.get("settled") == (query["settled"] == "true")]
            if "contactId" in query:
                rows = [
                    row
                    for row in rows
                    if str(row.get("customer", {}).get("contactId")) == query["contactId"]
                ]
            return fake._paged(request, rows)

        @get("/companies/{slug:str}/sales/{sale_id:int}", sync_to_thread=False)
        def sale(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            return _json(_found(fake.sales.get(request.path_params["sale_id"])))

        @get("/companies/{slug:str}/journalEntries/{entry_id:int}", sync_to_thread=False)
        def journal_entry(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            entry_id = request.path_params["entry_id"]
            found = fake.journal_entries.get(entry_id) or next(
                (e for e in fake.trade_postings() if e["journalEntryId"] == entry_id), None
            )
            return _json(_found(found))

        @get(
            "/companies/{slug:str}/journalEntries/{entry_id:int}/attachments",
            sync_to_thread=False,
        )
        def journal_entry_attachments(request: AnyRequest) -> Response[bytes]:
            fake._company(request)
            return _json(fake._journal_entry(request)["attachments"])

        @post("/companies/{slug:str}/journalEntries/{entry_id:int}/attachments")
        async def attach_to_journal_entry(request: AnyRequest) -> Response[bytes]:
            slug = fake._company(request)
            return await fake._attach_to_journal_entry(request, slug, fake._journal_entry(request))

        handlers = [
            companies,
            company,
            accounts,
            account_balances,
            bank_accounts,
            contacts,
            contact,
            create_contact,
            purchases,
            create_purchase,
            purchase,
            purchase_attachments,
            attach,
            delete_purchase,
            create_journal_entries,
            journal_entries,
            journal_entry,
            journal_entry_attachments,
            attach_to_journal_entry,
            sales,
            sale,
        ]
        return Litestar(
            route_handlers=[Router(path=API_PREFIX, route_handlers=handlers)],
            exception_handlers={Invalid: _invalid, _NotFound: _not_found},
            openapi_config=None,
            logging_config=None,
        )

    # --- behaviour behind the routes ----------------------------------------------------

    def _company(self, request: AnyRequest) -> str:
        slug = str(request.path_params["slug"])
        if slug != self.slug:
            raise _NotFound(f"no company {slug}")
        return slug

    def _purchase(self, request: AnyRequest) -> dict[str, Any]:
        return _found(self.purchases.get(request.path_params["purchase_id"]))

    def _journal_entry(self, request: AnyRequest) -> dict[str, Any]:
        """A general journal entry by its id (a purchase's or sale's own posting, which
        GET /journalEntries also lists, takes no attachment here: 404)."""
        return _found(self.journal_entries.get(request.path_params["entry_id"]))

    def _paging(self, name: str, request: AnyRequest) -> None:
        if self.before_page is not None:
            page = request.query_params.get("page", "0")
            self.before_page(name, int(page) if page.isdigit() else 0)

    def _paged(self, request: AnyRequest, rows: list[dict[str, Any]]) -> Response[bytes]:
        query = request.query_params
        try:
            page = int(query.get("page", 0))
            size = int(query.get("pageSize", DEFAULT_PAGE_SIZE))
        except ValueError:
            raise Invalid("page and pageSize are integers") from None
        if page < 0 or not 1 <= size <= MAX_PAGE_SIZE:
            raise Invalid(f"page >= 0 and 1 <= pageSize <= {MAX_PAGE_SIZE}")
        chunk = rows[page * size : (page + 1) * size]
        headers = {
            "Fiken-Api-Page": str(page),
            "Fiken-Api-Page-Size": str(size),
            "Fiken-Api-Page-Count": str(math.ceil(len(rows) / size)),
            "Fiken-Api-Result-Count": str(len(rows)),
        }
        return _json(chunk, headers=headers)

    def _bank_codes(self) -> set[str]:
        return {account["accountCode"] for account in self.bank_accounts}

    def _check_account(self, code: Any, where: str) -> None:
        if not isinstance(code, str) or not code:
            raise Invalid(f"{where} is required")
        base = code.split(":", 1)[0]
        if base not in self.accounts:
            raise Invalid(f"{where} {code!r} is not in the chart of accounts")

    def _post_purchase(
        self, date: dt.date, lines: list[dict[str, Any]], credit: str, *, sign: int
    ) -> None:
        gross = 0
        for line in lines:
            if line["vatType"] in REVERSE_CHARGE:  # owed: the net amount
                for account, amount, _code in reverse_charge_lines(line, sign):
                    self.postings.append((date, account, amount))
                gross += line.get("netPrice", 0)
                continue
            net, vat = line.get("netPrice", 0), line.get("vat", 0)
            vat_account = VAT_ACCOUNT.get(line["vatType"]) if vat else None
            if vat_account:
                self.postings.append((date, line["account"], sign * net))
                self.postings.append((date, vat_account, sign * vat))
            else:  # no deductible VAT: the cost takes it all
                self.postings.append((date, line["account"], sign * (net + vat)))
            gross += net + vat
        self.postings.append((date, credit, -sign * gross))

    def balances(self, at: dt.date) -> list[dict[str, Any]]:
        totals: dict[str, int] = dict.fromkeys(self.accounts, 0)
        for date, account, amount in self.postings:
            if date <= at:
                totals[account] = totals.get(account, 0) + amount
        names = dict(self.accounts)
        for contact in self.contacts.values():
            if "supplierAccountCode" in contact:
                names[contact["supplierAccountCode"]] = contact["name"]
        return [
            {"code": code, "name": names.get(code, ""), "balance": balance}
            for code, balance in sorted(totals.items())
        ]

    async def _upload(self, request: AnyRequest) -> tuple[str, bytes, str | None]:
        """The multipart `filename` and `file` of an attachment (both endpoints' body)."""
        form = await request.form()
        filename, upload = form.get("filename"), form.get("file")
        if not isinstance(filename, str) or not filename:
            raise Invalid("filename is required")
        if not filename.lower().endswith(ATTACHMENT_EXTENSIONS):
            raise Invalid("filename must end with .png, .jpeg, .jpg, .gif or .pdf")
        if not isinstance(upload, UploadFile):
            raise Invalid("file is required")
        return filename, await upload.read(), upload.content_type

    def _listed_attachment(self, request: AnyRequest, filename: str, kind: str) -> dict[str, Any]:
        """An attachment as the spec's `attachment` schema reads it back (its download URL
        ending in the file name: an assumption, see the module's docstring)."""
        root = str(request.base_url).rstrip("/")
        named = f"/{urllib.parse.quote(filename)}" if self.download_urls == "named" else ""
        return {
            "identifier": str(len(self.attachments)),
            "downloadUrl": f"{root}{API_PREFIX}/files/{uuid.uuid4()}{named}",
            "comment": "",
            "type": kind,
        }

    async def _attach_to_journal_entry(
        self, request: AnyRequest, slug: str, target: dict[str, Any]
    ) -> Response[bytes]:
        """POST /journalEntries/{id}/attachments (addAttachmentToJournalEntry): multipart
        `filename` and `file`, no query parameters; 201 with the attachment's Location."""
        filename, content, content_type = await self._upload(request)
        self.attachments.append(
            ReceivedAttachment(
                purchase_id=None,
                filename=filename,
                content=content,
                content_type=content_type,
                attach_to_sale=False,
                attach_to_payment=False,
                journal_entry_id=target["journalEntryId"],
            )
        )
        target["attachments"].append(self._listed_attachment(request, filename, "unspecified"))
        number = len(self.attachments)
        return _created(
            request,
            f"/companies/{slug}/journalEntries/{target['journalEntryId']}/attachments/{number}",
        )

    async def _attach(
        self, request: AnyRequest, slug: str, target: dict[str, Any]
    ) -> Response[bytes]:
        to_sale = request.query_params.get("attachToSale") == "true"
        to_payment = request.query_params.get("attachToPayment") == "true"
        if not (to_sale or to_payment):
            raise Invalid("at least one of attachToPayment and attachToSale must be true")
        filename, content, content_type = await self._upload(request)
        self.attachments.append(
            ReceivedAttachment(
                purchase_id=target["purchaseId"],
                filename=filename,
                content=content,
                content_type=content_type,
                attach_to_sale=to_sale,
                attach_to_payment=to_payment,
            )
        )
        number = len(self.attachments)
        target["purchaseAttachments"].append(
            self._listed_attachment(request, filename, "invoice" if to_sale else "unspecified")
        )
        return _created(
            request, f"/companies/{slug}/purchases/{target['purchaseId']}/attachments/{number}"
        )

    def _create_journal_entries(self, body: dict[str, Any]) -> list[int]:
        _check(errors(FIKEN_SPEC, "generalJournalEntryRequest", body))
        entries = body["journalEntries"]
        if not entries:
            raise Invalid("journalEntries must not be empty")
        for index, entry in enumerate(entries):
            if len(JOURNAL_PREFIX + entry["description"]) > 200:
                raise Invalid(
                    f"journalEntries[{index}].description is too long with {JOURNAL_PREFIX!r}"
                )
            _date(entry["date"], f"journalEntries[{index}].date")
            if not entry["lines"]:
                raise Invalid(f"journalEntries[{index}].lines must not be empty")
            for number, line in enumerate(entry["lines"]):
                where = f"journalEntries[{index}].lines[{number}]"
                if type(line["amount"]) is not int:
                    raise Invalid(f"{where}.amount must be an integer (øre)")
                if "debitAccount" not in line and "creditAccount" not in line:
                    raise Invalid(f"{where} needs a debitAccount or a creditAccount")
                for side in ("debitAccount", "creditAccount"):
                    if side in line:
                        self._check_account(line[side], f"{where}.{side}")
        self.journal_entry_requests.append(body)
        ids = []
        for entry in entries:
            entry_id = next(self._ids)
            date = _date(entry["date"], "date")
            lines = []
            for line in entry["lines"]:
                for side, sign in (("debit", 1), ("credit", -1)):
                    account = line.get(f"{side}Account")
                    if account is None:
                        continue
                    code = line.get(f"{side}VatCode")
                    # Fiken derives the VAT from the code (the spec's journalEntryLine):
                    # a debit line's amount is net (its VAT comes on top), a credit
                    # line's is gross (its VAT comes out of it).
                    amount, vat = line["amount"], 0
                    if code in JOURNAL_VAT_CODES:
                        percent, _ = JOURNAL_VAT_CODES[code]
                        if side == "debit":
                            vat = (amount * percent + 50) // 100
                        else:
                            vat = amount - (amount * 100 * 100 // (100 + percent) + 50) // 100
                            amount -= vat
                    read: dict[str, Any] = {"amount": sign * amount, "account": account}
                    if code is not None:
                        read["vatCode"] = str(code)
                    lines.append(read)
                    self.postings.append((date, account, sign * amount))
                    if vat:
                        vat_account = JOURNAL_VAT_CODES[code][1]
                        lines.append(
                            {"amount": sign * vat, "account": vat_account, "vatCode": str(code)}
                        )
                        self.postings.append((date, vat_account, sign * vat))
            self.journal_entries[entry_id] = {
                "journalEntryId": entry_id,
                "journalEntryNumber": len(self.journal_entries) + 1,
                "transactionId": next(self._ids),
                "createdDate": self._today.isoformat(),
                "lastModifiedDate": self._today.isoformat(),
                "description": JOURNAL_PREFIX + entry["description"],
                "date": entry["date"],
                "lines": lines,
                "attachments": [],
            }
            ids.append(entry_id)
        return ids


@contextlib.asynccontextmanager
async def running_fake_fiken(**options: Any) -> AsyncIterator[tuple[FakeFiken, str]]:
    """A FakeFiken served on loopback for the block: `(fake, base_url)`, where base_url
    ends in /api/v2 like Fiken's. Options go to FakeFiken (token, company, clock …)."""
    fake = FakeFiken(**options)
    async with serve(fake.app) as root:
        yield fake, f"{root}{API_PREFIX}"


class FikenServer:
    """A fake Fiken on loopback whose state is replaced between tests: a server costs about
    0.2 s to stop, a fresh FakeFiken nothing. `fake` is the one answering now."""

    def __init__(self, fake: FakeFiken) -> None:
        self.fake = fake
        self.base_url = ""

    def fresh(self, **options: Any) -> FakeFiken:
        """Answer from now on with a new FakeFiken (options as for FakeFiken)."""
        self.fake = FakeFiken(**options)
        return self.fake


@contextlib.asynccontextmanager
async def running_fiken_server(**options: Any) -> AsyncIterator[FikenServer]:
    """A FikenServer served on loopback for the block (for module-scoped fixtures)."""
    server = FikenServer(FakeFiken(**options))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await server.fake.app(scope, receive, send)

    async with serve(app) as root:
        server.base_url = f"{root}{API_PREFIX}"
        yield server


# --- helpers ---------------------------------------------------------------------------


class _NotFound(Exception):
    pass


def _invalid(request: AnyRequest, error: Exception) -> Response[bytes]:
    return _json(_error("bad_request", str(error)), status=400)


def _not_found(request: AnyRequest, error: Exception) -> Response[bytes]:
    return _json(_error("not_found", str(error)), status=404)


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}


def _check(problems: list[str]) -> None:
    if problems:
        raise Invalid("; ".join(problems))


def _found(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        raise _NotFound("not found")
    return row


def _json(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=json.dumps(body).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _created(request: AnyRequest, path: str) -> Response[bytes]:
    root = str(request.base_url).rstrip("/")
    return Response(content=b"", status_code=201, headers={"Location": f"{root}{API_PREFIX}{path}"})


async def _body(request: AnyRequest) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Invalid("application/json only")  # the real API answers 415
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(f"{where} must be a date yyyy-MM-dd") from None


def _by_date(
    rows: Iterable[dict[str, Any]], query: Any, param: str = "date", field: str = "date"
) -> list[dict[str, Any]]:
    """Fiken's date filters on `field`: `param`, and with Le, Lt, Ge, Gt (date, dateLe …;
    lastModified, lastModifiedGe …). A row without the field passes no filter on it."""
    compare: dict[str, Callable[[dt.date, dt.date], bool]] = {
        param: operator.eq,
        f"{param}Le": operator.le,
        f"{param}Lt": operator.lt,
        f"{param}Ge": operator.ge,
        f"{param}Gt": operator.gt,
    }
    bounds = [(compare[key], _date(query[key], key)) for key in compare if key in query]
    if not bounds:
        return list(rows)
    return [
        row
        for row in rows
        if row.get(field) is not None
        and all(test(_date(row[field], field), bound) for test, bound in bounds)
    ]


async def _checked_against_spec(
    seen: SeenRequest, scope: Scope, receive: Receive
) -> tuple[Receive, list[str]]:
    """The request's body read (and handed on by the returned `receive`), and every way
    the request breaks its operation in the spec."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return receive, []  # gone before it was read: nothing to check
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = seen.body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    query = urllib.parse.parse_qsl(
        scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
    )
    problems = request_errors(FIKEN_SPEC, seen.method, seen.path, query, headers, body)
    return replay, problems


def _seconds(fault: _Fault) -> str:
    value = fault.retry_after or 0
    return str(int(value)) if float(value).is_integer() else str(value)


def _status_recorder(seen: SeenRequest, send: Send) -> Send:
    async def record(message: Message) -> None:
        if message["type"] == "http.response.start":
            seen.status = int(message["status"])
        await send(message)

    return record


async def _until_disconnect(receive: Receive, seconds: float) -> bool:
    """Wait (reading and dropping any body) until the client disconnects; False if it is
    still connected after `seconds`."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), seconds)
    except TimeoutError:
        return False
    return True
