"""From a document to a proposal: store, extract, record the extraction, match the bank,
propose.

    upload ──▶ Documents.upload (content hash) ──▶ earlier proposal for that hash? → it
        └──▶ DocumentExtractor.extract ──▶ DocumentExtracted (usage, a read-only record)
        └──▶ Bank.events(date ± 3 days): |amount| = gross, same merchant (bank_matching)
        └──▶ Handlers.submit: ReceiptAttachment (bank match) · InvoiceRegistration (invoice)
                              · ExpenseRegistration (otherwise)

The extraction is data (ADR 0002): text in a document cannot choose the kind (only the
document type and a bank match the pipeline found itself do), the account (an applied
pattern, else the NS 4102 default: domain.accounts) or the confidence (computed by the
domain; the extractor's own estimate is passed as `proposer_confidence`, which can only
lower it). Which bank event pays a document is domain.bank_matching's rule.

Nothing is left unread without a word (issue 13): a document whose amount or date could not
be read still becomes a proposal, held in review, with the fields that were found and a
warning for each that was not. A missing date is the day the document arrived (Oslo); a
missing amount is a placeholder of 0.01 that cannot be approved as it is: the proposal's
`source.unread` names the fields, and approving needs a correction of each (handlers).

A document is proposed once: its proposal's id is derived from the tenant and the content
hash, so the same file again answers with the earlier proposal without a second extraction,
and two concurrent uploads of one file still make one proposal.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.application import ehf
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.documents import Documents
from bookkeeper.application.errors import IdempotencyConflict
from bookkeeper.application.event_log import document_proposal_id, record_alone, stamp
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import (
    Authorizer,
    BankProvider,
    Clock,
    DocumentExtractor,
    ExtractedLine,
    Extraction,
    Ids,
    Principal,
    StoredDocument,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import pattern_of
from bookkeeper.application.tax_rates import read_valid_rates
from bookkeeper.domain import bank_matching, money
from bookkeeper.domain.accounts import DEFAULT_VAT_RATE, choose_account, default_account
from bookkeeper.domain.confidence import Confidence
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    DocumentExtractedData,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    Kind,
    LineItem,
    ProposalData,
    ReceiptAttachmentData,
    Status,
    Step,
    event_type,
    type_name,
)
from bookkeeper.domain.patterns import Pattern, normalise_merchant
from bookkeeper.domain.review import ReviewDecision
from bookkeeper.domain.rules import REVERSE_CHARGE_WORDING, place_bound

#: Payment terms assumed for an invoice without a due date (with a warning).
DEFAULT_PAYMENT_DAYS: Final = 14
#: The highest extractor estimate passed on when the pipeline had to guess a field.
GUESSED_ESTIMATE: Final = Decimal("0.5")
UNKNOWN_SUPPLIER: Final = "Unknown supplier"
#: What the reviewer reads on an invoice proposed as reverse charge (ADR 0056).
REVERSE_CHARGE_WARNING: Final = (
    "a service bought from abroad without VAT: booked as reverse charge (SAF-T 86), the "
    "25 % VAT calculated as output VAT and deducted as input VAT; correct reverseCharge to "
    "false if it is not a service"
)
#: What the reviewer reads on a hotel, meal, taxi, parking or ticket bought abroad (ADR 0056,
#: addendum 3): it is not reverse charged and carries no Norwegian VAT.
PLACE_BOUND_ABROAD_WARNING: Final = (
    "a service used abroad where it is supplied (accommodation, food and drink, transport, "
    "parking, admission): no reverse charge and no Norwegian input VAT; any foreign VAT is "
    "part of the cost, booked gross"
)
#: What the reviewer reads on a purchase abroad whose seller charged its own VAT (ADR 0056,
#: addendum 3): that VAT is no Norwegian input VAT.
FOREIGN_VAT_WARNING: Final = (
    "VAT charged by a seller abroad (another currency, no Norwegian organisation number) is "
    "no Norwegian input VAT: booked gross at 0 %, no reverse charge"
)
#: What the reviewer reads when a service from abroad is not reverse charged because the
#: company is not VAT-registered (the tenant's `vatRegistered`).
NOT_VAT_REGISTERED_WARNING: Final = (
    "the company is not VAT-registered: no reverse charge on a service bought from abroad; "
    "booked gross as the cost"
)
#: What the reviewer reads when a company outside the VAT register gets a document that
#: shows VAT (ADR 0056, addendum 4): it deducts none, so the gross is the cost.
NOT_VAT_REGISTERED_VAT_WARNING: Final = (
    "the company is not VAT-registered: the VAT the document shows is no input VAT it may "
    "deduct; booked gross at 0 % as the cost"
)
_MAX_TEXT: Final = 200
#: A KID as Fiken takes it (and the proposal checks): 2 to 25 ASCII digits.
_KID: Final = re.compile(r"[0-9]{2,25}\Z")
_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
_CENT: Final = Decimal("0.01")


class IncompleteDocument(DomainError):
    """Kept for callers that catch it; the pipeline now proposes an incomplete document
    (in review, its unread fields named) instead of raising this."""

    code = "incomplete-document"


#: A stand-in amount for a document whose amount could not be read: the smallest a
#: proposal takes; approving needs the real one as a correction.
PLACEHOLDER_AMOUNT: Final = Decimal("0.01")
#: The key in a proposal's `source` that names the EHF XML a proposal was read from (its
#: `documentHash` is the embedded PDF when the XML has one).
EHF_SOURCE_KEY: Final = "ehf"
#: The key in a proposal's `source` that names the fields that were not read.
UNREAD_SOURCE_KEY: Final = "unread"
OSLO: Final = ZoneInfo("Europe/Oslo")


class BankMatch(msgspec.Struct, frozen=True, kw_only=True):
    """The bank event the pipeline found for a document."""

    event_id: str
    transaction_id: str
    date: dt.date
    amount: Decimal
    description: str
    merchant_name: str | None = None


class IntakeProposal(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    kind: str
    type: str
    status: Status
    confidence: Confidence | None
    decision: ReviewDecision | None


class IntakeResult(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one uploaded document. For a duplicate (the tenant had a proposal for
    this content already) `extraction` and `bank_match` are None: nothing was read again."""

    document: StoredDocument
    duplicate: bool
    proposal: IntakeProposal
    extraction: Extraction | None = None
    #: The extractor's warnings and the pipeline's own (defaults it had to assume).
    warnings: tuple[str, ...] = ()
    bank_match: BankMatch | None = None


