"""The photos and the scan of the unseen set (tests/unseen_documents.py) through OCR: a
Vipps screenshot, a "KORTKJØP" terminal slip, a crooked phone photo of a receipt and a
scanned invoice (an image-only PDF). The reading table's rows for them, as in
tests/unit/test_unseen_documents.py.

Runs when Tesseract with Norwegian data is installed; under CI=true it is mandatory."""

from __future__ import annotations

import os

import pytest

from bookkeeper.adapters.extraction import ocr
from bookkeeper.adapters.extraction.offline import OfflineExtractor
from tests.unseen_documents import build_all, marks, table

pytestmark = pytest.mark.skipif(
    not ocr.available() and os.environ.get("CI") != "true",
    reason="tesseract-ocr with Norwegian data is not installed",
)

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
