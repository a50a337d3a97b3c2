"""The offline extractor: rules for Norwegian receipts and invoices, no network, no API key.

A file's type comes from its bytes (`application.documents.sniff_media_type`, the one place
for every entrypoint), never its name. PDF text is
read with positions (`layout`: rows by baseline, tabs at column gaps, label rows over value
rows); photos, scans and image-only PDFs are read with Tesseract after clean-up (`ocr`).
The fields come from general rules (total/VAT/date/due labels in Norwegian and English, any
thousands separator, numeric and written dates, VAT tables with several rates, invoice vs
receipt from the document's structure); org. no., MVA number, account numbers and IBAN are
checked with python-stdnum / schwifty.

The text of a document is data: nothing in it can set the confidence or a field that the
rules do not read (ADR 0002). Text a person cannot see (render mode 3, white, no ink, tiny,
outside the page) is never read as a field: it is shown to the reviewer as a warning and
caps the confidence. Instruction-like text and a second payee are warnings too. The offline
reader is never certain, so its confidence stays at or below 0.85; an image that cannot be
read (no OCR installed, or nothing legible) gives an honest "unknown" result with confidence
0 and "no text: needs review".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

import msgspec
import pypdfium2 as pdfium
from babel.dates import get_month_names
from PIL import Image
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import luhn
from stdnum.no import kontonr, orgnr

from bookkeeper.adapters.extraction import inflation, layout, ocr
from bookkeeper.application.documents import PDF, is_image, sniff_media_type
from bookkeeper.application.errors import ExtractionFailed
from bookkeeper.application.ports import ExtractedLine, Extraction
from bookkeeper.domain import money
from bookkeeper.domain.rules import REVERSE_CHARGE_WORDING

MAX_CONFIDENCE = Decimal("0.85")
NO_TEXT = "no text: needs review"
NO_OCR = NO_TEXT + " (an image, not read: OCR/Tesseract is not available)"
#: A document with hidden text or instructions in it is capped here: always reviewed.
SUSPICIOUS_CAP = Decimal("0.30")
#: A photo whose first OCR reading scores below this gets a second pass (ocr.read).
SECOND_PASS_BELOW = Decimal("0.80")
SUSPICIOUS_STEP = Decimal("0.05")
#: Render pages of an image-only PDF for OCR at this scale (72 dpi × 3 ≈ 216 dpi).
OCR_SCALE = 3.0
#: ... but never wider or taller than this (pixels): a page's size is whatever the file says
#: (up to 14,400 pt, more with UserUnit), and a 1 KB PDF of one 200 × 200 inch page would
#: render at 43,200² (1.9 GB). OCR reads at most ocr.MAX_SIDE anyway; A4 and Letter at
#: OCR_SCALE stay well inside.
OCR_MAX_RENDER_SIDE = 2 * ocr.MAX_SIDE
pdfium_c_image = 3  # FPDF_PAGEOBJ_IMAGE
MAX_PAGES = 20
#: Pages of a scan that are read by OCR (a receipt or invoice says what it must on these).
OCR_PAGES = 3
MAX_CHARS = 200_000
#: What a PDF's deflated streams may inflate to: this much, plus INFLATION_PER_BYTE times
#: the file's size (text and scans deflate 2-30:1; a bomb ~1000:1; inflation.py).
MAX_INFLATED_BYTES = 64 * 1024 * 1024
INFLATION_PER_BYTE = 10
EVIDENCE_CHARS = 120


# --- amounts, dates, check digits --------------------------------------------------------

_AMOUNT = re.compile(
    r"(?<![\d.,'’])-?(?:"
    r"\d{1,3}(?:[ .'’]\d{3})+,\d{2}"  # 1 234,50  1.234,50  1'234,50
    r"|\d{1,3}(?:[ ,'’]\d{3})+\.\d{2}"  # 1,234.50  1'234.50
    r"|\d+[.,]\d{2}"  # 1234,50  199.00
    r"|\d+,[-–—]"  # 199,-  199,–
    r"|\d{1,3}(?:[ .]\d{3})+,[-–—]"  # 12 340,-  1.234,-
    r")(?:(?<!,-)-(?![\d-]))?"  # 499,00-: a till's minus behind the amount (a return, a discount)
    r"(?![\d]|[.,]\d)"  # not the start of "1503.22.44898" (an account) or "01.12.2026"
)
#: A whole amount after its currency: "kr 499", "kr 1 234", "NOK 1.234", "$ 1,234".
_PREFIXED_AMOUNT = re.compile(
    r"(?i)(?:\b(?:kr|nok)\.?|[$€£])\s*(\d{1,3}(?:([ .,])\d{3})(?:\2\d{3})*|\d{1,7})(?![\d.,])"
)
_RATE = re.compile(r"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,2})?)\s*%")
_DATE = re.compile(
    r"(?<![\d.])(?:(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})|(\d{4})-(\d{2})-(\d{2}))(?![\d])"
)


def _month_names() -> dict[str, int]:
    """Month name -> number from CLDR (Babel): Norwegian (bokmål, nynorsk), Danish, Swedish
    and English, wide and abbreviated, without the abbreviation's dot ("2. apr. 2026",
    "2 maj 2026", "April 2, 2026"); plus "sept", which CLDR does not list."""
    names = {"sept": 9}
    for locale in ("nb", "nn", "da", "sv", "en"):
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for number, name in get_month_names(width, context, locale=locale).items():
                    names[str(name).lower().rstrip(".")] = int(number)
    return names


_MONTHS: Final = _month_names()
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
#: A day of the month, English ordinals too ("7th").
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_WRITTEN_DATE = re.compile(
    # 2. april 2026, 2 Apr 2026, 07-DEC-2026, 07.des.2026, 7th December 2026
    rf"(?i)(?<![\d])(?:{_DAY}(?:\.?\s*|-){_MONTH}(?:,?\s+|-|(?<=\.))(\d{{4}})"
    rf"|{_MONTH}\s+{_DAY},?\s+(\d{{4}}))(?![\d])"  # April 2nd, 2026
)
#: dd/mm/yyyy, and dd/mm/yy as card terminals print it
_SLASH_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])")
_DASH_DATE = re.compile(r"(?<![\d-])(\d{1,2})-(\d{1,2})-(\d{4})(?![\d-])")  # dd-mm-yyyy (Danish)
#: "7/12-2026", "07/12-26": day/month-year, as Norwegians write a date by hand (never month
#: first, whatever the document's slashed dates)
_SLASH_DASH_DATE = re.compile(r"(?<![\d/-])(\d{1,2})/(\d{1,2})-((?:19|20)\d{2}|\d{2})(?![\d/-])")
#: yyyy/mm/dd and yyyy.mm.dd (Swedish, Asian and some web shops), zero-padded as they print it.
_YEAR_FIRST_DATE = re.compile(r"(?<![\d./])(\d{4})([./])(\d{2})\2(\d{2})(?![\d./])")


def month_first(lines: Sequence[str]) -> bool:
    """Whether a document writes its slashed dates month first (a US document): one of them
    cannot be day first ("12/31/2026") and none can only be day first ("31/12/2026"). Then
    its "12/01/2026" is December 1 too, as the person who wrote the due date meant it."""
    firsts = [(int(m[1]), int(m[2])) for line in lines for m in _SLASH_DATE.finditer(line)]
    us = any(month > 12 >= day for day, month in firsts)
    return us and not any(day > 12 >= month for day, month in firsts)


def find_dates(line: str, *, us_order: bool = False) -> list[tuple[int, int, dt.date]]:
    """Every date in a line: (start, end, date), numeric or written, in reading order;
    `us_order`: the document writes slashed dates month first (`month_first`)."""
    found: list[tuple[int, int, dt.date]] = []
    for m in _DATE.finditer(line):
        if (value := _date(m)) is not None:
            found.append((m.start(), m.end(), value))
    for m in _WRITTEN_DATE.finditer(line):
        try:
            if m.group(1) is not None:
                day, month, year = int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3))
            else:
                day, month, year = int(m.group(5)), _MONTHS[m.group(4).lower()], int(m.group(6))
            found.append((m.start(), m.end(), dt.date(year, month, day)))
        except (ValueError, KeyError):
            continue
    for m in (
        *_SLASH_DATE.finditer(line),
        *_DASH_DATE.finditer(line),
        *_SLASH_DASH_DATE.finditer(line),
    ):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
        year += 2000 if year < 100 else 0
        if (
            m[0].count("/")
            and "-" not in m[0]
            and (month > 12 >= day or (us_order and month <= 12))
        ):
            day, month = month, day  # 11/27/2026: a US date, month first (27 is no month)
        try:
            found.append((m.start(), m.end(), dt.date(year, month, day)))
        except ValueError:
            continue
    for m in _YEAR_FIRST_DATE.finditer(line):
        try:
            found.append((m.start(), m.end(), dt.date(int(m[1]), int(m[3]), int(m[4]))))
        except ValueError:
            continue
    return sorted(found, key=lambda t: t[0])


def parse_amount(text: str) -> Decimal | None:
    """A Norwegian (or English) amount string as Decimal kroner; None when it is not one."""
    s = re.sub(r",[-–—]$", "", re.sub(r"[\s'’\u00a0\u202f]", "", text))
    if s.endswith("-"):  # 499,00-: the minus behind the amount, as tills print a return
        s = "-" + s[:-1].removeprefix("-")
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
        found = [
            Decimal(_digits(m.group(1))).quantize(money.ORE)
            for m in _PREFIXED_AMOUNT.finditer(line)
        ]
    return found


#: An amount with one decimal ("Totalt 1234.5", an app that drops the trailing zero): read
#: only where a total label names it; elsewhere "0,5 L" and "1,5 kg" are no money.
_ONE_DECIMAL = re.compile(
    r"(?i)(?<![\d.,'’])-?(?:\d{1,3}(?:[ .,]\d{3})+|\d+)[.,]\d(?![\d.,])"
    r"(?!\s*(?:%|(?:l|kg|g|cl|dl|ml|m|km|t|h|stk|pcs|x)\b))"
)


def _one_decimal(line: str) -> list[Decimal]:
    return [a for m in _ONE_DECIMAL.finditer(line) if (a := parse_amount(m.group(0))) is not None]


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
    """Norwegian bank account: 11 digits with a MOD11 check digit (python-stdnum)."""
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    return bool(kontonr.is_valid(digits))


def valid_org_number(digits: str) -> bool:
    """A Norwegian organisation number (9 digits, MOD11), checked by python-stdnum."""
    return len(digits) == 9 and digits.isascii() and digits.isdigit() and orgnr.is_valid(digits)


def norwegian_iban_account(text: str) -> str | None:
    """The 11-digit account in a valid Norwegian IBAN (schwifty); None if not one."""
    try:
        iban = IBAN(text)
    except (SchwiftyException, ValueError):
        return None
    if iban.country_code != "NO":
        return None
    return str(iban.bban)


def valid_kid(digits: str) -> bool:
    """A KID (customer identifier) of 2–25 digits with a MOD10 (Luhn) or MOD11 check digit."""
    if not 2 <= len(digits) <= 25 or not digits.isascii() or not digits.isdigit():
        return False
    body, check = digits[:-1], digits[-1]
    if luhn.is_valid(digits):
        return True
    mod11 = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body))) % 11
    expected = 0 if mod11 == 0 else 11 - mod11
    return (check == "-" and expected == 10) or (expected != 10 and expected == int(check))


# --- labels ------------------------------------------------------------------------------

_TOTAL_LABELS = (
    (3, re.compile(r"(?i)(beløp å betale|å betale|til betaling|amount due|balance due|total due|"
                   r"\ba betale|\batt betala|\bat betale|"
                   # A credit note's total (ADR 0054).
                   r"å kreditere|til gode|kreditert beløp|amount credited|total credit)")),
    (2, re.compile(r"(?i)\b(totalt|totalbeløp|total|totalpris|totalsum|sluttsum|amount paid|"
                   r"grand total|i alt|fakturabeløp|kortbeløp|endelig beløp|"
                   r"til sammen|"
                   # abroad: German, French, Italian
                   r"summe|gesamt|gesamtbetrag|endbetrag|zu zahlen|montant|totale)\b")),
    (1, re.compile(r"(?i)\b(sum|summa)\b")),
    (0, re.compile(r"(?i)^(kjøp|beløp|purchase|amount|betalt)\b")),
)  # fmt: skip
_NOT_GROSS = re.compile(
    r"(?i)\b(eks|ekskl|excl|exkl|excluding|netto|delsum|subtotal|grunnlag|avrunding|"
    r"kontant|vekslepenger|tips|pris|antall|qty|price)\b|betalt (med|visa|kort)|innbetalt"
)
_NET = re.compile(
    r"(?i)(sum eks|eks\.? ?mva|ekskl\.? ?mva|excl\.? ?vat|\bnetto\b|\bsubtotal\b|\bdelsum\b|"
    r"exkl\.? ?moms|ekskl\.? ?moms)"
)
#: "(eks. mva 25 %)" after an item: its rate, not a VAT amount.
_NET_OF_ITEM = re.compile(r"(?i)\b(eks|ekskl|excl)\.? ?(mva|vat)\b")
#: "merverdiavgift" in Bokmål, "meirverdiavgift" in Nynorsk.
#: The VAT of a receipt from abroad: German "MwSt"/"USt", French "TVA", Spanish and
#: Italian "IVA", Dutch "BTW".
_FOREIGN_VAT_WORDS = r"\bmwst\b|mehrwertsteuer|\bust\b|umsatzsteuer|\btva\b|\biva\b|\bbtw\b"
_VAT_WORD = re.compile(
    r"(?i)(\bmva\b|\bmoms\b|\bvat\b|mei?rverdiavgift|\b(sales )?tax\b|" + _FOREIGN_VAT_WORDS + ")"
)
_INCL = re.compile(r"(?i)\b(inkl|inkludert|incl|including)\b")
#: A VAT base stated with its rate ("Mva-grunnlag 15 %", "Grunnlag 25 %", "Basis 12 %").
_VAT_BASE_LABEL = re.compile(r"(?i)(grunnlag|\bbasis\b|\bbase\b)")
_BASE_WORD = re.compile(r"(?i)(grunnlag|\bbase\b|\bnetto\b|eks)")
_DUE_LABEL = re.compile(
    r"(?i)(forfallsdato|forfall|betalingsfrist|due date|betales innen|\bdue\b|betal innen|"
    r"payment due|\bforfalt\b|förfallodatum|förfallodag|forfaldsdato|forfaldsdag|"
    r"sista betalningsdag|betales senest|betal senest|siste? betalingsdag|pay by|"
    r"pay before|payable by|"
    # "Beløpet bes innbetalt til konto 1503.66.77880 innen 23.12.2026"
    r"\b(?:inn)?betal\w*\b.*\b(?:innen|senest)\b)"
)
_DATE_LABEL = re.compile(
    r"(?i)(fakturadato|fakturadatum|kvitteringsdato|kjøpsdato|bilagsdato|invoice date|"
    r"\bdato\b|\bdate\b|"
    r"utstedt|issued|date of issue|\bkjøpt\b|avreise|departure)"
)
#: Dates that are not the document's (arrival, a period's start, a birth date …).
_NOT_DOCUMENT_DATE = re.compile(r"(?i)(ankomst|arrival|periode fra|fødsels|født|gyldig til)")
_NUMBER = re.compile(
    r"(?i)\b(faktura-?nr|faktura nr|fakturanummer|faktura nummer|fakt\.? ?nr|invoice id|"
    r"(?:salgs)?kvitteringsnr|(?:salgs)?kvittering nr|"
    r"(?:salgs)?kvitteringsnummer|kreditnotanr|kreditnota nr|kreditnotanummer|"
    r"bilagsnr|bilagsnummer|invoice no|invoice number|invoice #|receipt no|receipt number|"
    r"ordrenr|ordrenummer|ordre ?#|ordre ?nr|kvitt\.? ?nr|bong(?: ?nr)?|folio ?nr|tur ?nr|"
    r"billett ?nr|ref\.? ?nr|ref|^nr|receipt ?#|"
    r"order no|order number|order id|order ?#|transaksjons-?id|transaction id|"
    # Swedish "Kvitto nr", Norwegian "Bestillingsnr", a plane's or train's "Ticket number"
    r"kvitto ?nr|kvittonummer|bestillingsnr|bestillingsnummer|ticket number|ticket no|"
    r"billettnummer|"
    # a restaurant's "Regning nr 30071", a counter's "Kontantsalg nr 88120"
    r"regning ?nr|regningsnr|regningsnummer|(?:kontant|kreditt)?salg ?nr|salgsnummer|"
    # German: "Beleg-Nr. 4471", "Rechnungsnr.", "Rechnung Nr."
    r"beleg-?nr|belegnummer|rechnungs-?nr|rechnung nr|rechnungsnummer|"
    # "Kvittering 6612" inside a line ("Dato 07.12.2026  Kvittering 6612"): the word and a
    # number of three or more digits, not a date or an amount after it
    r"\bkvittering(?=\s+#?\d{3,}\b(?![.,:]\d))|"
    # a title with its number: "Faktura 10023", "Invoice INV-0012-4471"
    r"^faktura(?=[\s:#])|^invoice(?=[\s:#])|^kreditnota(?=[\s:#])|^credit note(?=[\s:#]))"
    r"\.?(?:\s*[:#])?\s*#?\s*([A-Za-z0-9][A-Za-z0-9_\-/]*)"
)
_ORG_LABEL = (
    r"(?:org\.?\s*nr\.?|org\.?\s*nummer|organisasjonsnummer|organisasjonsnr\.?|"
    r"f[oø]retaksreg(?:isteret|\.)?|org\.?\s*no\.?|organi[sz]ation (?:number|no\.?)|vat no\.?|"
    r"mva-nr\.?|vat number|mva-nummer|mva-reg\.?|or9\.?\s*nr\.?|org(?=:))"
)
_ORG = re.compile(r"(?i)" + _ORG_LABEL + r"[\s:.#]*(?:NO\s*)?(\d{3}[ .]?\d{3}[ .]?\d{3})(?!\d)")
_ORG_BARE = re.compile(r"\bNO[\s-]?(\d{3}[ .]?\d{3}[ .]?\d{3})[\s-]?MVA")
_ORG_LABEL_ONLY = re.compile(r"(?i)" + _ORG_LABEL)
_NOT_SELLER = re.compile(
    r"(?i)\b(kunde|kundens|kjøper|customer|buyer|bill to|mottaker|faktureres til|"
    r"leveringsadresse|ship to)\b"
)
_BUYER_BLOCK = re.compile(
    r"(?i)^(kunde|kjøper|customer|buyer|bill to|billed to|mottaker|faktureres til|"
    r"fakturamottaker|leveres til|faktura til|fakturert til|invoice to|invoiced to|sold to|"
    r"levert til|leveringsadresse|fakturaadresse|ship to|deliver to)\b"
)
#: The lines under a buyer's heading that are still its block (name, street, post code,
#: organisation number).
BUYER_BLOCK_LINES = 4
_RECEIPT_SIGNAL = re.compile(
    r"(?i)\b(bankaxept|visa|mastercard|kontant|vekslepenger|kortholder|contactless|"
    r"betalt med|amount paid|godkjent|kvittering|salgskvittering|bong|bord \d|terminal)\b"
)
_INVOICE_NUMBER = re.compile(
    r"(?i)\b(faktura-?nr|faktura nr|fakturanummer|fakt\.? ?nr|invoice no|invoice number|invoice #|"
    r"kreditnotanr|kreditnota nr|kreditnotanummer|credit note no|credit note number)"
)
#: A credit note: it reduces an invoice booked earlier, it is no purchase of its own.
_CREDIT_NOTE = re.compile(
    r"(?i)\b(kreditnota|kreditfaktura|kreditering|å kreditere|credit note|credit memo)\b"
)
CREDIT_NOTE_WARNING: Final = (
    "a credit note: proposed as a credit of the supplier's earlier invoice (the cost and its "
    "input VAT reversed), always reviewed"
)
#: The invoice a credit note credits: "Gjelder faktura 10012", "Kreditering av faktura nr.
#: 10012", "Ref. fakturanr: 10012", "Refers to invoice no. INV-77" (ADR 0054).
_CREDITED_INVOICE = re.compile(
    r"(?i)\b(?:gjelder|gjeld|ref\.?|referanse|kreditering av|krediterer|opprinnelig|"
    r"original|refers to|relates to|regarding|credits?|against|for)\s*:?\s*"
    r"(?:faktura|fakturanr\.?|fakturanummer|invoice)\s*(?:nr\.?|no\.?|number|#)?\s*[:.]?\s*"
    r"([A-Za-z0-9][A-Za-z0-9/-]{0,30})"
)
_FOREIGN = re.compile(r"(?i)\b(voec|reverse charge|omvendt avgiftsplikt)\b")
#: Text that tells a reader what to do: evidence of an attack, never an instruction.
_INSTRUCTION = re.compile(
    r"(?i)(\b(system|assistant|ai|model|llm)\s*:|\bignore\b|\bignorer\b|\bapprove|"
    r"\bgodkjenn|auto-?approv|\bconfidence\b|\bkonfidens|pre-?approved|\binstruction|"
    r"\binstruks|\bbook (it |this )?to\b|\bbokfør|\bpay (to|into)\b|"
    r"ny konto|new (bank )?account|"
    # "konto 1920" (a ledger account), not the start of a bank account ("konto 1503.22.44898")
    r"\bkonto \d{4}\b(?![ .]\d{2}[ .]\d{5})|\baccount \d{4}\b(?![ .]\d{2}[ .]\d{5}))"
)
_IBAN = re.compile(r"(?i)\biban\b[\s:.#]*([A-Z]{2}\s?\d{2}(?:\s?[A-Z0-9]){8,30})")
_ACCOUNT = re.compile(
    r"(?i)(?:kontonr\.?|kontonummer|bankkonto|konto(?: ?nr\.?)?|kto\.? ?nr\.?|(?:bank)?giro|"
    r"account no\.?|account number|bank account)[\s:.#]*(\d{4}[ .]?\d{2}[ .]?\d{5})(?!\d)"
)
_ACCOUNT_BARE = re.compile(r"(?<![\d.])(\d{4}\.\d{2}\.\d{5})(?![\d.])")
_KID = re.compile(
    r"(?i)\bkid(?:[\s-]?nr\.?|[\s-]?nummer|[\s-]?no\.?)?\)?[\s:.#]*(\d+(?: \d+)*)(?![\d.,])"
)
_INVOICE_WORD = re.compile(r"(?i)\b(faktura|invoice)")
_HEADER_ONLY = re.compile(
    r"(?i)^(faktura|invoice|\w*kvittering|receipt|kopi|copy|tax invoice|"
    r"kreditnota|billett|ticket|hotellregning|regning|folio|bankaxept|visa.*|godkjent|"
    # a card terminal's headings, not a seller's name
    r"kortkjøp|varekjøp|kjøp|purchase|sale|salg|kundens kopi|customer copy|kontaktløs|"
    r"contactless)\W*$"
)
_MERCHANT_PREFIX = re.compile(
    r"(?i)^(?:(?:your|din|ditt) )?(faktura|invoice|kvittering|receipt) (fra|from)\s+"
)
#: A seller named by its role: "Leverandør" over the name, "Selger: Byggmester Hansen AS".
#: "Fra"/"From" also start a journey ("Fra: Oslo S") and a till's "Selger: Anne" is its
#: salesperson, so those (`_PERSON_OR_PLACE`) name a seller only with a company form after.
_SELLER_ROLE = re.compile(
    r"(?i)^(selger|leverandør|leverandor|supplier|seller|vendor|sold by|issued by|avsender|"
    r"utsteder|fra|from)\b\s*:?\s*(.*)$"
)
_PERSON_OR_PLACE = frozenset({"selger", "seller", "avsender", "fra", "from"})
_COMPANY_FORM = re.compile(
    r"(?i)\b(as|asa|da|ans|enk|sa|ab|aps|a/s|oy|gmbh|ag|inc|ltd|llc|limited|plc|pbc|b\.v|"
    r"s\.r\.o|sarl|bv|nv)\.?$"
)
#: A greeting, a page number or a till's heading above the seller's name, not the name.
_NOT_NAME = re.compile(
    r"(?i)^(velkommen|welcome|takk for|tusen takk|thank you|thanks for|side \d|page \d)"
)
#: A postal address, not a name: "Storgata 12, 0150 Oslo", "Parkveien 53".
_ADDRESS = re.compile(
    r"(?i)(^|,\s*)\d{4} [^\W\d_]{2,}"  # "…, 0150 Oslo"
    r"|^[^\W\d_]*(gata|gate|gaten|veien|vei|vegen|veg|plass|bryggen|torget|allé|alle|stien)"
    r"\.? \d{1,4}[a-z]?\b"  # "Storgata 12", "Parkveien 53"
)
_CONTACT = re.compile(r"(?i)(tlf|telefon|phone|www\.|https?:|@|e-post|epost)")
_POSTCODE = re.compile(r"^\d{4}\s+\D")
#: No VAT charged: exempt, zero-rated, or a seller outside the VAT register ("Ikke
#: registrert i Merverdiavgiftsregisteret", "Ikke merverdiavgiftspliktig"): 0 %, not 25 %.
#: Nynorsk says "ikkje", "utan" and "meirverdiavgift".
_EXEMPT = re.compile(
    r"(?i)(fritatt|unntatt|ikk(?:e|je) mva|ut[ae]n mva"
    r"|ikk(?:e|je) (?:registrert i )?mei?rverdiavgift|ut[ae]n mei?rverdiavgift"
    r"|utanfor (?:mva|mei?rverdiavgift)|utenfor (?:mva|mei?rverdiavgift))"
)
_ITEM_HEADER = re.compile(r"(?i)\b(beskrivelse|description|varetekst|vare|tjeneste)\b")


def _evidence(line: str) -> str:
    return line.replace("\t", " ")[:EVIDENCE_CHARS]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _lines(text: str) -> list[str]:
    """Lines with single spaces; a tab (a column break of the layout or OCR) is kept."""
    out = []
    for raw in text.replace("\u00a0", " ").replace("\u202f", " ").splitlines():
        line = re.sub(r" *\t[ \t]*", "\t", re.sub(r" +", " ", raw)).strip(" \t")
        if line:
            out.append(line)
    return out


def _rate(m: re.Match[str]) -> Decimal:
    """A rate in its shortest form: "15,00 %" is 15, "11,11 %" 11.11."""
    rate = Decimal(m.group(1).replace(",", "."))
    return rate.quantize(Decimal(1)) if rate == rate.to_integral_value() else rate.normalize()


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
    iban: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: int = 0
    #: Hidden text, instructions, a second payee: each keeps the document in review.
    suspicious: int = 0

    def doubt(self, warning: str) -> None:
        self.warnings.append(warning)
        self.problems += 1


def _buyer_columns(lines: list[str]) -> dict[int, int]:
    """Line index -> the column (tab-separated part) of a buyer's block on it: the heading
    ("Faktura til:", "Kunde", "Bill to:") and the BUYER_BLOCK_LINES under it, up to a
    seller's own heading ("Leverandør", "From:")."""
    block: dict[int, int] = {}
    for index, line in enumerate(lines):
        for column, part in enumerate(line.split("\t")):
            if not _BUYER_BLOCK.match(part.strip()):
                continue
            for under in range(index, min(index + BUYER_BLOCK_LINES + 1, len(lines))):
                if under > index and _SELLER_ROLE.match(lines[under].split("\t")[0].strip()):
                    break
                block.setdefault(under, column)
    return block


