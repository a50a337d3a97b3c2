"""The page's words in Norwegian (bokmål, the default) and English, and how it picks one.

The language is the `bk_lang` cookie when the user chose one with the toggle (`?lang=`),
else the best match of `Accept-Language` (nb, nn and no read as Norwegian), else Norwegian.
Amounts and dates are formatted with Babel in the page's locale ("1 234,50" / "1,234.50");
dates shown to people are Europe/Oslo.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent
from litestar import Request

Lang = Literal["nb", "en"]
LANGS: Final[tuple[Lang, ...]] = ("nb", "en")
LANG_COOKIE: Final = "bk_lang"
OSLO: Final = ZoneInfo("Europe/Oslo")
_ALIASES: Final[dict[str, Lang]] = {"nb": "nb", "nn": "nb", "no": "nb", "en": "en"}


def choose(request: Request[Any, Any, Any]) -> Lang:
    """The language of this request (see the module docstring)."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen == "en":
        return "en"
    if chosen == "nb":
        return "nb"
    ranked: list[tuple[float, int, Lang]] = []
    header = request.headers.get("accept-language", "")
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        lang = _ALIASES.get(tag.strip().lower().split("-")[0])
        if lang is not None and quality > 0:
            ranked.append((-quality, index, lang))
    return min(ranked)[2] if ranked else "nb"


def money(value: Decimal | str | None, lang: Lang) -> str:
    """An amount with two decimals in the page's locale ("" for none)."""
    if value is None or value == "":
        return ""
    return format_decimal(Decimal(value), format="#,##0.00", locale=lang)


def percent(value: Decimal | None, lang: Lang) -> str:
    """A share in percent with one decimal in the page's locale ("95,5 %" / "95.5%")."""
    if value is None:
        return ""
    return format_percent(value / 100, format="#,##0.0 %", locale=lang)


def day(value: dt.date | str | None, lang: Lang) -> str:
    """A day as people read it: "20.11.2026" in Norwegian, ISO 8601 in English ("" for none)."""
    if value is None or value == "":
        return ""
    date = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return date.strftime("%d.%m.%Y") if lang == "nb" else date.isoformat()


def score(value: Decimal | float | None, lang: Lang) -> str:
    """A confidence score with two decimals in the page's locale ("0,95" / "0.95")."""
    if value is None:
        return ""
    return format_decimal(Decimal(str(value)), format="0.00", locale=lang)


#: The fields of a proposal that hold an amount, a day or a rate (shown as people read them).
AMOUNT_FIELDS: Final = frozenset({"amount", "vatAmount"})
DAY_FIELDS: Final = frozenset({"date", "dueDate"})
RATE_FIELDS: Final = frozenset({"vatRate"})


def field_value(key: str, value: object, lang: Lang) -> str:
    """A proposal field's value for people: amounts with two decimals in the page's locale,
    days as `day`, a rate without trailing zeros ("25", "11,11"); anything else as it is."""
    try:
        if key in AMOUNT_FIELDS:
            return money(str(value), lang)
        if key in DAY_FIELDS:
            return day(str(value), lang)
        if key in RATE_FIELDS:
            return format_decimal(Decimal(str(value)), format="0.##", locale=lang)
    except (ArithmeticError, ValueError):  # not a number or a date after all: as it is
        pass
    return str(value)


