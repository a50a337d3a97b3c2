"""/documents: upload a receipt or invoice and get the proposal made from it (the pipeline).

The raw file store without a proposal is /files (files.py)."""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Final

from litestar import Controller, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body

from bookkeeper.application.documents import MAX_DOCUMENT_BYTES, DocumentRejected
from bookkeeper.application.errors import ExternalUnavailable, ExtractionFailed
from bookkeeper.application.pipeline import DocumentPipeline, IntakeResult
from bookkeeper.application.ports import Extraction
from bookkeeper.entrypoints.http.problems import PROBLEM_JSON, documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import (
    ConfidenceOut,
    DecisionOut,
    Problem,
    ResponseBody,
    StatusName,
    amount_out,
    confidence_out,
    optional_amount_out,
)

#: Room for the multipart framing (boundaries, part headers, the filename field) around a
#: file of MAX_DOCUMENT_BYTES; the file itself is checked against MAX_DOCUMENT_BYTES.
_FORM_OVERHEAD: Final = 64 * 1024


@dataclass
class DocumentForm:
    """The multipart form: the file (PDF, JPEG or PNG, at most 10 MiB) and, optionally,
    its name (else the part's filename)."""

    file: UploadFile
    filename: str | None = None


class ExtractedLineOut(ResponseBody, frozen=True, kw_only=True):
    description: str
    gross: str | None
    net: str | None
    vat_amount: str | None
    vat_rate: str | None


class ExtractionOut(ResponseBody, frozen=True, kw_only=True):
    """What the extractor read (data, never instructions), with its warnings and usage."""

    extractor: str
    document_type: str
    merchant_name: str | None
    organization_number: str | None
    document_number: str | None
    date: dt.date | None
    due_date: dt.date | None
    currency: str | None
    gross: str | None
    net: str | None
    vat_amount: str | None
    vat_rate: str | None
    kid: str | None
    lines: list[ExtractedLineOut]
    bank_account: str | None = None
    iban: str | None = None
    warnings: list[str]
    confidence: float
    #: The model that read it and what that cost (tokens: the DocumentExtracted event).
    model: str | None
    cost_usd: str


class BankMatchOut(ResponseBody, frozen=True, kw_only=True):
    event_id: str
    transaction_id: str
    date: dt.date
    amount: str
    description: str
    merchant_name: str | None


class IntakeProposalOut(ResponseBody, frozen=True, kw_only=True):
    id: uuid.UUID
    kind: str
    type: str
    status: StatusName
    confidence: ConfidenceOut | None
    decision: DecisionOut | None


class IntakeOut(ResponseBody, frozen=True, kw_only=True):
    """The stored document and the proposal made from it. `duplicate`: the tenant had sent
    this file before; the earlier proposal is returned, nothing was read or proposed again
    (`extraction` and `bankMatch` are then null)."""

    document_hash: str
    filename: str
    content_type: str
    size: int
    duplicate: bool
    extraction: ExtractionOut | None
    warnings: list[str]
    bank_match: BankMatchOut | None
    proposal: IntakeProposalOut


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def extraction_out(extraction: Extraction) -> ExtractionOut:
    usage = extraction.usage
    return ExtractionOut(
        extractor=extraction.extractor,
        document_type=extraction.document_type,
        merchant_name=extraction.merchant_name,
        organization_number=extraction.organization_number,
        document_number=extraction.document_number,
        date=extraction.date,
        due_date=extraction.due_date,
        currency=extraction.currency,
        gross=optional_amount_out(extraction.gross),
        net=optional_amount_out(extraction.net),
        vat_amount=optional_amount_out(extraction.vat_amount),
        vat_rate=_str(extraction.vat_rate),
        kid=extraction.kid,
        bank_account=extraction.bank_account,
        iban=extraction.iban,
        lines=[
            ExtractedLineOut(
                description=line.description,
                gross=optional_amount_out(line.gross),
                net=optional_amount_out(line.net),
                vat_amount=optional_amount_out(line.vat_amount),
                vat_rate=_str(line.vat_rate),
            )
            for line in extraction.lines
        ],
        warnings=list(extraction.warnings),
        confidence=float(extraction.confidence),
        model=usage.model if usage is not None else None,
        cost_usd=str(usage.cost_usd) if usage is not None else "0",
    )


def intake_out(result: IntakeResult) -> IntakeOut:
    document, proposal, match = result.document, result.proposal, result.bank_match
    decision = proposal.decision
    return IntakeOut(
        document_hash=document.sha256,
        filename=document.filename,
        content_type=document.content_type,
        size=document.size,
        duplicate=result.duplicate,
        extraction=extraction_out(result.extraction) if result.extraction is not None else None,
        warnings=list(result.warnings),
        bank_match=(
            BankMatchOut(
                event_id=match.event_id,
                transaction_id=match.transaction_id,
                date=match.date,
                amount=amount_out(match.amount),
                description=match.description,
                merchant_name=match.merchant_name,
            )
            if match is not None
            else None
        ),
        proposal=IntakeProposalOut(
            id=proposal.id,
            kind=proposal.kind,
            type=proposal.type,
            status=proposal.status.value,
            confidence=confidence_out(proposal.confidence),
            decision=(
                DecisionOut(
                    outcome=decision.outcome.value,
                    band=decision.band.value if decision.band is not None else None,
                    rule=decision.rule,
                    explanation=decision.explanation,
                )
                if decision is not None
                else None
            ),
        ),
    )


_UNSUPPORTED: Final = ResponseSpec(
    data_container=Problem,
    media_type=PROBLEM_JSON,
    description="Not a PDF, JPEG or PNG file",
    generate_examples=False,
)


class DocumentController(Controller):
    """Documents in, proposals out."""

    path = "/documents"
    tags = ["documents"]  # noqa: RUF012 - Litestar reads these class attributes

    @post(
        "/",
        operation_id="submitDocument",
        summary="Upload a receipt or invoice and propose what to do with it",
        status_code=201,
        request_max_body_size=MAX_DOCUMENT_BYTES + _FORM_OVERHEAD,
        responses={**documented(401, 403, 413, 422, 503), 415: _UNSUPPORTED},
    )
    async def submit_document(
        self,
        request: AuthenticatedRequest,
        pipeline: NamedDependency[DocumentPipeline],
        data: Annotated[DocumentForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> IntakeOut:
        """Store the file (by SHA-256), read it, find the card payment it belongs to and
        propose the action: attach it to that bank event, register the invoice, or register
        an expense. Account, VAT rate and confidence are decided by the service (an approved
        pattern, else defaults), never by the document's text. Needs `documents:write` and
        `events:propose`. The same file again answers with its earlier proposal."""
        content = await data.file.read()
        name = data.filename or data.file.filename or None
        # A part without a Content-Type is text/plain by default (RFC 7578 § 4.4): no
        # declaration at all, so the content's magic bytes decide (and must be a document).
        declared: str | None = data.file.content_type
        if declared is not None and declared.split(";", 1)[0].strip().lower() in ("", "text/plain"):
            declared = None
        try:
            result = await pipeline.process(request.user, content, declared, name, source=None)
        except DocumentRejected as error:
            if error.status == 422:
                raise
            raise HTTPException(status_code=error.status, detail=error.message) from error
        except ExtractionFailed as error:
            if error.retryable:  # 503 "extractor is unavailable or busy; retry later"
                raise ExternalUnavailable(error.message, system="extractor") from error
            raise HTTPException(
                status_code=422, detail=f"the document could not be read: {error.message}"
            ) from error
        return intake_out(result)
