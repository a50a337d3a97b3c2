"""The OCR path of the offline extractor: a generated receipt as a phone photo, read back.

Runs when Tesseract with Norwegian data is installed; under CI=true it is mandatory (.ci/run
installs it), so a missing installation fails rather than skips.
"""

from __future__ import annotations

import os

import pytest

from bookkeeper.adapters.extraction import ocr
from bookkeeper.adapters.extraction.offline import OfflineExtractor
from tests.corpus.generate import LAYOUTS, photo

pytestmark = pytest.mark.skipif(
    not ocr.available() and os.environ.get("CI") != "true",
    reason="tesseract-ocr with Norwegian data is not installed",
)


def test_a_photo_of_a_receipt_named_pdf_is_read_by_ocr() -> None:
    import random

    doc = LAYOUTS["taxi"](random.Random("ocr-test"))
    content = photo(doc.pdf, 7)
    # The name and the Content-Type lie: the bytes decide (an image sent as kvittering.pdf).
    result = OfflineExtractor().extract_sync(content, "application/pdf", "kvittering.pdf")
    assert result.document_type == "receipt"
    assert result.gross == doc.expected.gross
    assert result.date == doc.expected.date
    assert "gross" in result.evidence
    assert any("OCR" in w for w in result.warnings)
