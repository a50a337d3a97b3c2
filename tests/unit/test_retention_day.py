"""Which day the purge judges a document's retention by (application.retention).

The database's own guard lets a document's delete through only once its retained-until
day has passed: on SQLite by `date('now')`, the UTC day (migration 0014). The purge
judged by the Oslo day, one or two hours ahead of it: in the first hours of 1 January
(Oslo) it deleted what the trigger still protected, and the purge stopped there with
'documents are immutable' as a defect's message."""

from __future__ import annotations

import datetime as dt

from bookkeeper.application.ports import RetainedDocument, StoredDocument
from bookkeeper.application.retention import Retention

SHA = "a" * 64


class Store:
    """One primary document booked in 2026 (kept until 2031-12-31); the purges asked."""

    def __init__(
        self,
        booked_on: dt.date | None = dt.date(2026, 6, 1),
        stored: dt.datetime = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC),
    ) -> None:
        self.purged: list[str] = []
        self.booked_on = booked_on
        self.stored = stored

    async def documents(self, tenant_id: str) -> list[RetainedDocument]:
        stored = StoredDocument(
            tenant_id=tenant_id,
            sha256=SHA,
            content_type="application/pdf",
            filename="kvittering.pdf",
            size=10,
            created_at=self.stored,
        )
        return [RetainedDocument(document=stored, retention="primary", booked_on=self.booked_on)]

    async def purge(self, tenant_id: str, sha256: str, **_: object) -> bool:
        self.purged.append(sha256)
        return True


async def test_new_years_night_in_oslo_is_still_the_last_kept_day_in_utc() -> None:
    store = Store()
    report = await Retention(store).purge_documents(
        "acme", now=dt.datetime(2031, 12, 31, 23, 30, tzinfo=dt.UTC), actor="cli:purge"
    )
    assert store.purged == [] and [o.sha256 for o in report.kept] == [SHA]


async def test_the_document_goes_once_the_day_has_passed_everywhere() -> None:
    store = Store()
    report = await Retention(store).purge_documents(
        "acme", now=dt.datetime(2032, 1, 1, 0, 0, 1, tzinfo=dt.UTC), actor="cli:purge"
    )
    assert store.purged == [SHA] and [o.sha256 for o in report.purged] == [SHA]


async def test_a_receipt_stored_in_january_for_december_belongs_to_december_s_year() -> None:
    """Stored on 3 January 2027 for a purchase booked on 28 December 2026: financial year
    2026, so it may go on 1 January 2032, not a year later."""
    store = Store(dt.date(2026, 12, 28), dt.datetime(2027, 1, 3, 9, tzinfo=dt.UTC))
    report = await Retention(store).purge_documents(
        "acme", now=dt.datetime(2032, 1, 1, 0, 0, 1, tzinfo=dt.UTC), actor="cli:purge"
    )
    assert store.purged == [SHA]
    assert "financial year 2026): kept until 2031-12-31" in report.purged[0].reason


async def test_stored_in_december_for_a_booking_of_january_is_kept_a_year_longer() -> None:
    """Stored on 20 December 2026 (23:30 Oslo is already 21st; either way 2026) for a
    booking dated 2 January 2027: financial year 2027, kept until 2032-12-31 — judged by the
    day stored it went on 1 January 2032, a year early."""
    store = Store(dt.date(2027, 1, 2), dt.datetime(2026, 12, 20, 22, 30, tzinfo=dt.UTC))
    report = await Retention(store).purge_documents(
        "acme", now=dt.datetime(2032, 6, 1, tzinfo=dt.UTC), actor="cli:purge"
    )
    assert store.purged == []
    assert "financial year 2027): kept until 2032-12-31" in report.kept[0].reason


async def test_a_document_nothing_booked_refers_to_is_never_purged() -> None:
    store = Store(None, dt.datetime(2010, 1, 1, tzinfo=dt.UTC))
    report = await Retention(store).purge_documents(
        "acme", now=dt.datetime(2040, 1, 1, tzinfo=dt.UTC), actor="cli:purge", only=[SHA]
    )
    assert store.purged == [] and [o.sha256 for o in report.refused] == [SHA]
    assert report.refused[0].period is None
