"""The Documents service without HTTP: sniffing, file names, permissions, tenants."""

from __future__ import annotations

import datetime as dt

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.documents import (
    MAX_DOCUMENT_BYTES,
    DocumentRejected,
    Documents,
    DocumentTooLarge,
    UnsupportedDocumentType,
    sanitise_filename,
    sniff,
)
from bookkeeper.application.errors import Forbidden, NotFound
from tests.unit.conftest import FixedClock
from tests.unit.external_doubles import PDF, PNG, agent, principal


@pytest.fixture
def documents() -> Documents:
    return Documents(MemoryUnitOfWorkFactory(), FixedClock(), RoleAuthorizer())


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("receipt.pdf", "application/pdf", "receipt.pdf"),
        ("RECEIPT.PDF", "application/pdf", "RECEIPT.pdf"),
        ("photo.jpeg", "image/jpeg", "photo.jpg"),
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ("C:\\Users\\ola\\kvittering.png", "image/png", "kvittering.png"),
        ("invoice.exe", "application/pdf", "invoice.exe.pdf"),
        ('a"b;c\r\n\x00d.pdf', "application/pdf", "a_b_cd.pdf"),
        ("Blåbær & Co.pdf", "application/pdf", "Blåbær _ Co.pdf"),
        ("", "image/png", "document.png"),
        (None, "image/jpeg", "document.jpg"),
        ("...", "application/pdf", "document.pdf"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 96 + ".pdf"),
    ],
)
def test_file_names_are_made_safe(name: str | None, content_type: str, expected: str) -> None:
    assert sanitise_filename(name, content_type) == expected


def test_types_are_sniffed_from_the_first_bytes() -> None:
    assert sniff(PDF) == "application/pdf"
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xdb") == "image/jpeg"
    assert sniff(b" %PDF-1.7") is None
    assert sniff(b"GIF89a") is None


async def test_upload_checks_and_stores(documents: Documents) -> None:
    first = await documents.upload(agent(), PDF, "Application/PDF; charset=binary", "a.pdf")
    assert not first.duplicate and first.document.content_type == "application/pdf"
    assert first.document.created_at == dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    again = await documents.upload(agent(), PDF, None, "b.pdf")
    assert again.duplicate and again.document == first.document
    stored, content = await documents.content(agent(), first.document.sha256.upper())
    assert stored == first.document and content == PDF
    with pytest.raises(NotFound):
        await documents.get(agent("globex"), first.document.sha256)
    with pytest.raises(NotFound):
        await documents.get(agent(), "nope")


async def test_upload_refusals(documents: Documents) -> None:
    with pytest.raises(DocumentTooLarge):
        await documents.upload(agent(), PDF + bytes(MAX_DOCUMENT_BYTES), None, None)
    with pytest.raises(UnsupportedDocumentType):
        await documents.upload(agent(), PDF, "text/html", None)
    with pytest.raises(UnsupportedDocumentType):
        await documents.upload(agent(), b"hello", None, None)
    # The bytes decide over a declared document type (issue 13): a PNG called a PDF is a PNG.
    named_pdf = await documents.upload(agent(), PNG, "application/pdf", "kvittering.pdf")
    assert named_pdf.document.content_type == "image/png"
    assert named_pdf.document.filename == "kvittering.pdf.png"
    with pytest.raises(DocumentRejected, match="empty"):
        await documents.upload(agent(), b"", "application/pdf", None)


async def test_permissions(documents: Documents) -> None:
    viewer = principal("vera", "viewer")
    with pytest.raises(Forbidden):
        await documents.upload(viewer, PDF, None, None)
    sha = (await documents.upload(agent(), PDF, None, None)).document.sha256
    assert (await documents.get(viewer, sha)).sha256 == sha
    with pytest.raises(Forbidden):
        await documents.get(principal("nobody", "no-such-role"), sha)


def _photo(fmt: str, *, mode: str = "RGB", size: tuple[int, int] = (120, 80)) -> bytes:
    import io

    from PIL import Image, ImageDraw
    from pillow_heif import register_heif_opener

    register_heif_opener()
    # With transparency, the background is see-through (an encoder drops an opaque alpha).
    image = Image.new(mode, size, (255, 255, 255, 0) if mode == "RGBA" else "white")
    ImageDraw.Draw(image).rectangle((10, 10, 60, 40), fill="black")
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "declared", "name", "stored_type", "stored_name"),
    [
        ("HEIF", "application/pdf", "kvittering.pdf", "image/jpeg", "kvittering.pdf.jpg"),
        ("HEIF", "image/heic", "IMG_0042.HEIC", "image/jpeg", "IMG_0042.jpg"),
        ("HEIF", "image/heif", None, "image/jpeg", "document.jpg"),
        ("WEBP", None, "kvittering.webp", "image/jpeg", "kvittering.jpg"),
        ("WEBP", "image/png", "kvittering.pdf", "image/jpeg", "kvittering.pdf.jpg"),
    ],
)
async def test_heic_and_webp_photos_are_stored_converted(
    fmt: str, declared: str | None, name: str | None, stored_type: str, stored_name: str
) -> None:
    # Issue 13: an iPhone's HEIC and a WebP are accepted whatever they are called, and
    # stored as what the books and the bank take, so that attaching them later works.
    from bookkeeper.adapters.images import PillowImageConverter

    documents = Documents(
        MemoryUnitOfWorkFactory(), FixedClock(), RoleAuthorizer(), PillowImageConverter()
    )
    original = _photo(fmt)
    upload = await documents.upload(agent(), original, declared, name)
    assert upload.document.content_type == stored_type
    assert upload.document.filename == stored_name
    assert sniff(upload.content) == stored_type and upload.content != original
    _, stored = await documents.content(agent(), upload.document.sha256)
    assert stored == upload.content
    again = await documents.upload(agent(), original, declared, name)
    assert again.duplicate and again.document.sha256 == upload.document.sha256


async def test_a_transparent_webp_becomes_a_png_and_a_broken_heic_is_refused() -> None:
    from bookkeeper.adapters.images import PillowImageConverter

    documents = Documents(
        MemoryUnitOfWorkFactory(), FixedClock(), RoleAuthorizer(), PillowImageConverter()
    )
    clear = await documents.upload(agent(), _photo("WEBP", mode="RGBA"), None, "skjerm.webp")
    assert clear.document.content_type == "image/png"
    assert clear.document.filename == "skjerm.png"
    broken = _photo("HEIF")[:60]
    with pytest.raises(DocumentRejected, match="image/heic image could not be read"):
        await documents.upload(agent(), broken, "image/heic", "IMG.HEIC")


async def test_without_a_converter_a_heic_photo_is_refused_with_what_to_send(
    documents: Documents,
) -> None:
    with pytest.raises(UnsupportedDocumentType, match="send a PDF, JPEG or PNG"):
        await documents.upload(agent(), _photo("HEIF"), "image/heic", "IMG.HEIC")
    with pytest.raises(UnsupportedDocumentType, match="is not accepted"):
        await documents.upload(agent(), _photo("WEBP"), "image/gif", None)
