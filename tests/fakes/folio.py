"""A fake Folio REST API v2 on loopback: its contract, some seeded data, and switches for faults.

`FakeFolio` is the state (accounts, events with their booked transactions, attachments) and
`fake.app` the ASGI app serving it under /v2, as https://api.folio.no/v2 does. Everything it
answers is shaped by tests/fakes/contracts/folio-openapi.yml: amounts are unsigned decimal
strings of kroner and the direction of money is in debtor/creditor, as the spec has it.
Each JSON body it produces is also checked against the spec's schema; anything that does not
conform lands in `fake.violations`, which a test asserts empty. Each request is checked
against its operation in the spec (path, uuid ids, query parameters, headers, the body's
media type and schema) and refused, as a fake generated from the spec would, when it breaks
it: 400, or 415 for a media type the operation does not take (`fake.spec_violations`).

Where the spec says nothing, the fake does what Folio documents elsewhere or what the
community mock does: an unknown event on a write (attachments, complete) answers 403, as
PATCH /events/{id} is documented to; an unknown account's balance answers 404; an
attachment of another type than PDF, JPEG or PNG answers 415; a missing or wrong bearer
token answers 401.

Fault switches, consumed by the next requests in order:
- `fail_next(n, status=500)`: answer `status` without doing anything (`after_commit=True`:
  do the write first, then answer `status`; only writes consume those);
- `rate_limit_next(n, retry_after=None)`: answer 429, with Retry-After when given;
- `commit_then_hang(n, seconds)`: do the next n writes, then answer only after `seconds`
  (or when the fake is released at shutdown), so the client times out after the effect;
- `tamper_next(n, edit)`: pass the next n JSON bodies through `edit` (to break the contract);
- `amount_style = "signed"`: send money out as "-123.00" (outside the spec's pattern).

Use `async with running_fake_folio() as (fake, base_url):` to serve it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import json
import re
import urllib.parse
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, Literal

from litestar import Litestar, Request, Response, Router, delete, get, patch, post
from litestar.params import FromPath

from tests.fakes.contract import FOLIO_SPEC, errors, request_errors
from tests.fakes.hostile import Misbehaviour
from tests.fakes.server import serve

TOKEN = "folio-test-token-3f9c"
COMPANY = "Eksempel AS"
OPERATIONAL = "36060000001"
CARD = "36060000002"
NORWAY = zoneinfo.ZoneInfo("Europe/Oslo")
ATTACHMENT_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
_NAMESPACE = uuid.UUID("6f0d7c52-1a44-4f43-9b7e-1f2d3c4b5a69")
AGENT_ID = str(uuid.uuid5(_NAMESPACE, "agent:ola"))
CARD_ID = str(uuid.uuid5(_NAMESPACE, "card:ola"))


def stable_id(name: str) -> str:
    """A UUID derived from a name, so seeded ids are the same in every run."""
    return str(uuid.uuid5(_NAMESPACE, name))


# --- state ----------------------------------------------------------------------------------


@dataclasses.dataclass
class FakeAccount:
    number: str
    name: str
    type: str
    opening: Decimal  # balance before `opened`… and on it, before its transactions
    opened: dt.date


@dataclasses.dataclass(frozen=True)
class FakeMerchant:
    id: str
    name: str  # as people say it ("Clas Ohlson")
    terminal: str  # as the card terminal says it ("CLAS OHLSON 123 OSLO")
    legal_name: str
    mcc: int
    org_num: str
    city: str = "Oslo"
    country: str = "NOR"


@dataclasses.dataclass
class FakeAttachment:
    id: str
    filename: str
    mime_type: str
    content: bytes


@dataclasses.dataclass
class Party:
    name: str
    account_number: str | None = None

    def body(self) -> dict[str, str]:
        body = {"name": self.name}
        if self.account_number is not None:
            body["accountNumber"] = self.account_number
        return body


@dataclasses.dataclass
class FakeEvent:
    """An event and, once booked, its transaction. `amount` is signed (negative = out)."""

    id: str
    time: dt.datetime
    amount: Decimal
    account_number: str
    description: str
    debtor: Party
    creditor: Party
    merchant: FakeMerchant | None = None
    currency: str = "NOK"
    original_amount: Decimal | None = None  # in `currency`; None: same as amount, NOK
    transaction_id: str | None = None
    booking_date: dt.date | None = None  # None: pending
    creditor_event_id: str | None = None  # internal transfers
    attachments: list[FakeAttachment] = dataclasses.field(default_factory=list)
    complete: bool = False
    #: The user's note (PatchEvent.note); "" is none, as the spec removes it.
    note: str = ""

    @property
    def date(self) -> dt.date:
        """The booking date, or the day in Norway of a pending event."""
        return self.booking_date or self.time.astimezone(NORWAY).date()


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request as the fake received it (path below /v2)."""

    method: str
    path: str
    query: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Upload:
    """One accepted attachment upload, as it arrived."""

    event_id: str
    attachment_id: str
    content_type: str
    content_disposition: str | None
    filename: str
    content: bytes


