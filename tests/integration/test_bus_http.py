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
