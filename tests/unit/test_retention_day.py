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
    """One primary document stored in 2026 (kept until 2031-12-31); the purges asked."""

    def __init__(self) -> None:
        self.purged: list[str] = []

    async def documents(self, tenant_id: str) -> list[RetainedDocument]:
        stored = StoredDocument(
            tenant_id=tenant_id,
            sha256=SHA,
            content_type="application/pdf",
            filename="kvittering.pdf",
            size=10,
            created_at=dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC),
        )
        return [RetainedDocument(document=stored, retention="primary")]

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
