"""Fixtures for unit tests: the application wired to in-memory adapters and a fixed clock."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import BooksAccount, BooksProvider, Principal
from bookkeeper.application.queries import Queries
from bookkeeper.application.translation import Ingest, Translators, discover
from bookkeeper.domain.events import JournalLine, ReceiptAttachmentData


class FixedClock:
    """The Clock port at a fixed time (by default 2026-11-20 09:00 UTC) that moves only when
    told to. The one clock double of the tests (http_helpers and external_doubles re-export
    it)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.current = now or dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += dt.timedelta(**kwargs)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def uow_factory() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def handlers(uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock) -> Handlers:
    return Handlers(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())


@pytest.fixture
def queries(uow_factory: MemoryUnitOfWorkFactory) -> Queries:
    return Queries(uow_factory, RoleAuthorizer())


@pytest.fixture
def ledger(uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock) -> LedgerService:
    return LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())


@pytest.fixture
def ingest(ledger: LedgerService) -> Ingest:
    """The bus intake (the installed translator plugins) booking into `ledger`."""
    return Ingest(Translators(discover()), ledger)


def memory_ledger() -> LedgerService:
    """A ledger on an empty in-memory store, without a chart of accounts."""
    return LedgerService(
        MemoryUnitOfWorkFactory(),
        FixedClock(),
        UuidV7Ids(),
        RoleAuthorizer(),
        lambda tenant: None,  # type: ignore[arg-type,return-value]
    )


def principal(subject: str, role: str, tenant: str = "acme") -> Principal:
    return Principal(subject=subject, tenant_id=tenant, roles=frozenset({role}))


AGENT = principal("book-e", "agent")
REVIEWER = principal("kari", "reviewer")
OTHER_REVIEWER = principal("ola", "reviewer")
VIEWER = principal("vera", "viewer")
FOREIGN_REVIEWER = principal("fred", "reviewer", tenant="globex")


def debit(account: str, amount: str, **kw: Any) -> JournalLine:
    """A journal line debiting `amount` (kroner, as text) to `account`."""
    return JournalLine(account=account, debit=Decimal(amount), **kw)


def credit(account: str, amount: str, **kw: Any) -> JournalLine:
    """A journal line crediting `amount` (kroner, as text) to `account`."""
    return JournalLine(account=account, credit=Decimal(amount), **kw)


def adobe_receipt_data(
    merchant: str = "Adobe Systems Software Ireland Ltd", **changes: object
) -> ReceiptAttachmentData:
    """A complete, consistent receipt from Adobe's legal entity, paid by card (ev-1)."""
    fields: dict[str, object] = {
        "merchant_name": merchant,
        "amount": Decimal("199.00"),
        "date": dt.date(2026, 11, 20),
        "vat_rate": Decimal("25"),
        "account_code": "6540",
        "folio_event_id": "ev-1",
        "vat_amount": Decimal("39.80"),
        "document_number": "R-1",
        "merchant_org_number": "923609016",
    }
    fields.update(changes)
    return ReceiptAttachmentData(**fields)  # type: ignore[arg-type]


def handlers_with_bank(bank: object) -> Handlers:
    """Handlers over an empty memory store whose receipts are checked against `bank` (a
    stand-in with the bank port's `events(start, end)`), for every tenant."""

    async def bank_source() -> object:
        return lambda _tenant: bank

    return Handlers(
        MemoryUnitOfWorkFactory(),
        FixedClock(),
        UuidV7Ids(),
        RoleAuthorizer(),
        bank_source=bank_source,  # type: ignore[arg-type]
    )


class GatedChart:
    """A books double, every tenant's, with a chart of accounts (the Books port's
    `accounts()`): it counts its reads, holds each at `gate` (open unless `held`) and raises
    `fail`, when one is given, from the next read that passes the gate, once."""

    name = "gated-books"

    def __init__(self, codes: Sequence[str], *, held: bool = False) -> None:
        self.codes = tuple(codes)
        self.reads = 0
        self.gate = asyncio.Event()
        if not held:
            self.gate.set()
        self.fail: Exception | None = None

    async def accounts(self) -> list[BooksAccount]:
        self.reads += 1
        await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        return [BooksAccount(code=code, name=f"Konto {code}") for code in self.codes]

    def provider(self) -> BooksProvider:
        """The books by tenant: this double for each."""
        return cast(BooksProvider, lambda _tenant: self)

    async def books_source(self) -> BooksProvider:
        """Opens the books (a `books_source` of the services that open them on first use)."""
        return self.provider()


async def open_when_all_wait(books: GatedChart) -> None:
    """Once the first chart read is held at the gate and the other tasks have had turns
    enough to meet their own miss of it, open the gate."""
    for _ in range(100):
        if books.reads:
            break
        await asyncio.sleep(0)
    assert books.reads, "nothing read the chart"
    for _ in range(50):
        await asyncio.sleep(0)
    books.gate.set()