class DocumentPipeline:
    """Turns an uploaded receipt or invoice into a proposal."""

    def __init__(
        self,
        documents: Documents,
        extractor: DocumentExtractor,
        bank: BankProvider,
        handlers: Handlers,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
    ) -> None:
        self._documents = documents
        self._extractor = extractor
        self._bank = bank
        self._handlers = handlers
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer

    async def process(
        self,
        principal: Principal,
        content: bytes,
        content_type: str | None,
        filename: str | None,
        *,
        source: dict[str, str] | None = None,
        reservation: str | None = None,
    ) -> IntakeResult:
        """Propose from one document; `reservation`: what its sender wrote against booking
        it as read (a chat caption: "privat", "ikke bokfør"), which keeps the proposal
        from automatic approval and is recorded as a warning for the reviewer."""
        # Both permissions before anything costs money (upload checks documents:write).
        self._authorizer.check(principal, "events:propose")
        upload = await self._documents.upload(principal, content, content_type, filename)
        document = upload.document
        tenant = principal.tenant_id
        proposal_id = document_proposal_id(tenant, document.sha256)
        earlier = await self._earlier(tenant, proposal_id)
        if earlier is not None:
            return IntakeResult(document=document, duplicate=True, proposal=earlier)

        # The stored bytes: a HEIC/WebP photo was converted on upload.
        content = upload.content or content
        e_invoice = upload.e_invoice
        attached = document
        if e_invoice is not None:
            # An EHF invoice (ADR 0033, addendum 6): its fields are its XML's, read on
            # upload; what the books attach is its embedded PDF, stored beside it.
            extraction = e_invoice.extraction
            source = {**(source or {}), EHF_SOURCE_KEY: document.sha256, "reading": ehf.CERTAIN}
            attached = upload.rendering or document
        else:
            extraction = await self._extractor.extract(content, document.content_type, filename)
        await self._record_extraction(principal, document, extraction, proposal_id, source)
        if extraction.credit_note:
            extraction = _as_credit(extraction)

        warnings = list(extraction.warnings)
        if e_invoice is not None and upload.rendering is None:
            if e_invoice.pdf_problem is not None:
                warnings.append(e_invoice.pdf_problem)
            warnings.append(ehf.NO_RENDERING)
        received = self._clock.now().astimezone(OSLO).date()
        valid_rates = await read_valid_rates(self._uow, tenant, extraction.date or received)
        async with self._uow() as uow:
            company = await uow.settings.review_rules(tenant)
        facts = _Facts.of(
            extraction, warnings, received, valid_rates, vat_registered=company.vat_registered
        )
        if facts.unread:
            source = {**(source or {}), UNREAD_SOURCE_KEY: ",".join(facts.unread)}
        patterns = await self._patterns(tenant, facts.merchant)
        match = None
        if facts.document_type != "invoice" and facts.merchant is not None and not facts.unread:
            match = await self._bank_match(tenant, facts)
        data, guessed = self._proposal_data(principal, attached, facts, patterns, match, source)
        estimate = min(max(extraction.confidence, Decimal(0)), Decimal(1))
        if guessed or facts.guessed:
            estimate = min(estimate, GUESSED_ESTIMATE)
        if facts.unread:
            estimate = Decimal(0)  # a placeholder is no reading at all
        etype = _TYPE_OF[type(data)]
        command = SubmitEvent(
            principal=principal,
            type=etype,
            data=data,
            event_id=proposal_id,
            proposer_confidence=estimate,
            # Only an attachment is paid from the bank; the others expect no bank event.
            bank_transaction_verified=True if match is not None else None,
            source=dict(source or {}),
            # The pipeline's own warnings (the extractor's are in DocumentExtracted).
            warnings=tuple(dict.fromkeys(warnings[len(extraction.warnings) :]))
            + ((f'the sender wrote with the document: "{reservation}"',) if reservation else ()),
            reservation=reservation,
            structured_source=ehf.STRUCTURED if e_invoice is not None else None,
        )
        try:
            result = await self._handlers.submit(command)
        except IdempotencyConflict:
            # Another upload of the same file proposed first (with other figures): its wins.
            earlier = await self._earlier(tenant, proposal_id)
            if earlier is None:
                raise
            return IntakeResult(document=document, duplicate=True, proposal=earlier)
        assert result.status is not None
        return IntakeResult(
            document=document,
            duplicate=result.replayed,
            proposal=IntakeProposal(
                id=result.stream_id,
                kind=str(event_type(etype).kind),
                type=etype,
                status=result.status,
                confidence=result.confidence,
                decision=result.decision,
            ),
            extraction=extraction,
            # With the service's own (a credit beyond its invoice), once each.
            warnings=tuple(dict.fromkeys([*warnings, *result.warnings])),
            bank_match=match,
        )

    # --- steps --------------------------------------------------------------------------

    async def _earlier(self, tenant: str, proposal_id: uuid.UUID) -> IntakeProposal | None:
        """The proposal already made from this document, if any."""
        async with self._uow() as uow:
            view = await uow.proposals.get(tenant, proposal_id)
            first = await uow.events.get(tenant, proposal_id) if view is not None else None
        if view is None:
            return None
        metadata = first.metadata if first is not None else {}
        confidence = metadata.get("confidence")
        review = metadata.get("review")
        return IntakeProposal(
            id=view.id,
            kind=view.kind,
            type=view.type,
            status=view.status,
            confidence=(
                msgspec.convert(confidence, Confidence, strict=False) if confidence else None
            ),
            decision=msgspec.convert(review, ReviewDecision, strict=False) if review else None,
        )

    async def _record_extraction(
        self,
        principal: Principal,
        document: StoredDocument,
        extraction: Extraction,
        proposal_id: uuid.UUID,
        source: dict[str, str] | None,
    ) -> None:
        """DocumentExtracted: every extraction, with what it cost, correlated with the
        document's proposal."""
        usage = extraction.usage
        data = DocumentExtractedData(
            document_hash=document.sha256,
            extractor=_text(extraction.extractor) or self._extractor.name,
            document_type=_text(extraction.document_type) or "unknown",
            model=_text(usage.model) if usage is not None else None,
            input_tokens=usage.input_tokens if usage is not None else 0,
            output_tokens=usage.output_tokens if usage is not None else 0,
            cost_usd=usage.cost_usd if usage is not None else Decimal("0"),
            warnings=tuple(w for w in (_text(x) for x in extraction.warnings) if w),
        )
        event_id = self._ids.new_id()
        metadata: dict[str, Any] = {"filename": document.filename}
        if source:
            metadata["source"] = {k: v.replace("\x00", "") for k, v in source.items()}
        event = stamp(
            "DocumentExtracted",
            data,
            event_id=event_id,
            actor=principal.actor,
            at=self._clock.now(),
            correlation_id=proposal_id,
            metadata=metadata,
        )
        await record_alone(self._uow, principal.tenant_id, event)

    async def _patterns(self, tenant: str, merchant: str | None) -> list[Pattern]:
        """The patterns that can match the merchant (a bounded read, ADR 0032)."""
        key = normalise_merchant(merchant) if merchant else ""
        if not key:
            return []
        async with self._uow() as uow:
            views = await uow.patterns.candidates(tenant, key)
        return [pattern_of(p) for p in views]

    async def _bank_match(self, tenant: str, facts: _Facts) -> BankMatch | None:
        """The bank event paying this document (the rules: domain.bank_matching)."""
        assert facts.merchant is not None
        document = bank_matching.Payable(
            gross=facts.gross, currency=facts.currency, date=facts.date, merchant=facts.merchant
        )
        events = await self._bank(tenant).events(*bank_matching.window(facts.date))
        best = bank_matching.best_payment(events, document)
        if best is None:
            return None
        return BankMatch(
            event_id=best.event_id or best.id,
            transaction_id=best.id,
            date=best.date,
            amount=best.amount,
            description=best.description,
            merchant_name=best.merchant_name,
        )

    def _proposal_data(
        self,
        principal: Principal,
        document: StoredDocument,
        facts: _Facts,
        patterns: list[Pattern],
        match: BankMatch | None,
        source: dict[str, str] | None,
    ) -> tuple[ProposalData, bool]:
        """The payload to propose, and whether a value had to be assumed."""
        # A receipt's VAT breakdown (ADR 0052): its parts per rate, read before the rate
        # chooses the account, since they set the headline rate (the largest part's).
        # A credit note's VAT breakdown is read as a receipt's (ADR 0054).
        by_rate = facts.document_type != "invoice" or facts.credit_note
        parts = facts.receipt_parts() if by_rate else ()
        choice = choose_account(facts.merchant, facts.vat_rate, patterns)
        if by_rate and not parts and facts.tip is not None and facts.vat_rate is None:
            # A tip on a receipt without a rate read: the bill at the rate assumed (a
            # pattern's or the default), the tip still outside it.
            parts = facts.receipt_parts(assumed_rate=choice.vat_rate)
        vat_rate = choice.vat_rate
        guessed = choice.vat_rate_assumed
        if not facts.vat_registered:
            # ADR 0056 addendum 4: no input VAT for a company outside the VAT register,
            # whatever the document, a pattern or the default account say: one line (or
            # the invoice's lines) at 0 %, the gross as the cost; no rate is assumed.
            facts.without_vat()
            parts = ()
            vat_rate = Decimal("0")
            guessed = False
        elif guessed:
            facts.warnings.append(f"no VAT rate read; {DEFAULT_VAT_RATE} % assumed")
        common: dict[str, Any] = {
            "amount": facts.gross,
            "date": facts.date,
            "vat_rate": vat_rate,
            "account_code": choice.account_code,
            "currency": facts.currency,
            "vat_amount": facts.vat_amount,
            "document_hash": document.sha256,
        }
        receipt_lines: dict[str, Any] = {"line_items": parts} if parts else {}
        if facts.credit_note:
            # A supplier's credit note (ADR 0054): a credit of its invoice; nothing is due
            # (what it credits is settled against the supplier), so its date stands in.
            due_date = facts.due_date
            if due_date is None or due_date < facts.date:
                due_date = facts.date
            credited: dict[str, Any] = {}
            if facts.credited_invoice is not None:
                credited["credited_invoice"] = facts.credited_invoice
            return (
                InvoiceRegistrationData(
                    supplier=facts.merchant or UNKNOWN_SUPPLIER,
                    due_date=due_date,
                    invoice_number=facts.document_number,
                    supplier_org_number=facts.organization_number,
                    line_items=parts or facts.line_items(vat_rate),
                    credit_note=True,
                    **credited,
                    **common,
                ),
                guessed,
            )
        if facts.document_type == "invoice":
            due_date = facts.due_date
            if due_date is None or due_date < facts.date:
                due_date = facts.date + dt.timedelta(days=DEFAULT_PAYMENT_DAYS)
                guessed = True
                facts.warnings.append(
                    f"no usable due date read; {DEFAULT_PAYMENT_DAYS} days after the date assumed"
                )
            if facts.merchant is None:
                facts.warnings.append("no supplier read")
            line_items = facts.line_items(vat_rate)
            reverse: dict[str, Any] = {}
            if facts.reverse_charge(vat_rate, line_items):
                reverse = {"reverse_charge": True}
                common["vat_amount"] = Decimal("0.00")
                facts.warnings.append(REVERSE_CHARGE_WARNING)
            return (
                InvoiceRegistrationData(
                    supplier=facts.merchant or UNKNOWN_SUPPLIER,
                    due_date=due_date,
                    invoice_number=facts.document_number,
                    supplier_org_number=facts.organization_number,
                    line_items=line_items,
                    kid=facts.kid,
                    payment_account=facts.payment_account,
                    **common,
                    **reverse,
                ),
                guessed,
            )
        if facts.reverse_charge(vat_rate, parts):
            # A card-paid service from abroad (ADR 0056 addendum): the invoice's rule.
            receipt_lines["reverse_charge"] = True
            common["vat_amount"] = Decimal("0.00")
            facts.warnings.append(REVERSE_CHARGE_WARNING)
        if match is not None and facts.merchant is not None:
            return (
                ReceiptAttachmentData(
                    merchant_name=facts.merchant,
                    folio_event_id=match.event_id,
                    merchant_org_number=facts.organization_number,
                    document_number=facts.document_number,
                    **common,
                    **receipt_lines,
                ),
                guessed,
            )
        employee = (source or {}).get("user") or principal.subject
        return (
            ExpenseRegistrationData(
                employee=_text(employee) or principal.subject,
                category=choice.category,
                merchant_name=facts.merchant,
                document_number=facts.document_number,
                **common,
                **receipt_lines,
            ),
            guessed,
        )