def _not_the_buyers(line: str, column: int | None) -> str:
    """`line` without the part that is a buyer's block (a line of one part in the block is
    all the buyer's; in a two-column head the other column is still the seller's)."""
    if column is None:
        return line
    parts = line.split("\t")
    if len(parts) == 1:
        return ""
    return "\t".join(part for number, part in enumerate(parts) if number != column)


_ORG_FAILS = re.compile(r"organisation number \d+ fails the MOD11 check")


def _read_org(lines: list[str], f: _Fields) -> int | None:
    """The seller's organisation number: the first one not on a buyer's line nor in a
    buyer's block ("Faktura til: / Bakeriet AS / Org.nr …" is the buyer's number; with no
    other on the document the seller's is not there)."""
    buyer = _buyer_columns(lines)
    for index, full in enumerate(lines):
        line = _not_the_buyers(full, buyer.get(index))
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
    last = text.strip(" ,-|:;").rsplit(" ", 1)[-1]
    if last.endswith(".") and re.fullmatch(r"(?:\w{1,4}\.|(?:\w\.)+)", last):
        name += "."  # "Cloudly Inc.", "Analytica B.V.": the dot is part of the name
    if _ADDRESS.search(name):
        return None
    if (
        not name
        or not name[0].isalnum()
        or not re.search(r"[^\W\d_]", name)
        or re.search(r"[<>{}\[\]=*#]", name)
        or len(name) > 60
    ):
        return None
    return name


