"""Story 5 over HTTP, on SQLite and PostgreSQL, against the loopback Fiken fake (the real
client and adapter): Fiken down for hours while an approved invoice waits is retried on the
capped back-off and registered once when Fiken is back; a FAILED proposal sent back by a
reviewer (POST /events/{id}/retry) is executed once, the purchase an earlier attempt made
found by its reference, not made again (ADR 0009 addendum).

The app's executor is off: the test runs its passes (in the app's event loop) and moves the
app's fixed clock to each attempt's nextAttemptAt, so hours pass in seconds."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.application.execution import reference
from bookkeeper.container import resolve
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api, api_with_fiken, assert_problem, invoice
from tests.integration.test_web_pages import APP, login

INVOICE = "InvoiceRegistrationProposed"
CREATE_PURCHASE = r"/purchases$"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Api, FakeFiken]]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with api_with_fiken(
        tmp_path, url, "fiken-retry-token", "retry-as", executor_enabled=False
    ) as world:
        yield world


async def run_pass(api: Api) -> Any:
    """One executor pass in the app's event loop (the test client's portal thread), where
    the app's Fiken client lives."""

    async def once() -> Any:
        return await (await resolve(api.container.executor)).run_once()

    return await asyncio.to_thread(api.client.blocking_portal.call, once)


async def view(api: Api, proposal_id: str) -> dict[str, Any]:
    shown = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert shown.status_code == 200, shown.text
    body: dict[str, Any] = shown.json()
    return body


async def when_due(api: Api, proposal_id: str) -> dict[str, Any]:
    """The proposal, the app's clock moved to its next attempt."""
    shown = await view(api, proposal_id)
    if shown["nextAttemptAt"] is not None:
        api.container.clock().current = dt.datetime.fromisoformat(shown["nextAttemptAt"])
    return shown


async def approved(api: Api, number: str) -> str:
    proposed = await api.propose(INVOICE, invoice(invoiceNumber=number))
    assert (await api.approve(proposed["proposalId"])).status_code == 200
    return str(proposed["proposalId"])


async def test_fiken_down_for_hours_then_back_registers_the_invoice_once(
    world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = world
    clock = api.container.clock()
    pid = await approved(api, "F-501")
    fiken.fail_next(10_000, 503, method="POST")  # maintenance: every write answered 503
    start = clock.now()
    attempts = 0
    while clock.now() < start + dt.timedelta(hours=4):
        report = await run_pass(api)
        assert report.retried == 1 and report.failed == 0, report
        attempts += 1
        shown = await when_due(api, pid)
        assert shown["status"] == "APPROVED", shown
    assert attempts > 6  # six attempts ended it FAILED after ~15 minutes before
    assert "503" in shown["lastError"]
    assert fiken.purchase_requests == {}

    # Fiken is back; its first answer is lost after the purchase is made (a 500).
    fiken.clear_faults()
    fiken.fail_next(1, 500, after_commit=True, method="POST", path=CREATE_PURCHASE)
    assert (await run_pass(api)).retried == 1
    await when_due(api, pid)
    report = await run_pass(api)
    assert (report.executed, report.reconciled) == (1, 1), report
    shown = await view(api, pid)
    assert shown["status"] == "EXECUTED" and shown["attempts"] == attempts + 2
    assert len(fiken.purchases_with_reference(reference(uuid.UUID(pid)))) == 1
    assert len(fiken.purchases) == 1


async def test_a_failed_invoice_retried_by_a_reviewer_is_registered_once(
    world: tuple[Api, FakeFiken],
) -> None:
    """The purchase was made but its answer lost; the next attempt met a revoked token
    (401: not retried, FAILED). Once the token is fixed a reviewer retries: the attempt
    finds the purchase by its reference and attaches nothing twice."""
    api, fiken = world
    pid = await approved(api, "F-502")
    fiken.fail_next(1, 500, after_commit=True, method="POST", path=CREATE_PURCHASE)
    assert (await run_pass(api)).retried == 1
    await when_due(api, pid)
    fiken.fail_next(1, 401, method="GET")
    assert (await run_pass(api)).failed == 1
    failed = await view(api, pid)
    assert failed["status"] == "FAILED" and failed["attempts"] == 2
    assert len(fiken.purchases) == 1

    # Not the agent's to decide, not another tenant's to see.
    refused = await api.client.post(f"{API}/events/{pid}/retry", headers=api.agent)
    assert_problem(refused, 403)
    other = api.headers("kari", "reviewer", tenant="other-as")
    assert_problem(await api.client.post(f"{API}/events/{pid}/retry", headers=other), 404)
    bad = await api.client.post(
        f"{API}/events/{pid}/retry", json={"comment": "ok\x00"}, headers=api.reviewer
    )
    assert bad.status_code in (400, 422), bad.text
    assert (await view(api, pid))["status"] == "FAILED"

    retried = await api.client.post(
        f"{API}/events/{pid}/retry",
        json={"comment": "Fiken-nøkkelen er fornyet"},
        headers=api.reviewer,
    )
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["proposal"]["status"] == "APPROVED"
    event = await api.client.get(f"{API}/events/{body['eventId']}", headers=api.viewer)
    assert event.json()["type"] == "InvoiceRegistrationExecutionRetried"
    assert event.json()["actor"] == "human:kari"
    assert event.json()["data"] == {"attempt": 2, "comment": "Fiken-nøkkelen er fornyet"}

    report = await run_pass(api)
    assert (report.executed, report.reconciled) == (1, 1), report
    shown = await view(api, pid)
    assert shown["status"] == "EXECUTED" and shown["attempts"] == 3
    assert len(fiken.purchases) == 1
    assert len(fiken.purchases_with_reference(reference(uuid.UUID(pid)))) == 1
    # Posted to the ledger once: 1 000 kr cost, 250 kr input VAT, 1 250 kr owed.
    trial = await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)
    accounts = {a["account"]: a for a in trial.json()["accounts"]}
    assert accounts["6900"]["debit"] == "1000.00" and accounts["2710"]["debit"] == "250.00"

    # Executed: a second retry is a 409 and nothing is sent again.
    again = await api.client.post(f"{API}/events/{pid}/retry", headers=api.reviewer)
    assert_problem(again, 409, "proposal-not-failed")
    assert (await run_pass(api)).claimed == 0
    assert len(fiken.purchases) == 1