_TYPE_OF: Final[dict[type[Any], str]] = {
    ReceiptAttachmentData: type_name(Kind.RECEIPT_ATTACHMENT, Step.PROPOSED),
    InvoiceRegistrationData: type_name(Kind.INVOICE_REGISTRATION, Step.PROPOSED),
    ExpenseRegistrationData: type_name(Kind.EXPENSE_REGISTRATION, Step.PROPOSED),
}


class _Facts:
    """The extraction's values after the checks a proposal needs: clean text, amounts in
    øre, a Norwegian VAT rate or None. Fields that fail a check are dropped with a warning."""

    def __init__(
        self,
        extraction: Extraction,
        warnings: list[str],
        received: dt.date,
        valid_rates: frozenset[Decimal] | None = None,
        *,
        vat_registered: bool = True,
    ) -> None:
        #: Only a VAT-registered company accounts for reverse charge (ADR 0056, addendum 3).
        self.vat_registered = vat_registered
        #: The VAT rates valid on the document's date (issue 12: the rates as data).
        self._rates = money.NORWEGIAN_VAT_RATES if valid_rates is None else valid_rates
        self.warnings = warnings
        self.guessed = False
        self.document_type = (
            extraction.document_type
            if extraction.document_type in ("receipt", "invoice")
            else "unknown"
        )
        #: A supplier's credit note (ADR 0054), its amounts made positive (`_as_credit`).
        self.credit_note = extraction.credit_note
        self.credited_invoice = _text(extraction.credited_invoice)
        self.merchant = _text(extraction.merchant_name)
        if self.merchant is None:
            self.guessed = True
            warnings.append("no merchant read")
        gross = _amount(extraction.gross)
        #: Fields that could not be read: the proposal waits for a reviewer to supply them.
        self.unread: list[str] = []
        if gross is None:
            self.unread.append("amount")
            warnings.append(_unread_amount(extraction.gross))
            gross = PLACEHOLDER_AMOUNT
        date = extraction.date
        if date is None:
            self.unread.append("date")
            warnings.append(
                f"no date could be read; the day it arrived ({received.isoformat()}) stands in "
                "for it and must be corrected before the proposal can be approved"
            )
            date = received
        self.gross = gross
        self.date = date
        self.due_date = extraction.due_date
        currency = (extraction.currency or "NOK").strip().upper()
        self.currency = currency if _CURRENCY.match(currency) else "NOK"
        rate = extraction.vat_rate
        if rate is not None and rate not in self._rates:
            warnings.append(f"VAT rate {rate} is not a Norwegian rate on its date; ignored")
            rate = None
        self.vat_rate = rate
        vat = _amount(extraction.vat_amount, allow_zero=True)
        self.vat_amount = vat if vat is not None and vat <= gross else None
        self.document_number = _text(extraction.document_number)
        self.organization_number = _text(extraction.organization_number)
        self.kid = _kid(_text(extraction.kid), warnings)
        #: The account the document asks to be paid to: its Norwegian account number, else
        #: its (foreign) IBAN (issue 13: compared with the supplier's known one).
        self.payment_account = _text(extraction.bank_account) or _text(extraction.iban)
        self._lines = extraction.lines
        #: A tip paid with the bill: outside the VAT base (ADR 0052, addendum).
        tip = _amount(extraction.tip)
        self.tip = tip if tip is not None and tip < gross and not self.credit_note else None
        #: The seller says the buyer accounts for the VAT (ADR 0056), in its text or in the
        #: snippets an extractor read its fields from.
        self._reverse_wording = extraction.reverse_charge or any(
            REVERSE_CHARGE_WORDING.search(snippet) for snippet in extraction.evidence.values()
        )
        #: A service used where it is supplied (hotel, meal, taxi, parking, ticket), by the
        #: wording of the seller's name, the lines and the evidence, or the merchant's
        #: default account being travel (ADR 0056, addendum 3).
        self.place_bound = place_bound(
            [
                self.merchant or "",
                *(line.description or "" for line in self._lines),
                *extraction.evidence.values(),
            ]
        ) or (
            self.merchant is not None
            and default_account(self.merchant, Decimal(0)).category == "travel"
        )
        #: A seller abroad charged its own VAT (a Swedish shop's 25 % moms, a German 19 %).
        self.foreign_vat = False
        if self.currency != "NOK" and self.organization_number is None:
            if self.place_bound:
                self._used_abroad(extraction, PLACE_BOUND_ABROAD_WARNING)
            elif _charges_vat(extraction):
                self.foreign_vat = True
                self._used_abroad(extraction, FOREIGN_VAT_WARNING)

    def _used_abroad(self, extraction: Extraction, warning: str) -> None:
        """A purchase abroad that carries the foreign country's VAT (a place-bound service,
        or any whose seller charged VAT): that VAT is no Norwegian input VAT, so the gross
        is booked at 0 % on the cost, line by line."""
        self.vat_rate = Decimal("0")
        self.vat_amount = Decimal("0.00")
        self._lines = _gross_at_zero(extraction.lines)
        self.warnings.append(warning)

    def without_vat(self) -> None:
        """A company outside the VAT register (ADR 0056, addendum 4) deducts no VAT: the
        gross at 0 %, line by line, with a warning when the document showed VAT."""
        shown = bool(self.vat_rate) or bool(self.vat_amount)
        shown = shown or any(line.vat_rate or line.vat_amount for line in self._lines)
        self.vat_rate = Decimal("0")
        self.vat_amount = Decimal("0.00")
        self._lines = _gross_at_zero(self._lines)
        if shown:
            self.warnings.append(NOT_VAT_REGISTERED_VAT_WARNING)

    def reverse_charge(self, vat_rate: Decimal, line_items: tuple[LineItem, ...]) -> bool:
        """A purchase — an invoice (ADR 0056), a receipt or an expense paid by card (its
        addendum) — is a service bought from abroad under reverse charge when
        it charges no VAT (0 %, at most 0.00 VAT, every line at 0 %), has no Norwegian
        organisation number, and either says so ("reverse charge", "omvendt
        avgiftsplikt" …) or bills in another currency than NOK. Goods bought abroad come
        with the customs' import VAT on a document of their own; a reviewer who knows
        this is goods corrects reverseCharge to false.

        Never for a service used where it is supplied (`place_bound`), and not for a
        company that is not VAT-registered (said in a warning) — ADR 0056, addendum 3."""
        if self.place_bound or self.foreign_vat:
            return False
        if vat_rate != 0 or (self.vat_amount is not None and self.vat_amount != 0):
            return False
        if any(item.vat_rate != 0 for item in line_items):
            return False
        if self.organization_number is not None:
            return False
        if not (self._reverse_wording or self.currency != "NOK"):
            return False
        if not self.vat_registered:
            self.warnings.append(NOT_VAT_REGISTERED_WARNING)
            return False
        return True

    @classmethod
    def of(
        cls,
        extraction: Extraction,
        warnings: list[str],
        received: dt.date,
        valid_rates: frozenset[Decimal] | None = None,
        *,
        vat_registered: bool = True,
    ) -> _Facts:
        return cls(extraction, warnings, received, valid_rates, vat_registered=vat_registered)

    def line_items(self, vat_rate: Decimal) -> tuple[LineItem, ...]:
        """The invoice's lines when each is usable and they add up to the gross amount."""
        items: list[LineItem] = []
        for line in self._lines:
            amount = _amount(line.gross)
            description = _text(line.description)
            rate = line.vat_rate if line.vat_rate is not None else vat_rate
            if amount is None or description is None or rate not in self._rates:
                items = []
                break
            items.append(LineItem(description=description, amount=amount, vat_rate=rate))
        if self._lines and (not items or sum(i.amount for i in items) != self.gross):
            self.warnings.append("the lines could not be used; one line of the whole amount")
            return ()
        return tuple(items)

    def _keep_tip_out(
        self, by_rate: dict[Decimal, Decimal], usable: bool, assumed_rate: Decimal | None
    ) -> None:
        """A tip is no part of any VAT base (it is given, not paid for a supply): when the
        breakdown read adds up to the total less the tip, or there is none and one rate
        was read (or is assumed), the tip becomes a 0 % part of its own (ADR 0052,
        addendum). A breakdown
        that already holds it (the offline reader's bill-and-tip lines) is left as it is."""
        tip = self.tip
        if tip is None:
            return
        if by_rate and usable and sum(by_rate.values()) == self.gross - tip:
            by_rate[Decimal("0")] = by_rate.get(Decimal("0"), Decimal("0.00")) + tip
        elif not self._lines and (rate := self.vat_rate or assumed_rate):
            by_rate.update({rate: self.gross - tip, Decimal("0"): tip})
        else:
            return
        said = f"a tip of {money.kroner_text(tip)} is in the total (no VAT on it)"
        if said not in self.warnings:
            self.warnings.append(said)

    def receipt_parts(self, assumed_rate: Decimal | None = None) -> tuple[LineItem, ...]:
        """A receipt's parts per VAT rate (ADR 0052), gross per rate, when its lines hold
        two rates or more and add up to the gross amount; they then set the headline rate
        (the largest part's) and the VAT (the sum of the parts'). Lines that do not add up
        are one line of the whole amount, with a warning (as an invoice's)."""
        by_rate: dict[Decimal, Decimal] = {}
        usable = True
        for line in self._lines:
            gross = line.gross
            if gross is None and line.net is not None and line.vat_amount is not None:
                gross = line.net + line.vat_amount
            amount = _amount(gross, allow_zero=True)
            rate = line.vat_rate
            if amount is None or rate is None or rate not in self._rates:
                usable = False
                continue
            by_rate[rate] = by_rate.get(rate, Decimal("0.00")) + amount
        by_rate = {rate: amount for rate, amount in by_rate.items() if amount}
        self._keep_tip_out(by_rate, usable, assumed_rate)
        if len(by_rate) < 2 and usable:
            return ()  # one rate: booked as it always was
        if not usable or len(by_rate) < 2 or sum(by_rate.values()) != self.gross:
            if len({line.vat_rate for line in self._lines}) > 1:
                self.warnings.append(
                    "the VAT breakdown does not add up to the total; one line of the whole "
                    "amount at one rate"
                )
            return ()
        parts = tuple(
            LineItem(description=f"{rate} % mva", amount=amount, vat_rate=rate)
            for rate, amount in sorted(by_rate.items(), key=lambda kv: kv[0], reverse=True)
        )
        largest = max(parts, key=lambda part: (part.amount, part.vat_rate))
        self.vat_rate = largest.vat_rate
        self.vat_amount = sum(
            (money.vat_of_gross(part.amount, part.vat_rate) for part in parts), Decimal("0.00")
        )
        return parts


