"""The OCR path of the offline extractor: a generated receipt as a phone photo, read back.

Runs when Tesseract with Norwegian data is installed; under CI=true it is mandatory (.ci/run
installs it), so a missing installation fails rather than skips.
"""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.mark.parametrize("layout", ["card_slip", "thermal_receipt", "kiosk_dots", "a4_label_rows"])
def test_a_tilted_photo_is_read_to_its_edges(layout: str) -> None:
    # Narrow rolls print to the paper's edge: the clean-up finds the sheet by its mask
    # rather than cropping into it, and a giro strip's labels pair with their values.
    import random

    doc = LAYOUTS[layout](random.Random(f"ocr-edges-{layout}"))
    result = OfflineExtractor().extract_sync(photo(doc.pdf, 3), "image/jpeg", None)
    assert result.gross == doc.expected.gross
    assert result.date == doc.expected.date
    if doc.expected.due_date is not None:
        assert result.due_date == doc.expected.due_date


def test_pages_of_a_scan_are_read_in_parallel_threads() -> None:
    # An image-only PDF of two pages: each page by its own engine, text in page order.
    import io
    import random

    from PIL import Image

    doc = LAYOUTS["taxi"](random.Random("ocr-scan"))
    page = Image.open(io.BytesIO(photo(doc.pdf, 5)))
    blank = Image.new("RGB", page.size, "white")
    scan = io.BytesIO()
    page.save(scan, format="PDF", save_all=True, append_images=[blank], resolution=200)
    result = OfflineExtractor().extract_sync(scan.getvalue(), "application/pdf", None)
    assert result.gross == doc.expected.gross
    assert any("OCR" in w for w in result.warnings)


@pytest.mark.long
@pytest.mark.parametrize("fmt", ["HEIF", "WEBP"])
async def test_a_heic_or_webp_photo_named_pdf_is_accepted_and_read_over_http(
    tmp_path: Path, fmt: str
) -> None:
    # Issue 13: what an iPhone (HEIC) or a browser (WebP) sends, called kvittering.pdf with
    # Content-Type application/pdf, through POST /documents, the real container and the
    # real offline reader: stored as a JPEG, read by OCR.
    import random

    from pillow_heif import register_heif_opener

    from tests.http_helpers import API, memory_container, running_api

    register_heif_opener()
    doc = LAYOUTS["taxi"](random.Random("ocr-heic"))
    content = photo(doc.pdf, 7, fmt=fmt)
    assert content[4:12] == b"ftypheic" if fmt == "HEIF" else content[8:12] == b"WEBP"
    async with running_api(tmp_path, container=memory_container(tmp_path)) as api:
        response = await api.client.post(
            f"{API}/documents",
            files={"file": ("kvittering.pdf", content, "application/pdf")},
            headers=api.agent,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["contentType"] == "image/jpeg"
        assert body["extraction"]["gross"] == f"{doc.expected.gross:.2f}"
        assert body["extraction"]["date"] == doc.expected.date.isoformat()
        stored = await api.client.get(f"{API}/files/{body['documentHash']}", headers=api.agent)
        assert stored.status_code == 200 and stored.content[:3] == b"\xff\xd8\xff"
