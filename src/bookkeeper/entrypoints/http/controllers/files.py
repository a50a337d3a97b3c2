"""/files: upload a receipt or invoice file (raw body) and download it again, by SHA-256.

Only stores the file; POST /documents (documents.py) also reads it and proposes."""

from dataclasses import dataclass
from email.message import Message
from typing import Annotated, Final
from urllib.parse import quote

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.openapi.spec import RequestBody as OpenAPIRequestBody
from litestar.params import FromPath, QueryParameter

from bookkeeper.application.documents import (
    MAX_DOCUMENT_BYTES,
    DocumentRejected,
    Documents,
)
from bookkeeper.entrypoints.http.params import NO_NUL
from bookkeeper.entrypoints.http.problems import PROBLEM_JSON, documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import Problem, ResponseBody

_UPLOAD_TYPES: Final = ("application/pdf", "image/jpeg", "image/png")
#: What an upload may send: the stored types and the photos stored converted (HEIC, WebP).
#: And an EHF invoice or credit note (UBL XML, ADR 0033 addendum 6).
_ACCEPTED_TYPES: Final = (*_UPLOAD_TYPES, "image/heic", "image/webp", "application/xml")


@dataclass
class RawUploadOperation(Operation):
    """The upload's OpenAPI operation: its body is the file itself, not JSON (the handler
    reads it raw, so Litestar cannot derive it)."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        self.request_body = OpenAPIRequestBody(
            content={media: OpenAPIMediaType(schema=binary) for media in _ACCEPTED_TYPES},
            description="The file itself, at most 10 MiB",
            required=True,
        )


#: What a download answers with: the stored file's own type, which is one of the upload
#: types (anything else stored earlier goes out as application/octet-stream).
_DOWNLOAD_FALLBACK: Final = "application/octet-stream"


@dataclass
class DownloadOperation(Operation):
    """The download's OpenAPI operation: the 200 names every content type the handler
    answers with (the stored file's own), not the one media type Litestar derives."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            ok.content = {
                media: OpenAPIMediaType(schema=binary)
                for media in (*_UPLOAD_TYPES, _DOWNLOAD_FALLBACK)
            }


def download_type(content_type: str) -> str:
    """The Content-Type a stored file is answered with."""
    return content_type if content_type in _UPLOAD_TYPES else _DOWNLOAD_FALLBACK


class DocumentOut(ResponseBody, frozen=True, kw_only=True):
    """A stored file: its SHA-256 (the `documentHash` proposals refer to it by), size in
    bytes, checked content type and stored file name; `duplicate` when the tenant had this
    content already (nothing new was stored, and the stored name is kept)."""

    sha256: str
    size: int
    content_type: str
    filename: str
    duplicate: bool


def disposition_filename(header: str | None) -> str | None:
    """The file name of a Content-Disposition header (RFC 6266, filename* included)."""
    if not header:
        return None
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename()
    return str(name) if name else None


def attachment_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in UTF-8 (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    fallback = fallback.replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


_UNSUPPORTED: Final = ResponseSpec(
    data_container=Problem,
    media_type=PROBLEM_JSON,
    description="Not a PDF, JPEG or PNG file",
    generate_examples=False,
)


class FileController(Controller):
    """The caller's tenant's document files, content-addressed by SHA-256."""

    path = "/files"
    tags = ["documents"]  # noqa: RUF012 - Litestar reads these class attributes

    @post(
        "/",
        operation_id="uploadFile",
        summary="Upload a receipt or invoice file",
        status_code=201,
        request_max_body_size=MAX_DOCUMENT_BYTES,
        responses={**documented(401, 403, 413, 422), 415: _UNSUPPORTED},
        operation_class=RawUploadOperation,
    )
    async def upload(
        self,
        request: AuthenticatedRequest,
        documents: NamedDependency[Documents],
        filename: Annotated[
            str | None,
            QueryParameter(
                max_length=255,
                pattern=NO_NUL,
                description="The file's name; else Content-Disposition's filename",
            ),
        ] = None,
    ) -> DocumentOut:
        """Store a PDF, JPEG or PNG of at most 10 MiB. The content must be what the
        Content-Type says (checked by its first bytes). Uploading content the tenant
        already has stores nothing and answers with the stored document (`duplicate`)."""
        # Read here, not by a `data` parameter: Litestar would decode that as JSON. The
        # route's body limit makes Litestar answer 413 before more than 10 MiB are read.
        content = await request.body()
        name = filename or disposition_filename(request.headers.get("content-disposition"))
        try:
            upload = await documents.upload(
                request.user, content, request.headers.get("content-type"), name
            )
        except DocumentRejected as error:
            if error.status == 422:
                raise  # a problem with the code of the error
            raise HTTPException(status_code=error.status, detail=error.message) from error
        document = upload.document
        return DocumentOut(
            sha256=document.sha256,
            size=document.size,
            content_type=document.content_type,
            filename=document.filename,
            duplicate=upload.duplicate,
        )

    @get(
        "/{sha256:str}",
        operation_id="downloadFile",
        summary="Download a stored file",
        media_type=_DOWNLOAD_FALLBACK,
        responses=documented(401, 403, 404),
        operation_class=DownloadOperation,
    )
    async def download(
        self,
        sha256: FromPath[str],
        request: AuthenticatedRequest,
        documents: NamedDependency[Documents],
    ) -> Response[bytes]:
        """The file's bytes with its stored content type, as an attachment (never shown
        inline by a browser; `X-Content-Type-Options: nosniff`)."""
        document, content = await documents.content(request.user, sha256)
        return Response(
            content=content,
            media_type=download_type(document.content_type),
            # X-Content-Type-Options: nosniff comes with every response (security.py).
            headers={"Content-Disposition": attachment_disposition(document.filename)},
        )
