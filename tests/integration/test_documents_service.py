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
