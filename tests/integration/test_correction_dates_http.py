"""Story 6 over HTTP on SQLite and PostgreSQL (ADR 0040, addendum): an executed expense is
corrected after the fact (another account), and the correction's reversal and corrected
entry are posted on one date — the original date while its VAT term is open, the
correction's date once the term is locked (reported) — with the reason in each entry's
description; a replay gives the same ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.container import resolve
from tests.http_helpers import API, Api, expense, running_api, sqlite_container

ORIGINAL = "2026-10-05"  # in VAT term 5 of 2026
TODAY = "2026-11-20"  # the fixed clock's day


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


async def ledger(api: Api, account: str) -> list[tuple[str, str, str, str]]:
    got = await api.client.get(
        f"{API}/reports/general-ledger", params={"account": account}, headers=api.reviewer
    )
    assert got.status_code == 200, got.text
    return [(i["date"], i["debit"], i["credit"], i["entryId"]) for i in got.json()["items"]]


@pytest.mark.parametrize(("locked", "dated"), [(False, ORIGINAL), (True, TODAY)])
async def test_a_corrections_two_entries_share_one_date(api: Api, locked: bool, dated: str) -> None:
    accountant = api.headers("anna", "accountant")
    proposed = await api.propose("ExpenseRegistrationProposed", expense(date=ORIGINAL))
    target = proposed["proposalId"]
    assert (await api.approve(target)).status_code == 200
    await api.executed(target)
    if locked:
        lock = await api.client.post(f"{API}/rules/vat-terms/2026/5/lock", headers=accountant)
        assert lock.status_code == 201, lock.text

    correction: dict[str, Any] = {
        "targetProposalId": target,
        "reason": "Feil konto",
        "changes": {"accountCode": "6800"},
    }
    submitted = await api.submit("CorrectionProposed", correction, headers=accountant)
    assert submitted.status_code == 201, submitted.text
    corrected_id = submitted.json()["eventId"]
    assert (await api.approve(corrected_id)).status_code == 200
    await api.executed(corrected_id)

    old = await ledger(api, "7140")
    new = await ledger(api, "6800")
    # The original on its date, then its reversal and the corrected entry on one date.
    assert [(d, dr, cr) for d, dr, cr, _ in old] == [
        (ORIGINAL, "400.00", "0.00"),
        (dated, "0.00", "400.00"),
    ]
    assert [(d, dr, cr) for d, dr, cr, _ in new] == [(dated, "400.00", "0.00")]
    why = (
        f"korrigering datert opprinnelig dato {ORIGINAL}: perioden er åpen"
        if not locked
        else f"korrigering datert {TODAY}: opprinnelig dato {ORIGINAL} i lukket MVA-termin 2026-5"
    )
    for entry_id in (old[1][3], new[0][3]):
        shown = await api.client.get(f"{API}/journal-entries/{entry_id}", headers=accountant)
        assert shown.status_code == 200, shown.text
        assert why in shown.json()["description"]
    # VAT is booked once in the original's term (reversed and booked again on one date).
    vat = await ledger(api, "2713")
    assert [(d, dr, cr) for d, dr, cr, _ in vat] == [
        (ORIGINAL, "48.00", "0.00"),
        (dated, "0.00", "48.00"),
        (dated, "48.00", "0.00"),
    ]

    # Replay equals live.
    replay = await resolve(api.container.replay)
    await replay(None)
    assert await ledger(api, "7140") == old
    assert await ledger(api, "6800") == new
    assert await ledger(api, "2713") == vat