@dataclasses.dataclass(frozen=True)
class _Fault:
    kind: Literal["status", "rate_limit", "hang"]
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0


Edit = Callable[[Any], Any]


class FakeFolio:
    """The fake's state and switches; `app` serves it."""

    def __init__(self, token: str = TOKEN, *, seed: bool = True) -> None:
        self.token = token
        self._app: Litestar | None = None
        #: Broken answers on demand (tests/fakes/hostile.py).
        self.misbehave = Misbehaviour()
        self._released = asyncio.Event()
        self.reset(seed=seed)

    def reset(self, *, seed: bool = True) -> None:
        """Forget everything (data, requests, pending faults) and seed again: one served
        fake can run many scenarios. Hanging requests are released first."""
        self._released.set()
        self.today = dt.date(2025, 3, 31)
        self.amount_style: Literal["spec", "signed"] = "spec"
        self.accounts: dict[str, FakeAccount] = {}
        self.merchants: dict[str, FakeMerchant] = {}
        self.events: dict[str, FakeEvent] = {}
        self.requests: list[Seen] = []
        self.uploads: list[Upload] = []
        self.violations: list[str] = []
        #: Every way a request broke its operation in the spec (contract.request_errors),
        #: answered 400 (415 for a media type it does not take) before any handler.
        self.spec_violations: list[str] = []
        #: The PATCH /events/{id} bodies taken, in order (event id, body).
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self._before: collections.deque[_Fault] = collections.deque()
        self._after_commit: collections.deque[_Fault] = collections.deque()
        self._edits: collections.deque[Edit] = collections.deque()
        self._released = asyncio.Event()
        if seed:
            _seed(self)

    # --- switches ---------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        after_commit: bool = False,
        retry_after: float | str | None = None,
    ) -> None:
        """Answer `status` to the next n requests (after doing a write, if asked), with
        Retry-After when given (a 503 may say when to come back)."""
        queue = self._after_commit if after_commit else self._before
        header = None if retry_after is None else str(retry_after)
        queue.extend(_Fault("status", status=status, retry_after=header) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: float | str | None = None) -> None:
        header = None if retry_after is None else str(retry_after)
        self._before.extend(_Fault("rate_limit", 429, retry_after=header) for _ in range(n))

    def commit_then_hang(self, n: int = 1, seconds: float = 5.0) -> None:
        self._after_commit.extend(_Fault("hang", seconds=seconds) for _ in range(n))

    def tamper_next(self, n: int, edit: Edit) -> None:
        self._edits.extend(edit for _ in range(n))

    def release(self) -> None:
        """Let every hanging request answer now (at shutdown, so the server stops at once)."""
        self._released.set()

    # --- data -------------------------------------------------------------------------

    def add_account(
        self,
        number: str,
        name: str,
        type: str,
        opening: Decimal | str = "0.00",
        opened: dt.date = dt.date(2024, 12, 1),
    ) -> FakeAccount:
        account = FakeAccount(number, name, type, Decimal(opening), opened)
        self.accounts[number] = account
        return account

    def merchant(self, name: str) -> FakeMerchant:
        """The merchant of this name, made up on first use."""
        if name not in self.merchants:
            self.merchants[name] = FakeMerchant(
                id=stable_id(f"merchant:{name}"),
                name=name,
                terminal=f"{name.upper()} 1001",
                legal_name=f"{name} AS",
                mcc=5999,
                org_num=str(900_000_000 + len(self.merchants) * 1_001),
            )
        return self.merchants[name]

    def add_transaction(
        self,
        *,
        amount: Decimal | str,
        date: dt.date,
        merchant: str | None = None,
        description: str | None = None,
        account_number: str = CARD,
        counterparty: str | None = None,
        counterparty_account: str | None = None,
        transaction_id: str | None = None,
        event_id: str | None = None,
        booked: bool = True,
        time: dt.datetime | None = None,
        currency: str = "NOK",
        original_amount: Decimal | str | None = None,
        complete: bool = False,
    ) -> FakeEvent:
        """An event on one of our accounts (negative amount: money out), booked by default,
        paid by card when a merchant is given, else a bank payment to/from `counterparty`."""
        value = Decimal(amount)
        shop = self.merchant(merchant) if merchant else None
        other = Party(
            counterparty or (shop.legal_name if shop else "Motpart AS"), counterparty_account
        )
        us = Party(COMPANY, account_number)
        event = FakeEvent(
            id=event_id or str(uuid.uuid4()),
            time=time or dt.datetime.combine(date, dt.time(12, 0), NORWAY).astimezone(dt.UTC),
            amount=value,
            account_number=account_number,
            description=description or (shop.terminal if shop else other.name),
            debtor=us if value < 0 else other,
            creditor=other if value < 0 else us,
            merchant=shop,
            currency=currency,
            original_amount=None if original_amount is None else Decimal(original_amount),
            transaction_id=(transaction_id or str(uuid.uuid4())) if booked else None,
            booking_date=date if booked else None,
            complete=complete,
        )
        self.events[event.id] = event
        return event

    def add_event(self, *, amount: Decimal | str, date: dt.date, **fields: Any) -> FakeEvent:
        """A pending event (a card authorisation when `merchant` is given)."""
        return self.add_transaction(amount=amount, date=date, booked=False, **fields)

    def add_transfer(
        self, *, amount: Decimal | str, date: dt.date, source: str, target: str, name: str
    ) -> tuple[FakeEvent, FakeEvent]:
        """An internal transfer: a debit event on `source`, a credit event on `target`; both
        transactions point at the crediting event (creditorEventId), as the spec says."""
        value = abs(Decimal(amount))
        debtor, creditor = Party(COMPANY, source), Party(COMPANY, target)
        time = dt.datetime.combine(date, dt.time(9, 0), NORWAY).astimezone(dt.UTC)
        sides = []
        for sign, account in ((-1, source), (1, target)):
            event = FakeEvent(
                id=stable_id(f"transfer:{name}:{account}"),
                time=time,
                amount=sign * value,
                account_number=account,
                description=name,
                debtor=debtor,
                creditor=creditor,
                transaction_id=stable_id(f"transfer-tx:{name}:{account}"),
                booking_date=date,
            )
            self.events[event.id] = event
            sides.append(event)
        for event in sides:
            event.creditor_event_id = sides[1].id
        return sides[0], sides[1]

    def attach(self, event_id: str, filename: str, mime_type: str, content: bytes) -> str:
        """Put an attachment on an event directly (seeding, not an upload)."""
        attachment = FakeAttachment(str(uuid.uuid4()), filename, mime_type, content)
        self.events[event_id].attachments.append(attachment)
        return attachment.id

    def attachments_on(self, event_id: str) -> list[FakeAttachment]:
        return list(self.events[event_id].attachments)

    def uploads_to(self, event_id: str) -> list[Upload]:
        return [upload for upload in self.uploads if upload.event_id == event_id]

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- bodies -------------------------------------------------------------------------

    def _kr(self, amount: Decimal) -> str:
        shown = amount if self.amount_style == "signed" else abs(amount)
        return f"{shown:.2f}"

    def _balance(self, account: FakeAccount, before: dt.date | None = None) -> Decimal:
        total = account.opening
        for event in self.events.values():
            if event.account_number != account.number or event.booking_date is None:
                continue
            if before is None or event.booking_date < before:
                total += event.amount
        return total

    def accounts_body(self) -> dict[str, Any]:
        stamp = f"{self.today.isoformat()}T06:00:00Z"
        return {
            "accounts": [
                {
                    "accountNumber": a.number,
                    "name": a.name,
                    "type": a.type,
                    "balance": f"{self._balance(a):.2f}",
                    "balanceUpdatedAt": stamp,
                    "matchingTransactionsAt": stamp,
                    "completeTransactionsAt": stamp,
                }
                for a in self.accounts.values()
            ]
        }

    def balance_body(self, account: FakeAccount, date: dt.date) -> dict[str, Any]:
        if date < account.opened:
            return {}
        return {
            "incomingBalance": f"{self._balance(account, before=date):.2f}",
            "outgoingBalance": f"{self._balance(account, before=date + dt.timedelta(1)):.2f}",
        }

    def _attachment(self, a: FakeAttachment, event: FakeEvent) -> dict[str, Any]:
        return {
            "id": a.id,
            "filename": a.filename,
            "mimeType": a.mime_type,
            "orgNum": event.merchant.org_num if event.merchant else "",
            "fileSize": len(a.content),
            "uploadedByAgentId": AGENT_ID,
            "averageColor": "#f4f1ea",
        }

    def _amounts(self, event: FakeEvent) -> tuple[dict[str, str], dict[str, str]]:
        """transactionAmount (NOK) and currencyAmount (original currency)."""
        nok = {"amount": self._kr(event.amount), "currency": "NOK"}
        if event.original_amount is None:
            return nok, dict(nok)
        return nok, {"amount": f"{abs(event.original_amount):.2f}", "currency": event.currency}

    def _card(self, event: FakeEvent) -> dict[str, Any]:
        assert event.merchant is not None
        return {
            "cardId": CARD_ID,
            "merchantId": event.merchant.id,
            "merchantName": event.merchant.terminal,
            "mcc": event.merchant.mcc,
            "terminalId": str(10_000_000 + event.merchant.mcc),
            "physicalTerminal": event.merchant.country == "NOR",
            "currencyAmount": self._amounts(event)[1],
        }

    def _transaction_only(self, event: FakeEvent) -> dict[str, Any]:
        nok, original = self._amounts(event)
        return {
            "id": event.transaction_id,
            "description": event.description,
            "bookingDate": event.date.isoformat(),
            "creditor": event.creditor.body(),
            "debtor": event.debtor.body(),
            "transactionAmount": nok,
            "currencyAmount": original,
            "attachments": [self._attachment(a, event) for a in event.attachments],
            "complete": event.complete,
        }

    def transaction_body(self, event: FakeEvent) -> dict[str, Any]:
        body = self._transaction_only(event)
        body["eventId"] = event.id
        if event.creditor_event_id is not None:
            body["creditorEventId"] = event.creditor_event_id
        if event.merchant is not None:
            body["cardAuthorization"] = self._card(event)
        return body

    def event_body(self, event: FakeEvent) -> dict[str, Any]:
        original = self._amounts(event)[1]
        if self.amount_style == "signed" and event.original_amount is None:
            original = {"amount": self._kr(event.amount), "currency": "NOK"}
        body: dict[str, Any] = {
            "id": event.id,
            "time": event.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "amount": original,
            "transactions": [self._transaction_only(event)] if event.booking_date else [],
            "attachments": [self._attachment(a, event) for a in event.attachments],
            "complete": event.complete,
        }
        if event.merchant is not None:
            body["cardAuthorization"] = self._card(event)
        if event.note:
            body["note"] = event.note
        return body

    def _merchant_body(self, merchant: FakeMerchant) -> dict[str, Any]:
        body = {
            "id": merchant.id,
            "name": merchant.name,
            "city": merchant.city,
            "countryCode": merchant.country,
        }
        if merchant.org_num:
            body["orgNum"] = merchant.org_num
        return body

    def _in_range(self, start: dt.date, end: dt.date, booked_only: bool) -> list[FakeEvent]:
        chosen = [
            e
            for e in self.events.values()
            if start <= e.date <= end and (e.booking_date is not None or not booked_only)
        ]
        return sorted(chosen, key=lambda e: (e.date, e.time, e.id))

    def transactions_body(self, start: dt.date, end: dt.date, merchants: bool) -> dict[str, Any]:
        chosen = self._in_range(start, end, booked_only=True)
        body: dict[str, Any] = {
            "transactions": {"booked": [self.transaction_body(e) for e in chosen]}
        }
        if merchants:
            body["includes"] = {"merchants": self._merchants_of(chosen)}
        return body

    def events_body(
        self, start: dt.date, end: dt.date, merchants: bool, cards: bool
    ) -> dict[str, Any]:
        chosen = self._in_range(start, end, booked_only=False)
        body: dict[str, Any] = {"events": [self.event_body(e) for e in chosen]}
        includes: dict[str, Any] = {}
        if merchants:
            includes["merchants"] = self._merchants_of(chosen)
        if cards:
            includes["cards"] = [
                {
                    "id": CARD_ID,
                    "accountName": self.accounts[CARD].name if CARD in self.accounts else "Kort",
                    "accountNumber": CARD,
                    "ownerAgentId": AGENT_ID,
                }
            ]
        if includes:
            body["includes"] = includes
        return body

    def _merchants_of(self, events: list[FakeEvent]) -> list[dict[str, Any]]:
        unique = {e.merchant.id: e.merchant for e in events if e.merchant is not None}
        return [self._merchant_body(m) for m in unique.values()]

    # --- HTTP -------------------------------------------------------------------------

    @property
    def app(self) -> Litestar:
        if self._app is None:
            self._app = _build_app(self)
        return self._app

    def json(self, body: Any, schema: str | None, status: int = 200) -> Response[bytes]:
        """A JSON answer, checked against the spec's schema first, then tampered if asked."""
        if schema is not None and self.amount_style == "spec":
            self.violations.extend(f"{schema}: {e}" for e in errors(FOLIO_SPEC, schema, body))
        if self._edits:
            edited = self._edits.popleft()(body)
            body = body if edited is None else edited
        return Response(
            json.dumps(body).encode(), status_code=status, media_type="application/json"
        )

    async def gate(self, request: Request[Any, Any, Any]) -> Response[bytes] | None:
        """Before every handler: log, check the token, play the next up-front fault."""
        path = request.url.path.removeprefix("/v2") or "/"
        self.requests.append(Seen(request.method, path, dict(request.query_params)))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _text(401, "Unauthorized")
        problems = request_errors(
            FOLIO_SPEC,
            request.method,
            path,
            request.query_params.multi_items(),
            dict(request.headers),
            await request.body(),
        )
        if problems:  # refused unread, as a fake generated from the spec would
            self.spec_violations.extend(problems)
            unsupported = any("content type" in problem for problem in problems)
            return _text(415 if unsupported else 400, "; ".join(problems))
        if not self._before:
            return None
        fault = self._before.popleft()
        if fault.kind == "rate_limit":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return _text(429, "Too Many Requests", headers)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        return _text(fault.status, f"fake failure {fault.status}", headers)

    async def after_write(self) -> Response[bytes] | None:
        """After a write took effect: the next after-commit fault, if any."""
        if not self._after_commit:
            return None
        fault = self._after_commit.popleft()
        if fault.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), fault.seconds)
            return None
        return _text(fault.status, f"fake failure {fault.status} after commit")

    def upload(
        self, event_id: str, content_type: str | None, disposition: str | None, content: bytes
    ) -> Response[bytes]:
        event = self.events.get(event_id)
        if event is None:
            return _text(403, "Forbidden")
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type not in ATTACHMENT_TYPES:
            return _text(415, f"Unsupported media type {media_type!r}")
        if not content:
            return _text(400, "Empty attachment")
        attachment = FakeAttachment(
            id=str(uuid.uuid4()),
            filename=filename_of(disposition) or f"{uuid.uuid4()}{_suffix(media_type)}",
            mime_type=media_type,
            content=content,
        )
        event.attachments.append(attachment)
        self.uploads.append(
            Upload(
                event_id,
                attachment.id,
                content_type or "",
                disposition,
                attachment.filename,
                content,
            )
        )
        return self.json({"id": attachment.id}, "CreateAttachmentResponse")

    def patch_event(self, event_id: str, content_type: str | None, raw: bytes) -> Response[bytes]:
        """PATCH /events/{id}: the spec's PatchEvent as JSON, each field given set ("" removes
        it); 403 for an unknown event (as the spec says), 400 for a body that is not one."""
        event = self.events.get(event_id)
        if event is None:
            return _text(403, "Forbidden")
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            return _text(400, "Bad request: a JSON body")
        try:
            body = json.loads(raw)
        except ValueError:
            return _text(400, "Bad request: not JSON")
        if not isinstance(body, dict):
            return _text(400, "Bad request: not an object")
        problems = list(errors(FOLIO_SPEC, "PatchEvent", body))
        unknown = sorted(set(body) - {"purpose", "note", "participants", "ledgerCategoryId"})
        if problems or unknown:
            self.violations.extend(f"PatchEvent: {p}" for p in [*problems, *unknown])
            return _text(400, "Bad request")
        if "note" in body:
            event.note = body["note"]
        self.patches.append((event_id, body))
        return Response(b"", status_code=202)

    def set_complete(self, event_id: str, complete: bool) -> Response[bytes]:
        event = self.events.get(event_id)
        if event is None:
            return _text(403, "Forbidden")
        event.complete = complete
        return Response(b"", status_code=202)


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        text.encode(), status_code=status, media_type="text/plain", headers=headers or {}
    )


