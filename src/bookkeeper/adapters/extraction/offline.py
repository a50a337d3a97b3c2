"""The offline extractor: rules for Norwegian receipts and invoices, no network, no API key.

PDF text is read with pypdf; the fields come from fixed rules (labels such as "Totalt",
"MVA 25 %", "Org.nr", "Forfallsdato", "KID"). The text of a document is data: nothing in it
can set the confidence or a field that the rules do not read (ADR 0002). The offline reader
is never certain, so its confidence stays at or below 0.85; an image or a PDF without text
gives an honest "unknown" result with confidence 0 and "no text: needs review".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from pypdf import PageObject, PdfReader

from bookkeeper.application.errors import ExtractionFailed
from bookkeeper.application.ports import ExtractedLine, Extraction
from bookkeeper.domain import money
from bookkeeper.domain.confidence import valid_org_number

MAX_CONFIDENCE = Decimal("0.85")
NO_TEXT = "no text: needs review"
MAX_PAGES = 20
MAX_CHARS = 200_000
EVIDENCE_CHARS = 120

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"II*\x00", b"MM\x00*")

# --- amounts, dates, check digits --------------------------------------------------------

_AMOUNT = re.compile(
    r"(?<![\d.,])-?(?:"
    r"\d{1,3}(?:[ .]\d{3})+,\d{2}"  # 1 234,50  1.234,50
    r"|\d{1,3}(?:[ ,]\d{3})+\.\d{2}"  # 1,234.50
    r"|\d+[.,]\d{2}"  # 1234,50  199.00
    r"|\d+,-"  # 199,-
    r")(?![\d])"
)
_PREFIXED_AMOUNT = re.compile(r"(?i)\b(?:kr|nok)\.?\s*(\d{1,7})(?![\d.,])")
_RATE = re.compile(r"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,2})?)\s*%")
_DATE = re.compile(
    r"(?<![\d.])(?:(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})|(\d{4})-(\d{2})-(\d{2}))(?![\d])"
)


def parse_amount(text: str) -> Decimal | None:
    """A Norwegian (or English) amount string as Decimal kroner; None when it is not one."""
    s = text.replace("\u00a0", "").replace(" ", "").removesuffix(",-")
    if "," in s and "." in s:
        decimal_sep = "," if s.rfind(",") > s.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        s = s.replace(thousands, "").replace(decimal_sep, ".")
    elif "," in s:
        s = s.replace(",", ".")
    elif s.count(".") > 1 or (s.count(".") == 1 and len(s) - s.rfind(".") == 4):
        s = s.replace(".", "")  # 1.234 or 1.234.567: thousands separators
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value.quantize(money.ORE, rounding=ROUND_HALF_UP)


def _amounts(line: str) -> list[Decimal]:
    found = [a for m in _AMOUNT.finditer(line) if (a := parse_amount(m.group(0))) is not None]
    if not found:
        found = [Decimal(m.group(1)).quantize(money.ORE) for m in _PREFIXED_AMOUNT.finditer(line)]
    return found


def _date(m: re.Match[str]) -> dt.date | None:
    try:
        if m.group(1) is not None:
            year = int(m.group(3))
            if year < 100:
                year += 2000
            return dt.date(year, int(m.group(2)), int(m.group(1)))
        return dt.date(int(m.group(4)), int(m.group(5)), int(m.group(6)))
    except ValueError:
        return None


def valid_bank_account(digits: str) -> bool:
    """Norwegian bank account: 11 digits, MOD11 check digit (weights 5,4,3,2,7,6,5,4,3,2)."""
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    remainder = sum(int(d) * w for d, w in zip(digits[:10], weights, strict=True)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(digits[10])


def valid_kid(digits: str) -> bool:
    """A KID (customer identifier) of 2–25 digits with a MOD10 (Luhn) or MOD11 check digit."""
    if not 2 <= len(digits) <= 25 or not digits.isascii() or not digits.isdigit():
        return False
    body, check = digits[:-1], digits[-1]
    luhn = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        luhn += n - 9 if n > 9 else n
    if (10 - luhn % 10) % 10 == int(check):
        return True
    mod11 = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body))) % 11
    expected = 0 if mod11 == 0 else 11 - mod11
    return (check == "-" and expected == 10) or (expected != 10 and expected == int(check))


# --- labels ------------------------------------------------------------------------------

_TOTAL_LABELS = (
    (3, re.compile(r"(?i)(beløp å betale|å betale|til betaling|amount due|balance due)")),
    (2, re.compile(r"(?i)\b(totalt|totalbeløp|total)\b")),
    (1, re.compile(r"(?i)\bsum\b")),
)
_NOT_GROSS = re.compile(
    r"(?i)\b(eks|ekskl|excl|excluding|netto|delsum|subtotal|grunnlag|avrunding|betalt|"
    r"kontant|vekslepenger|tips)\b"
)
_NET = re.compile(
    r"(?i)(sum eks|eks\.? ?mva|ekskl\.? ?mva|excl\.? ?vat|\bnetto\b|\bsubtotal\b|\bdelsum\b)"
)
_VAT_WORD = re.compile(r"(?i)(\bmva\b|\bmoms\b|\bvat\b|merverdiavgift)")
_INCL = re.compile(r"(?i)\b(inkl|inkludert|incl|including)\b")
_DUE_LABEL = re.compile(r"(?i)(forfallsdato|forfall|betalingsfrist|due date|betales innen|due)")
_DATE_LABEL = re.compile(
    r"(?i)(fakturadato|kvitteringsdato|kjøpsdato|bilagsdato|invoice date|\bdato\b|\bdate\b|"
    r"utstedt|issued)"
)
_NUMBER = re.compile(
    r"(?i)\b(fakturanr|faktura nr|fakturanummer|kvitteringsnr|kvittering nr|kvitteringsnummer|"
    r"bilagsnr|bilagsnummer|invoice no|invoice number|invoice #|receipt no|receipt number|"
    r"ordrenr|ordrenummer)\.?\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9\-/]*)"
)
_ORG_LABEL = (
    r"(?:org\.?\s*nr\.?|org\.?\s*nummer|organisasjonsnummer|organisasjonsnr\.?|"
    r"foretaksregisteret|org\.?\s*no\.?|organi[sz]ation number|vat no\.?|mva-nr\.?)"
)
_ORG = re.compile(r"(?i)" + _ORG_LABEL + r"[\s:.#]*(?:NO\s*)?(\d{3}[ .]?\d{3}[ .]?\d{3})(?!\d)")
_ORG_BARE = re.compile(r"\bNO\s?(\d{3}[ .]?\d{3}[ .]?\d{3})\s?MVA\b")
_ORG_LABEL_ONLY = re.compile(r"(?i)" + _ORG_LABEL)
_NOT_SELLER = re.compile(r"(?i)\b(kunde|kundens|kjøper|customer|buyer|bill to|mottaker)\b")
_ACCOUNT = re.compile(
    r"(?i)(?:kontonr\.?|kontonummer|bankkonto|konto|account no\.?|account number|"
    r"bank account)[\s:.#]*(\d{4}[ .]?\d{2}[ .]?\d{5})(?!\d)"
)
_ACCOUNT_BARE = re.compile(r"(?<![\d.])(\d{4}\.\d{2}\.\d{5})(?![\d.])")
_KID = re.compile(r"(?i)\bkid(?:-?nr\.?|-?nummer)?[\s:.#]*(\d+(?: \d+)*)(?![\d.,])")
_INVOICE_WORD = re.compile(r"(?i)\b(faktura|invoice)")
_HEADER_ONLY = re.compile(
    r"(?i)^(faktura|invoice|kvittering|salgskvittering|receipt|kopi|copy|tax invoice|"
    r"kreditnota|billett|ticket)\W*$"
)
_CONTACT = re.compile(r"(?i)(tlf|telefon|phone|www\.|https?:|@|e-post|epost)")
_POSTCODE = re.compile(r"^\d{4}\s+\D")
_EXEMPT = re.compile(r"(?i)(fritatt|unntatt|ikke mva|uten mva|ikke mva-pliktig)")
_ITEM_HEADER = re.compile(r"(?i)\b(beskrivelse|description|varetekst|vare|tjeneste)\b")


def _evidence(line: str) -> str:
    return line[:EVIDENCE_CHARS]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _lines(text: str) -> list[str]:
    out = []
    for raw in text.replace("\u00a0", " ").splitlines():
        line = re.sub(r"[ \t]+", " ", raw).strip()
        if line:
            out.append(line)
    return out


def _rate(m: re.Match[str]) -> Decimal:
    return Decimal(m.group(1).replace(",", "."))


@dataclass
class _Fields:
    """What the rules found, before it becomes an (immutable) Extraction."""

    merchant_name: str | None = None
    organization_number: str | None = None
    document_number: str | None = None
    date: dt.date | None = None
    due_date: dt.date | None = None
    currency: str | None = None
    gross: Decimal | None = None
    net: Decimal | None = None
    vat_amount: Decimal | None = None
    vat_rate: Decimal | None = None
    lines: list[ExtractedLine] = field(default_factory=list)
    kid: str | None = None
    bank_account: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: int = 0

    def doubt(self, warning: str) -> None:
        self.warnings.append(warning)
        self.problems += 1


def _read_org(lines: list[str], f: _Fields) -> int | None:
    """The seller's organisation number (the first one not on a buyer's line)."""
    for index, line in enumerate(lines):
        if _NOT_SELLER.search(line):
            continue
        m = _ORG.search(line) or _ORG_BARE.search(line)
        if m is None:
            continue
        digits = _digits(m.group(1))
        if valid_org_number(digits):
            f.organization_number = digits
            f.evidence["organization_number"] = _evidence(line)
        else:
            f.doubt(f"organisation number {digits} fails the MOD11 check")
        return index
    f.warnings.append("no organisation number")
    return None


def _clean_name(text: str) -> str | None:
    name = text.strip(" ,-|:;.")
    if (
        not name
        or not name[0].isalnum()
        or not re.search(r"[^\W\d_]", name)
        or re.search(r"[<>{}\[\]=*#]", name)
        or len(name) > 60
    ):
        return None
    return name


def _read_merchant(lines: list[str], org_index: int | None, f: _Fields) -> None:
    if org_index is not None:
        line = lines[org_index]
        m = _ORG_LABEL_ONLY.search(line) or _ORG_BARE.search(line)
        if m is not None and (name := _clean_name(line[: m.start()])):
            f.merchant_name = name
            f.evidence["merchant_name"] = _evidence(line)
            return
    for line in lines[:10]:
        if (
            len(line) > 60
            or ":" in line
            or _HEADER_ONLY.match(line)
            or _DATE.search(line)
            or _AMOUNT.search(line)
            or _POSTCODE.match(line)
            or _CONTACT.search(line)
            or _ORG_LABEL_ONLY.search(line)
            or _ORG_BARE.search(line)
        ):
            continue
        if (name := _clean_name(line)) is not None:
            f.merchant_name = name
            f.evidence["merchant_name"] = _evidence(line)
            return
    f.warnings.append("no merchant name")


def _read_dates(lines: list[str], f: _Fields) -> None:
    labelled: tuple[dt.date, str] | None = None
    unlabelled: tuple[dt.date, str] | None = None
    due: tuple[dt.date, str] | None = None
    for line in lines:
        previous_end = 0
        for m in _DATE.finditer(line):
            value = _date(m)
            segment = line[previous_end : m.start()]
            previous_end = m.end()
            if value is None:
                continue
            if _DUE_LABEL.search(segment):
                due = due or (value, line)
            elif _DATE_LABEL.search(segment):
                labelled = labelled or (value, line)
            else:
                unlabelled = unlabelled or (value, line)
    chosen = labelled or unlabelled
    if chosen is not None:
        f.date, f.evidence["date"] = chosen[0], _evidence(chosen[1])
    else:
        f.warnings.append("no date")
    if due is not None:
        f.due_date, f.evidence["due_date"] = due[0], _evidence(due[1])


def _read_identifiers(lines: list[str], f: _Fields) -> None:
    for line in lines:
        if f.document_number is None and (m := _NUMBER.search(line)):
            value = m.group(2).rstrip("-/")
            if any(c.isdigit() for c in value):
                f.document_number = value
                f.evidence["document_number"] = _evidence(line)
        if f.kid != "" and (m := _KID.search(line)):
            digits = _digits(m.group(1))
            if f.kid is not None:
                if digits != f.kid:  # a second, other KID ("ny KID: …"): use neither
                    f.doubt(f"two different KIDs ({f.kid}, {digits}): neither is used")
                    f.kid = ""
                    f.evidence.pop("kid", None)
            elif valid_kid(digits):
                f.kid = digits
                f.evidence["kid"] = _evidence(line)
            else:
                f.doubt(f"KID {digits} fails the MOD10/MOD11 check")
                f.kid = ""  # seen: do not read another
        if f.bank_account != "" and (m := _ACCOUNT.search(line) or _ACCOUNT_BARE.search(line)):
            digits = _digits(m.group(1))
            if f.bank_account is not None:
                if digits != f.bank_account:  # "new account number, pay to …": use neither
                    f.doubt(f"two different bank accounts ({f.bank_account}, {digits})")
                    f.bank_account = ""
                    f.evidence.pop("bank_account", None)
            elif valid_bank_account(digits):
                f.bank_account = digits
                f.evidence["bank_account"] = _evidence(line)
            else:
                f.doubt(f"bank account {digits} fails the MOD11 check")
                f.bank_account = ""
    f.kid = f.kid or None
    f.bank_account = f.bank_account or None


def _vat_of_line(rest: str, rate: Decimal) -> tuple[Decimal, Decimal | None] | None:
    """(VAT amount, base) from a VAT line's amounts (the rate already removed)."""
    amounts = _amounts(rest)
    if not amounts:
        return None
    if len(amounts) == 1:
        return amounts[0], None
    for base in amounts:
        for vat in amounts:
            if vat is not base and abs(money.round_kr(base * rate / 100) - vat) <= money.ORE:
                return vat, base
    return amounts[-1], None


