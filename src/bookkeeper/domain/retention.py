"""How long the books' documentation is kept (bokføringsloven § 13, norway.md).

Primary documentation (receipts, invoices, the ledger, the audit trail, documentation of
booked and deleted entries) is kept 5 years after the end of the financial year;
secondary documentation (agreements, packing slips, price lists) 3.5 years. Nothing is
purged before that; after it, a purge may delete it.

The financial year is the calendar year (regnskapsloven § 1-7) of what the document
documents: the date its booking is dated (the journal entry), not the day the file was
stored — a receipt stored on 3 January 2027 for a purchase booked on 28 December 2026
belongs to 2026, and one stored in December 2026 for a booking dated 2027 to 2027 (judged
by the day stored, it would go a year early). A document nothing booked yet refers to has
no financial year and is kept (application/retention.py).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class RetentionClass(enum.StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


#: What each class is, in the words a person reads in the purge's answer.
DESCRIPTION = {
    RetentionClass.PRIMARY: "primary documentation, kept 5 years after its financial year",
    RetentionClass.SECONDARY: "secondary documentation, kept 3.5 years after its financial year",
}


def retained_until(kind: RetentionClass, financial_year: int) -> dt.date:
    """The last day the documentation must still be kept."""
    if kind is RetentionClass.PRIMARY:
        return dt.date(financial_year + 5, 12, 31)
    # 3.5 years after 31 December of the financial year: 30 June, four calendar years on.
    return dt.date(financial_year + 4, 6, 30)


@dataclass(frozen=True)
class Retention:
    """One document's retention: its class, financial year and last day kept."""

    kind: RetentionClass
    financial_year: int

    @property
    def until(self) -> dt.date:
        return retained_until(self.kind, self.financial_year)

    def expired(self, today: dt.date) -> bool:
        """Whether `today` is after the last day it must be kept."""
        return today > self.until

    def reason(self) -> str:
        """Why it is kept (a sentence for the purge's report)."""
        return (
            f"{DESCRIPTION[self.kind]} (financial year {self.financial_year}): "
            f"kept until {self.until.isoformat()}"
        )
