"""Documents written the way Norwegian suppliers and shops abroad print them, read as a
person reads them (an outside reading probe, ADR 0033): each test is a rule a person uses,
on a PDF with a text layer built here (tests.unseen_documents.pdf)."""

from __future__ import annotations

from decimal import Decimal

from bookkeeper.adapters.extraction.offline import OfflineExtractor
from bookkeeper.application.ports import Extraction
from tests.documents import bank_account, org_number
from tests.unseen_documents import Row, pdf, spaced

READER = OfflineExtractor(use_ocr=False)
SELLER = org_number("91234568")
BUYER = org_number("92000011")
ACCOUNT = bank_account("1503224489")


def _read(rows: list[Row]) -> Extraction:
    return READER.extract_sync(pdf(rows), "application/pdf", None)


def _invoice_to_a_buyer(*, seller_in_footer: bool) -> list[Row]:
    rows: list[Row] = [
        "Faktura til:",
        "Bakeriet Lille AS",
        f"Org.nr. {BUYER}",
        "Storgata 9, 0155 Oslo",
        ("Faktura nr 7781", "Dato 07.12.2026"),
        ("Renhold desember", "2 000,00"),
        ("Mva 25 %", "500,00"),
        ("Å betale", "2 500,00"),
        ("Forfall 21.12.2026", f"Konto {ACCOUNT}"),
    ]
    if seller_in_footer:
        rows.append(f"Rent & Pent AS · Sandakerveien 10, 0477 Oslo · Org.nr. {spaced(SELLER)} MVA")
    return rows


def test_the_buyers_block_is_not_the_seller() -> None:
    """ "Faktura til: / Bakeriet Lille AS / Org.nr. …" at the top names the buyer (the
    company booking it); the seller is in the footer. Read as the seller, the invoice went
    to the wrong supplier (the buyer's own number) at full confidence."""
    result = _read(_invoice_to_a_buyer(seller_in_footer=True))
    assert result.organization_number == SELLER
    assert result.merchant_name == "Rent & Pent AS"
    assert result.gross == Decimal("2500.00")


def test_a_buyers_number_alone_is_no_sellers_number() -> None:
    result = _read(_invoice_to_a_buyer(seller_in_footer=False))
    assert result.organization_number is None
    assert "no organisation number" in result.warnings


def test_a_seller_beside_the_buyers_block_keeps_its_number() -> None:
    """Two columns: the buyer's block on the left, the seller's number on the right of the
    same lines."""
    result = _read([
        ("Kunde:", "Rent & Pent AS"),
        ("Bakeriet Lille AS", f"Org.nr. {spaced(SELLER)} MVA"),
        ("Storgata 9, 0155 Oslo", "Faktura 7781"),
        ("Dato 07.12.2026", ""),
        ("Å betale", "2 500,00"),
        ("Herav mva 25 %", "500,00"),
    ])  # fmt: skip
    assert result.organization_number == SELLER
