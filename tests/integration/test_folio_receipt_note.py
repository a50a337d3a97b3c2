"""ADR 0052 on Folio: a receipt with several VAT rates carries its parts in its bank event's
note (PatchEvent.note: the only place the spec has for them; a ledger category holds one
VAT code). The real adapter against the fake on loopback, which checks the PATCH body
against the spec's PatchEvent."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from bookkeeper.adapters.folio import FolioBank, FolioClient
from bookkeeper.application.errors import ExternalNotFound
from tests.fakes.folio import TOKEN, FakeFolio, running_fake_folio, stable_id

NOTE = "MVA per sats: 15 % av 152,00 kr (mva 19,83 kr); 25 % av 41,90 kr (mva 8,38 kr)"
REMA = stable_id("event:2025-02-03:Rema 1000")
DAY = dt.date(2025, 2, 3)


@pytest.fixture
async def folio() -> AsyncIterator[tuple[FakeFolio, FolioBank]]:
    async with running_fake_folio() as (fake, base_url):
        client = FolioClient(base_url, TOKEN, timeout=30.0)
        try:
            yield fake, FolioBank(client)
        finally:
            fake.release()
            await client.aclose()


async def test_the_parts_are_written_to_the_events_note_once(
    folio: tuple[FakeFolio, FolioBank],
) -> None:
    fake, bank = folio
    await bank.annotate(REMA, NOTE, DAY)
    await bank.annotate(REMA, NOTE, DAY)  # an attempt after a timeout: nothing new
    assert fake.patches == [(REMA, {"note": NOTE})]
    assert fake.events[REMA].note == NOTE
    assert fake.violations == []


async def test_the_users_own_note_is_kept(folio: tuple[FakeFolio, FolioBank]) -> None:
    fake, bank = folio
    fake.events[REMA].note = "Lunsj med styret"
    await bank.annotate(REMA, NOTE, DAY)
    assert fake.events[REMA].note == f"Lunsj med styret\n{NOTE}"
    assert fake.violations == []


async def test_an_unknown_event_is_not_found(folio: tuple[FakeFolio, FolioBank]) -> None:
    _, bank = folio
    with pytest.raises(ExternalNotFound):
        await bank.annotate(stable_id("event:none"), NOTE, DAY)