def when(value: dt.datetime | None, lang: Lang) -> str:
    """A moment as people in Norway read it (Europe/Oslo)."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(OSLO), format="short", locale=lang)


TEXTS: Final[dict[str, dict[Lang, str]]] = {
    "app": {"nb": "Bokføring", "en": "Bookkeeping"},
    "skip": {"nb": "Hopp til innholdet", "en": "Skip to content"},
    "review": {"nb": "Til godkjenning", "en": "Review"},
    "reports": {"nb": "Rapporter", "en": "Reports"},
    "logout": {"nb": "Logg ut", "en": "Log out"},
    "login": {"nb": "Logg inn", "en": "Log in"},
    "login.token": {"nb": "Tilgangsnøkkel (token)", "en": "Access token"},
    "login.token_help": {
        "nb": "Lag en med `bookkeeper token --subject DEG --tenant FIRMA --role reviewer` "
        "og lim den inn her.",
        "en": "Mint one with `bookkeeper token --subject YOU --tenant COMPANY --role reviewer` "
        "and paste it here.",
    },
    "login.oidc": {"nb": "Logg inn med bedriftskontoen", "en": "Log in with your company account"},
    "login.failed": {"nb": "Innloggingen feilet: {reason}", "en": "Login failed: {reason}"},
    "login.expired": {
        "nb": "Økten er utløpt. Logg inn igjen.",
        "en": "Your session has ended. Please log in again.",
    },
    "signed_in_as": {"nb": "Innlogget som {who} ({tenant})", "en": "Signed in as {who} ({tenant})"},
    "language": {"nb": "Språk", "en": "Language"},
    "queue": {"nb": "Forslag som venter", "en": "Proposals waiting"},
    "queue.empty": {"nb": "Ingen forslag her.", "en": "No proposals here."},
    "status": {"nb": "Status", "en": "Status"},
    "all": {"nb": "Alle", "en": "All"},
    "kind": {"nb": "Type", "en": "Kind"},
    "merchant": {"nb": "Leverandør", "en": "Merchant"},
    "amount": {"nb": "Beløp", "en": "Amount"},
    "date": {"nb": "Dato", "en": "Date"},
    "account": {"nb": "Konto", "en": "Account"},
    "vat_rate": {"nb": "Mva-sats (%)", "en": "VAT rate (%)"},
    "nok_amount": {"nb": "Beløp i NOK", "en": "Amount in NOK"},
    "nok_amount_help": {
        "nb": "Bilaget er i {currency} og har ikke noe beløp i NOK: "
        "skriv beløpet som ble betalt i NOK.",
        "en": "The document is in {currency} and has no NOK amount: enter the amount paid in NOK.",
    },
    # A proposal's fields, as the page names them (the API's camelCase names otherwise).
    "field.vatAmount": {"nb": "Mva-beløp", "en": "VAT amount"},
    # A purchase's lines: an invoice's, or a receipt's parts per VAT rate (ADR 0052).
    "field.lineItems": {"nb": "Linjer (per mva-sats)", "en": "Lines (per VAT rate)"},
    "field.currency": {"nb": "Valuta", "en": "Currency"},
    "field.folioEventId": {"nb": "Banktransaksjon (Folio)", "en": "Bank transaction (Folio)"},
    "field.merchantOrgNumber": {"nb": "Org.nr.", "en": "Organisation number"},
    "field.supplierOrgNumber": {"nb": "Leverandørens org.nr.", "en": "Supplier's org. number"},
    "field.documentNumber": {"nb": "Bilagsnummer", "en": "Document number"},
    "field.invoiceNumber": {"nb": "Fakturanummer", "en": "Invoice number"},
    "field.supplier": {"nb": "Leverandør", "en": "Supplier"},
    "field.dueDate": {"nb": "Forfallsdato", "en": "Due date"},
    "field.kid": {"nb": "KID", "en": "KID"},
    "field.paymentAccount": {"nb": "Betales til konto", "en": "Pay to account"},
    "field.description": {"nb": "Beskrivelse", "en": "Description"},
    "field.employee": {"nb": "Ansatt", "en": "Employee"},
    "field.category": {"nb": "Kategori", "en": "Category"},
    "field.merchant": {"nb": "Leverandør", "en": "Merchant"},
    "field.reason": {"nb": "Begrunnelse", "en": "Reason"},
    "field.fileUrl": {"nb": "Fil", "en": "File"},
    "field.accountCode": {"nb": "Konto", "en": "Account"},
    "field.vatRate": {"nb": "Mva-sats (%)", "en": "VAT rate (%)"},
    "field.nokAmount": {"nb": "Beløp i NOK", "en": "Amount in NOK"},
    "field.amount": {"nb": "Beløp", "en": "Amount"},
    "field.date": {"nb": "Dato", "en": "Date"},
    "field.merchantName": {"nb": "Leverandør", "en": "Merchant"},
    "field.targetProposalId": {"nb": "Gjelder forslag", "en": "Concerns proposal"},
    "field.sourceProposalId": {"nb": "Lært av forslag", "en": "Learnt from proposal"},
    "confidence": {"nb": "Sikkerhet", "en": "Confidence"},
    "reasons": {"nb": "Hvorfor", "en": "Why"},
    "no_reasons": {"nb": "Ingen begrunnelse registrert.", "en": "No reasons recorded."},
    "review_rule": {"nb": "Regel", "en": "Rule"},
    "document": {"nb": "Dokument", "en": "Document"},
    "no_document": {"nb": "Ikke noe dokument vedlagt.", "en": "No document attached."},
    "open_document": {"nb": "Åpne dokumentet", "en": "Open the document"},
    "proposal": {"nb": "Forslag", "en": "Proposal"},
    "history": {"nb": "Historikk", "en": "History"},
    "event": {"nb": "Hendelse", "en": "Event"},
    "actor": {"nb": "Av", "en": "By"},
    "when": {"nb": "Når", "en": "When"},
    "approve": {"nb": "Godkjenn", "en": "Approve"},
    "approve_help": {
        "nb": "Rett konto eller mva-sats før du godkjenner; tomme felt beholdes som foreslått.",
        "en": "Correct the account or VAT rate before approving; empty fields stay as proposed.",
    },
    "comment": {"nb": "Kommentar", "en": "Comment"},
    "reject": {"nb": "Avvis", "en": "Reject"},
    "reject_reason": {"nb": "Begrunnelse", "en": "Reason"},
    "decided": {"nb": "Avgjort av {who}", "en": "Decided by {who}"},
    "approved_msg": {
        "nb": "Godkjent. Status nå: {status}.",
        "en": "Approved. Status now: {status}.",
    },
    "rejected_msg": {"nb": "Avvist.", "en": "Rejected."},
    "refused": {"nb": "Ikke utført: {reason}", "en": "Not done: {reason}"},
    "bad_number": {
        "nb": "«{text}» er ikke et tall slik det skrives her; skriv f.eks. 1 234,50 eller 25",
        "en": "“{text}” is not a number as written here; write e.g. 1 234,50, 1234.50 or 25",
    },
    "back": {"nb": "Tilbake til listen", "en": "Back to the list"},
    "error": {"nb": "Noe gikk galt", "en": "Something went wrong"},
    "external_ids": {"nb": "Utført som", "en": "Carried out as"},
    "last_error": {"nb": "Siste feil", "en": "Last error"},
    "last_error_raw": {"nb": "Slik den ble registrert", "en": "As recorded"},
    "trial_balance": {"nb": "Saldobalanse", "en": "Trial balance"},
    "general_ledger": {"nb": "Hovedbok", "en": "General ledger"},
    "vat_report": {"nb": "Mva per termin", "en": "VAT per term"},
    "income_statement": {"nb": "Resultatregnskap", "en": "Income statement"},
    "balance_sheet": {"nb": "Balanse", "en": "Balance sheet"},
    "spending": {"nb": "Kostnader", "en": "Spending"},
    # the spending page (GET /reports/costs, ADR 0031)
    "spending.group_by": {"nb": "Gruppert etter", "en": "Grouped by"},
    "spending.by.source": {"nb": "Kilde", "en": "Source"},
    "spending.by.service": {"nb": "Tjeneste", "en": "Service"},
    "spending.by.model": {"nb": "Modell", "en": "Model"},
    "spending.by.day": {"nb": "Dag", "en": "Day"},
    "spending.currency": {"nb": "Valuta", "en": "Currency"},
    "spending.amount": {"nb": "Beløp", "en": "Amount"},
    "spending.nok": {"nb": "NOK", "en": "NOK"},
    "spending.records": {"nb": "Poster", "en": "Records"},
    "spending.input_tokens": {"nb": "Inn-tokens", "en": "Input tokens"},
    "spending.output_tokens": {"nb": "Ut-tokens", "en": "Output tokens"},
    "spending.totals": {"nb": "Sum per valuta", "en": "Totals per currency"},
    "spending.total_nok": {"nb": "Sum i NOK", "en": "Total in NOK"},
    "spending.period": {"nb": "{start} – {end} (UTC-dager)", "en": "{start} – {end} (UTC days)"},
    "spending.none": {
        "nb": "Ingen kostnader registrert i perioden.",
        "en": "No costs recorded in the period.",
    },
    "spending.budgets": {"nb": "Budsjett for {month}", "en": "Budget for {month}"},
    "spending.budgets_help": {
        "nb": "Månedens kostnader til og med {end} mot månedsbudsjettet i NOK.",
        "en": "The month's costs up to and including {end} against the monthly budget in NOK.",
    },
    "spending.source": {"nb": "Kilde", "en": "Source"},
    "spending.spent": {"nb": "Brukt", "en": "Spent"},
    "spending.budget": {"nb": "Budsjett", "en": "Budget"},
    "spending.used": {"nb": "Brukt av budsjett", "en": "Budget used"},
    "spending.no_budgets": {
        "nb": "Ingen budsjetter er satt.",
        "en": "No budgets are set.",
    },
    "spending.daily": {
        "nb": "Kostnader i NOK per dag og kilde, {start} – {end}",
        "en": "Costs in NOK per day and source, {start} – {end}",
    },
    "spending.by_group": {"nb": "NOK per gruppe", "en": "NOK per group"},
    "download_csv": {"nb": "Last ned CSV", "en": "Download CSV"},
    "show": {"nb": "Vis", "en": "Show"},
    "from": {"nb": "Fra", "en": "From"},
    "to": {"nb": "Til", "en": "To"},
    "at": {"nb": "Per", "en": "At"},
    "year": {"nb": "År", "en": "Year"},
    "term": {"nb": "Termin", "en": "Term"},
    "name": {"nb": "Navn", "en": "Name"},
    "debit": {"nb": "Debet", "en": "Debit"},
    "credit": {"nb": "Kredit", "en": "Credit"},
    "balance": {"nb": "Saldo", "en": "Balance"},
    "total": {"nb": "Sum", "en": "Total"},
    "description": {"nb": "Tekst", "en": "Description"},
    "opening_balance": {"nb": "Inngående saldo", "en": "Opening balance"},
    "closing_balance": {"nb": "Utgående saldo", "en": "Closing balance"},
    "next_page": {"nb": "Neste side", "en": "Next page"},
    "vat_code": {"nb": "Mva-kode", "en": "VAT code"},
    "rate": {"nb": "Sats", "en": "Rate"},
    "direction": {"nb": "Retning", "en": "Direction"},
    "base": {"nb": "Grunnlag", "en": "Basis"},
    "vat": {"nb": "Mva", "en": "VAT"},
    # The VAT report's direction column: a code's direction, or for a code without one
    # the side its basis was booked on (ADR 0047 addendum 4).
    "direction.input": {"nb": "Inngående", "en": "Input"},
    "direction.output": {"nb": "Utgående", "en": "Output"},
    "side.sales": {"nb": "Salg", "en": "Sales"},
    "side.purchases": {"nb": "Kjøp", "en": "Purchases"},
    "not_in_return": {"nb": "Ikke i mva-meldingen", "en": "Not in the VAT return"},
    "not_in_return_note": {
        "nb": "Bokført med koder meldingen ikke har linje for, kjøp under kode 6 og "
        "grunnlaget for kode 14 og 15. Telles ikke med i summene.",
        "en": "Booked under codes the return has no line for, purchases under code 6 and "
        "the basis of codes 14 and 15. Not counted in the totals.",
    },
    "input_vat": {"nb": "Inngående mva", "en": "Input VAT"},
    "output_vat": {"nb": "Utgående mva", "en": "Output VAT"},
    "payable": {"nb": "Å betale (negativt: til gode)", "en": "Payable (negative: refund)"},
    "due": {"nb": "Frist", "en": "Due"},
    "operating_revenue": {"nb": "Driftsinntekter", "en": "Operating revenue"},
    "operating_costs": {"nb": "Driftskostnader", "en": "Operating costs"},
    "operating_result": {"nb": "Driftsresultat", "en": "Operating result"},
    "financial_items": {"nb": "Finansposter", "en": "Financial items"},
    "result": {"nb": "Resultat", "en": "Result"},
    "total_assets": {"nb": "Sum eiendeler", "en": "Total assets"},
    "total_equity_and_liabilities": {
        "nb": "Sum egenkapital og gjeld",
        "en": "Total equity and liabilities",
    },
    "unallocated_result": {"nb": "Udisponert resultat", "en": "Result not yet closed"},
    "unclassified": {"nb": "Uklassifisert", "en": "Unclassified"},
    "chart": {"nb": "Diagram", "en": "Chart"},
    "nothing": {"nb": "Ingen posteringer i perioden.", "en": "No postings in the period."},
    "account_required": {"nb": "Velg en konto.", "en": "Choose an account."},
    # NS 4102 groups (statements.py keys)
    "group.revenue": {"nb": "Driftsinntekter", "en": "Operating revenue"},
    "group.costOfGoods": {"nb": "Varekostnad", "en": "Cost of goods"},
    "group.payroll": {"nb": "Lønnskostnad", "en": "Payroll"},
    "group.otherOperatingCosts": {"nb": "Andre driftskostnader", "en": "Other operating costs"},
    "group.financialItems": {"nb": "Finansposter", "en": "Financial items"},
    "group.assets": {"nb": "Eiendeler", "en": "Assets"},
    "group.equityAndLiabilities": {"nb": "Egenkapital og gjeld", "en": "Equity and liabilities"},
    # statuses
    "status.PROPOSED": {"nb": "Venter", "en": "Waiting"},
    "status.APPROVED": {"nb": "Godkjent", "en": "Approved"},
    "status.REJECTED": {"nb": "Avvist", "en": "Rejected"},
    "status.EXECUTED": {"nb": "Utført", "en": "Executed"},
    "status.FAILED": {"nb": "Feilet", "en": "Failed"},
    # kinds
    "kind.receipt_attachment": {"nb": "Kvittering", "en": "Receipt"},
    "kind.expense_registration": {"nb": "Utlegg", "en": "Expense"},
    "kind.invoice_registration": {"nb": "Leverandørfaktura", "en": "Supplier invoice"},
    "kind.pattern_suggestion": {"nb": "Forslag til mønster", "en": "Pattern suggestion"},
    "kind.reversal": {"nb": "Reversering", "en": "Reversal"},
    "kind.correction": {"nb": "Korreksjon", "en": "Correction"},
}


def text(key: str, lang: Lang, **values: object) -> str:
    """The text of `key` in `lang` with `values` filled in; the key itself when unknown
    (a status or kind added later still shows, untranslated)."""
    entry = TEXTS.get(key)
    if entry is None:
        return key.split(".", 1)[-1]
    template = entry[lang]
    return template.format(**values) if values else template