async def test_only_a_failed_proposal_is_retried(world: tuple[Api, FakeFiken]) -> None:
    api, _ = world
    proposed = await api.propose(INVOICE, invoice(invoiceNumber="F-503"))
    pid = proposed["proposalId"]
    pending = await api.client.post(f"{API}/events/{pid}/retry", headers=api.reviewer)
    assert_problem(pending, 409)
    assert (await view(api, pid))["status"] == "PROPOSED"
    unknown = await api.client.post(f"{API}/events/{uuid.uuid4()}/retry", headers=api.reviewer)
    assert_problem(unknown, 404)


async def test_a_reviewer_retries_a_failed_invoice_on_the_page(
    world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = world
    pid = await approved(api, "F-504")
    fiken.fail_next(1, 401, method="GET")  # the token was revoked: FAILED at once
    assert (await run_pass(api)).failed == 1
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{pid}")).text
    assert 'id="retry-form"' in page and "Prøv igjen" in page

    url = f"{APP}/review/{pid}/retry"
    done = await api.client.post(
        url, data={"_csrf_token": csrf, "comment": "nøkkelen er fornyet"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith(f"/review/{pid}?done=retried")
    # A double click answers as the first did; nothing more is recorded.
    twice = await api.client.post(url, data={"_csrf_token": csrf}, follow_redirects=False)
    assert twice.status_code == 303, twice.text
    shown = (await api.client.get(done.headers["location"])).text
    assert "Sendt til utføring igjen. Status nå:" in shown
    assert "sendt til utføring igjen" in shown  # the history's row
    assert 'id="retry-form"' not in shown

    assert (await run_pass(api)).executed == 1
    assert (await view(api, pid))["status"] == "EXECUTED"
    assert len(fiken.purchases) == 1
    # Another person's retry of an executed proposal is refused on the page.
    await login(api, "ola", "reviewer")
    page = await api.client.get(f"{APP}/review/{pid}")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    refused = await api.client.post(url, data={"_csrf_token": csrf.group(1)})
    assert refused.status_code == 409, refused.text
