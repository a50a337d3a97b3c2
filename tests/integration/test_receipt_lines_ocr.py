"""ADR 0052 through OCR: a phone photo of each multi-rate receipt layout (tests/documents.py,
photographed by tests/corpus `photo`: tilt, blur, light, JPEG) is read into the same parts
per rate as its PDF. Needs tesseract with Norwegian data (the Dockerfile installs it); under
CI a missing installation fails rather than skips."""

from __future__ import annotations

import os

import pytest

from bookkeeper.adapters.extraction import ocr
from bookkeeper.adapters.extraction.offline import OfflineExtractor
from tests import documents
from tests.corpus.generate import photo

pytestmark = pytest.mark.skipif(
    not ocr.available() and os.environ.get("CI") != "true",
    reason="tesseract-ocr with Norwegian data is not installed",
)


@pytest.mark.parametrize("name", ["kiwi", "coop", "bunnpris", "deli"])
def test_a_photo_of_a_multi_rate_receipt_is_read_into_its_parts(name: str) -> None:
    content, _, expected = documents.MULTI_RATE_RECEIPTS[name]()
    result = OfflineExtractor().extract_sync(photo(content, 3), "image/jpeg", None)
    assert result.gross == expected["gross"]
    parts = sorted(((line.vat_rate, line.gross) for line in result.lines), reverse=True)
    assert parts == documents.MULTI_RATE_PARTS[name]