def _gross_at_zero(lines: tuple[ExtractedLine, ...]) -> tuple[ExtractedLine, ...]:
    """The lines with their gross amounts at 0 %, no VAT of their own."""
    return tuple(
        msgspec.structs.replace(
            line,
            gross=line.gross
            if line.gross is not None or line.net is None
            else line.net + (line.vat_amount or Decimal("0.00")),
            net=None,
            vat_amount=None,
            vat_rate=Decimal("0"),
        )
        for line in lines
    )


def _charges_vat(extraction: Extraction) -> bool:
    """Whether the document shows VAT charged: a VAT amount or rate above zero, on the
    whole or on a line."""
    figures = [extraction.vat_amount, extraction.vat_rate]
    figures += [x for line in extraction.lines for x in (line.vat_amount, line.vat_rate)]
    return any(x is not None and x.is_finite() and x > 0 for x in figures)


def _unread_amount(read: Decimal | None) -> str:
    """What the reviewer is told when no amount can be proposed: a negative one (a credit
    note's) was read but is no purchase; otherwise none was read."""
    if read is not None and read.is_finite() and read < 0:
        return (
            f"a negative amount ({money.kroner_text(read)}) was read: a credit, not a purchase; "
            f"{PLACEHOLDER_AMOUNT} stands in for it and must be corrected before the proposal "
            "can be approved"
        )
    return (
        f"no amount could be read; {PLACEHOLDER_AMOUNT} stands in for it and must be "
        "corrected before the proposal can be approved"
    )