def _read_amounts(lines: list[str], f: _Fields) -> None:
    gross: tuple[int, Decimal, str] | None = None
    by_rate: dict[Decimal, tuple[Decimal, Decimal | None, str]] = {}
    plain_vat: tuple[Decimal, str] | None = None
    for index, raw in enumerate(lines):
        line = _ORG_BARE.sub(" ", raw)
        has_vat_word = bool(_VAT_WORD.search(line))
        rate_m = _RATE.search(line)
        if has_vat_word and rate_m is not None and not _INCL.search(line):
            rate = _rate(rate_m)
            rest = line[: rate_m.start()] + " " + line[rate_m.end() :]
            found = _vat_of_line(rest, rate)
            if found is not None and rate not in by_rate:
                by_rate[rate] = (found[0], found[1], raw)
            continue
        priority = next((p for p, rx in _TOTAL_LABELS if rx.search(line)), None)
        if (
            priority is not None
            and not _NOT_GROSS.search(line)
            and not (has_vat_word and not _INCL.search(line))
        ):
            amounts = _amounts(line)
            if not amounts and index + 1 < len(lines):
                following = lines[index + 1]
                if _AMOUNT.fullmatch(following.removeprefix("kr ").removeprefix("NOK ")):
                    amounts = _amounts(following)
            if amounts and (gross is None or priority > gross[0]):
                gross = (priority, amounts[-1], raw)
            continue
        if _NET.search(line) and (amounts := _amounts(line)):
            if f.net is None:
                f.net, f.evidence["net"] = amounts[-1], _evidence(raw)
            continue
        if has_vat_word and plain_vat is None and (amounts := _amounts(line)):
            plain_vat = (amounts[-1], raw)

    if gross is not None:
        f.gross, f.evidence["gross"] = gross[1], _evidence(gross[2])
        currency_line = gross[2].upper()
    else:
        f.warnings.append("no total amount")
        currency_line = ""
    for code in ("EUR", "USD", "SEK", "DKK", "GBP"):
        if re.search(rf"\b{code}\b", currency_line):
            f.currency = code
    if f.currency is None and re.search(r"(?i)\b(nok|kr)\b", "\n".join(lines)):
        f.currency = "NOK"

    if len(by_rate) > 1:
        f.vat_amount = sum((v for v, _, _ in by_rate.values()), money.ORE * 0)
        f.evidence["vat_amount"] = _evidence(" | ".join(e for _, _, e in by_rate.values()))
        rates = sorted(by_rate)
        f.warnings.append("mixed VAT rates: " + ", ".join(f"{r} %" for r in rates))
        for rate in rates:
            vat, base, _ = by_rate[rate]
            f.lines.append(
                ExtractedLine(
                    description=f"MVA {rate} %",
                    net=base,
                    vat_amount=vat,
                    vat_rate=rate,
                    gross=None if base is None else base + vat,
                )
            )
            if base is not None and abs(money.round_kr(base * rate / 100) - vat) > 1:
                f.doubt(f"VAT {vat} does not match {rate} % of {base}")
        return
    if by_rate:
        ((rate, (vat, base, evidence)),) = by_rate.items()
        f.vat_rate, f.vat_amount = rate, vat
        f.evidence["vat_rate"] = f.evidence["vat_amount"] = _evidence(evidence)
        if base is not None and f.net is None:
            f.net = base
    elif plain_vat is not None:
        f.vat_amount, f.evidence["vat_amount"] = plain_vat[0], _evidence(plain_vat[1])
    elif exempt := next((line for line in lines if _EXEMPT.search(line)), None):
        f.vat_rate, f.vat_amount = Decimal("0"), Decimal("0.00")
        f.evidence["vat_rate"] = f.evidence["vat_amount"] = _evidence(exempt)
    else:
        f.warnings.append("no VAT")
        return

    if f.vat_rate is None and f.gross is not None and f.vat_amount is not None:
        inferred = _infer_rate(f.gross, f.vat_amount)
        if inferred is not None:
            f.vat_rate = inferred
            f.warnings.append(f"VAT rate {inferred} % inferred from the amounts")
    if f.vat_rate is not None and f.vat_rate not in money.NORWEGIAN_VAT_RATES:
        f.doubt(f"VAT rate {f.vat_rate} % is not a Norwegian rate")
    if (
        f.gross is not None
        and f.vat_rate is not None
        and f.vat_amount is not None
        and not money.vat_consistent(f.gross, f.vat_rate, f.vat_amount)
    ):
        expected = money.vat_of_gross(f.gross, f.vat_rate)
        f.doubt(
            f"VAT {f.vat_amount} does not match {f.vat_rate} % of {f.gross} (expected {expected})"
        )


