"""Receipt and invoice files: upload (checked, content-addressed) and download, per tenant.

A file's type comes from its bytes (magic numbers), never from its name or the sender's
Content-Type, in this one place for every entrypoint (REST /documents and /files, Discord
attachments, the CLI) and for the extractor: an image sent as "kvittering.pdf" with
Content-Type application/pdf is stored and read as the image it is. A file is accepted when
that type is one the books and the bank take: PDF, JPEG or PNG. A phone's HEIC/HEIF or a
WebP photo is accepted too and stored converted (the ImageConverter port: JPEG, PNG when it
has transparency), so that everything after the upload sees the types it knows. A declared
type matters only when it names something else altogether (text/html …): that is refused.
It is kept by the SHA-256 of its content, so uploading the same file again stores nothing
new and answers with the document already there. Proposals refer to a file by that hash
(`documentHash`); the executor attaches it to Fiken or Folio.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import filetype
import msgspec

from bookkeeper.application import ehf
from bookkeeper.application.errors import NotFound
from bookkeeper.application.ports import (
    Authorizer,
    Clock,
    ImageConverter,
    ImageNotConvertible,
    Principal,
    StoredDocument,
    UnitOfWorkFactory,
)
from bookkeeper.domain.errors import DomainError

#: Largest file accepted: 10 MiB (a scanned multi-page invoice is well under).
MAX_DOCUMENT_BYTES: Final = 10 * 1024 * 1024
MAX_FILENAME_LENGTH: Final = 100

PDF: Final = "application/pdf"
JPEG: Final = "image/jpeg"
PNG: Final = "image/png"

#: The accepted types and their file name extension.
EXTENSIONS: Final[dict[str, str]] = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
#: Photo formats accepted on upload and stored converted (the extension a name loses).
CONVERTIBLE: Final[dict[str, tuple[str, ...]]] = {
    "image/heic": ("heic", "heif", "hif"),
    "image/webp": ("webp",),
}
_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)
#: The image types the offline extractor can read (with OCR), whatever is accepted.
IMAGE_TYPES: Final = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/heic",
        "image/heif",
        "image/avif",
        "image/webp",
        "image/tiff",
        "image/gif",
        "image/bmp",
    }
)
UNKNOWN: Final = "application/octet-stream"
#: Spellings of the accepted types that clients send.
_ALIASES: Final[dict[str, str]] = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG,
                                    "image/heif": "image/heic", "image/heic-sequence": "image/heic",
                                    "image/heif-sequence": "image/heic"}  # fmt: skip
#: A declaration that says nothing about the content: the sniffed type is taken.
_UNDECLARED: Final = frozenset({"", "application/octet-stream"})
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE_IN_NAME: Final = re.compile(r"[^\w.\- ()+,]")


class DocumentRejected(DomainError):
    """The file cannot be stored: its content is not what it claims, or it is empty.
    `status` is the HTTP status that fits (422; 415 and 413 for the subclasses)."""

    code = "invalid-document"
    status = 422


class UnsupportedDocumentType(DocumentRejected):
    """Neither a PDF, a JPEG, a PNG nor a HEIC/WebP photo (by declaration or by content)."""

    code = "unsupported-document-type"
    status = 415


class DocumentTooLarge(DocumentRejected):
    """Larger than MAX_DOCUMENT_BYTES."""

    code = "document-too-large"
    status = 413


class Upload(msgspec.Struct, frozen=True, kw_only=True):
    """A stored document and whether the tenant had it already (nothing new was stored)."""

    document: StoredDocument
    duplicate: bool
    #: The bytes as stored: the upload's own, or the converted photo (HEIC/WebP -> JPEG).
    content: bytes = b""
    #: An EHF invoice or credit note (the stored document is its XML): what it says.
    e_invoice: ehf.EhfDocument | None = None
    #: The EHF's embedded PDF, stored as a document of its own: what the books attach.
    rendering: StoredDocument | None = None


def sniff_media_type(content: bytes) -> str:
    """The media type of `content` by its magic numbers (`filetype` knows the image formats
    a phone or scanner produces); "application/octet-stream" when unknown."""
    if content.startswith(b"%PDF-"):
        return PDF
    kind = filetype.guess(content[:8192])
    if kind is None:
        return UNKNOWN
    mime = str(kind.mime)
    return "image/heic" if mime == "image/heif" else mime


def sniff(content: bytes) -> str | None:
    """The type the content's magic bytes say, among the accepted ones; None otherwise."""
    media_type = sniff_media_type(content)
    return media_type if media_type in EXTENSIONS else None


