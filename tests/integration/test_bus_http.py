"""POST /bus/events, the in-process bus: translators, exactly-once and ABAC over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.application.event_log import external_entry_id
from tests.http_helpers import API, TENANT, Api, assert_problem, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


def invoice(invoice_id: str = "F-1", tenant: str = TENANT, **data: Any) -> dict[str, Any]:
    fields = {
        "invoice_id": invoice_id,
        "issue_date": "2026-03-01",
        "net_amount": "1000.00",
        "vat_amount": "250.00",
    }
    return {"type": "InvoiceIssued", "source": "invoicing", "tenant": tenant, "data": fields | data}


async def test_an_event_is_booked_once_however_often_it_is_handed_in(api: Api) -> None:
    system = api.headers("billing-service", "system")
    first = await api.client.post(f"{API}/bus/events", json=invoice(), headers=system)
    again = await api.client.post(f"{API}/bus/events", json=invoice(), headers=system)
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    entry_id = str(external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-1"))
    assert first.json()["entryId"] == again.json()["entryId"] == entry_id
    assert "Idempotent-Replayed" not in first.headers
    read = await api.client.get(f"{API}/journal-entries/{entry_id}", headers=system)
    assert read.status_code == 200
    debits = sum(float(line["debit"] or 0) for line in read.json()["lines"])
    assert debits == 1250.0


async def test_what_can_never_be_booked_is_a_422_with_its_reason(api: Api) -> None:
    system = api.headers("billing-service", "system")
    cases = {
        "unknown-event-type": invoice() | {"type": "NoSuchThing"},
        "malformed-message": invoice(net_amount="lots"),
    }
    for code, message in cases.items():
        response = await api.client.post(f"{API}/bus/events", json=message, headers=system)
        assert_problem(response, 422, code)


async def test_only_bus_ingest_and_only_for_the_callers_tenant(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    denied = await api.client.post(f"{API}/bus/events", json=invoice(), headers=accountant)
    assert_problem(denied, 403, "forbidden")
    admin = api.headers("ada", "admin")
    other = await api.client.post(f"{API}/bus/events", json=invoice(tenant="globex"), headers=admin)
    assert_problem(other, 403, "forbidden")
    unknown_field = invoice() | {"extra": 1}
    bad = await api.client.post(f"{API}/bus/events", json=unknown_field, headers=admin)
    assert bad.status_code in (400, 422), bad.text


def account(kind: str, code: str, name: str, tenant: str = TENANT) -> dict[str, Any]:
    return {
        "type": kind,
        "source": "accounts-master",
        "tenant": tenant,
        "data": {"code": code, "name": name},
    }


async def test_the_accounts_master_is_handed_in_too_and_names_the_trial_balance(
    api: Api,
) -> None:
    """The embedded bus takes AccountCreated / AccountUpdated as the NATS path does: kept
    as tenant data (once however often handed in), the names in the trial balance."""
    system = api.headers("accounts-service", "system")
    created = await api.client.post(
        f"{API}/bus/events", json=account("AccountCreated", "1500", "Kunder"), headers=system
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["type"], body["tenant"], body["code"], body["name"]) == (
        "AccountCreated",
        TENANT,
        "1500",
        "Kunder",
    )
    assert "Idempotent-Replayed" not in created.headers
    again = await api.client.post(
        f"{API}/bus/events", json=account("AccountCreated", "1500", "Kunder"), headers=system
    )
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body
    for message in (
        account("AccountCreated", "3000", "Salg  av   varer"),
        account("AccountUpdated", "1500", "Kundefordringer"),
    ):
        response = await api.client.post(f"{API}/bus/events", json=message, headers=system)
        assert response.status_code == 201, response.text
    booked = await api.client.post(f"{API}/bus/events", json=invoice("F-9"), headers=system)
    assert booked.status_code == 201, booked.text

    reader = api.headers("vera", "accountant")
    trial = await api.client.get(f"{API}/reports/trial-balance", headers=reader)
    assert trial.status_code == 200, trial.text
    names = {a["account"]: a.get("name") for a in trial.json()["accounts"]}
    assert names["1500"] == "Kundefordringer"  # the update wins
    assert names["3000"] == "Salg av varer"
    assert set(names) == {"1500", "2700", "3000"}


async def test_an_accounts_master_message_is_checked_like_any_other(api: Api) -> None:
    system = api.headers("accounts-service", "system")
    bad_code = account("AccountCreated", "15 00; drop", "Kunder")
    assert_problem(
        await api.client.post(f"{API}/bus/events", json=bad_code, headers=system),
        422,
        "malformed-message",
    )
    no_name = account("AccountUpdated", "1500", "   ")
    assert_problem(
        await api.client.post(f"{API}/bus/events", json=no_name, headers=system),
        422,
        "malformed-message",
    )
    other_tenant = account("AccountCreated", "1500", "Kunder", tenant="globex")
    assert_problem(
        await api.client.post(f"{API}/bus/events", json=other_tenant, headers=system),
        403,
        "forbidden",
    )
    accountant = api.headers("anna", "accountant")
    assert_problem(
        await api.client.post(
            f"{API}/bus/events", json=account("AccountCreated", "1500", "X"), headers=accountant
        ),
        403,
        "forbidden",
    )


@pytest.mark.parametrize(
    "data",
    [{"customer": "Nordlys \u202eSA"}, {"invoice_id": "F-\u202e0001"}, {"customer": "\x1b[2J"}],
)
async def test_a_name_that_steers_or_controls_is_a_422_and_books_nothing(
    api: Api, data: dict[str, str]
) -> None:
    """A bidi override or a control character in what an entry would show (ADR 0049)."""
    system = api.headers("billing-service", "system")
    response = await api.client.post(f"{API}/bus/events", json=invoice(**data), headers=system)
    problem = assert_problem(response, 422, "not-bookable")
    assert "bidi" in problem["detail"] or "control" in problem["detail"]
    fields = invoice(**data)["data"]
    key = fields["invoice_id"]
    entry_id = external_entry_id(TENANT, "invoicing", "InvoiceIssued", key)
    read = await api.client.get(f"{API}/journal-entries/{entry_id}", headers=system)
    assert read.status_code == 404, read.text
