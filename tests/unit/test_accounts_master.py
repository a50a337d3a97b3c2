"""The Accounts Master (issue 10): AccountCreated / AccountUpdated from the bus are kept as
tenant data (events in the log, once each), their names shown in the reports over the
books' chart's, and the unknown-accounts report checks against them where the tenant has
any (the books' chart otherwise)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.accounts_master import AccountsMaster, names
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import BusIntake, Outcome
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import BooksAccount, BooksProvider
from bookkeeper.application.translation import (
    Ingest,
    MalformedMessage,
    Translators,
    bus_principal,
    discover,
)
from tests.unit.conftest import VIEWER, FixedClock, credit, debit, principal

ACCOUNTANT = principal("anna", "accountant")


def account(kind: str, code: str, name: str, tenant: str = "acme", **extra: Any) -> bytes:
    return json.dumps(
        {
            "type": kind,
            "source": "accounts-master",
            "tenant": tenant,
            "data": {"code": code, "name": name},
            **extra,
        }
    ).encode()


class ChartBooks:
    name = "stub-books"

    async def accounts(self) -> list[BooksAccount]:
        return [BooksAccount(code=c, name=f"Konto {c}") for c in ("1920", "6300", "6540")]


@pytest.fixture
def factory() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


def ledger_on(factory: MemoryUnitOfWorkFactory, books: bool = True) -> LedgerService:
    chart = ChartBooks()
    return LedgerService(
        factory,
        FixedClock(),
        UuidV7Ids(),
        RoleAuthorizer(),
        cast(BooksProvider, lambda tenant: chart) if books else None,
    )


async def test_accounts_are_kept_once_and_the_latest_name_wins(
    factory: MemoryUnitOfWorkFactory,
) -> None:
    master = AccountsMaster(factory, FixedClock())
    created = account("AccountCreated", "1920", "Bank", id="m-1")
    assert await master.record(created) is True
    assert await master.record(created) is False  # a redelivery
    assert await master.record(account("AccountUpdated", "1920", "Bankinnskudd  DNB")) is True
    assert await master.record(account("AccountCreated", "3000", "Salg", tenant="globex"))
    async with factory() as uow:
        assert await names(uow, "acme") == {"1920": "Bankinnskudd DNB"}
        assert await names(uow, "globex") == {"3000": "Salg"}
        assert await names(uow, "nobody") == {}


@pytest.mark.parametrize(
    "raw",
    [
        account("AccountCreated", "", "Bank"),
        account("AccountCreated", "19 20", "Bank"),
        account("AccountCreated", "1920", "   "),
        account("AccountCreated", "1920", "x" * 201),
        b'{"type": "AccountCreated", "source": "s", "tenant": "acme", "data": {"code": "1"}}',
    ],
)
async def test_a_malformed_account_message_is_refused(
    factory: MemoryUnitOfWorkFactory, raw: bytes
) -> None:
    with pytest.raises(MalformedMessage):
        await AccountsMaster(factory, FixedClock()).record(raw)


async def test_the_bus_intake_routes_account_messages_beside_bookings(
    factory: MemoryUnitOfWorkFactory,
) -> None:
    clock = FixedClock()
    ledger = LedgerService(factory, clock, UuidV7Ids(), RoleAuthorizer())
    intake = BusIntake(
        Ingest(Translators(discover()), ledger),
        factory,
        clock,
        bus_principal(),
        RoleAuthorizer(),
        accounts=AccountsMaster(factory, clock),
    )
    invoice = json.dumps(
        {
            "type": "InvoiceIssued",
            "source": "invoicing",
            "tenant": "acme",
            "data": {
                "invoice_id": "F-1",
                "issue_date": "2026-03-01",
                "net_amount": "100.00",
                "vat_amount": "25.00",
            },
        }
    ).encode()
    created = account("AccountCreated", "1500", "Kundefordringer")
    deliveries = await intake.receive_many(
        [created, invoice, created, account("AccountCreated", "", "x")]
    )
    assert [d.outcome for d in deliveries] == [
        Outcome.BOOKED,
        Outcome.BOOKED,
        Outcome.DUPLICATE,
        Outcome.DEAD,
    ]
    assert deliveries[3].code == "malformed-message"
    async with factory() as uow:
        assert await names(uow, "acme") == {"1500": "Kundefordringer"}


async def test_reports_show_the_masters_names_over_the_charts(
    factory: MemoryUnitOfWorkFactory,
) -> None:
    ledger = ledger_on(factory)
    await ledger.post_manual(
        ACCOUNTANT,
        dt.date(2026, 3, 1),
        "Husleie",
        [debit("6300", "100"), debit("7777", "5"), credit("1920", "105")],
    )
    names_before = await ledger.account_names(VIEWER)
    assert names_before("6300") == "Konto 6300" and names_before("7777") is None
    report = await ledger.unknown_accounts(VIEWER)
    assert (report.backend, report.accounts) == ("stub-books", ["7777"])

    master = AccountsMaster(factory, FixedClock())
    await master.record(account("AccountCreated", "6300", "Leie lokaler"))
    await master.record(account("AccountCreated", "7777", "Diverse"))
    after = await ledger.account_names(VIEWER)
    assert after("6300") == "Leie lokaler"
    assert after("7777") == "Diverse"
    assert after("1920") == "Konto 1920"  # not in the master: the chart's
    report = await ledger.unknown_accounts(VIEWER)
    assert (report.backend, report.chart_size, report.accounts) == (
        "accounts-master",
        2,
        ["1920"],
    )


async def test_the_master_alone_serves_a_tenant_without_books(
    factory: MemoryUnitOfWorkFactory,
) -> None:
    ledger = ledger_on(factory, books=False)
    await AccountsMaster(factory, FixedClock()).record(account("AccountCreated", "1920", "Bank"))
    assert (await ledger.account_names(VIEWER))("1920") == "Bank"
    assert (await ledger.unknown_accounts(VIEWER)).backend == "accounts-master"