def is_image(media_type: str) -> bool:
    return media_type in IMAGE_TYPES


def normalise_content_type(declared: str | None) -> str:
    """A Content-Type without parameters, lower case, with known aliases resolved."""
    base = (declared or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sanitise_filename(name: str | None, content_type: str) -> str:
    """A file name safe to store and to send back in Content-Disposition: no directories,
    no control or quoting characters, at most MAX_FILENAME_LENGTH characters, ending in the
    extension of its (checked) type."""
    extension = {**EXTENSIONS, ehf.XML: "xml"}[content_type]
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]  # the last path segment only
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")  # controls, NUL
    text = _UNSAFE_IN_NAME.sub("_", text).strip(" .")
    stem, dot, suffix = text.rpartition(".")
    if not dot:
        stem = text
    elif suffix.lower() not in {extension, "jpeg" if extension == "jpg" else extension}:
        stem = text  # a misleading extension stays part of the name
    stem = stem.strip(" .") or "document"
    stem = stem[: MAX_FILENAME_LENGTH - len(extension) - 1].rstrip(" .") or "document"
    return f"{stem}.{extension}"


def valid_hash(sha256: str) -> bool:
    """True for a SHA-256 in lower-case hex (the only form documents are kept under)."""
    return bool(_SHA256.match(sha256))


