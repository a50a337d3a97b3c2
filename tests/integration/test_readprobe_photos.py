"""The images of reading probe 7 (tests/readprobe_documents.py) through OCR, as the API and
Discord read them: a painter's invoice through a cheap scanner (~110 dpi, turned, grainy
PNG), a bakery's till roll photographed crooked (JPEG), a parking app's screenshot, and the
giro invoice whose giro amount is not its "Å betale", scanned (an image-only PDF): each
field a person reads and the VAT per rate; the scanned giro's two amounts are still said.

Runs when Tesseract with Norwegian data is installed; under CI=true it is mandatory."""

from __future__ import annotations

import os

import pytest

from bookkeeper.adapters.extraction import ocr
from bookkeeper.adapters.extraction.offline import OfflineExtractor
from tests.readprobe_documents import build_all, vat_by_rate
from tests.unseen_documents import marks, table

pytestmark = pytest.mark.skipif(
    not ocr.available() and os.environ.get("CI") != "true",
    reason="tesseract-ocr with Norwegian data is not installed",
)

READ = """
document               type merch   org  date   due gross   cur  rate   vat   kid    no  acct  iban
scanned_painter_png       +     +     +     +     +     +     +     +     +     +     +     +     .
bakery_photo              +     +     +     +     .     +     +     .     +     .     +     .     .
parking_screenshot        +     +     +     +     .     +     +     +     +     .     +     .     .
scanned_giro_mismatch     +     +     +     +     +     +     +     +     +     +     +     +     .
"""


def test_the_reading_table_of_the_images() -> None:
    reader = OfflineExtractor()
    rows = {}
    for doc in (doc for doc in build_all() if doc.photo):
        result = reader.extract_sync(doc.content, doc.media_type, None)
        rows[doc.name] = marks(doc, result)
        assert any("OCR" in w for w in result.warnings), doc.name
        assert vat_by_rate(result) == doc.rates, doc.name
        for wanted in doc.warns:
            assert any(wanted in warning for warning in result.warnings), (doc.name, wanted)
    assert table(rows) == READ.strip("\n")