def _infer_rate(gross: Decimal, vat: Decimal) -> Decimal | None:
    candidates = [r for r in money.NORWEGIAN_VAT_RATES if r and money.vat_consistent(gross, r, vat)]
    if not candidates:
        return None
    return min(candidates, key=lambda r: abs(money.vat_of_gross(gross, r) - vat))


def _read_items(lines: list[str], f: _Fields) -> None:
    """Item lines of an invoice table (after a "Beskrivelse"/"Description" header)."""
    if f.lines:
        return
    in_table, as_net = False, False
    for line in lines:
        if not in_table:
            if _ITEM_HEADER.search(line) and not _AMOUNT.search(line):
                in_table = True
                as_net = bool(re.search(r"(?i)(eks|excl|netto)", line)) or f.net is not None
            continue
        if any(rx.search(line) for _, rx in _TOTAL_LABELS) or _NET.search(line):
            break
        if _VAT_WORD.search(line):
            break
        m = _AMOUNT.search(line)
        if m is None or ":" in line:
            continue
        description = re.split(r"\s\d", line, maxsplit=1)[0].strip()
        amount = _amounts(line)[-1]
        if re.search(r"[^\W\d_]", description):
            f.lines.append(
                ExtractedLine(
                    description=description[:80],
                    net=amount if as_net else None,
                    gross=None if as_net else amount,
                )
            )


