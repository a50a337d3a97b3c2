"""What the agent says in a conversation, in Norwegian (bokmål, the default) and English.

The language of a reply follows the message it answers (`detect_language`): English when
the message reads as English, Norwegian otherwise. The heuristic is deliberately simple and
offline: a message with æ/ø/å or a common Norwegian word is Norwegian; otherwise it is
English when it has at least one common English word; anything else (numbers, a bare file)
is Norwegian. A message with no text at all (only an attachment) is answered in the
language the user last wrote in that channel.

Amounts are written the Norwegian way in both languages ("1 234,50 kr"): it is the
currency and the books' convention, not a translation question.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

from babel.dates import format_date

from bookkeeper.domain import money

Language = Literal["nb", "en"]
#: The locale dates are written in for people (Babel's CLDR data).
DATE_LOCALE: Final = "nb_NO"

NORWEGIAN: Final = "nb"
ENGLISH: Final = "en"

_WORDS: Final = re.compile(r"[a-zæøåéèü]+")
_NORWEGIAN_WORDS: Final = frozenset(
    {
        "hva", "er", "hvor", "hvilke", "hvilken", "hvem", "hvordan", "jeg", "vi", "har",
        "ikke", "og", "på", "med", "til", "av", "det", "den", "som", "kan", "du", "meg",
        "saldo", "saldoen", "kvittering", "kvitteringer", "mangler", "faktura", "fakturaer",
        "leverandørfaktura", "leverandørfakturaer", "hei", "takk", "vis", "konto", "kontoen",
        "utgifter", "hjelp",
    }
)  # fmt: skip
_ENGLISH_WORDS: Final = frozenset(
    {
        "what", "is", "the", "my", "our", "which", "how", "show", "me", "are", "do", "does",
        "balance", "balances", "missing", "receipt", "receipts", "invoice", "invoices",
        "supplier", "hello", "hi", "thanks", "please", "help", "account", "accounts", "any",
        "list", "expenses", "need", "we", "have", "with", "without",
    }
)  # fmt: skip


def detect_language(text: str, default: Language = NORWEGIAN) -> Language:
    """The language of a message (see the module docstring); `default` for no text."""
    lowered = text.lower()
    words = _WORDS.findall(lowered)
    if not words:
        return default
    if any(ch in lowered for ch in "æøå") or any(w in _NORWEGIAN_WORDS for w in words):
        return NORWEGIAN
    if any(w in _ENGLISH_WORDS for w in words):
        return ENGLISH
    return NORWEGIAN


def date_text(value: dt.date) -> str:
    """A date as people in Norway read it ("20.11.2026"): Babel's short date of the nb_NO
    locale, in Norwegian and English text alike (the books' convention, as `kroner`)."""
    return format_date(value, format="short", locale=DATE_LOCALE)


def kroner(amount: Decimal | None, currency: str = "NOK") -> str:
    """An amount as Norwegians write it: "1 234,50 kr" (other currencies: "12,00 EUR")."""
    if amount is None:
        return "?"
    return money.kroner_text(amount, currency)


def percent(rate: Decimal | None) -> str:
    """A VAT rate: "25 %", "12 %", "?" when unknown."""
    if rate is None:
        return "?"
    text = format(rate.normalize(), "f").replace(".", ",")
    return f"{text} %"


def score(value: Decimal | None) -> str:
    """A confidence score with two decimals ("0.95")."""
    if value is None:
        return "?"
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


#: Every text of the conversation, by key and language (str.format placeholders).
TEXTS: Final[dict[str, dict[Language, str]]] = {
    "kind.receipt_attachment": {"nb": "Kvittering", "en": "Receipt"},
    "kind.expense_registration": {"nb": "Utlegg", "en": "Expense"},
    "kind.invoice_registration": {"nb": "Leverandørfaktura", "en": "Supplier invoice"},
    "kind.pattern_suggestion": {"nb": "Forslag til mønster", "en": "Pattern suggestion"},
    "kind.other": {"nb": "Forslag", "en": "Proposal"},
    "proposal": {
        "nb": "{kind} fra {merchant}: {amount}, konto {account}, mva {vat}.",
        "en": "{kind} from {merchant}: {amount}, account {account}, VAT {vat}.",
    },
    "bank_match": {
        "nb": "Funnet i banken: {description} {date} ({amount}).",
        "en": "Found in the bank: {description} {date} ({amount}).",
    },
    "confidence": {"nb": "Sikkerhet {score}: {reasons}.", "en": "Confidence {score}: {reasons}."},
    "confidence.bare": {"nb": "Sikkerhet {score}.", "en": "Confidence {score}."},
    "outcome.auto": {
        "nb": "Godkjent automatisk; utføres nå.",
        "en": "Approved automatically; it is being carried out.",
    },
    "outcome.review": {"nb": "Venter på godkjenning.", "en": "Awaiting review."},
    "outcome.status": {"nb": "Status: {status}.", "en": "Status: {status}."},
    "duplicate": {
        "nb": "Dette dokumentet er sendt før (forslag {id}).",
        "en": "This document was sent before (proposal {id}).",
    },
    "warnings": {"nb": "Merk: {warnings}.", "en": "Note: {warnings}."},
    "unknown_merchant": {"nb": "ukjent leverandør", "en": "an unknown merchant"},
    "document_failed": {
        "nb": "Kunne ikke lese {filename}: {error}",
        "en": "Could not read {filename}: {error}",
    },
    "balance.header": {"nb": "Saldo per {date}:", "en": "Balances as of {date}:"},
    "balance.line": {"nb": "- {name} ({number}): {amount}", "en": "- {name} ({number}): {amount}"},
    "balance.none": {"nb": "Fant ingen bankkontoer.", "en": "No bank accounts found."},
    "missing.header": {
        "nb": "{count} transaksjon(er) mangler kvittering ({start} – {end}):",
        "en": "{count} transaction(s) missing a receipt ({start} – {end}):",
    },
    "missing.none": {
        "nb": "Ingen transaksjoner mangler kvittering ({start} – {end}).",
        "en": "No transactions are missing a receipt ({start} – {end}).",
    },
    "missing.line": {
        "nb": "- {date} {description}: {amount}",
        "en": "- {date} {description}: {amount}",
    },
    "invoices.header": {
        "nb": "{count} leverandørfaktura(er) ({start} – {end}):",
        "en": "{count} supplier invoice(s) ({start} – {end}):",
    },
    "invoices.none": {
        "nb": "Ingen leverandørfakturaer ({start} – {end}).",
        "en": "No supplier invoices ({start} – {end}).",
    },
    "invoices.line": {
        "nb": "- {date} {identifier}: {amount} ({paid})",
        "en": "- {date} {identifier}: {amount} ({paid})",
    },
    "paid": {"nb": "betalt", "en": "paid"},
    "unpaid": {"nb": "ubetalt", "en": "unpaid"},
    "more": {"nb": "… og {count} til.", "en": "… and {count} more."},
    "lookup_failed": {
        "nb": "Fikk ikke svar fra {system} akkurat nå; prøv igjen senere.",
        "en": "{system} did not answer just now; please try again later.",
    },
    "forbidden": {
        "nb": "Du har ikke tilgang til dette.",
        "en": "You are not allowed to do that.",
    },
    "help": {
        "nb": (
            "Send en kvittering eller faktura (PDF eller bilde), så foreslår jeg bokføringen. "
            "Du kan også spørre om «saldo», «mangler kvittering» eller «leverandørfakturaer»."
        ),
        "en": (
            "Send a receipt or an invoice (PDF or image) and I will propose how to book it. "
            'You can also ask about the "balance", "missing receipts" or '
            '"supplier invoices".'
        ),
    },
    "update.approved": {
        "nb": "{subject} er godkjent av {by}; utføres nå.",
        "en": "{subject} was approved by {by}; it is being carried out.",
    },
    "update.executed": {
        "nb": "{subject} er bokført. {detail}",
        "en": "{subject} is booked. {detail}",
    },
    "update.rejected": {
        "nb": "{subject} ble avvist av {by}: «{reason}». Kan du forklare, eller sende en ny kopi?",
        "en": '{subject} was rejected by {by}: "{reason}". Can you clarify, or send a new copy?',
    },
    "update.failed": {
        "nb": "{subject} kunne ikke utføres: {error}. En regnskapsfører ser på det.",
        "en": "{subject} could not be carried out: {error}. An accountant will look at it.",
    },
    "subject": {
        "nb": "{kind} fra {merchant} ({amount})",
        "en": "{kind} from {merchant} ({amount})",
    },
    "executed.detail": {"nb": "({account}, {vat})", "en": "({account}, {vat})"},
}

STATUS_WORDS: Final[dict[str, dict[Language, str]]] = {
    "PROPOSED": {"nb": "foreslått", "en": "proposed"},
    "APPROVED": {"nb": "godkjent", "en": "approved"},
    "REJECTED": {"nb": "avvist", "en": "rejected"},
    "EXECUTED": {"nb": "utført", "en": "executed"},
    "FAILED": {"nb": "feilet", "en": "failed"},
}


def text(key: str, language: Language, **values: object) -> str:
    """The text `key` in `language`, filled in."""
    return TEXTS[key][language].format(**values)


def kind_word(kind: str, language: Language) -> str:
    entry = TEXTS.get(f"kind.{kind}") or TEXTS["kind.other"]
    return entry[language]


def status_word(status: str, language: Language) -> str:
    entry = STATUS_WORDS.get(status)
    return entry[language] if entry is not None else status.lower()
