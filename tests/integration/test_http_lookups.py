"""/bank and /books over HTTP, on the memory sandbox: every answer and its query event, date
ranges, and the bank or books failing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from dependency_injector import providers

from bookkeeper.adapters.sandbox import sandbox_backends
from bookkeeper.adapters.sandbox.seed import BOOKS_BANK_ACCOUNT_CODE
from bookkeeper.adapters.sandbox.store import MemorySandboxStore
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalError,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.ports import (
    Bank,
    BankAccount,
    BankTransaction,
    Books,
    NewPurchase,
    PurchaseLine,
)
from bookkeeper.backends import Backends
from bookkeeper.container import Container
from tests.http_helpers import (
    API,
    Api,
    FixedClock,
    memory_container,
    running_api,
    sqlite_container,
)

TODAY = dt.date(2026, 11, 20)  # FixedClock: 2026-11-20 09:00 UTC


def sandbox_container(tmp_path: Path, store: MemorySandboxStore) -> Container:
    clock = FixedClock()
    container = memory_container(tmp_path, clock=clock)
    books, bank = sandbox_backends(None, clock, store=store)
    container.backends.override(
        providers.Object(
            Backends(books=books, bank=bank, books_backend="sandbox", bank_backend="sandbox")
        )
    )
    return container


@pytest.fixture
def store() -> MemorySandboxStore:
    return MemorySandboxStore()


@pytest.fixture
async def api(tmp_path: Path, store: MemorySandboxStore) -> AsyncIterator[Api]:
    async with running_api(tmp_path, container=sandbox_container(tmp_path, store)) as running:
        yield running


async def get(api: Api, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await api.client.get(f"{API}{path}", headers=headers or api.agent)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def query_event(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """The event the answer says it recorded, read back through GET /events/{id}."""
    return await get(api, f"/events/{body['queryEventId']}", api.viewer)


async def events_of(api: Api, type_: str) -> list[dict[str, Any]]:
    page = await get(api, f"/events?type={type_}", api.viewer)
    items: list[dict[str, Any]] = page["items"]
    return items


# --- the answers and their events ------------------------------------------------------


async def test_bank_accounts_with_balances_are_recorded_as_balance_queried(api: Api) -> None:
    body = await get(api, "/bank/accounts")
    assert body["backend"] == "sandbox"
    assert body["asOf"] == "2026-11-20"
    assert [a["type"] for a in body["accounts"]] == ["Operational", "Card"]
    for account in body["accounts"]:
        assert set(account) == {"accountNumber", "name", "type", "balance", "currency"}
        assert Decimal(account["balance"]) == Decimal(account["balance"]).quantize(Decimal("0.01"))
        assert isinstance(account["balance"], str)

    event = await query_event(api, body)
    assert event["type"] == "BalanceQueried"
    assert event["status"] == "EXECUTED"
    assert event["actor"] == "book-e"
    assert event["metadata"]["source"] == "api"
    assert event["data"]["asOf"] == "2026-11-20"
    assert [(a["account"], a["balance"]) for a in event["data"]["accounts"]] == [
        (a["accountNumber"], a["balance"]) for a in body["accounts"]
    ]


async def test_bank_transactions_default_to_the_last_30_days(api: Api) -> None:
    body = await get(api, "/bank/transactions", api.viewer)
    assert (body["from"], body["to"]) == ("2026-10-22", "2026-11-20")
    assert body["count"] == len(body["transactions"]) > 0
    dates = [t["date"] for t in body["transactions"]]
    assert dates == sorted(dates) and all("2026-10-22" <= d <= "2026-11-20" for d in dates)
    first = body["transactions"][0]
    assert {"id", "eventId", "date", "amount", "currency", "merchantName", "attachments"} <= set(
        first
    )
    assert Decimal(first["amount"]) < 0

    event = await query_event(api, body)
    assert (event["type"], event["actor"]) == ("TransactionsQueried", "human:vera")
    assert event["data"] == {
        "count": body["count"],
        "dateRange": {"start": "2026-10-22", "end": "2026-11-20"},
    }


async def test_bank_transactions_of_a_given_range(api: Api) -> None:
    body = await get(api, "/bank/transactions?from=2026-09-21&to=2026-11-20")
    assert (body["from"], body["to"]) == ("2026-09-21", "2026-11-20")
    everything = body["count"]
    narrow = await get(api, "/bank/transactions?from=2026-11-01&to=2026-11-10")
    assert 0 < narrow["count"] < everything
    assert all("2026-11-01" <= t["date"] <= "2026-11-10" for t in narrow["transactions"])
    assert len(await events_of(api, "TransactionsQueried")) == 2


async def test_missing_receipts_are_the_money_out_without_a_file(
    api: Api, store: MemorySandboxStore
) -> None:
    body = await get(api, "/bank/missing-receipts?from=2026-09-21&to=2026-11-20")
    items = body["transactions"]
    assert items and all(Decimal(t["amount"]) < 0 and t["attachments"] == [] for t in items)

    bank = sandbox_backends(None, store=store)[1]("acme")
    events = await bank.events(dt.date(2026, 9, 21), TODAY)
    assert [t["id"] for t in items] == [e.id for e in events if e.amount < 0 and not e.attachments]
    assert body["count"] < len(events)  # receipts attached and money in are left out

    event = await query_event(api, body)
    assert event["type"] == "MissingReceiptsChecked"
    assert event["data"] == {"count": body["count"], "events": [t["eventId"] for t in items]}

    # A receipt attached → no longer missing.
    await bank.attach_receipt(items[0]["id"], "r.pdf", b"%PDF", "application/pdf")
    again = await get(api, "/bank/missing-receipts?from=2026-09-21&to=2026-11-20")
    assert again["count"] == body["count"] - 1


async def register(books: Books, kind: str, reference: str, date: dt.date) -> str:
    supplier = await books.create_supplier("Telenor Norge AS", "976967631")
    return await books.create_purchase(
        NewPurchase(
            kind=kind,
            date=date,
            currency="NOK",
            lines=(
                PurchaseLine(
                    description="Mobil",
                    net=Decimal("1000.00"),
                    vat=Decimal("250.00"),
                    vat_type="HIGH",
                    account="6900",
                ),
            ),
            reference=reference,
            identifier="F-1001",
            supplier_id=supplier.id if kind == "supplier" else None,
            due_date=date + dt.timedelta(days=14) if kind == "supplier" else None,
            paid=kind == "cash_purchase",
            payment_account=BOOKS_BANK_ACCOUNT_CODE if kind == "cash_purchase" else None,
        )
    )


async def test_supplier_invoices_and_expenses_come_from_the_books(
    api: Api, store: MemorySandboxStore
) -> None:
    books = sandbox_backends(None, store=store)[0]("acme")
    invoice_id = await register(books, "supplier", "bk-invoice", dt.date(2026, 11, 1))
    expense_id = await register(books, "cash_purchase", "bk-expense", dt.date(2026, 11, 2))
    await books.attach_to_purchase(expense_id, "kvittering.pdf", b"%PDF", "application/pdf")
    await register(books, "supplier", "bk-old", dt.date(2026, 8, 1))  # outside the 30 days

    invoices = await get(api, "/books/supplier-invoices")
    assert invoices["backend"] == "sandbox"
    assert (invoices["kind"], invoices["count"]) == ("supplier", 1)
    [invoice] = invoices["purchases"]
    assert invoice["id"] == invoice_id
    assert invoice["gross"] == "1250.00"
    assert (invoice["date"], invoice["dueDate"]) == ("2026-11-01", "2026-11-15")
    assert invoice["identifier"] == "F-1001" and not invoice["paid"] and not invoice["deleted"]

    expenses = await get(api, "/books/expenses?from=2026-11-01&to=2026-11-30", api.viewer)
    assert [(p["id"], p["attachments"]) for p in expenses["purchases"]] == [
        (expense_id, ["kvittering.pdf"])
    ]

    for body, kind, actor in (
        (invoices, "supplier", "book-e"),
        (expenses, "cash_purchase", "human:vera"),
    ):
        event = await query_event(api, body)
        assert (event["type"], event["actor"], event["status"]) == (
            "PurchasesQueried",
            actor,
            "EXECUTED",
        )
        assert event["data"]["kind"] == kind and event["data"]["count"] == 1
    assert len(await events_of(api, "PurchasesQueried")) == 2


# --- bad ranges and callers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-10&to=2026-11-01", "from"),
        ("from=2025-01-01&to=2026-11-20", "to"),
        ("from=2026-12-01", "from"),
    ],
)
async def test_a_bad_range_is_a_400_naming_the_parameter(api: Api, query: str, field: str) -> None:
    for path in ("/bank/transactions", "/bank/missing-receipts", "/books/expenses"):
        response = await api.client.get(f"{API}{path}?{query}", headers=api.agent)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "validation-failed"
        assert [e["field"] for e in body["errors"]] == [field]
    assert await events_of(api, "TransactionsQueried") == []


async def test_a_date_that_is_not_a_date_is_a_400(api: Api) -> None:
    response = await api.client.get(
        f"{API}/books/supplier-invoices?from=20.11.2026", headers=api.agent
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_token_is_required_and_tenants_are_apart(
    api: Api, store: MemorySandboxStore
) -> None:
    response = await api.client.get(f"{API}/bank/accounts")
    assert response.status_code == 401
    mine = await get(api, "/bank/accounts")
    theirs = await get(api, "/bank/accounts", api.foreigner)
    assert [a["accountNumber"] for a in mine["accounts"]] != [
        a["accountNumber"] for a in theirs["accounts"]
    ]
    # The foreigner's query is in their tenant's log, not ours.
    response = await api.client.get(f"{API}/events/{theirs['queryEventId']}", headers=api.viewer)
    assert response.status_code == 404


# --- the bank or books failing ---------------------------------------------------------------


class FailingBank:
    """A bank whose every call raises the given error."""

    name = "folio"

    def __init__(self, error: ExternalError) -> None:
        self.error = error

    def __getattr__(self, _: str) -> Any:
        async def fail(*_args: object) -> None:
            raise self.error

        return fail


@asynccontextmanager
async def failing_api(tmp_path: Path, error: ExternalError) -> AsyncIterator[Api]:
    clock = FixedClock()
    container = memory_container(tmp_path, clock=clock)
    books, _ = sandbox_backends(None, clock, store=MemorySandboxStore())

    def bank(_: str) -> Bank:
        return FailingBank(error)

    container.backends.override(
        providers.Object(
            Backends(books=books, bank=bank, books_backend="sandbox", bank_backend="folio")
        )
    )
    async with running_api(tmp_path, container=container) as running:
        yield running


async def test_the_bank_being_down_is_a_503_and_nothing_is_recorded(tmp_path: Path) -> None:
    error = ExternalUnavailable("folio: GET /accounts timed out after 10 s", system="folio")
    async with failing_api(tmp_path, error) as api:
        for path in ("/bank/accounts", "/bank/transactions", "/bank/missing-receipts"):
            response = await api.client.get(f"{API}{path}", headers=api.agent)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            body = response.json()
            assert body["code"] == "external-unavailable"
            assert "folio" in body["detail"]
            assert "retry-after" not in response.headers
        page = await get(api, "/events", api.viewer)
        assert page["items"] == []
        # The books still answer.
        assert (await get(api, "/books/expenses"))["backend"] == "sandbox"


async def test_throttling_says_when_to_retry(tmp_path: Path) -> None:
    error = ExternalRateLimited("429", system="folio", retry_after=2.5)
    async with failing_api(tmp_path, error) as api:
        response = await api.client.get(f"{API}/bank/accounts", headers=api.agent)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "3"
        assert response.json()["code"] == "external-rate-limited"


async def test_an_outage_that_says_when_it_ends_says_so_too(tmp_path: Path) -> None:
    """A 503 from the bank with Retry-After (how long it stays down): our 503 passes the
    wait on, as it does a 429's."""
    error = ExternalUnavailable("folio answered 503", system="folio", status=503, retry_after=120)
    async with failing_api(tmp_path, error) as api:
        response = await api.client.get(f"{API}/bank/accounts", headers=api.agent)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "120"
        assert response.json()["code"] == "external-unavailable"