def _suffix(media_type: str) -> str:
    return {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}[media_type]


def filename_of(disposition: str | None) -> str | None:
    """The file name of a Content-Disposition header, `filename*` (RFC 6266) first."""
    if not disposition:
        return None
    extended = re.search(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", disposition, re.IGNORECASE)
    if extended:
        return urllib.parse.unquote(
            extended.group(2).strip(), encoding=extended.group(1) or "utf-8"
        )
    plain = re.search(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', disposition, re.IGNORECASE)
    if plain:
        return (plain.group(1) or plain.group(2) or "").strip() or None
    return None


def _dates(request: Request[Any, Any, Any], today: dt.date) -> tuple[dt.date, dt.date] | str:
    """startDate (required) and endDate (default today), or what is wrong with them."""
    start = request.query_params.get("startDate")
    if not start:
        return "startDate is required"
    try:
        end = request.query_params.get("endDate")
        return dt.date.fromisoformat(start), dt.date.fromisoformat(end) if end else today
    except ValueError:
        return "startDate and endDate must be dates (YYYY-MM-DD)"


def _flag(request: Request[Any, Any, Any], name: str) -> bool:
    return request.query_params.get(name) == "true"


def _build_app(fake: FakeFolio) -> Litestar:
    @get("/accounts")
    async def accounts() -> Response[bytes]:
        return fake.json(fake.accounts_body(), "AccountsResponse")

    @get("/accounts/{number:str}/balance/{date:str}")
    async def balance(number: FromPath[str], date: FromPath[str]) -> Response[bytes]:
        account = fake.accounts.get(number)
        if account is None:
            return _text(404, "Not found")
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            return _text(400, "date must be YYYY-MM-DD")
        return fake.json(fake.balance_body(account, day), "AccountBalance")

    @get("/transactions")
    async def transactions(request: Request[Any, Any, Any]) -> Response[bytes]:
        dates = _dates(request, fake.today)
        if isinstance(dates, str):
            return _text(400, dates)
        body = fake.transactions_body(*dates, merchants=_flag(request, "includeMerchants"))
        return fake.json(body, "TransactionResponse")

    @get("/events")
    async def events(request: Request[Any, Any, Any]) -> Response[bytes]:
        dates = _dates(request, fake.today)
        if isinstance(dates, str):
            return _text(400, dates)
        body = fake.events_body(
            *dates,
            merchants=_flag(request, "includeMerchants"),
            cards=_flag(request, "includeCards"),
        )
        return fake.json(body, "EventsResponse")

    @post("/events/{event_id:str}/attachments", status_code=200)
    async def attachments(
        event_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        answer = fake.upload(
            event_id,
            request.headers.get("content-type"),
            request.headers.get("content-disposition"),
            await request.body(),
        )
        if answer.status_code != 200:
            return answer
        return await fake.after_write() or answer

    @post("/events/{event_id:str}/complete", status_code=202)
    async def complete(event_id: FromPath[str]) -> Response[bytes]:
        answer = fake.set_complete(event_id, True)
        if answer.status_code != 202:
            return answer
        return await fake.after_write() or answer

    @patch("/events/{event_id:str}", status_code=202)
    async def patch_event(
        event_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        answer = fake.patch_event(
            event_id, request.headers.get("content-type"), await request.body()
        )
        if answer.status_code != 202:
            return answer
        return await fake.after_write() or answer

    @delete("/events/{event_id:str}/complete", status_code=202)
    async def uncomplete(event_id: FromPath[str]) -> Response[bytes]:
        answer = fake.set_complete(event_id, False)
        if answer.status_code != 202:
            return answer
        return await fake.after_write() or answer

    v2 = Router(
        path="/v2",
        route_handlers=[
            accounts,
            balance,
            transactions,
            events,
            attachments,
            patch_event,
            complete,
            uncomplete,
        ],
    )
    return Litestar(route_handlers=[v2], before_request=fake.gate, openapi_config=None)


@contextlib.asynccontextmanager
async def running_fake_folio(
    token: str = TOKEN, *, seed: bool = True
) -> AsyncIterator[tuple[FakeFolio, str]]:
    """A fake Folio on a loopback port: yields the fake and its base URL (ending in /v2)."""
    fake = FakeFolio(token, seed=seed)
    async with serve(fake.misbehave.wrap(fake.app)) as root:
        try:
            yield fake, f"{root}/v2"
        finally:
            fake.release()


# --- seed data ------------------------------------------------------------------------------


def _seed(fake: FakeFolio) -> None:
    """An operating account and a card account with two months of ordinary spending."""
    fake.add_account(OPERATIONAL, "Driftskonto", "Operational", opening="150000.00")
    fake.add_account(CARD, "Kortkonto Ola", "Card", opening="2000.00")
    for name, terminal, legal, mcc, org, country in (
        ("Clas Ohlson", "CLAS OHLSON 123 OSLO", "Clas Ohlson AS", 5251, "937120078", "NOR"),
        ("Adobe", "ADOBE *CREATIVE CLOUD", "Adobe Systems Software Ireland Ltd", 5734, "", "IRL"),
        ("Ruter", "RUTER AS APP", "Ruter AS", 4111, "991609407", "NOR"),
        ("Rema 1000", "REMA 1000 GRUNERLOKKA", "Rema 1000 Norge AS", 5411, "976775554", "NOR"),
        (
            "Kaffebrenneriet",
            "KAFFEBRENNERIET STORG",
            "Kaffebrenneriet AS",
            5814,
            "918711309",
            "NOR",
        ),
    ):
        fake.merchants[name] = FakeMerchant(
            id=stable_id(f"merchant:{name}"),
            name=name,
            terminal=terminal,
            legal_name=legal,
            mcc=mcc,
            org_num=org,
            country=country,
        )

    def card(day: str, merchant: str, amount: str, **fields: Any) -> FakeEvent:
        key = f"{day}:{merchant}"
        return fake.add_transaction(
            amount=amount,
            date=dt.date.fromisoformat(day),
            merchant=merchant,
            event_id=stable_id(f"event:{key}"),
            transaction_id=stable_id(f"tx:{key}"),
            **fields,
        )

    fake.add_transfer(
        amount="3000.00",
        date=dt.date(2025, 1, 2),
        source=OPERATIONAL,
        target=CARD,
        name="Overføring til kortkonto",
    )
    fake.add_transaction(
        amount="12500.00",
        date=dt.date(2025, 1, 6),
        account_number=OPERATIONAL,
        counterparty="Kunde AS",
        counterparty_account="15032512345",
        description="Innbetaling faktura 1001",
        event_id=stable_id("event:kunde-1001"),
        transaction_id=stable_id("tx:kunde-1001"),
    )
    rent = fake.add_transaction(
        amount="-15000.00",
        date=dt.date(2025, 1, 31),
        account_number=OPERATIONAL,
        counterparty="Huseier AS",
        counterparty_account="98360612770",
        description="Husleie februar",
        event_id=stable_id("event:husleie-feb"),
        transaction_id=stable_id("tx:husleie-feb"),
    )
    fake.attach(rent.id, "husleie-februar.pdf", "application/pdf", b"%PDF-1.4 rent")
    rent.complete = True
    clas = card("2025-01-03", "Clas Ohlson", "-349.00", complete=True)
    fake.attach(clas.id, "kvittering-clas-ohlson.pdf", "application/pdf", b"%PDF-1.4 clas")
    card("2025-01-07", "Ruter", "-44.00")
    card("2025-01-10", "Adobe", "-239.00", currency="EUR", original_amount="20.33")
    rema = card("2025-01-15", "Rema 1000", "-187.50")
    fake.attach(rema.id, "rema.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 rema")
    card("2025-01-22", "Ruter", "-44.00")
    card("2025-01-28", "Clas Ohlson", "-1234.50")
    card("2025-02-03", "Rema 1000", "-92.90")
    card("2025-02-10", "Adobe", "-239.00", currency="EUR", original_amount="20.41")
    card("2025-02-14", "Ruter", "-44.00")
    coffee = card("2025-02-20", "Kaffebrenneriet", "-124.00", complete=True)
    fake.attach(coffee.id, "kaffe.png", "image/png", b"\x89PNG\r\n\x1a\n coffee")
    card("2025-02-26", "Clas Ohlson", "199.00", description="CLAS OHLSON RETUR")
    fake.add_event(
        amount="-310.40",
        date=dt.date(2025, 3, 1),
        merchant="Rema 1000",
        event_id=stable_id("event:pending-rema"),
        time=dt.datetime(2025, 2, 28, 23, 30, tzinfo=dt.UTC),  # 00:30 on 1 March in Norway
    )