def _confidence(f: _Fields, invoice: bool) -> Decimal:
    mandatory: list[object] = [
        f.merchant_name,
        f.organization_number,
        f.date,
        f.gross,
        f.vat_rate if f.vat_rate is not None else f.vat_amount,
        f.document_number,
    ]
    if invoice:
        mandatory.append(f.due_date)
    share = Decimal(sum(v is not None for v in mandatory)) / Decimal(len(mandatory))
    score = MAX_CONFIDENCE * share - Decimal("0.10") * f.problems
    return max(score, Decimal("0")).quantize(money.ORE, rounding=ROUND_HALF_UP)


def extract_text_fields(text: str) -> Extraction:
    """Apply the rules to a document's text (the part that needs no PDF)."""
    lines = _lines(text[:MAX_CHARS])
    if not lines:
        return no_text_result()
    f = _Fields()
    org_index = _read_org(lines, f)
    _read_merchant(lines, org_index, f)
    _read_dates(lines, f)
    _read_identifiers(lines, f)
    _read_amounts(lines, f)
    _read_items(lines, f)
    if f.net is None and f.gross is not None and f.vat_amount is not None:
        f.net = f.gross - f.vat_amount
    joined = "\n".join(lines)
    invoice = bool(_INVOICE_WORD.search(joined)) or f.due_date is not None or f.kid is not None
    if f.document_number is None:
        f.warnings.append("no document number")
    if invoice and f.due_date is None:
        f.warnings.append("no due date")
    return Extraction(
        extractor=OfflineExtractor.name,
        document_type="invoice" if invoice else "receipt",
        merchant_name=f.merchant_name,
        organization_number=f.organization_number,
        document_number=f.document_number,
        date=f.date,
        due_date=f.due_date,
        currency=f.currency,
        gross=f.gross,
        net=f.net,
        vat_amount=f.vat_amount,
        vat_rate=f.vat_rate,
        lines=tuple(f.lines),
        kid=f.kid,
        bank_account=f.bank_account,
        evidence=f.evidence,
        warnings=tuple(f.warnings),
        confidence=_confidence(f, invoice),
    )


