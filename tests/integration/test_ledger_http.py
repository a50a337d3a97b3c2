"""The ledger over HTTP: POST /journal-entries and the ledger reports, on the real app.

The container's `backends` is replaced by a stub whose books have a fixed chart of
accounts, so the unknown-accounts report does not depend on Fiken or the sandbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from bookkeeper.application.ports import BooksAccount
from bookkeeper.backends import Backends
from bookkeeper.container import Container
from bookkeeper.domain.events import Party
from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    memory_container,
    running_api,
    sqlite_container,
)

CHART = ["1920", "2400", "2700", "3000", "6300", "1920:10001"]


class ChartBooks:
    name = "stub-books"

    async def accounts(self) -> list[BooksAccount]:
        return [BooksAccount(code=code, name=f"Konto {code}") for code in CHART]


def with_stub_backends(container: Container) -> Container:
    books = ChartBooks()

    def no_bank(tenant: str) -> Any:
        raise AssertionError("the ledger never asks the bank")

    container.backends.override(
        providers.Object(
            Backends(
                books=lambda tenant: books,  # type: ignore[arg-type,return-value]
                bank=no_bank,
                books_backend="stub",
                bank_backend="stub",
            )
        )
    )
    return container


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    container = with_stub_backends(memory_container(tmp_path))
    async with running_api(tmp_path, container=container) as running:
        yield running


def accountant(api: Api, tenant: str = "acme") -> dict[str, str]:
    return api.headers("anna", "accountant", tenant=tenant)


def rent(date: str = "2026-03-01", amount: str = "1000.00", **extra: Any) -> dict[str, Any]:
    return {
        "date": date,
        "description": "Husleie",
        "lines": [
            {"account": "6300", "debit": amount, "description": "Kontor"},
            {"account": "1920", "credit": amount},
        ],
        **extra,
    }


async def post(api: Api, body: Any, headers: dict[str, str] | None = None) -> Any:
    return await api.client.post(
        f"{API}/journal-entries", json=body, headers=headers or accountant(api)
    )


# --- POST /journal-entries --------------------------------------------------------------


async def test_a_balanced_entry_is_posted(api: Api) -> None:
    response = await post(api, rent())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["description"] == "Husleie"
    assert body["date"] == "2026-03-01"
    assert body["source"] == "manual"
    assert body["actor"] == "human:anna"
    assert body["lines"] == [
        {
            "lineNo": 1,
            "account": "6300",
            "debit": "1000.00",
            "credit": "0.00",
            "description": "Kontor",
            "vatCode": None,
            "vatPart": None,
            "party": None,
        },
        {
            "lineNo": 2,
            "account": "1920",
            "debit": "0.00",
            "credit": "1000.00",
            "description": None,
            "vatCode": None,
            "vatPart": None,
            "party": None,
        },
    ]
    location = response.headers["location"]
    assert location == f"{API}/journal-entries/{body['entryId']}"
    assert "idempotent-replayed" not in response.headers
    read = await api.client.get(location, headers=api.viewer)
    assert read.status_code == 200
    assert read.json() == body
    other_tenant = await api.client.get(location, headers=api.foreigner)
    assert other_tenant.status_code == 404


async def test_an_unbalanced_entry_is_a_422_problem(api: Api) -> None:
    body = rent()
    body["lines"][1]["credit"] = "999.99"
    response = await post(api, body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "unbalanced-entry"
    assert "do not equal" in problem["detail"]
    trial = await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)
    assert trial.json()["accounts"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (rent(status="posted"), "$.status"),
        (rent(tenantId="globex"), "$.tenantId"),
        (
            {**rent(), "lines": [{"account": "6300", "debit": "1", "amount": "1"}]},
            "$.lines[0].amount",
        ),
        (
            {**rent(), "lines": [{"account": "6300", "debit": "1", "vatPart": "net"}]},
            "$.lines[0].vatPart",
        ),
        ({**rent(), "date": "01.03.2026"}, "$.date"),
        ({"date": "2026-03-01", "lines": []}, "$.description"),
    ],
)
async def test_unknown_or_malformed_fields_are_a_400(api: Api, body: Any, field: str) -> None:
    response = await post(api, body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize("debit", ["ti kroner", "1 000", "1e3", "+1000", "1_000"])
async def test_an_amount_that_is_not_a_plain_number_is_a_422(api: Api, debit: str) -> None:
    """Not a number, or one in another spelling (ADR 0049, round two): a 422 naming the
    field ("ti kroner" was a 400 before, "1e3" was taken)."""
    body = {**rent(), "lines": [{"account": "6300", "debit": debit}]}
    response = await post(api, body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert [e["field"] for e in problem["errors"]] == ["$.lines[0].debit"]


async def test_a_missing_description_or_a_bad_line_is_a_422(api: Api) -> None:
    assert (await post(api, rent(description=" "))).json()["code"] == "invalid-journal-entry"
    negative = rent(amount="-5")
    response = await post(api, negative)
    assert (response.status_code, response.json()["code"]) == (422, "unbalanced-entry")


@pytest.mark.parametrize("text", ["Husleie \u202e0001", "Husleie\x1b[2J"])
async def test_a_description_that_steers_or_controls_is_a_422(api: Api, text: str) -> None:
    """What an audit line shows must read as it is stored (ADR 0049, round four)."""
    entry = await post(api, rent(description=text))
    assert (entry.status_code, entry.json()["code"]) == (422, "invalid-journal-entry")
    line = rent()
    line["lines"][0]["description"] = text
    answer = await post(api, line)
    assert (answer.status_code, answer.json()["code"]) == (422, "unbalanced-entry")


@pytest.mark.parametrize(
    "account", ["\uff16\uff13\uff10\uff10", "\u0666\u0663\u0660\u0660", "63\u200b00"]
)
async def test_an_account_code_that_only_looks_like_one_is_a_422(api: Api, account: str) -> None:
    """A full-width or Arabic-Indic "6300" is a code of its own that reads, and `int()`
    parses, as 6300: an account beside the real one (ADR 0049, round two, for proposals)."""
    entry = rent()
    entry["lines"][0]["account"] = account
    answer = await post(api, entry)
    assert (answer.status_code, answer.json()["code"]) == (422, "unbalanced-entry")
    assert "ASCII" in answer.json()["detail"]
    trial = await api.client.get(f"{API}/reports/trial-balance", headers=accountant(api))
    assert trial.json()["accounts"] == []


@pytest.mark.parametrize("role", ["agent", "reviewer", "viewer", "system"])
async def test_posting_needs_the_ledger_post_permission(api: Api, role: str) -> None:
    response = await post(api, rent(), headers=api.headers("someone", role))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_without_a_token_nothing_is_posted(api: Api) -> None:
    response = await api.client.post(f"{API}/journal-entries", json=rent())
    assert response.status_code == 401


async def test_an_idempotency_key_replays_the_original(api: Api) -> None:
    headers = accountant(api) | {"Idempotency-Key": "husleie-mars"}
    first = await post(api, rent(), headers)
    again = await post(api, rent(), headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    conflict = await post(api, rent(amount="1100.00"), headers)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency-conflict"
    trial = (await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)).json()
    assert trial["totals"] == ZERO_TOTALS


# --- reports ----------------------------------------------------------------------------

#: One rent entry's totals: the balance columns (opening, carried, closing) sum to zero.
ZERO_TOTALS = {
    "debit": "1000.00",
    "credit": "1000.00",
    "balance": "0.00",
    "opening": "0.00",
    "carried": "0.00",
    "closing": "0.00",
}


async def test_the_reports_open_each_year_of_the_income_statement_at_zero(api: Api) -> None:
    for date in ("2025-03-01", "2026-03-01"):
        assert (await post(api, rent(date))).status_code == 201

    async def trial(**period: str) -> dict[str, dict[str, str]]:
        response = await api.client.get(
            f"{API}/reports/trial-balance", params=period, headers=api.viewer
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["totals"]["opening"] == body["totals"]["closing"] == "0.00"
        keys = ("opening", "debit", "credit", "carried", "closing")
        return {a["account"]: {k: a[k] for k in keys} for a in body["accounts"]}

    year = await trial(**{"from": "2026-01-01", "to": "2026-12-31"})
    # 2025's rent is no 2026 cost: 6300 opens at zero, the loss is in 2050.
    assert year["6300"] == {
        "opening": "0.00",
        "debit": "1000.00",
        "credit": "0.00",
        "carried": "0.00",
        "closing": "1000.00",
    }
    assert (year["2050"]["opening"], year["2050"]["closing"]) == ("1000.00", "1000.00")
    assert (year["1920"]["opening"], year["1920"]["closing"]) == ("-1000.00", "-2000.00")
    across = await trial(**{"from": "2025-06-01", "to": "2026-12-31"})
    assert across["6300"] == {
        "opening": "1000.00",
        "debit": "1000.00",
        "credit": "0.00",
        "carried": "-1000.00",
        "closing": "1000.00",
    }
    assert (across["2050"]["opening"], across["2050"]["carried"]) == ("0.00", "1000.00")
    ledger = await api.client.get(
        f"{API}/reports/general-ledger",
        params={"account": "6300", "from": "2026-01-01"},
        headers=api.viewer,
    )
    body = ledger.json()
    assert (body["openingBalance"], body["closingBalance"]) == ("0.00", "1000.00")


async def test_the_trial_balance_over_a_period(api: Api) -> None:
    for date in ("2026-01-15", "2026-02-15", "2026-03-15"):
        assert (await post(api, rent(date))).status_code == 201
    response = await api.client.get(
        f"{API}/reports/trial-balance",
        params={"from": "2026-02-01", "to": "2026-03-31"},
        headers=api.viewer,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "start": "2026-02-01",
        "end": "2026-03-31",
        "accounts": [
            {
                "account": "1920",
                "name": "Konto 1920",
                "opening": "-1000.00",
                "debit": "0.00",
                "credit": "2000.00",
                "balance": "-2000.00",
                "carried": "0.00",
                "closing": "-3000.00",
            },
            {
                # January's rent is the year's: a cost account opens with it in February.
                "account": "6300",
                "name": "Konto 6300",
                "opening": "1000.00",
                "debit": "2000.00",
                "credit": "0.00",
                "balance": "2000.00",
                "carried": "0.00",
                "closing": "3000.00",
            },
        ],
        "totals": {
            "debit": "2000.00",
            "credit": "2000.00",
            "balance": "0.00",
            "opening": "0.00",
            "carried": "0.00",
            "closing": "0.00",
        },
    }
    backwards = await api.client.get(
        f"{API}/reports/trial-balance",
        params={"from": "2026-03-01", "to": "2026-02-01"},
        headers=api.viewer,
    )
    # A range backwards is the request's own fault: a 400 naming `from`, as on every route
    # with a range (ADR 0007 addendum), no longer a 422.
    problem = assert_problem(backwards, 400, "validation-failed")
    assert [e["field"] for e in problem["errors"]] == ["from"]
    not_a_date = await api.client.get(
        f"{API}/reports/trial-balance", params={"from": "mars"}, headers=api.viewer
    )
    assert not_a_date.status_code == 400
    assert [e["field"] for e in not_a_date.json()["errors"]] == ["from"]


async def test_the_general_ledger_pages_with_a_cursor(api: Api) -> None:
    for day in range(1, 6):
        assert (await post(api, rent(f"2026-03-0{day}", f"{day}00.00"))).status_code == 201
    url = f"{API}/reports/general-ledger"
    query = {"account": "1920", "from": "2026-03-02", "limit": "2"}
    first = (await api.client.get(url, params=query, headers=api.viewer)).json()
    assert first["openingBalance"] == "-100.00"
    assert [(i["date"], i["credit"], i["balance"]) for i in first["items"]] == [
        ("2026-03-02", "200.00", "-300.00"),
        ("2026-03-03", "300.00", "-600.00"),
    ]
    assert first["closingBalance"] is None
    second = (
        await api.client.get(
            url, params={**query, "cursor": first["nextCursor"]}, headers=api.viewer
        )
    ).json()
    assert [i["balance"] for i in second["items"]] == ["-1000.00", "-1500.00"]
    assert (second["nextCursor"], second["closingBalance"]) == (None, "-1500.00")
    entry_ids = {i["entryId"] for i in first["items"] + second["items"]}
    assert len(entry_ids) == 4

    wrong = await api.client.get(
        url, params={**query, "account": "6300", "cursor": first["nextCursor"]}, headers=api.viewer
    )
    assert wrong.status_code == 400
    assert [e["field"] for e in wrong.json()["errors"]] == ["cursor"]
    missing = await api.client.get(url, headers=api.viewer)
    assert missing.status_code == 400
    assert "account" in missing.json()["detail"]


async def test_the_vat_report_of_a_term(api: Api) -> None:
    sale = {
        "date": "2026-04-30",
        "description": "Salg",
        "lines": [
            {"account": "1500", "debit": "1250"},
            {"account": "3000", "credit": "1000", "vatCode": "3", "vatPart": "base"},
            {"account": "2700", "credit": "250", "vatCode": "3", "vatPart": "tax"},
        ],
    }
    assert (await post(api, sale)).status_code == 201
    response = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 2}, headers=api.viewer
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "year": 2026,
        "term": 2,
        "start": "2026-03-01",
        "end": "2026-04-30",
        "dueDate": "2026-06-10",
        "lines": [
            {
                "vatCode": "3",
                "rate": "25",
                "direction": "output",
                "base": "1000.00",
                "vat": "250.00",
                "side": None,
                "deviation": None,
                # ADR 0064 addendum 4: no remark (R020/R021) for an ordinary sale.
                "remark": None,
            }
        ],
        "inputVat": "0.00",
        "outputVat": "250.00",
        "payable": "250.00",
        "notInReturn": [],
        # ADR 0056 addendum 4: a company in the VAT register (the default) files a return.
        "vatRegistered": True,
        "note": None,
        # ADR 0064: the term's length, bi-monthly unless the company reports yearly.
        "termLength": "bimonthly",
        "remarkNote": None,
    }
    for bad in ({"year": 2026, "term": 7}, {"year": 2026}, {"year": "i år", "term": 1}):
        refused = await api.client.get(f"{API}/reports/vat", params=bad, headers=api.viewer)
        assert refused.status_code == 400, bad


async def test_unknown_accounts_are_listed_against_the_books_chart(api: Api) -> None:
    body = {
        "date": "2026-03-01",
        "description": "Diverse",
        "lines": [
            {"account": "6300", "debit": "10"},
            {"account": "9999", "debit": "5"},
            {"account": "2400:20001", "credit": "10"},
            {"account": "1920:10001", "credit": "3"},
            {"account": "1234:5", "credit": "2"},
        ],
    }
    assert (await post(api, body)).status_code == 201
    response = await api.client.get(f"{API}/reports/unknown-accounts", headers=api.viewer)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "backend": "stub-books",
        "chartSize": len(CHART),
        "accounts": ["1234:5", "9999"],
    }


async def test_reports_need_a_role_that_reads(api: Api) -> None:
    nobody = api.headers("x", "nobody")
    for path in (
        "trial-balance",
        "general-ledger?account=1920",
        "vat?year=2026&term=1",
        "unknown-accounts",
    ):
        response = await api.client.get(f"{API}/reports/{path}", headers=nobody)
        assert response.status_code == 403, path


async def test_the_openapi_document_has_the_ledger_routes(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    operations = {
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert {
        "postJournalEntry",
        "getJournalEntry",
        "getTrialBalance",
        "getGeneralLedger",
        "getVatReport",
        "getUnknownAccounts",
    } <= operations


async def test_the_ledger_on_a_real_sqlite_file(tmp_path: Path, sqlite_url: str) -> None:
    container = with_stub_backends(sqlite_container(tmp_path, sqlite_url))
    async with running_api(tmp_path, container=container) as api:
        headers = accountant(api) | {"Idempotency-Key": "k"}
        first = await post(api, rent(), headers)
        again = await post(api, rent(), headers)
        assert first.status_code == again.status_code == 201, first.text
        assert again.json() == first.json()
        trial = (await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)).json()
        assert trial["totals"] == ZERO_TOTALS
        ledger = await api.client.get(
            f"{API}/reports/general-ledger", params={"account": "6300"}, headers=api.viewer
        )
        assert [i["balance"] for i in ledger.json()["items"]] == ["1000.00"]


async def test_a_line_may_name_its_customer(api: Api) -> None:
    """The party reaches the posted event (the SAF-T export's CustomerID); a party of a
    kind we do not know or with an id longer than SAF-T's 35 characters is a 400."""
    party = {"kind": "customer", "id": "K-1", "name": "Nordlys AS", "orgNumber": "987654321"}
    sale = {
        "date": "2026-03-01",
        "description": "Salg",
        "lines": [
            {"account": "1500", "debit": "125.00", "party": party},
            {"account": "3000", "credit": "125.00"},
        ],
    }
    response = await post(api, sale)
    assert response.status_code == 201, response.text
    assert [line["party"] for line in response.json()["lines"]] == [party, None]
    async with api.container.uow_factory()() as uow:
        events = await uow.events.read_all(limit=100)
    posted = [e for e in events if e.type == "JournalEntryPosted"][-1]
    assert posted.data.lines[0].party == Party(
        kind="customer", id="K-1", name="Nordlys AS", org_number="987654321"
    )
    for bad in ({**party, "kind": "employee"}, {**party, "id": "K" * 36}, {"kind": "customer"}):
        lines = [{**sale["lines"][0], "party": bad}, sale["lines"][1]]  # type: ignore[index]
        response = await post(api, {**sale, "lines": lines})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("bad", ["   ", "\u200b", "K\u202e1", "K\x001"])
async def test_a_party_id_that_names_no_one_is_its_own_422(api: Api, bad: str) -> None:
    """An invalid party id is a problem of the party, not of the entry's balance: its
    code says so, and the detail names the field (it was `unbalanced-entry`)."""
    sale = {
        "date": "2026-03-01",
        "description": "Salg",
        "lines": [
            {"account": "1500", "debit": "125.00", "party": {"kind": "customer", "id": bad}},
            {"account": "3000", "credit": "125.00"},
        ],
    }
    response = await post(api, sale)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "invalid-party", problem
    assert problem["type"].endswith(":invalid-party")
    assert "lines[0].party.id" in problem["detail"]
