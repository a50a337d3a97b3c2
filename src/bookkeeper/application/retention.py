"""The purge of stored documents past their retention (issue 12, bokføringsloven § 13).

`Retention.purge_documents` deletes a tenant's documents whose retention has ended
(domain/retention.py: 5 years after the financial year for primary documentation, 3.5
for secondary) and keeps every younger one, saying why. Named documents that are younger
are refused (`PurgeReport.refused`). Each purge leaves a row in `document_purges` (the
documentation of what was deleted), and the database's triggers refuse any other delete
or update of a document. Conversation memory has its own, shorter purge
(ConversationService.purge).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from bookkeeper.application.ports import DocumentRetentionStore, RetainedDocument
from bookkeeper.domain.retention import Retention as Period
from bookkeeper.domain.retention import RetentionClass

#: Why a document that documents nothing booked yet is kept.
NOT_BOOKED: Final = "documents nothing booked yet: kept until it is booked, then by its year"


def period_of(document: RetainedDocument) -> Period | None:
    """The document's retention: its class and the financial year of what it documents —
    the year of its booking's date (bokføringsloven § 13 counts from the end of that
    financial year, not from the day the file was stored). None when nothing it documents
    is booked yet: it cannot be purged."""
    if document.booked_on is None:
        return None
    return Period(RetentionClass(document.retention), document.booked_on.year)


@dataclass(frozen=True)
class Outcome:
    """One document and what became of it."""

    sha256: str
    filename: str
    #: None: refused because it is not there, or kept because nothing it documents is booked.
    period: Period | None
    reason: str

    def describe(self) -> str:
        return f"{self.sha256} {self.filename}: {self.reason}"


@dataclass
class PurgeReport:
    purged: list[Outcome] = field(default_factory=list)
    kept: list[Outcome] = field(default_factory=list)
    #: Named by the caller but younger than their retention (or not there): refused.
    refused: list[Outcome] = field(default_factory=list)
    dry_run: bool = False


class Retention:
    """Purges documents past retention; never anything younger."""

    def __init__(self, store: DocumentRetentionStore) -> None:
        self._store = store

    async def purge_documents(
        self,
        tenant_id: str,
        *,
        now: dt.datetime,
        actor: str,
        only: Sequence[str] = (),
        dry_run: bool = False,
    ) -> PurgeReport:
        """Purge the tenant's documents past retention (only the named ones, when given)."""
        # The UTC day, never ahead of Oslo's: SQLite's guard trigger judges by
        # date('now') (UTC), and a day later than the law's never purges early.
        today = now.astimezone(dt.UTC).date()
        report = PurgeReport(dry_run=dry_run)
        documents = await self._store.documents(tenant_id)
        wanted = {h.lower() for h in only}
        if wanted:
            documents = [d for d in documents if d.document.sha256 in wanted]
            for missing in sorted(wanted - {d.document.sha256 for d in documents}):
                report.refused.append(Outcome(missing, "-", None, "no such document"))
        for document in documents:
            period = period_of(document)
            outcome = Outcome(
                document.document.sha256,
                document.document.filename,
                period,
                NOT_BOOKED if period is None else period.reason(),
            )
            if period is None or not period.expired(today):
                (report.refused if wanted else report.kept).append(outcome)
                continue
            if not dry_run and not await self._store.purge(
                tenant_id,
                document.document.sha256,
                financial_year=period.financial_year,
                retained_until=period.until,
                purged_at=now,
                purged_by=actor,
            ):
                continue  # another purge took it meanwhile: its record says so, not ours
            report.purged.append(
                Outcome(
                    outcome.sha256,
                    outcome.filename,
                    period,
                    f"past retention ({period.reason()})",
                )
            )
        return report