#: Between a footer's parts: "·", "•", "|", a dash between spaces.
_FOOTER_SEPARATOR = re.compile(r"\s*[·•|]\s*|\s+[-–—]\s+")


def _seller_by_role(lines: list[str], f: _Fields) -> bool:
    """The seller a line names by its role ("Selger: X", "Leverandør" over X, "From:
    Cloudly Inc."): the name after the label or on the next line."""
    for index, line in enumerate(lines[:20]):
        m = _SELLER_ROLE.match(line.split("\t")[0].strip())
        if m is None:
            continue
        value = m[2].strip()
        if not value and index + 1 < len(lines):
            value = lines[index + 1].split("\t")[0].strip()
        if m[1].lower() in _PERSON_OR_PLACE and (
            ":" not in line or not _COMPANY_FORM.search(value)
        ):
            continue
        if ":" in value or len(re.findall(r"[^\W\d_]", value)) < 3:
            continue  # "Vendor ID: 12345": a number, not a name
        if (name := _clean_name(value)) is not None and not _ORG_LABEL_ONLY.search(name):
            f.merchant_name = name
            f.evidence["merchant_name"] = _evidence(line if m[2].strip() else line + " " + value)
            return True
    return False


def _read_merchant(lines: list[str], org_index: int | None, f: _Fields) -> None:
    if org_index is not None:
        line = lines[org_index]
        m = _ORG_LABEL_ONLY.search(line) or _ORG_BARE.search(line)
        before = _MERCHANT_PREFIX.sub("", line[: m.start()].split("\t")[-1]) if m else ""
        # A footer names the seller first, then its address: "Webfabrikken AS · Industri-
        # veien 12, 1481 Hagan · Org.nr …": the first part that is a name, not the address.
        # "Løyvehaver: Kjør AS Org.nr …": the name after its label.
        labelled = re.sub(r"^[^\W\d_]+:\s*", "", before)
        parts = [labelled, *_FOOTER_SEPARATOR.split(labelled)] if m is not None else []
        if (name := next(filter(None, map(_clean_name, parts)), None)) is not None:
            f.merchant_name = name
            f.evidence["merchant_name"] = _evidence(line)
            return
    if _seller_by_role(lines, f):
        return
    for number, full in enumerate(lines[:12]):
        if number and _BUYER_BLOCK.match(lines[number - 1]) and ":" not in lines[number - 1][:-1]:
            continue  # the name under "Bill to:" / "Kunde": the buyer
        letters = [
            seg
            for seg in full.split("\t")
            if len(re.findall(r"[^\W\d_]", seg)) >= 3
            # a two-letter name alone on the first line is a name ("Vy", "XL"), not noise
            or (number == 0 and re.fullmatch(r"[^\W\d_]{2}", seg.strip()) is not None)
        ]
        line = _MERCHANT_PREFIX.sub("", letters[0] if letters else "")
        line = re.sub(r"\s+#\S*$", "", line)  # "… from Cloudly Inc. #1234-5678"
        if (
            not line
            or len(line) > 60
            or ":" in line
            or _HEADER_ONLY.match(line)
            or find_dates(line)
            or _AMOUNT.search(line)
            or _POSTCODE.match(line)
            or _CONTACT.search(line)
            or _ORG_LABEL_ONLY.search(line)
            or _ORG_BARE.search(line)
            or _NOT_NAME.match(line)
            or ((role := _SELLER_ROLE.fullmatch(line.strip(" :"))) is not None and not role[2])
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
    us_order = month_first(lines)
    for line in lines:
        previous_end = 0
        for start, end, value in find_dates(line, us_order=us_order):
            segment = line[previous_end:start]
            previous_end = end
            if _NOT_DOCUMENT_DATE.search(segment):
                continue
            if _DUE_LABEL.search(segment):
                # "Ny forfallsdato" (a reminder's) wins over the old due date it mentions
                due = (value, line) if _NEW_DUE.search(segment) else due or (value, line)
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


#: A due date that replaces an earlier one (a reminder's "Ny forfallsdato").
_NEW_DUE = re.compile(
    r"(?i)\b(ny|nytt|new|revised)\s+(forfallsdato|forfall|due date|betalingsfrist)"
)
#: Payment terms in days: "Betalingsfrist 14 dager", "Forfall: 14 dager", "30 dager netto",
#: "Payment terms: 30 days".
_TERMS = re.compile(
    r"(?i)\b(betalingsfrist|betalingsbetingelser|betalingsvilkår|betalingsbet\.|forfall|"
    r"betalningsvillkor|payment terms|terms)\b[\s:.]*"
    r"(?:netto\s+|net\s+)?(\d{1,3})\s*(?:dager|dgr\.?|dagar|dage|days)\b"
)


def _due_from_terms(lines: list[str], f: _Fields) -> None:
    """No due date but payment terms in days: the due date is the invoice date plus those
    days, as a person reckons it ("Betalingsfrist: 14 dager" on an invoice of 1 December
    is due 15 December); the reviewer is told it was reckoned, not printed."""
    if f.due_date is not None or f.date is None:
        return
    for line in lines:
        m = _TERMS.search(line)
        if m is None or not 0 < int(m.group(2)) <= 180:
            continue
        days = int(m.group(2))
        f.due_date = f.date + dt.timedelta(days=days)
        f.evidence["due_date"] = _evidence(line)
        f.warnings.append(f"due date reckoned from the payment terms ({days} days after the date)")
        return


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


def _bare_amount(line: str) -> bool:
    """A line that is one amount and nothing else (a value wrapped under its label)."""
    bare = re.sub(r"(?i)\b(kr|nok|usd|eur|sek|dkk|gbp)\b\.?|[$€£]", "", line)
    return bool(_AMOUNT.fullmatch(bare.strip(" \t")))


def _vat_of_line(rest: str, rate: Decimal) -> tuple[Decimal, Decimal | None] | None:
    """(VAT amount, base) from a VAT line's amounts (the rate already removed): the base
    is the amount the VAT is `rate` % of; else, when one amount is the VAT's gross ("Mva
    15 % av 982,00  128,09", ADR 0052), the base is that gross less the VAT."""
    amounts = _amounts(rest)
    if not amounts:
        return None
    if len(amounts) == 1:
        return amounts[0], None
    for base in amounts:
        for vat in amounts:
            if vat is not base and abs(money.round_kr(base * rate / 100) - vat) <= money.ORE:
                return vat, base
    if rate:
        for gross in amounts:
            for vat in amounts:
                if (
                    vat is not gross
                    and vat < gross
                    and abs(money.vat_of_gross(gross, rate) - vat) <= money.ORE
                ):
                    return vat, gross - vat
    return amounts[-1], None


#: A VAT table's heading without tabs ("MVA% GRUNNLAG MVA SUM", an OCR'd receipt roll).
_VAT_TABLE_COLUMN = re.compile(r"(?i)(grunnlag|\bsats\b|-sats\b|\bnetto\b|\bbrutto\b|\bsum\b)")
#: A VAT table's heading that names its rate column ("Mva%", "Sats"): its rows may print
#: the rate bare ("15,00  104,33  15,65  120,98").
_RATE_COLUMN = re.compile(r"(?i)(%|\bsats\b|-sats\b)")
#: A row's first cell as a bare rate, figures after it.
_BARE_RATE = re.compile(r"^(\d{1,2}(?:[.,]\d{1,2})?)(?=\s)")


#: A VAT word with its rate: where a line names a second one ("MVA 15%: 8,83  MVA 25%:
#: 0,00", a till that prints its VAT table on one line), a second VAT line begins.
_VAT_WITH_RATE = re.compile(
    r"(?i)(\bmva\b|\bmoms\b|\bvat\b|mei?rverdiavgift|"
    + _FOREIGN_VAT_WORDS
    + r")\W{0,3}\d{1,2}(?:[.,]\d{1,2})?\s*%"
)


#: A VAT clause after a total on its line: "Totalt kr 598,00 herav mva 25 % kr 119,60".
_VAT_CLAUSE = re.compile(
    r"(?i)[(,;]?\s*\b(?:herav|hvorav|derav|varav|heraf|inkl\.?|inkludert|incl\.?|including|"
    r"of which)\s+(?=" + _VAT_WORD.pattern.removeprefix("(?i)") + ")"
)


def _total_then_vat(line: str) -> list[str]:
    """A total with its VAT clause on one line, cut into the total and the VAT line:
    a total label, its amount, then "herav mva …" with amounts of its own."""
    clause = _VAT_CLAUSE.search(line)
    if clause is None or not _amounts(line[clause.end() :]):
        return [line]
    head = line[: clause.start()]
    if not any(rx.search(head) for _, rx in _TOTAL_LABELS) or not _amounts(head):
        return [line]
    return [head.strip(" \t"), line[clause.end() :].strip(" \t)")]


def _vat_pairs(line: str) -> list[str]:
    """A line cut before each VAT word with a rate after the first: one VAT line each;
    a total and its VAT clause on one line are two lines."""
    if len(parts := _total_then_vat(line)) > 1:
        return [parts[0], *_vat_pairs(parts[1])]
    starts = [m.start() for m in _VAT_WITH_RATE.finditer(line)][1:]
    if not starts:
        return [line]
    cuts = [0, *starts, len(line)]
    return [line[a:b].strip(" \t") for a, b in itertools.pairwise(cuts)]


#: A currency named beside an amount: "USD", "€", "$", "CHF 1'234.50".
_CURRENCY_MARK = (
    ("EUR", "€"),
    ("USD", "$"),
    ("SEK", "SEK"),
    ("DKK", "DKK"),
    ("GBP", "£"),
    ("CHF", "CHF"),
    ("PLN", "PLN"),
    ("CAD", "CAD"),
    ("AUD", "AUD"),
    ("JPY", "JPY"),
)
#: "kr" is the Swedish and Danish krone too: a document that says "moms" and never "mva"
#: is Swedish ("Att betala", "Varav moms", "Kvitto", an org. nr 556036-0793) or Danish
#: ("At betale", "I alt", "Heraf moms", "CVR").
_NORWEGIAN_VAT = re.compile(r"(?i)\bmva\b|mei?rverdiavgift|\bnok\b")
_SWEDISH = re.compile(r"(?i)\b(att betala|varav moms|kvitto|summa|datum)\b|\b\d{6}-\d{4}\b")
_DANISH = re.compile(r"(?i)\b(at betale|i alt|heraf moms|cvr)\b")


def _krone(text: str) -> str:
    """The krone a document's "kr" means: NOK unless it speaks Swedish or Danish VAT (and
    has no Norwegian organisation number: the caller asks only then)."""
    if _NORWEGIAN_VAT.search(text) or not re.search(r"(?i)\bmoms\b", text):
        return "NOK"
    if _SWEDISH.search(text) and not _DANISH.search(text):
        return "SEK"
    if _DANISH.search(text) and not _SWEDISH.search(text):
        return "DKK"
    return "NOK"


#: A giro's or a payment block's amount: "Beløp 2 540,00", "Amount 640.00" (not "Beløp
#: betalt", what was paid already).
_PAYMENT_AMOUNT = re.compile(r"(?i)^(beløp|amount)\b(?!.*\bbetalt\b|.*\bpaid\b)")


def _asks_to_be_paid(line: str, priority: int) -> bool:
    """Whether a total line is an amount the document asks to be paid ("Å betale", "Amount
    due", a giro's "Beløp" or its Kroner/Øre boxes) in the document's own money: a line
    that names another currency ("Amount due USD 640.00" beside its NOK) is left out."""
    if priority != 3 and not (priority == 0 and _PAYMENT_AMOUNT.search(line.strip())):
        return False
    upper = line.upper()
    return not any(
        re.search(rf"\b{code}\b", upper) or (sign != code and sign in line)
        for code, sign in _CURRENCY_MARK
    )


def _amounts_to_pay_agree(to_pay: list[tuple[Decimal, str]], f: _Fields) -> None:
    """An invoice asks for one amount: its "Å betale" and its giro's "Beløp" (or Kroner/Øre)
    are the same. When they differ a person does not pay before asking which is right: a
    doubt that names both (the strongest label's stays the total). Nothing left to pay
    ("Å betale 0,00" on a paid order) is no second amount."""
    seen: list[Decimal] = []
    for amount, _ in to_pay:
        if amount != 0 and amount not in seen:
            seen.append(amount)
    if len(seen) > 1:
        f.doubt(
            "different amounts to pay on one document ("
            + ", ".join(money.kroner_text(a) for a in seen)
            + "): ask the supplier which is right before paying"
        )


def _read_amounts(lines: list[str], f: _Fields) -> None:
    lines = [part for line in lines for part in _vat_pairs(line)]
    #: (rank, amount, line) of the strongest total so far: any amount over nothing left to
    #: pay (a paid order's "Å betale 0,00" under its "Totalt 1 250,00"), then its label's
    #: priority, then whether it says it includes the VAT ("Totalt inkl. mva" over "Totalt").
    gross: tuple[tuple[bool, int, bool], Decimal, str] | None = None
    by_rate: dict[Decimal, tuple[Decimal, Decimal | None, str]] = {}
    gross_index = 0
    plain_vat: tuple[Decimal, str] | None = None
    bases: dict[Decimal, tuple[Decimal, str]] = {}  # a base stated on its own line, by rate
    vat_table = 0  # lines left in a VAT table (a header with a VAT word and no amounts)
    bare_rates = False  # whether that table's heading names a rate column
    to_pay: list[tuple[Decimal, str]] = []  # each amount the document asks to be paid
    for index, raw in enumerate(lines):
        line = _ORG_BARE.sub(" ", raw)
        has_vat_word = bool(_VAT_WORD.search(line))
        rate_m = _RATE.search(line)
        if (
            has_vat_word
            and ("\t" in line or _VAT_TABLE_COLUMN.search(line))
            and not _amounts(line)
            and rate_m is None
        ):
            vat_table = 6
            bare_rates = bool(_RATE_COLUMN.search(line))
            continue
        if rate_m is None and vat_table > 0 and bare_rates:
            bare = _BARE_RATE.match(line.strip())
            if (
                bare is not None
                and _rate(bare) in money.NORWEGIAN_VAT_RATES
                and len(_amounts(line.strip()[bare.end() :])) >= 2
                and not re.search(r"[^\W\d_]", line)
            ):
                line = line.strip()
                rate_m = bare
        # A VAT table's rows: each starts with its rate ("15 %  1 806,35  270,95"), names it
        # with a VAT word ("Fritatt mva 0 %  307,67"), or is all figures with the rate
        # after the base ("853,91  15 %  128,09  982,00"); any other row ends it (an item
        # table's row has a description).
        in_table = (
            vat_table > 0
            and rate_m is not None
            and (
                rate_m.start() == 0
                or has_vat_word
                or (len(_amounts(line)) >= 2 and not re.search(r"[^\W\d_]", line))
            )
        )
        vat_table = vat_table - 1 if in_table else 0
        net_statement = _NET_OF_ITEM.search(line) and len(_amounts(line)) <= 1
        if rate_m is not None and _VAT_BASE_LABEL.search(line[: rate_m.start()]):
            label_amounts = _amounts(line[: rate_m.start()] + " " + line[rate_m.end() :])
            if len(label_amounts) == 1:
                # "Mva-grunnlag 15 %  156,70": the base the VAT is reckoned on, not the VAT
                bases.setdefault(_rate(rate_m), (label_amounts[0], raw))
                continue
        if (
            (has_vat_word or in_table)
            and rate_m is not None
            # "Totalt inkl. mva 25 %" is a total; "VAT 20% incl. £3.90" (its VAT word first,
            # "incl." after the rate) is the VAT the total includes
            and not (
                (incl := _INCL.search(line))
                and not (_VAT_WORD.match(line.strip()) and incl.start() > rate_m.start())
            )
            and not net_statement
        ):
            rate = _rate(rate_m)
            rest = line[: rate_m.start()] + " " + line[rate_m.end() :]
            found = _vat_of_line(rest, rate)
            if found is None and index + 1 < len(lines) and _bare_amount(lines[index + 1]):
                found = _vat_of_line(lines[index + 1], rate)  # the amount wrapped below
            elif found is not None and found[1] is None and index + 1 < len(lines):
                # "Herav mva 25 % av 1 937,98" with the VAT on the next line: base above
                below = lines[index + 1]
                if _bare_amount(below) and re.search(r"(?i)\b(av|of)\b", rest):
                    found = (_amounts(below)[-1], found[0])
            if found is not None and rate == 0:  # "Fritatt mva 0 % 1 443,28": the base
                found = (Decimal("0.00"), found[1] if found[1] is not None else found[0])
            if found is not None and rate not in by_rate:
                by_rate[rate] = (found[0], found[1], raw)
            continue
        priority = next((p for p, rx in _TOTAL_LABELS if rx.search(line)), None)
        if (
            priority is not None
            and not _NOT_GROSS.search(line)
            and not (has_vat_word and not _INCL.search(line))
        ):
            amounts = _amounts(line) or _one_decimal(line)
            if not amounts and index + 1 < len(lines) and _bare_amount(lines[index + 1]):
                amounts = _amounts(lines[index + 1])
            rank = (bool(amounts) and amounts[-1] != 0, priority, bool(_INCL.search(line)))
            if amounts and _asks_to_be_paid(line, priority):
                to_pay.append((amounts[-1], raw))
            if amounts and (gross is None or rank > gross[0]):
                gross = (rank, amounts[-1], raw)
                gross_index = index
            continue
        net_m = _NET.search(line)
        # The label comes before its value: "Konsulenttime 1 000,00 (eks. mva)" is an item.
        if net_m is not None and (amounts := _amounts(line[net_m.end() :])):
            if f.net is None:
                f.net, f.evidence["net"] = amounts[-1], _evidence(raw)
            continue
        if has_vat_word and _VAT_BASE_LABEL.search(line):
            continue  # "MVA-grunnlag 1 000,00" with no rate: the VAT's base, not the VAT
        if has_vat_word and plain_vat is None and (amounts := _amounts(line)):
            plain_vat = (amounts[-1], raw)

    _amounts_to_pay_agree(to_pay, f)
    if gross is not None:
        f.gross, f.evidence["gross"] = gross[1], _evidence(gross[2])
        currency_line = gross[2].upper() + " " + " ".join(lines[gross_index : gross_index + 2])
    else:
        f.warnings.append("no total amount")
        currency_line = ""
    for code, sign in _CURRENCY_MARK:
        if re.search(rf"\b{code}\b", currency_line.upper()) or sign in currency_line:
            f.currency = code
    if f.currency is None and re.search(r"(?i)\b(nok|kr)\b", "\n".join(lines)):
        f.currency = "NOK" if f.organization_number else _krone("\n".join(lines))

    for base_rate, (stated_base, base_evidence) in bases.items():
        if base_rate in by_rate and by_rate[base_rate][1] is None:
            vat_of_rate, _, vat_evidence = by_rate[base_rate]
            by_rate[base_rate] = (vat_of_rate, stated_base, vat_evidence)
        elif base_rate not in by_rate and base_rate == 0:
            by_rate[base_rate] = (Decimal("0.00"), stated_base, base_evidence)
    # A till's VAT table lists every rate, the unused ones at 0,00 ("Mva 25% 0,00"): a
    # rate with neither VAT nor a base of its own is no part of the receipt.
    unused = [r for r, (vat, base, _) in by_rate.items() if vat == 0 and not base]
    if unused == [Decimal(0)] and _zero_rate_part_in(by_rate, f.gross, lines):
        # "Herav mva 0 % 0,00" beside a rate whose VAT is not all of the total: a part of
        # its own, of a size still to be reckoned (its 0,00 is its VAT, not its base)
        unused = []
        by_rate[Decimal(0)] = (Decimal("0.00"), None, by_rate[Decimal(0)][2])
    if len(unused) < len(by_rate):
        for rate in unused:
            del by_rate[rate]
    if Decimal(0) not in by_rate and _zero_rate_part_in(by_rate, f.gross, lines):
        # "Gavekort er unntatt mva" beside one rate whose VAT is not all of the total: what
        # is exempt is the 0 % part, as a printed "mva 0 %" line would say
        exempt = next((line for line in lines if _EXEMPT.search(line)), None)
        if exempt is not None:
            by_rate[Decimal(0)] = (Decimal("0.00"), None, exempt)
    if len(by_rate) > 1:
        _base_by_difference(by_rate, f.gross, f.warnings)
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
                f.doubt(
                    f"VAT {money.kroner_text(vat)} does not match {rate} % of "
                    f"{money.kroner_text(base)}"
                )
        return
    if by_rate:
        ((rate, (vat, base, evidence)),) = by_rate.items()
        f.vat_rate, f.vat_amount = rate, vat
        f.evidence["vat_rate"] = f.evidence["vat_amount"] = _evidence(evidence)
        if base is not None and f.net is None:
            f.net = base
    elif len(bases) == 1 and plain_vat is None:  # a base and its rate, the VAT not stated
        ((base_rate, (stated_base, base_evidence)),) = bases.items()
        f.vat_rate, f.evidence["vat_rate"] = base_rate, _evidence(base_evidence)
        if f.net is None:
            f.net, f.evidence["net"] = stated_base, _evidence(base_evidence)
    elif plain_vat is not None:
        f.vat_amount, f.evidence["vat_amount"] = plain_vat[0], _evidence(plain_vat[1])
        if plain_vat[0] == 0:  # "VAT reverse charge 0.00", "Tax 0.00": no Norwegian VAT
            f.vat_rate, f.evidence["vat_rate"] = Decimal("0"), _evidence(plain_vat[1])
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
        warning = f"VAT rate {f.vat_rate} % is not a Norwegian rate"
        if f.currency in (None, "NOK"):
            f.doubt(warning)
        else:  # a seller abroad charges its own country's rate (MwSt 19 %): no misreading
            f.warnings.append(warning)
    if (
        f.gross is not None
        and f.vat_rate is not None
        and f.vat_amount is not None
        and not money.vat_consistent(f.gross, f.vat_rate, f.vat_amount)
        and not _tip_explains(lines, f)
    ):
        expected = money.vat_of_gross(f.gross, f.vat_rate)
        f.doubt(
            f"VAT {money.kroner_text(f.vat_amount)} does not match {f.vat_rate} % of "
            f"{money.kroner_text(f.gross)} (expected {money.kroner_text(expected)})"
        )


def _zero_rate_part_in(
    by_rate: dict[Decimal, tuple[Decimal, Decimal | None, str]],
    gross: Decimal | None,
    lines: list[str],
) -> bool:
    """Whether a receipt's "mva 0 % 0,00" is a part of its own: one other rate, whose VAT
    is not that rate's VAT of the total (a newspaper at 0 % beside a coffee at 15 %), and
    no tip that would explain the difference instead."""
    others = [(rate, vat) for rate, (vat, _, _) in by_rate.items() if rate]
    if gross is None or gross <= 0 or len(others) != 1 or any(_TIP.match(ln) for ln in lines):
        return False
    rate, vat = others[0]
    return vat > 0 and not money.vat_consistent(gross, rate, vat)


def _bases_from_vat(
    by_rate: dict[Decimal, tuple[Decimal, Decimal | None, str]],
    gross: Decimal,
    warnings: list[str],
) -> None:
    """Two rates with their VAT and no base ("mva 15 % 50,19", "MVA 25 % 87,66", the total
    823,07): the split of the total whose parts hold exactly those VAT amounts, the one
    nearest each VAT's own gross. Several splits a few øre apart may hold them; each gives
    the printed VAT per rate and the total, so the VAT is booked as printed and only the
    bases may differ by those øre, which a warning says."""
    (low, (vat_low, _, ev_low)), (high, (vat_high, _, ev_high)) = sorted(by_rate.items())
    if not high:
        return
    if not low:  # a 0 % part has no VAT of its own: it is what the other part leaves
        _zero_rate_part(by_rate, gross, warnings)
        return
    estimate = money.round_kr(vat_low * (100 + low) / low)
    spread = int((100 + low) / low) + 2  # øre of gross per øre of VAT, and the rounding
    found = [
        part
        for step in range(-spread, spread + 1)
        if (part := estimate + money.ORE * step) > 0
        and gross - part > 0
        and money.vat_of_gross(part, low) == vat_low
        and money.vat_of_gross(gross - part, high) == vat_high
    ]
    if not found:
        return
    part = min(found, key=lambda p: abs(p - estimate))
    by_rate[low] = (vat_low, part - vat_low, ev_low)
    by_rate[high] = (vat_high, gross - part - vat_high, ev_high)
    if len(found) > 1:
        warnings.append(
            f"the parts at {low} % and {high} % are reckoned from their VAT and the total "
            f"(the bases to within {money.kroner_text(found[-1] - found[0])})"
        )


def _zero_rate_part(
    by_rate: dict[Decimal, tuple[Decimal, Decimal | None, str]],
    gross: Decimal,
    warnings: list[str],
) -> None:
    """0 % and one rate with its VAT, no bases: that rate's part is the gross whose VAT is
    the printed VAT (the one nearest its estimate), the 0 % part the rest of the total."""
    (_, (_, _, ev_zero)), (rate, (vat, _, evidence)) = sorted(by_rate.items())
    estimate = money.round_kr(vat * (100 + rate) / rate)
    spread = int((100 + rate) / rate) + 2
    found = [
        part
        for step in range(-spread, spread + 1)
        if 0 < (part := estimate + money.ORE * step) < gross
        and money.vat_of_gross(part, rate) == vat
    ]
    if not found:
        return
    part = min(found, key=lambda p: abs(p - estimate))
    by_rate[Decimal(0)] = (Decimal("0.00"), gross - part, ev_zero)
    by_rate[rate] = (vat, part - vat, evidence)
    if len(found) > 1:
        warnings.append(
            f"the parts at 0 % and {rate} % are reckoned from their VAT and the total "
            f"(the bases to within {money.kroner_text(found[-1] - found[0])})"
        )


def _base_by_difference(
    by_rate: dict[Decimal, tuple[Decimal, Decimal | None, str]],
    gross: Decimal | None,
    warnings: list[str],
) -> None:
    """A VAT breakdown that states the base of every rate but one (ADR 0052): that one's
    base is the total less the other parts and its VAT, when its VAT is then its rate of
    it (to the øre). Otherwise it stays unknown (and the lines cannot be booked)."""
    missing = [rate for rate, (_, base, _) in by_rate.items() if base is None]
    if gross is not None and len(missing) == 2 == len(by_rate):
        _bases_from_vat(by_rate, gross, warnings)
        return
    if gross is None or len(missing) != 1:
        return
    (rate,) = missing
    vat, _, evidence = by_rate[rate]
    others = sum(
        ((b or Decimal(0)) + v for r, (v, b, _) in by_rate.items() if r != rate), Decimal(0)
    )
    base = gross - others - vat
    if base > 0 and abs(money.round_kr(base * rate / 100) - vat) <= money.ORE:
        by_rate[rate] = (vat, base, evidence)


#: How far a stated VAT may be from a rate's VAT of the total for the rate to be read from
#: them: per-line rounding (a few øre, half a percent of the VAT), not the krone that
#: `vat_consistent` forgives a stated rate, within which a small total's VAT fits 11,11,
#: 12 and 15 % alike (1,61 of 17,70, an Austrian 10 %, read as 11,11 %).
_INFERENCE_SLACK: Final = Decimal("0.005")


def _infer_rate(gross: Decimal, vat: Decimal) -> Decimal | None:
    slack = max(money.ORE * 2, vat * _INFERENCE_SLACK)
    candidates = [
        r
        for r in money.NORWEGIAN_VAT_RATES
        if r and abs(money.vat_of_gross(gross, r) - vat) <= slack
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda r: abs(money.vat_of_gross(gross, r) - vat))


#: What an item table's column holds, from its heading ("Netto", "MVA %", "MVA", "Brutto").
_COLUMN_RATE = re.compile(r"(?i)(%|\bsats\b|\brate\b)")
_COLUMN_NET = re.compile(r"(?i)(netto|\beks|\bexcl|\bnet\b)")
_COLUMN_GROSS = re.compile(r"(?i)(brutto|\binkl|\bincl|\bsum\b|\btotal|\bbeløp\b|\bamount\b)")
_COLUMN_WITH_VAT = re.compile(r"(?i)(brutto|\binkl|\bincl)")
_RATE_CELL = re.compile(r"^(\d{1,2}(?:[.,]\d{1,2})?)\s*%?$")


def _columns(header: str) -> dict[str, int] | None:
    """The columns of an item table's heading that say what a row's cells are: net, rate,
    VAT and gross (quantity and unit price are left out). None unless the heading is in
    cells (tabs) and names a rate, or both net and gross."""
    cells = header.split("\t")
    if len(cells) < 3:
        return None
    roles: dict[str, int] = {}
    for index, cell in enumerate(cells[1:], start=1):
        # "Beløp eks. mva" is the net and "Sum inkl. mva" the gross, not the VAT column
        if _COLUMN_RATE.search(cell):
            role = "rate"
        elif _COLUMN_NET.search(cell):
            role = "net"
        elif _COLUMN_WITH_VAT.search(cell) or not _VAT_WORD.search(cell):
            if not _COLUMN_GROSS.search(cell):
                continue
            role = "gross"
        else:
            role = "vat"
        roles.setdefault(role, index)
    if "rate" in roles or {"net", "gross"} <= set(roles):
        return {"width": len(cells), **roles}
    return None


def _row_by_columns(line: str, columns: dict[str, int]) -> ExtractedLine | None:
    """One row of an item table read cell by cell under its heading; None if it does not fit."""
    cells = [cell.strip() for cell in line.split("\t")]
    if len(cells) != columns["width"] or not re.search(r"[^\W\d_]", cells[0]):
        return None
    values: dict[str, Decimal] = {}
    for role in ("net", "vat", "gross"):
        if role in columns:
            value = parse_amount(cells[columns[role]])
            if value is None:
                return None
            values[role] = value
    rate: Decimal | None = None
    if "rate" in columns:
        m = _RATE_CELL.match(cells[columns["rate"]])
        if m is None:
            return None
        rate = Decimal(m.group(1).replace(",", "."))
    net, vat, gross = values.get("net"), values.get("vat"), values.get("gross")
    if gross is None and net is not None and vat is None and rate is not None:
        vat = money.round_kr(net * rate / 100)
    if gross is None and net is not None and vat is not None:
        gross = net + vat
    if net is None and gross is not None and vat is not None:
        net = gross - vat
    return ExtractedLine(
        description=cells[0][:80], net=net, vat_amount=vat, vat_rate=rate, gross=gross
    )


def _read_items(lines: list[str], f: _Fields) -> None:
    """Item lines of an invoice table (after a "Beskrivelse"/"Description" header): cell by
    cell when the heading names its columns, else the last amount of each row."""
    if f.lines:
        return
    in_table, as_net = False, False
    columns: dict[str, int] | None = None
    by_columns: list[ExtractedLine] = []
    for line in lines:
        if not in_table:
            if _ITEM_HEADER.search(line) and not _AMOUNT.search(line):
                in_table = True
                as_net = bool(re.search(r"(?i)(eks|excl|netto)", line)) or f.net is not None
                columns = _columns(line)
            continue
        if any(rx.search(line) for _, rx in _TOTAL_LABELS) or _NET.search(line):
            break
        if _VAT_WORD.search(line):
            break
        if columns is not None:
            row = _row_by_columns(line, columns)
            if row is not None:
                by_columns.append(row)
            elif _AMOUNT.search(line):
                columns = None  # a row that does not fit its heading: read the old way
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
    if columns is not None and by_columns:
        f.lines[:] = by_columns
        rates = sorted({row.vat_rate for row in by_columns if row.vat_rate is not None})
        if len(rates) > 1:
            f.warnings.append("mixed VAT rates: " + ", ".join(f"{r} %" for r in rates))


def _confidence(f: _Fields, invoice: bool, foreign: bool) -> Decimal:
    mandatory: list[object] = [
        f.merchant_name,
        f.date,
        f.gross,
        f.vat_rate if f.vat_rate is not None else f.vat_amount,
        f.document_number,
    ]
    if not foreign:  # a foreign seller has no Norwegian organisation number to read
        mandatory.append(f.organization_number)
    if invoice:
        mandatory.append(f.due_date)
    share = Decimal(sum(v is not None for v in mandatory)) / Decimal(len(mandatory))
    score = MAX_CONFIDENCE * share - Decimal("0.10") * f.problems
    if f.suspicious:
        # Under the cap, and lower for each further finding: a twin with one more hidden
        # line than its clean copy always scores below it.
        score = min(score, SUSPICIOUS_CAP - SUSPICIOUS_STEP * (f.suspicious - 1))
    return max(score, Decimal("0")).quantize(money.ORE, rounding=ROUND_HALF_UP)


def _is_invoice(lines: list[str], f: _Fields) -> bool:
    """Invoice or receipt from the document's structure, not from one word: a due date, a
    KID, an invoice number, a buyer block and a bank account point to an invoice; a card
    payment, "kvittering", change given point to a receipt."""
    joined = "\n".join(lines)
    score = 2 * (f.due_date is not None) + 2 * (f.kid is not None)
    score += bool(_INVOICE_NUMBER.search(joined)) + (f.bank_account is not None)
    score += any(_BUYER_BLOCK.match(line) for line in lines)
    score += any(re.fullmatch(r"(?i)(faktura|invoice|tax invoice)\W*", ln) for ln in lines[:8])
    score -= min(len(_RECEIPT_SIGNAL.findall(joined)), 2)
    if f.due_date is not None or f.kid is not None:
        return score >= 1
    return score >= 2


def _longest_iban(text: str) -> IBAN | None:
    """The longest start of `text` that is a valid IBAN ("NO93 8601 1117 947 BIC: …" runs
    on into the next word when spaces are taken out)."""
    for end in range(min(len(text), 34), 14, -1):
        try:
            return IBAN(text[:end])
        except (SchwiftyException, ValueError):
            continue
    return None


def _read_payment_cross_checks(lines: list[str], f: _Fields) -> None:
    """The IBAN, checked by schwifty: a field of its own (foreign ones too). A Norwegian IBAN
    must be the document's own account, and a second, other IBAN is a changed payee: both
    are doubts that keep the document in review."""
    for line in lines:
        m = _IBAN.search(line)
        if m is None:
            continue
        text = re.sub(r"\s", "", m.group(1)).upper()
        iban = _longest_iban(text)
        if iban is None:
            f.doubt(f"IBAN {text} fails its check")
            continue
        compact = str(iban.compact)
        if f.iban is None:
            f.iban = compact
            f.evidence["iban"] = _evidence(line)
        elif compact != f.iban:
            f.doubt(f"two different IBANs ({f.iban}, {compact})")
            f.suspicious += 1
            continue
        account = norwegian_iban_account(compact)
        if account is None:
            continue
        if f.bank_account is None:
            f.bank_account = account
            f.evidence["bank_account"] = _evidence(line)
        elif account != f.bank_account:
            f.doubt(f"two different bank accounts ({f.bank_account}, IBAN {compact})")
            f.suspicious += 1


#: A document that is not the bill: an order confirmation, a pro forma, one that says so.
_NOT_A_BILL = re.compile(
    r"(?i)(\border confirmation\b|\bordrebekreftelse\b|\bbestillingsbekreftelse\b|"
    r"\borderbekräftelse\b|\bordrebekræftelse\b|\bpro ?forma\b|"
    r"\bnot an? (vat |tax )?invoice\b|\bikke en faktura\b|\bikke en kvittering\b|"
    r"\bnot a receipt\b)"
)
NOT_A_BILL_WARNING: Final = (
    "not an invoice or a receipt (an order confirmation or pro forma): wait for the invoice "
    "or receipt before booking"
)
#: A payment reminder: it asks again for an invoice that was sent (and booked) before.
_REMINDER = re.compile(
    r"(?i)\b(purring|betalingspåminnelse|purrebrev|inkassovarsel|betalingsoppfordring|"
    r"payment reminder|reminder notice|overdue notice|betalningspåminnelse|rykker)\b"
)
REMINDER_WARNING: Final = (
    "a payment reminder: the invoice it reminds of may be booked already; book only a "
    "reminder fee, if any"
)
#: The highest confidence of a document that is not a bill of its own.
NOT_A_BILL_CAP: Final = Decimal("0.30")


def _what_kind_of_paper(lines: list[str], f: _Fields) -> bool:
    """Whether the document is not a bill of its own to book: an order confirmation (or one
    that says it is no invoice) or a payment reminder. Each is said to the reviewer."""
    joined = "\n".join(lines)
    if _NOT_A_BILL.search(joined):
        f.doubt(NOT_A_BILL_WARNING)
        return True
    if _REMINDER.search(joined):
        f.doubt(REMINDER_WARNING)
        return True
    return False


#: "Betalt til" / "Paid to": the payee of a payment app's receipt (Vipps, a bank app) is
#: the seller; the app's name at the top is not.
_PAYEE_LABEL = re.compile(r"(?i)^(betalt til|betaling til|paid to|payment to)\b[\s:]*(.*)$")


def _read_payee(lines: list[str], f: _Fields) -> None:
    for index, line in enumerate(lines[:15]):
        m = _PAYEE_LABEL.match(line)
        if m is None:
            continue
        candidate = m.group(2).strip() or (lines[index + 1] if index + 1 < len(lines) else "")
        candidate = candidate.split("\t")[0]
        if find_dates(candidate) or _AMOUNT.search(candidate) or _ORG_LABEL_ONLY.search(candidate):
            return
        if (name := _clean_name(candidate)) is not None:
            if f.merchant_name is None:
                f.warnings.remove("no merchant name")
            f.merchant_name = name
            f.evidence["merchant_name"] = _evidence(line + " " + candidate)
        return


#: A tip on the bill ("Tips 120,00"): part of what was paid, without VAT.
_TIP = re.compile(r"(?i)^(tips|driks|tip|gratuity)\b")


def _read_tip(lines: list[str], f: _Fields) -> Decimal | None:
    """The tip in the total ("Tips 50,00", "Driks: 40,00"), whatever the VAT printed: the
    pipeline keeps it out of the VAT base (ADR 0052, addendum)."""
    for line in lines:
        if _TIP.match(line) and (amounts := _amounts(line)):
            tip = amounts[-1]
            if tip > 0 and (f.gross is None or tip < f.gross):
                f.evidence["tip"] = _evidence(line)
                return tip
    return None


def _tip_explains(lines: list[str], f: _Fields) -> bool:
    """Whether a tip is why the VAT is not its rate of the total: the VAT matches the total
    less the tip. Then the tip is named for the reviewer instead of a VAT doubt."""
    if f.gross is None or f.vat_rate is None or f.vat_amount is None:
        return False
    for line in lines:
        if _TIP.match(line) and (amounts := _amounts(line)):
            tip = amounts[-1]
            if 0 < tip < f.gross and money.vat_consistent(f.gross - tip, f.vat_rate, f.vat_amount):
                f.warnings.append(
                    f"a tip of {money.kroner_text(tip)} is in the total (no VAT on it)"
                )
                if not f.lines:  # the bill at its rate and the tip at 0 %, as it was paid
                    bill = f.gross - tip
                    f.lines += [
                        ExtractedLine(
                            description=f"MVA {f.vat_rate} %",
                            net=bill - f.vat_amount,
                            vat_amount=f.vat_amount,
                            vat_rate=f.vat_rate,
                            gross=bill,
                        ),
                        ExtractedLine(
                            description=_evidence(line)[:80],
                            net=tip,
                            vat_amount=Decimal("0.00"),
                            vat_rate=Decimal("0"),
                            gross=tip,
                        ),
                    ]
                return True
    return False


#: A currency named beside an amount: "USD", "€", "$".


_MONEY_MARK = re.compile(r"(?i)\b(kr|nok|sek|dkk|eur|usd|gbp)\b|[€$£]")


def _only_amount(lines: list[str], f: _Fields) -> None:
    """No total label, but one amount on the whole document (a payment app's receipt: "kr
    89,00" under the payee): that amount is what was paid. Said, since no label names it."""
    if f.gross is not None:
        return
    found: dict[Decimal, str] = {}
    for line in lines:
        if _VAT_WORD.search(line) or _NET.search(line) or _RATE.search(line):
            continue
        if _INSTRUCTION.search(line) or not _MONEY_MARK.search(line):
            continue  # an amount is one that says it is money ("kr 89,00"), not "0.99"
        for start, end, _ in reversed(find_dates(line)):
            line = line[:start] + " " + line[end:]
        for amount in _amounts(line):
            found.setdefault(amount, line)
    if len(found) != 1:
        return
    ((amount, line),) = found.items()
    if amount <= 0:
        return
    f.gross, f.evidence["gross"] = amount, _evidence(line)
    f.warnings.remove("no total amount")
    f.doubt("the only amount on the document, read as the total (no total label)")
    for code, sign in _CURRENCY_MARK:
        if re.search(rf"\b{code}\b", line.upper()) or sign in line:
            f.currency = code


def _foreign_without_vat(f: _Fields, foreign_currency: bool) -> None:
    """A seller billing in another currency that states no VAT at all charges none that
    Norway deducts (a US SaaS): 0 % is read, and said, rather than the pipeline assuming
    Norwegian 25 %."""
    if foreign_currency and f.vat_rate is None and f.vat_amount is None and "no VAT" in f.warnings:
        f.warnings.remove("no VAT")
        f.vat_rate, f.vat_amount = Decimal("0"), Decimal("0.00")
        if "gross" in f.evidence:  # the total, with no VAT beside it
            f.evidence["vat_rate"] = f.evidence["vat_amount"] = f.evidence["gross"]
        f.warnings.append(f"no VAT stated by a seller billing in {f.currency}: 0 % read")


def _instructions(lines: list[str], f: _Fields) -> None:
    for line in lines:
        if _INSTRUCTION.search(line):
            f.doubt(f"instruction-like text in the document (not followed): {_evidence(line)!r}")
            f.suspicious += 1


_GIRO_KRONER = re.compile(r"(?i)^kroner:?\s+(\d{1,3}(?:[ .]\d{3})*|\d+)$")
_GIRO_ORE = re.compile(r"(?i)^øre:?\s+(\d{2})$")


def _giro_amounts(lines: list[str]) -> list[str]:
    """A giro's amount in its two boxes, "Kroner 5 000" and "Øre 00" (the labels over
    values of a Norwegian giro's "KID | Kroner | Øre | Til konto"), is the amount to
    pay: a line that says so is added after them."""
    out: list[str] = []
    for index, line in enumerate(lines):
        out.append(line)
        kroner = _GIRO_KRONER.match(line.strip())
        if kroner is None or index + 1 >= len(lines):
            continue
        ore = _GIRO_ORE.match(lines[index + 1].strip())
        if ore is not None:
            out.append(f"Giro kroner {kroner[1]} øre {ore[1]}: å betale {kroner[1]},{ore[1]}")
    return out


def extract_text_fields(text: str, hidden: Sequence[tuple[str, str]] = ()) -> Extraction:
    """Apply the rules to a document's visible text; `hidden` is (why, text) of what a person
    cannot see: never read, shown to the reviewer, and it keeps the document in review."""
    lines = _giro_amounts(_lines(text[:MAX_CHARS]))
    if not lines:
        return no_text_result()
    f = _Fields()
    org_index = _read_org(lines, f)
    _read_merchant(lines, org_index, f)
    _read_payee(lines, f)
    _read_dates(lines, f)
    _read_identifiers(lines, f)
    _read_payment_cross_checks(lines, f)
    _read_amounts(lines, f)
    _only_amount(lines, f)
    _due_from_terms(lines, f)
    _read_items(lines, f)
    _instructions(lines, f)
    for why, snippet in hidden[:10]:
        f.doubt(f"hidden text ({why}), not read: {snippet[:EVIDENCE_CHARS]!r}")
        f.suspicious += 1
    if f.net is None and f.gross is not None and f.vat_amount is not None:
        f.net = f.gross - f.vat_amount
    joined = "\n".join(lines)
    not_a_bill = _what_kind_of_paper(lines, f)
    _foreign_without_vat(f, f.currency not in (None, "NOK") and not not_a_bill)
    foreign = (f.currency not in (None, "NOK")) or bool(_FOREIGN.search(joined))
    if foreign and f.organization_number is None:
        # A seller abroad has none; a number of its own country that fails the Norwegian
        # check ("VAT No. 287345567", a British VAT number) is no misreading either.
        for warning in list(f.warnings):
            if warning == "no organisation number":
                f.warnings.remove(warning)
            elif _ORG_FAILS.fullmatch(warning):
                f.warnings.remove(warning)
                f.problems -= 1
        f.warnings.append("foreign seller: no Norwegian organisation number expected")
    credit_note = bool(_CREDIT_NOTE.search(joined))
    credited: str | None = None
    if credit_note:
        f.doubt(CREDIT_NOTE_WARNING)
        for line in lines:
            m = _CREDITED_INVOICE.search(line)
            number = m.group(1).rstrip("-/") if m else ""
            if number and any(c.isdigit() for c in number) and number != f.document_number:
                credited = number
                f.evidence["credited_invoice"] = _evidence(line)
                break
    invoice = _is_invoice(lines, f)
    if f.document_number is None:
        f.warnings.append("no document number")
    if invoice and f.due_date is None:
        f.warnings.append("no due date")
    return Extraction(
        extractor=OfflineExtractor.name,
        document_type="invoice" if invoice or credit_note else "receipt",
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
        iban=f.iban,
        evidence=f.evidence,
        warnings=tuple(f.warnings),
        credit_note=credit_note,
        credited_invoice=credited,
        confidence=min(_confidence(f, invoice, foreign), NOT_A_BILL_CAP)
        if not_a_bill
        else _confidence(f, invoice, foreign),
        reverse_charge=bool(REVERSE_CHARGE_WORDING.search(joined)),
        tip=_read_tip(lines, f),
    )


def no_text_result(warning: str = NO_TEXT) -> Extraction:
    return Extraction(
        extractor=OfflineExtractor.name,
        document_type="unknown",
        warnings=(warning,),
        confidence=Decimal("0"),
    )


@dataclass(frozen=True)
class PdfText:
    text: str
    hidden: tuple[tuple[str, str], ...]
    has_images: bool  # a page with images and no text: a scan, for OCR


def _open_pdf(content: bytes) -> pdfium.PdfDocument:
    if b"%%EOF" not in content[-2048:]:
        raise ExtractionFailed("the PDF could not be read: truncated (no end-of-file marker)")
    # PDFium inflates streams whole and unbounded (inflation.py): a deflate bomb is refused
    # before it is opened.
    limit = MAX_INFLATED_BYTES + INFLATION_PER_BYTE * len(content)
    if inflation.inflated_size(content, limit) > limit:
        raise ExtractionFailed(
            f"the PDF could not be read: its compressed streams inflate to more than "
            f"{limit // (1024 * 1024)} MiB"
        )
    try:
        return pdfium.PdfDocument(content)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ExtractionFailed("the PDF is encrypted") from exc
        raise ExtractionFailed(f"the PDF could not be read: {exc}") from exc


def read_pdf(content: bytes) -> PdfText:
    """Visible text (rows by position) and hidden text of a PDF's first pages."""
    doc = _open_pdf(content)
    try:
        parts: list[str] = []
        hidden: list[tuple[str, str]] = []
        has_images = False
        for index in range(min(len(doc), MAX_PAGES)):
            page = doc[index]
            try:
                found = layout.page_text(page)
                if not found.lines and not has_images:
                    has_images = any(
                        obj.type == pdfium_c_image for obj in page.get_objects(max_depth=2)
                    )
            finally:
                page.close()
            parts.extend(found.lines)
            hidden.extend(found.hidden)
            if sum(map(len, parts)) > MAX_CHARS:
                break
    except ExtractionFailed:
        raise
    except Exception as exc:  # a hostile PDF can break the reader in many ways
        raise ExtractionFailed(f"the PDF could not be read: {type(exc).__name__}") from exc
    finally:
        doc.close()
    return PdfText("\n".join(parts), tuple(hidden), has_images)


def pdf_text(content: bytes) -> str:
    """The visible text of a PDF's first pages; ExtractionFailed when encrypted or corrupt."""
    return read_pdf(content).text


def _ocr_scale(page: pdfium.PdfPage) -> float:
    """OCR_SCALE, less for a page so large that its bitmap would exceed OCR_MAX_RENDER_SIDE."""
    width, height = page.get_size()
    longest: float = max(float(width), float(height), 1.0)
    return min(OCR_SCALE, OCR_MAX_RENDER_SIDE / longest)


def _ocr_pdf(content: bytes, *, upright: bool = False) -> str | None:
    """The text of a scanned PDF's first pages, read in parallel (one engine per thread).
    `upright`: each page turned upright first (a sheet fed upside down or sideways); None
    when no page needed a turn (the text would be the same)."""
    doc = _open_pdf(content)
    try:
        images = []
        for index in range(min(len(doc), OCR_PAGES)):
            page = doc[index]
            try:
                images.append(page.render(scale=_ocr_scale(page), grayscale=True).to_pil())
            finally:
                page.close()
    finally:
        doc.close()
    if upright:
        turns = [ocr.upright_turn(image) for image in images]
        if not any(turns):
            return None
        images = [ocr.turned(image, turn) for image, turn in zip(images, turns, strict=True)]
    if len(images) == 1:
        return ocr.image_text(images[0])
    with ThreadPoolExecutor(max_workers=min(len(images), os.cpu_count() or 1)) as pool:
        return "\n".join(pool.map(ocr.image_text, images))


#: (the reader's confidence, complete as to payment, Tesseract's confidence, the reading)
_PhotoReading = tuple[Decimal, bool, int, Extraction]


def _photo_reading(text: str, ocr_confidence: int) -> _PhotoReading:
    result = extract_text_fields(layout.pair_label_rows(text), ())
    # An invoice without an account or IBAN to pay to: a reading that missed its giro.
    payable = result.document_type != "invoice" or bool(result.bank_account or result.iban)
    return result.confidence, payable, ocr_confidence, result


def _rank(reading: _PhotoReading) -> tuple[Decimal, bool, int]:
    return reading[0], reading[1], reading[2]


class OfflineExtractor:
    """The embedded default DocumentExtractor (no API key): PDF text by position, OCR for
    photos and scans, Norwegian rules. `use_ocr=False` (unit tests) never calls Tesseract."""

    name = "offline"

    def __init__(self, *, use_ocr: bool = True) -> None:
        self.use_ocr = use_ocr

    async def extract(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        return await asyncio.to_thread(self.extract_sync, content, content_type, filename)

    def _ocr_ready(self) -> bool:
        return self.use_ocr and ocr.available()

    def describe(self) -> tuple[bool, str]:
        """(OCR ready, a sentence for the start-up log): the service starts either way, and
        without Tesseract it says that images and scans go to review unread."""
        if self._ocr_ready():
            return True, f"offline reader; photos and scans are read by OCR ({ocr.LANGUAGES})"
        return False, (
            "offline reader without OCR (Tesseract with Norwegian data is not installed): "
            "photos and scanned PDFs go to review unread"
        )

    def extract_sync(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        # The bytes decide, not the name or the sender's Content-Type (see media.py).
        media_type = sniff_media_type(content)
        if media_type == PDF:
            found = read_pdf(content)
            if found.text.strip():
                return extract_text_fields(found.text, found.hidden)
            if found.has_images:
                if not self._ocr_ready():
                    return no_text_result(NO_OCR)
                return self._from_scan(content, found.hidden)
            return no_text_result()
        if is_image(media_type):
            if not self._ocr_ready():
                return no_text_result(NO_OCR)
            try:
                image = ocr.open_image(content)
            except Exception as exc:  # a broken or hostile image file
                raise ExtractionFailed(
                    f"the image could not be read: {type(exc).__name__}"
                ) from exc
            return self._from_photo(image)
        raise ExtractionFailed(f"unsupported document type {media_type} ({content_type or '?'})")

    def _from_photo(self, image: Image.Image) -> Extraction:
        """One OCR pass on the quick clean-up; a second on the full one (even light, deskew)
        only when the first reading is poor (below SECOND_PASS_BELOW: a field missing, sums
        that do not add up; or an invoice without an account to pay to), keeping the reading
        that makes more sense (its own confidence, an account to pay to, then Tesseract's
        confidence). About one photo in three takes the second pass on the corpus."""
        first = _photo_reading(*ocr.read(image))
        best = first
        if first[0] < SECOND_PASS_BELOW or not first[1]:
            best = max(first, _photo_reading(*ocr.read(image, thorough=True)), key=_rank)
        if best[0] < SECOND_PASS_BELOW:
            # Still poor: a receipt photographed sideways or upside down (EXIF says how the
            # phone was held, not how the paper lay) reads as noise until it is turned.
            turn = ocr.upright_turn(image)
            if turn:
                turned = ocr.turned(image, turn)
                best = max(best, _photo_reading(*ocr.read(turned, thorough=True)), key=_rank)
        return self._capped(best[3])

    def _from_scan(self, content: bytes, hidden: Sequence[tuple[str, str]]) -> Extraction:
        """A scanned PDF; read again with its pages turned upright when the first reading
        is poor and a page lies sideways or upside down."""
        result = self._from_ocr(_ocr_pdf(content) or "", hidden)
        if result.confidence < SECOND_PASS_BELOW - Decimal("0.10"):
            text = _ocr_pdf(content, upright=True)
            if text is not None:
                again = self._from_ocr(text, hidden)
                if again.confidence > result.confidence:
                    return again
        return result

    def _from_ocr(self, text: str, hidden: Sequence[tuple[str, str]]) -> Extraction:
        return self._capped(extract_text_fields(layout.pair_label_rows(text), hidden))

    def _capped(self, result: Extraction) -> Extraction:
        if result.document_type == "unknown":
            return result
        # OCR can misread a digit: never as sure as a text layer.
        capped = min(result.confidence, MAX_CONFIDENCE - Decimal("0.10"))
        return msgspec.structs.replace(
            result, confidence=capped, warnings=(*result.warnings, "read by OCR from an image")
        )