async def test_refused_credentials_are_a_502_that_shows_no_token(tmp_path: Path) -> None:
    error = ExternalAuthFailed(
        "folio answered 401 to token sk-live-123", system="folio", status=401
    )
    async with failing_api(tmp_path, error) as api:
        response = await api.client.get(f"{API}/bank/accounts", headers=api.agent)
        assert response.status_code == 502
        body = response.json()
        assert body["code"] == "external-auth-failed"
        assert "credentials" in body["detail"]
        assert "sk-live-123" not in response.text


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            ExternalRejected("folio answered 400: bad date", system="folio", status=400),
            "external-rejected",
        ),
        (ExternalNotFound("folio answered 404", system="folio", status=404), "external-not-found"),
        (ExternalError("folio broke its contract", system="folio"), "external-error"),
    ],
)
async def test_a_refusal_is_a_502(tmp_path: Path, error: ExternalError, code: str) -> None:
    async with failing_api(tmp_path, error) as api:
        response = await api.client.get(f"{API}/bank/transactions", headers=api.agent)
        assert response.status_code == 502
        assert response.json()["code"] == code


# --- OpenAPI ---------------------------------------------------------------------------------


async def test_the_lookups_are_documented(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    expected = {
        "/bank/accounts": "listBankAccounts",
        "/bank/transactions": "listBankTransactions",
        "/bank/missing-receipts": "listMissingReceipts",
        "/books/supplier-invoices": "listSupplierInvoices",
        "/books/expenses": "listExpenses",
    }
    for path, operation_id in expected.items():
        operation = schema["paths"][f"{API}{path}"]["get"]
        assert operation["operationId"] == operation_id
        assert operation["description"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "400", "401", "403", "502", "503"} <= operation["responses"].keys()
        if path != "/bank/accounts":
            names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            assert names == {"from", "to"}
    components = schema["components"]["schemas"]
    assert {"backend", "queryEventId", "from", "to", "count", "transactions"} <= set(
        components["BankTransactionsOut"]["properties"]
    )


# --- the production wiring -------------------------------------------------------------------


async def test_the_default_backends_are_the_sandbox_in_the_sqlite_database(tmp_path: Path) -> None:
    """No Fiken or Folio token: the lookups answer from the sandbox tables of the embedded
    database (seeded on the wall clock), and the query events land in the same database."""
    async with running_api(tmp_path, container=sqlite_container(tmp_path)) as api:
        accounts = await get(api, "/bank/accounts")
        assert accounts["backend"] == "sandbox"
        assert len(accounts["accounts"]) == 2
        today = dt.date.today()
        window = f"from={today - dt.timedelta(days=60)}&to={today}"
        missing = await get(api, f"/bank/missing-receipts?{window}")
        assert missing["count"] > 0
        expenses = await get(api, "/books/expenses")
        assert (expenses["backend"], expenses["count"]) == ("sandbox", 0)
        for body in (accounts, missing, expenses):
            assert (await query_event(api, body))["actor"] == "book-e"


# --- amounts as the bank and books spell them -------------------------------------------------


class LooselySpelledBank:
    """A bank that spells amounts as Folio's JSON numbers come out: -180.2, 12500, -0."""

    name = "folio"

    def __init__(self) -> None:
        self.moves = [
            BankTransaction(
                id=f"t-{number}",
                event_id=f"e-{number}",
                date=TODAY,
                description="Rema 1000",
                amount=amount,
                currency="NOK",
            )
            for number, amount in enumerate(
                [Decimal("-180.2"), Decimal("12500"), Decimal("-1.25E+2"), Decimal("-0")]
            )
        ]

    async def accounts(self) -> list[BankAccount]:
        return [
            BankAccount(
                account_number="1", name="Drift", type="Operational", balance=Decimal("8082.5")
            )
        ]

    async def transactions(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return self.moves

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return self.moves


async def test_every_bank_amount_is_answered_with_two_decimals(tmp_path: Path) -> None:
    """Folio gave -180.2 and the answer said "-180.2": JSON amounts are decimal strings
    with two decimals, whatever the source's spelling."""
    clock = FixedClock()
    container = memory_container(tmp_path, clock=clock)
    books, _ = sandbox_backends(None, clock, store=MemorySandboxStore())
    bank = LooselySpelledBank()
    container.backends.override(
        providers.Object(
            Backends(
                books=books, bank=lambda _: bank, books_backend="sandbox", bank_backend="folio"
            )
        )
    )
    async with running_api(tmp_path, container=container) as api:
        for path in ("/bank/transactions", "/bank/missing-receipts"):
            body = await get(api, path)
            amounts = [t["amount"] for t in body["transactions"]]
            assert set(amounts) <= {"-180.20", "12500.00", "-125.00", "0.00"}, amounts
            assert "-180.20" in amounts
        accounts = await get(api, "/bank/accounts")
        assert [a["balance"] for a in accounts["accounts"]] == ["8082.50"]


# --- amounts as the API promises them --------------------------------------------------------


class BankWithRawAmounts:
    """A bank that hands back amounts as it stored them: "-180.2", "-8500", "12.5"."""

    name = "folio"

    async def accounts(self) -> list[BankAccount]:
        return [
            BankAccount(
                account_number="10488913072", name="Kort", type="Card", balance=Decimal("12.5")
            )
        ]

    async def _listed(self, *_args: object) -> list[BankTransaction]:
        return [
            BankTransaction(
                id=f"t{n}",
                event_id=f"e{n}",
                date=TODAY,
                description="Rema 1000",
                amount=Decimal(amount),
                currency="NOK",
                merchant_name="Rema 1000",
            )
            for n, amount in enumerate(("-180.2", "-8500", "-0.005"))
        ]

    transactions = events = _listed


async def test_bank_amounts_are_decimal_strings_with_two_decimals(tmp_path: Path) -> None:
    clock = FixedClock()
    container = memory_container(tmp_path, clock=clock)
    books, _ = sandbox_backends(None, clock, store=MemorySandboxStore())

    def bank(_: str) -> Bank:
        return cast(Bank, BankWithRawAmounts())

    container.backends.override(
        providers.Object(
            Backends(books=books, bank=bank, books_backend="sandbox", bank_backend="folio")
        )
    )
    async with running_api(tmp_path, container=container) as api:
        for path in ("/bank/transactions", "/bank/missing-receipts"):
            body = await get(api, path)
            assert [t["amount"] for t in body["transactions"]] == ["-180.20", "-8500.00", "-0.01"]
        accounts = await get(api, "/bank/accounts")
        assert [a["balance"] for a in accounts["accounts"]] == ["12.50"]