def _as_credit(extraction: Extraction) -> Extraction:
    """A credit note's reading with its amounts as positive figures (ADR 0054): printed
    with a minus ("-1 234,50", "Å kreditere kr -1 234,50") or without, they are what it
    credits; the proposal says it is a credit, not the sign."""

    def plus(value: Decimal | None) -> Decimal | None:
        return -value if value is not None and value.is_finite() and value < 0 else value

    return msgspec.structs.replace(
        extraction,
        document_type="invoice",
        gross=plus(extraction.gross),
        net=plus(extraction.net),
        vat_amount=plus(extraction.vat_amount),
        lines=tuple(
            msgspec.structs.replace(
                line,
                gross=plus(line.gross),
                net=plus(line.net),
                vat_amount=plus(line.vat_amount),
            )
            for line in extraction.lines
        ),
    )


def _text(value: str | None) -> str | None:
    """Printable text of at most 200 characters, or None when nothing is left."""
    if value is None:
        return None
    cleaned = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C" or ch == " ")
    cleaned = " ".join(cleaned.split())[:_MAX_TEXT].strip()
    return cleaned or None


def _kid(text: str | None, warnings: list[str]) -> str | None:
    """A KID as the proposal takes it and Fiken wants it, 2 to 25 digits ("1234 5678 903"
    printed in groups is 12345678903); another reading is left out with a warning."""
    if text is None:
        return None
    digits = "".join(text.split())
    if _KID.match(digits):
        return digits
    warnings.append(f"KID {text[:40]!r} is not 2 to 25 digits; left out")
    return None


def _amount(value: Decimal | None, *, allow_zero: bool = False) -> Decimal | None:
    """A finite amount rounded to øre, positive (or zero when allowed), else None."""
    if value is None or not value.is_finite():
        return None
    try:
        rounded = value.quantize(_CENT)
    except InvalidOperation:
        return None
    if rounded < 0 or (rounded == 0 and not allow_zero) or rounded >= Decimal("1e12"):
        return None
    return rounded
