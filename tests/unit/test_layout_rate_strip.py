"""A one-rate summary strip ("Grunnlag | Mva 25 % | Totalt" over three sums) is labels over
values, not a VAT table's heading (reading probe 6)."""

from __future__ import annotations

from decimal import Decimal

from bookkeeper.adapters.extraction.layout import pair_label_rows
from bookkeeper.adapters.extraction.offline import OfflineExtractor, extract_text_fields
from tests.unseen_documents import pdf


def test_a_one_rate_strip_pairs_each_label_with_its_value() -> None:
    text = "Renhold AS\nGrunnlag\tMva 25 %\tTotalt\n6 800,00\t1 700,00\t8 500,00\n"
    paired = pair_label_rows(text)
    assert "Mva 25 % 1 700,00" in paired.splitlines()
    result = extract_text_fields(paired)
    assert (result.vat_rate, result.vat_amount) == (Decimal("25"), Decimal("1700.00"))
    assert result.gross == Decimal("8500.00")


def test_a_vat_table_heading_is_still_no_labels() -> None:
    text = "Butikk AS\nMva-sats\tGrunnlag\tMva\n25 %\t100,00\t25,00\n"
    assert pair_label_rows(text) == text.rstrip("\n")


def test_a_pdfs_one_rate_strip_is_read() -> None:
    rows = [
        "Bymiljø Renhold AS",
        "FAKTURA",
        ("Renhold kontor desember", "", "6 800,00"),
        ("Grunnlag", "Mva 25 %", "Totalt"),
        ("6 800,00", "1 700,00", "8 500,00"),
    ]
    result = OfflineExtractor(use_ocr=False).extract_sync(pdf(rows), "application/pdf", None)
    assert (result.vat_rate, result.vat_amount) == (Decimal("25"), Decimal("1700.00"))
