"""EHF (PEPPOL BIS Billing 3.0, UBL 2.1) supplier invoices and credit notes (ADR 0033,
addendum 6).

An EHF document is structured data: its fields are read from their elements, never guessed
from text. The XML is parsed with defusedxml (no DTD, no entities, no external references:
an XXE or a billion-laughs document is refused before anything expands) and only a UBL
`Invoice-2` or `CreditNote-2` root is accepted. What the books take as an attachment (PDF,
PNG, JPEG, GIF) is the embedded PDF of `AdditionalDocumentReference/Attachment/
EmbeddedDocumentBinaryObject` (mimeCode application/pdf) when there is one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Final
from xml.etree.ElementTree import Element, ParseError

import msgspec
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from stdnum.no import orgnr

from bookkeeper.application.ports import ExtractedLine, Extraction

XML: Final = "application/xml"
#: Declarations of XML that clients send.
XML_TYPES: Final = frozenset({"application/xml", "text/xml"})
INVOICE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_NS: Final = {"cac": CAC, "cbc": CBC}
#: The largest embedded PDF taken (decoded); the XML itself is bounded by the upload's limit.
MAX_EMBEDDED_PDF_BYTES: Final = 10 * 1024 * 1024
#: The reader's name in DocumentExtracted.
EXTRACTOR: Final = "ehf"
#: The structured source a proposal's confidence names.
STRUCTURED: Final = "EHF e-invoice (PEPPOL BIS Billing 3.0)"
#: What the proposal says of where its fields come from.
CERTAIN: Final = (
    "read from an EHF e-invoice (PEPPOL BIS Billing 3.0): every field is taken from its "
    "XML element, not guessed"
)
NO_RENDERING: Final = (
    "the EHF e-invoice has no embedded PDF: there is no rendering to attach in Fiken "
    "(only the XML is kept here); attach a copy by hand if the books need one"
)
_XML_START: Final = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<")
_DIGITS: Final = re.compile(r"\D")


class EhfRejected(Exception):
    """The XML is not an EHF invoice or credit note that can be read (422: XML is a media
    type the upload takes — documented so in the OpenAPI — so XML of another kind, or a
    broken or hostile invoice, is content it cannot process, not an unsupported type).
    `foreign`: well-formed XML of another kind than UBL — for a body that was not declared
    XML (sniffed), the upload answers that as an unsupported type instead."""

    def __init__(self, message: str, *, foreign: bool = False) -> None:
        super().__init__(message)
        self.foreign = foreign


class EhfDocument(msgspec.Struct, frozen=True, kw_only=True):
    """An EHF invoice or credit note: the fields read and its embedded PDF (if any)."""

    extraction: Extraction
    pdf: bytes | None = None
    pdf_filename: str | None = None
    #: Why an embedded document was not taken (not a PDF, too large, broken base64).
    pdf_problem: str | None = None


def looks_like_xml(content: bytes) -> bool:
    """Whether the bytes start as an XML document does (after a BOM and white space)."""
    return bool(_XML_START.match(content[:1024]))


def parse(content: bytes) -> EhfDocument:
    """The EHF document in `content`; EhfRejected when it is not one that can be read."""
    try:
        root = fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise EhfRejected(
            f"the XML declares a DTD or entities ({type(exc).__name__}); EHF has none"
        ) from exc
    except (ParseError, ValueError) as exc:
        raise EhfRejected(f"the XML could not be parsed: {exc}") from exc
    namespace, _, local = root.tag.rpartition("}")
    namespace = namespace.lstrip("{")
    if (namespace, local) not in ((INVOICE_NS, "Invoice"), (CREDIT_NOTE_NS, "CreditNote")):
        raise EhfRejected(
            f"the XML is not an EHF/UBL invoice or credit note (root {local!r} in "
            f"{namespace or 'no namespace'!r}); send a PDF, JPEG, PNG or an EHF invoice",
            foreign=True,
        )
    return _read(root, credit_note=local == "CreditNote")


def _read(root: Element, *, credit_note: bool) -> EhfDocument:
    evidence: dict[str, str] = {"source": CERTAIN}
    warnings: list[str] = []

    def text(path: str, field: str | None = None, within: Element | None = None) -> str | None:
        found = (within if within is not None else root).find(path, _NS)
        value = (found.text or "").strip() if found is not None else ""
        if not value:
            return None
        if field is not None:
            evidence[field] = f"{path}: {value}"[:200]
        return value

    number = text("cbc:ID", "document_number")
    date = _date(text("cbc:IssueDate", "date"), "IssueDate")
    due = _date(
        text("cbc:DueDate", "due_date") or text("cac:PaymentMeans/cbc:PaymentDueDate", "due_date"),
        "DueDate",
    )
    currency = (text("cbc:DocumentCurrencyCode", "currency") or "NOK").upper()
    total = root.find("cac:LegalMonetaryTotal", _NS)
    if total is None:
        raise EhfRejected("the EHF document has no LegalMonetaryTotal: no amount to book")
    payable = _amount(text("cbc:PayableAmount", "gross", total), "PayableAmount")
    inclusive = _amount(text("cbc:TaxInclusiveAmount", None, total), "TaxInclusiveAmount")
    exclusive = _amount(text("cbc:TaxExclusiveAmount", "net", total), "TaxExclusiveAmount")
    gross = inclusive if inclusive is not None else payable
    if gross is None:
        raise EhfRejected("the EHF document has neither a PayableAmount nor a TaxInclusiveAmount")
    if payable is not None and inclusive is not None and payable != inclusive:
        # Prepaid amounts or rounding: the invoice's total is what is booked; what is to
        # be paid is said.
        warnings.append(
            f"the EHF's amount to pay ({payable}) differs from its total with VAT "
            f"({inclusive}): prepaid or rounded; the total is booked"
        )

    lines, vat_total, reverse = _vat(root, currency)
    rates = {line.vat_rate for line in lines if line.vat_rate is not None}
    largest = max(lines, key=lambda line: line.gross or Decimal(0), default=None)
    supplier = root.find("cac:AccountingSupplierParty/cac:Party", _NS)
    merchant = org = None
    if supplier is not None:
        merchant = text("cac:PartyLegalEntity/cbc:RegistrationName", "merchant_name", supplier)
        merchant = merchant or text("cac:PartyName/cbc:Name", "merchant_name", supplier)
        org = _org_number(supplier, evidence)
    if merchant is None:
        warnings.append("the EHF names no supplier (AccountingSupplierParty)")
    means = root.find("cac:PaymentMeans", _NS)
    kid = account = None
    if means is not None:
        kid = text("cbc:PaymentID", "kid", means)
        account = text("cac:PayeeFinancialAccount/cbc:ID", "bank_account", means)
    account = _DIGITS.sub("", account) if account and _is_bban(account) else account
    iban = account if account and re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", account) else None
    credited = None
    if credit_note:
        credited = text(
            "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", "credited_invoice"
        )
    pdf, name, problem = _embedded_pdf(root)
    extraction = Extraction(
        extractor=EXTRACTOR,
        document_type="invoice",
        merchant_name=merchant,
        organization_number=org,
        document_number=number,
        date=date,
        due_date=due,
        currency=currency,
        gross=gross,
        net=exclusive,
        vat_amount=vat_total,
        vat_rate=(
            next(iter(rates))
            if len(rates) == 1
            else (largest.vat_rate if largest is not None else None)
        ),
        lines=tuple(lines) if len(lines) > 1 else (),
        kid=kid,
        bank_account=None if iban else account,
        iban=iban,
        evidence=evidence,
        warnings=tuple(warnings),
        confidence=Decimal(1),
        credit_note=credit_note,
        credited_invoice=credited,
        reverse_charge=reverse,
    )
    return EhfDocument(extraction=extraction, pdf=pdf, pdf_filename=name, pdf_problem=problem)


def _vat(root: Element, currency: str) -> tuple[list[ExtractedLine], Decimal | None, bool]:
    """The VAT parts per TaxSubtotal (in the document's currency), their VAT in total and
    whether one of them is reverse charged (category AE)."""
    lines: list[ExtractedLine] = []
    reverse = False
    total: Decimal | None = None
    for tax_total in root.findall("cac:TaxTotal", _NS):
        subtotals = tax_total.findall("cac:TaxSubtotal", _NS)
        amount = tax_total.find("cbc:TaxAmount", _NS)
        if amount is not None and amount.get("currencyID", currency).upper() != currency:
            continue  # the VAT in the accounting currency (BT-111), not the document's
        if amount is not None:
            total = _amount(amount.text, "TaxAmount")
        for sub in subtotals:
            base = _amount(_find(sub, "cbc:TaxableAmount"), "TaxableAmount")
            vat = _amount(_find(sub, "cbc:TaxAmount"), "TaxAmount") or Decimal("0.00")
            category = (_find(sub, "cac:TaxCategory/cbc:ID") or "").upper()
            percent = _amount(_find(sub, "cac:TaxCategory/cbc:Percent"), "Percent")
            if percent is None:
                percent = Decimal(0) if category in ("E", "Z", "AE", "K", "G", "O") else None
            reverse = reverse or category == "AE"
            if base is None:
                continue
            lines.append(
                ExtractedLine(
                    description=f"MVA {_plain(percent)} % (EHF {category or '?'})",
                    gross=base + vat,
                    net=base,
                    vat_amount=vat,
                    vat_rate=percent,
                )
            )
    return lines, total, reverse


def _embedded_pdf(root: Element) -> tuple[bytes | None, str | None, str | None]:
    """The first embedded PDF (bytes, file name), or why one there was not taken."""
    problem = None
    for reference in root.findall("cac:AdditionalDocumentReference", _NS):
        blob = reference.find("cac:Attachment/cbc:EmbeddedDocumentBinaryObject", _NS)
        if blob is None or (blob.get("mimeCode") or "").lower() != "application/pdf":
            continue
        encoded = blob.text or ""
        if len(encoded) > MAX_EMBEDDED_PDF_BYTES * 4 // 3 + 4096:
            problem = "the embedded PDF is larger than 10 MiB and is not kept"
            continue
        try:
            data = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            problem = "the embedded PDF is not valid base64 and is not kept"
            continue
        if not data.startswith(b"%PDF-"):
            problem = "the embedded document called a PDF is none and is not kept"
            continue
        return data, blob.get("filename"), None
    return None, None, problem


def _org_number(party: Element, evidence: dict[str, str]) -> str | None:
    """The supplier's Norwegian organisation number (MOD11-checked): its legal entity's,
    its VAT registration ("NO…MVA") or its PEPPOL address (scheme 0192)."""
    candidates: list[tuple[str, str]] = []
    for path in ("cac:PartyLegalEntity/cbc:CompanyID", "cac:PartyTaxScheme/cbc:CompanyID"):
        for found in party.findall(path, _NS):
            candidates.append((path, (found.text or "").strip()))
    endpoint = party.find("cbc:EndpointID", _NS)
    if endpoint is not None and endpoint.get("schemeID") == "0192":
        candidates.append(("cbc:EndpointID", (endpoint.text or "").strip()))
    for path, value in candidates:
        compact = value.upper().replace(" ", "")
        if compact.startswith("NO"):
            compact = compact[2:]
        compact = compact.removesuffix("MVA")
        # Enhetsregisteret's numbers start with 8 or 9 ("000000000" passes MOD11).
        if orgnr.is_valid(compact) and compact[:1] in ("8", "9"):
            evidence["organization_number"] = f"{path}: {value}"[:200]
            return orgnr.compact(compact)
    return None


def _is_bban(account: str) -> bool:
    digits = _DIGITS.sub("", account)
    return len(digits) == 11 and not re.search(r"[A-Za-z]", account)


def _find(element: Element, path: str) -> str | None:
    found = element.find(path, _NS)
    return found.text if found is not None else None


def _amount(value: str | None, name: str) -> Decimal | None:
    if value is None or not value.strip():
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation as exc:
        raise EhfRejected(f"the EHF's {name} is not a number: {value.strip()[:40]!r}") from exc
    if not amount.is_finite() or abs(amount) >= Decimal("1e13"):
        raise EhfRejected(f"the EHF's {name} is out of range")
    return amount


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise EhfRejected(f"the EHF's {name} is not a date: {value.strip()[:40]!r}") from exc


def _plain(value: Decimal | None) -> str:
    if value is None:
        return "?"
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)