def no_text_result() -> Extraction:
    return Extraction(
        extractor=OfflineExtractor.name,
        document_type="unknown",
        warnings=(NO_TEXT,),
        confidence=Decimal("0"),
    )


def pdf_text(content: bytes) -> str:
    """The text of a PDF's first pages; ExtractionFailed when it is encrypted or corrupt."""
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise ExtractionFailed("the PDF is encrypted")
        parts: list[str] = []
        for page in _first_pages(reader):
            parts.append(page.extract_text() or "")
            if sum(map(len, parts)) > MAX_CHARS:
                break
    except ExtractionFailed:
        raise
    except RecursionError as exc:
        raise ExtractionFailed("the PDF could not be read: too deeply nested") from exc
    except Exception as exc:  # a hostile PDF can break pypdf in many ways
        raise ExtractionFailed(f"the PDF could not be read: {type(exc).__name__}") from exc
    return "\n".join(parts)


def _first_pages(reader: PdfReader) -> Iterator[PageObject]:
    pages = reader.pages
    for index in range(min(len(pages), MAX_PAGES)):
        yield pages[index]


def _is_pdf(content: bytes, content_type: str, filename: str | None) -> bool:
    if content_type.split(";")[0].strip().lower() == "application/pdf":
        return True
    if filename is not None and filename.lower().endswith(".pdf"):
        return True
    return content[:1024].lstrip().startswith(b"%PDF")


def _is_image(content: bytes, content_type: str) -> bool:
    return content_type.lower().startswith("image/") or content.startswith(_IMAGE_MAGIC)


class OfflineExtractor:
    """The embedded default DocumentExtractor (no API key): pypdf text + Norwegian rules."""

    name = "offline"

    async def extract(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        return await asyncio.to_thread(self.extract_sync, content, content_type, filename)

    def extract_sync(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        if _is_pdf(content, content_type, filename):
            text = pdf_text(content)
            if not text.strip():
                return no_text_result()
            return extract_text_fields(text)
        if _is_image(content, content_type):
            return no_text_result()
        raise ExtractionFailed(f"unsupported document type {content_type or 'unknown'}")
