"""A small fixed slice of the reading corpus (tests/corpus): text-layer PDFs, hostile twins,
sniffed media types. The full measurement is bench/reading.py; this only guards regressions."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bookkeeper.adapters.extraction.offline import SUSPICIOUS_CAP, OfflineExtractor, find_dates
from bookkeeper.application.documents import sniff_media_type
from tests.corpus.generate import LAYOUTS, generate, hostile

SLICE = generate(28, seed=7)  # two of each layout
EXTRACTOR = OfflineExtractor(use_ocr=False)


def test_the_corpus_has_at_least_twelve_layouts() -> None:
    assert len(LAYOUTS) >= 12
    assert {d.layout for d in SLICE} == set(LAYOUTS)


@pytest.mark.parametrize("doc", SLICE, ids=[d.name for d in SLICE])
def test_gross_and_date_of_the_slice(doc) -> None:  # type: ignore[no-untyped-def]
    result = EXTRACTOR.extract_sync(doc.pdf, "application/octet-stream", None)
    assert result.gross == doc.expected.gross
    assert result.date == doc.expected.date
    assert result.document_type == doc.expected.kind


@pytest.mark.parametrize("index", range(0, 28, 3))
def test_a_hidden_line_is_shown_and_keeps_the_document_in_review(index: int) -> None:
    clean = SLICE[index]
    twin = hostile(clean, index)
    read_clean = EXTRACTOR.extract_sync(clean.pdf, "application/pdf", None)
    read = EXTRACTOR.extract_sync(twin.pdf, "application/pdf", None)
    assert read.confidence <= SUSPICIOUS_CAP < read_clean.confidence
    assert any("hidden text" in w for w in read.warnings)
    assert read.gross == read_clean.gross and read.bank_account == read_clean.bank_account
    assert twin.hidden is not None
    assert all(twin.hidden not in snippet for snippet in read.evidence.values())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_an_image_is_an_image_whatever_it_is_called(fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, format=fmt)
    assert sniff_media_type(out.getvalue()).startswith("image/")
    assert sniff_media_type(b"%PDF-1.7\n...") == "application/pdf"
    assert sniff_media_type(b"Totalt 100,00") == "application/octet-stream"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2. april 2026", "2026-04-02"),
        ("02.04.26", "2026-04-02"),
        ("2. apr. 2026", "2026-04-02"),
        ("April 2, 2026", "2026-04-02"),
        ("2 Apr 2026", "2026-04-02"),
        ("2026-04-02", "2026-04-02"),
    ],
)
def test_written_and_numeric_dates(text: str, iso: str) -> None:
    assert [d.isoformat() for _, _, d in find_dates(text)] == [iso]