class Documents:
    """Upload and download of a tenant's documents."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        authorizer: Authorizer,
        image_converter: ImageConverter | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._authorizer = authorizer
        #: None: HEIC/WebP photos are refused (415) with a word on what to send instead.
        self._converter = image_converter

    async def upload(
        self,
        principal: Principal,
        content: bytes,
        content_type: str | None,
        filename: str | None,
    ) -> Upload:
        """Check and store a file; DocumentRejected (or a subclass) when it is not acceptable."""
        self._authorizer.check(principal, "documents:write")
        if len(content) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(
                f"the file has {len(content)} bytes; at most {MAX_DOCUMENT_BYTES} are accepted"
            )
        if not content:
            raise DocumentRejected("the file is empty")
        declared = normalise_content_type(content_type)
        sniffed = sniff(content)
        if sniffed is None and (declared in ehf.XML_TYPES or ehf.looks_like_xml(content)):
            return await self._upload_ehf(
                principal, content, filename, declared=declared in ehf.XML_TYPES
            )
        # XML declared over a PDF's or a photo's bytes: a type the upload takes, and the
        # bytes decide below, as for any other declared type they contradict.
        accepted = EXTENSIONS.keys() | CONVERTIBLE.keys() | ehf.XML_TYPES
        if declared not in _UNDECLARED and declared not in accepted:
            raise UnsupportedDocumentType(
                f"{declared} is not accepted; send a PDF, JPEG, PNG, HEIC or WebP file "
                "or an EHF invoice (XML)"
            )
        if sniffed is None:
            content, sniffed, filename = await self._convert(content, filename)
        # A declared type that the bytes contradict: the bytes decide (a phone's photo
        # called "kvittering.pdf" gets application/pdf from its name).
        name = sanitise_filename(filename, sniffed)
        async with self._uow() as uow:
            document, new = await uow.documents.put(
                principal.tenant_id,
                content,
                sniffed,
                name,
                self._clock.now(),
                uploaded_by=principal.actor,
            )
            if new:
                await uow.commit()
        return Upload(document=document, duplicate=not new, content=content)

    async def _upload_ehf(
        self, principal: Principal, content: bytes, filename: str | None, *, declared: bool
    ) -> Upload:
        """An EHF invoice or credit note: its XML stored as the document (the original),
        its embedded PDF (if any) stored beside it as what the books can attach."""
        try:
            document = ehf.parse(content)
        except ehf.EhfRejected as exc:
            if exc.foreign and not declared:
                # Sniffed, not declared XML (an HTML page, say): a type the upload does
                # not take. Declared XML is a type it documents: its content is the fault.
                raise UnsupportedDocumentType(str(exc)) from exc
            raise DocumentRejected(str(exc)) from exc
        now = self._clock.now()
        async with self._uow() as uow:
            stored, new = await uow.documents.put(
                principal.tenant_id,
                content,
                ehf.XML,
                sanitise_filename(filename, ehf.XML),
                now,
                uploaded_by=principal.actor,
            )
            rendering = None
            if document.pdf is not None:
                stem = (filename or "").rsplit(".", 1)[0] or "ehf"
                rendering, added = await uow.documents.put(
                    principal.tenant_id,
                    document.pdf,
                    PDF,
                    sanitise_filename(document.pdf_filename or f"{stem}.pdf", PDF),
                    now,
                    uploaded_by=principal.actor,
                )
                new = new or added
            if new:
                await uow.commit()
        return Upload(
            document=stored,
            duplicate=not new,
            content=content,
            e_invoice=document,
            rendering=rendering,
        )

    async def _convert(self, content: bytes, filename: str | None) -> tuple[bytes, str, str | None]:
        """A HEIC/WebP photo as (converted bytes, their type, the name without the photo's
        extension); UnsupportedDocumentType for anything else."""
        original = sniff_media_type(content)
        if original not in CONVERTIBLE:
            raise UnsupportedDocumentType(
                "the content is not a PDF, JPEG, PNG, HEIC or WebP file or an EHF invoice "
                "(XML), by its first bytes"
            )
        if self._converter is None:
            raise UnsupportedDocumentType(
                f"{original} photos cannot be converted here; send a PDF, JPEG or PNG file"
            )
        try:
            converted, media_type = await self._converter.convert(content, original)
        except ImageNotConvertible as exc:
            raise DocumentRejected(f"the {original} image could not be read: {exc}") from exc
        if media_type not in EXTENSIONS or sniff(converted) != media_type:
            raise DocumentRejected(f"the {original} image could not be converted")
        if len(converted) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(
                f"the photo has {len(converted)} bytes as {media_type}; "
                f"at most {MAX_DOCUMENT_BYTES} are accepted"
            )
        if filename:
            stem, dot, suffix = filename.rpartition(".")
            if dot and suffix.lower() in CONVERTIBLE[original]:
                filename = stem
        return converted, media_type, filename

    async def get(self, principal: Principal, sha256: str) -> StoredDocument:
        """The metadata of one of the tenant's documents; NotFound otherwise."""
        self._authorizer.check(principal, "documents:read")
        sha256 = sha256.lower()
        if valid_hash(sha256):
            async with self._uow() as uow:
                document = await uow.documents.get(principal.tenant_id, sha256)
            if document is not None:
                return document
        raise NotFound(f"document {sha256[:64]} not found")

    async def content(self, principal: Principal, sha256: str) -> tuple[StoredDocument, bytes]:
        """One of the tenant's documents with its bytes; NotFound otherwise."""
        self._authorizer.check(principal, "documents:read")
        sha256 = sha256.lower()
        if valid_hash(sha256):
            async with self._uow() as uow:
                document = await uow.documents.get(principal.tenant_id, sha256)
                data = await uow.documents.content(principal.tenant_id, sha256)
            if document is not None and data is not None:
                return document, data
        raise NotFound(f"document {sha256[:64]} not found")
