"""The photos and the scan of the unseen set (tests/unseen_documents.py) through OCR: a
Vipps screenshot, a "KORTKJØP" terminal slip, a crooked phone photo of a receipt and a
scanned invoice (an image-only PDF). The reading table's rows for them, as in
tests/unit/test_unseen_documents.py.

Runs when Tesseract with Norwegian data is installed; under CI=true it is mandatory."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from bookkeeper.adapters.extraction import ocr
from bookkeeper.adapters.extraction.offline import OfflineExtractor
from tests.unseen_documents import build_all, marks, screenshot, table

pytestmark = [
    pytest.mark.skipif(
        not ocr.available() and os.environ.get("CI") != "true",
        reason="tesseract-ocr with Norwegian data is not installed",
    ),
    pytest.mark.long,  # OCR of whole pages, turned four ways: 20-48 s each on a busy machine
]

READ = """
document            type merch   org  date   due gross   cur  rate   vat   kid    no  acct  iban
vipps_screenshot       +     +     +     +     .     +     +     +     +     .     +     .     .
card_slip_kortkjop     +     +     +     +     .     +     +     .     .     .     +     .     .
crooked_photo          +     +     +     +     .     +     +     +     +     .     +     .     .
scanned_invoice        +     +     +     +     +     +     +     +     +     +     +     +     .
"""


def test_the_reading_table_of_the_photos_and_the_scan() -> None:
    reader = OfflineExtractor()
    photos = [doc for doc in build_all() if doc.photo]
    rows = {}
    for doc in photos:
        result = reader.extract_sync(doc.content, doc.media_type, None)
        rows[doc.name] = marks(doc, result)
        assert any("OCR" in w for w in result.warnings), doc.name
    assert table(rows) == READ.strip("\n")


# --- a page that lies sideways or upside down ---------------------------------------------


def _turned_copies(name: str) -> tuple[object, list[tuple[int, bytes, bytes]]]:
    """The unseen document `name` as a sharp page image turned a quarter, a half and three
    quarters: each as a PNG photo and as a one-page scanned (image-only) PDF."""
    import io

    from PIL import Image

    doc = next(doc for doc in build_all() if doc.name == name)
    page = Image.open(io.BytesIO(screenshot(doc.content))).convert("L")
    page = page.crop((0, 0, page.width, page.height // 2))  # the printed half of the A4
    copies = []
    for turn in (90, 180, 270):
        image = page.rotate(turn, expand=True)
        png, scan = io.BytesIO(), io.BytesIO()
        image.save(png, format="PNG")
        image.save(scan, format="PDF", resolution=200)
        copies.append((turn, png.getvalue(), scan.getvalue()))
    return doc, copies


@pytest.mark.parametrize("name", ["hotel_12", "rorlegger_kr_dash"])
def test_a_page_lying_sideways_or_upside_down_is_turned_upright_and_read(name: str) -> None:
    """A receipt photographed sideways, a scan fed upside down: EXIF says nothing about
    how the paper lay (a scan and a screenshot have none), and read as they lie the rows
    are noise (an amount made up of it, or nothing). Turned upright by Tesseract's
    orientation detection, they read as the upright page."""
    reader = OfflineExtractor()
    doc, copies = _turned_copies(name)
    for turn, png, scan in copies:
        for media, content in (("image/png", png), ("application/pdf", scan)):
            result = reader.extract_sync(content, media, None)
            for field in ("gross", "date", "organization_number", "vat_amount"):
                assert getattr(result, field) == doc.expected[field], (turn, media, field)


def test_a_scanned_invoice_with_its_totals_alone_on_the_last_page() -> None:
    """A two-page invoice scanned: the lines on page 1, the totals alone at the top of page
    2 (three lines on a whole A4, 0.3 % ink). The clean-up stretched the contrast clipping
    1 % of the darkest pixels, more than the page's ink, so the paper's grain and the
    letters' grey edges turned black and the page read as noise: no total."""
    import io

    import pypdfium2 as pdfium
    from PIL import Image

    from tests.unseen_documents import pdf

    head = pdf([
        "Byggmester Hansen AS",
        "Org.nr. 987654325 MVA",
        "FAKTURA nr. 2026-118",
        "Fakturadato: 03.12.2026",
        *[(f"Timer uke {week}", "10", "1 000,00") for week in range(45, 51)],
        "Side 1 av 2",
    ])  # fmt: skip
    totals = pdf([
        "Byggmester Hansen AS - Faktura 2026-118 - side 2 av 2",
        ("Sum eks. mva", "6 000,00"),
        ("Mva 25 %", "1 500,00"),
        ("Totalt å betale NOK", "7 500,00"),
    ])  # fmt: skip
    pages: list[Image.Image] = []
    for document in (head, totals):
        rendered = pdfium.PdfDocument(document)
        try:
            pages.append(rendered[0].render(scale=200 / 72).to_pil().convert("L"))
        finally:
            rendered.close()
    scan = io.BytesIO()
    pages[0].save(scan, format="PDF", save_all=True, append_images=pages[1:], resolution=200)
    result = OfflineExtractor().extract_sync(scan.getvalue(), "application/pdf", None)
    assert result.gross == Decimal("7500.00")
    assert result.vat_amount == Decimal("1500.00")
