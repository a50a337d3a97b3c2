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
import functools
import re
import string
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

from babel.dates import format_date
from babel.numbers import format_decimal

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
        "utgifter", "hjelp", "resultatet", "resultat", "hittil", "skylder", "kundene",
        "bilag", "bilagene", "brukt", "siste", "går", "bokføringen", "står", "fjor",
        "programvare", "reise", "mat", "leverandørgjeld", "kundefordringer",
    }
)  # fmt: skip
_ENGLISH_WORDS: Final = frozenset(
    {
        "what", "is", "the", "my", "our", "which", "how", "show", "me", "are", "do", "does",
        "balance", "balances", "missing", "receipt", "receipts", "invoice", "invoices",
        "supplier", "hello", "hi", "thanks", "please", "help", "account", "accounts", "any",
        "list", "expenses", "need", "we", "have", "with", "without", "vat", "owe", "term",
        "and", "all", "approve", "reject", "delete", "ignore", "previous", "instructions",
        "everything", "much", "spend", "spent", "this", "month", "last", "did", "you",
        "can", "weather", "who", "where", "when", "why", "it", "of", "on", "result",
        "profit", "revenue", "doing", "year", "far", "entries", "latest", "customers", "us",
        "suppliers", "software", "travel", "food", "payable", "receivable", "ledger",
        "payments", "payment", "transactions", "bills", "unpaid", "overdue", "money",
        "cloud", "cost", "costs", "pending", "approved", "approvals", "rejected", "booked",
        "turnover", "lack", "unreceipted", "documents",
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


#: An ISO 8601 day inside a text (not part of a longer run of digits and dashes).
_ISO_DAY: Final = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")


def dates_in_text(text: str) -> str:
    """A stored text with its ISO days as people in Norway read them: an entry's text
    built at booking ("Adobe 2026-12-04", domain/ledger.posting_for) shows "Adobe
    04.12.2026". For showing only: the text in the log, the API's JSON and the books stays
    as it was. A run of digits that is no day ("2026-13-40") is left as it is."""

    def shown(match: re.Match[str]) -> str:
        try:
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return match[0]
        return date_text(day)

    return _ISO_DAY.sub(shown, text)


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


def score(value: Decimal | None, language: Language) -> str:
    """A confidence score with two decimals in the language's locale, as the web page
    writes it: "0,95" in Norwegian, "0.95" in English."""
    if value is None:
        return "?"
    rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format_decimal(rounded, format="0.00", locale=language)


#: Every text of the conversation, by key and language (str.format placeholders).
TEXTS: Final[dict[str, dict[Language, str]]] = {
    "kind.receipt_attachment": {"nb": "Kvittering", "en": "Receipt"},
    "kind.expense_registration": {"nb": "Utlegg", "en": "Expense"},
    "kind.invoice_registration": {"nb": "Leverandørfaktura", "en": "Supplier invoice"},
    "kind.credit_note": {"nb": "Kreditnota", "en": "Credit note"},
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
    # A question about the document a thread (or chat) is about ("hvorfor konto 6540?").
    "document.account.default": {
        "nb": (
            "Konto {account} er standardkontoen for {category}, valgt etter navnet "
            "«{merchant}» og mva {vat}: ingen godkjent regel for {merchant} ennå."
        ),
        "en": (
            "Account {account} is the default account for {category}, chosen by the name "
            "“{merchant}” and VAT {vat}: no approved rule for {merchant} yet."
        ),
    },
    "document.account.pattern": {
        "nb": "Konto {account} kommer fra den godkjente regelen for {merchant}.",
        "en": "Account {account} comes from the approved rule for {merchant}.",
    },
    "document.account.corrected": {
        "nb": "Konto {account} ble satt ved en korrigering.",
        "en": "Account {account} was set by a correction.",
    },
    "category.travel": {"nb": "reise og transport", "en": "travel and transport"},
    "category.telecom": {"nb": "telefon og internett", "en": "phone and internet"},
    "category.software": {"nb": "programvare", "en": "software"},
    "category.equipment": {"nb": "inventar og utstyr", "en": "equipment"},
    "category.office": {"nb": "kontorrekvisita", "en": "office supplies"},
    "category.food": {"nb": "mat og drikke", "en": "food and drink"},
    "category.other": {"nb": "andre kostnader", "en": "other costs"},
    "document.other_account": {
        "nb": "Forslaget bruker konto {account}, ikke {asked}.",
        "en": "The proposal uses account {account}, not {asked}.",
    },
    "document.vat": {
        "nb": "Mva: {rate}, {amount}.",
        "en": "VAT: {rate}, {amount}.",
    },
    "document.vat.rate": {"nb": "Mva-sats: {rate}.", "en": "VAT rate: {rate}."},
    "document.status": {"nb": "Status: {status}.", "en": "Status: {status}."},
    "outcome.auto": {
        "nb": "Godkjent automatisk; utføres nå.",
        "en": "Approved automatically; it is being carried out.",
    },
    "outcome.review": {"nb": "Venter på godkjenning.", "en": "Awaiting review."},
    "outcome.status": {"nb": "Status: {status}.", "en": "Status: {status}."},
    "outcome.rejected_because": {"nb": "Begrunnelse: {reason}", "en": "Reason: {reason}"},
    "outcome.failed_because": {"nb": "Feil: {error}", "en": "Error: {error}"},
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
    "dm_unknown_user": {
        "nb": "Jeg svarer bare kjente brukere på direktemeldinger. Be en administrator "
        "om å legge deg til, eller skriv i fakturakanalen.",
        "en": "I answer direct messages from known users only. Ask an administrator to "
        "add you, or write in the invoices channel.",
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
            "Du kan også spørre om «saldo», «mangler kvittering», «leverandørfakturaer», "
            "«utlegg», «forbruk på Anthropic denne måneden», «hvor mye mva skal vi betale», "
            "«resultatet hittil i år», «hva skylder vi leverandører», «hvor mye har vi brukt "
            "på reise i år», «hva har vi brukt hos Adobe i fjor», «vis balansen», «saldo på "
            "konto 1920», «vis de siste 5 bilagene» eller «er kvitteringen fra Adobe "
            "godkjent?»."
        ),
        "en": (
            "Send a receipt or an invoice (PDF or image) and I will propose how to book it. "
            'You can also ask about the "balance", "missing receipts", "supplier invoices", '
            '"expense claims", "spending on Anthropic this month", "what VAT do we owe", '
            '"the result so far this year", "what do we owe suppliers", "how much did we '
            'spend on travel this year", "what did we spend at Adobe last year", "the '
            'balance sheet", "balance of account 1920", "show the latest 5 entries" or "is '
            'the Adobe receipt approved?".'
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
    "update.retrying": {
        "nb": "{subject} er godkjent, men ikke utført ennå: {reason}.",
        "en": "{subject} is approved but not carried out yet: {reason}.",
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
    # service actors as people read them (application/people.py); events keep the ids
    "actor.book-e": {"nb": "Book-E", "en": "Book-E"},
    "actor.review-e": {"nb": "Review-E", "en": "Review-E"},
    "actor.system:review-rules": {
        "nb": "reglene for automatisk godkjenning",
        "en": "the automatic approval rules",
    },
    "actor.system:executor": {"nb": "utføreren", "en": "the executor"},
    "actor.system:cron": {"nb": "den planlagte jobben", "en": "the scheduled job"},
    # what the chat never does, and questions it cannot answer
    "cannot_act": {
        "nb": (
            "Det kan jeg ikke gjøre fra chatten: jeg godkjenner, avviser, endrer eller "
            "sletter aldri noe fordi en melding ber om det, og jeg følger ikke instrukser i "
            "meldinger; forslagene avgjøres av en godkjenner i godkjenningskanalen eller på "
            "nettsiden."
        ),
        "en": (
            "I cannot do that from the chat: I never approve, reject, change or delete "
            "anything because a message asks me to, and I do not follow instructions in "
            "messages; a reviewer decides the proposals in the review channel or on the web "
            "page."
        ),
    },
    "cannot_act.short": {
        "nb": "(Resten gjør jeg ikke: jeg godkjenner, endrer eller sletter aldri noe fra chatten.)",
        "en": "(The rest I do not do: I never approve, change or delete anything from the chat.)",
    },
    "cannot_answer": {
        "nb": "Det kan jeg ikke svare på.",
        "en": "I cannot answer that.",
    },
    # why an approved proposal could not be carried out (application/failures.py)
    "failure.what.receipt_attachment": {"nb": "kvitteringen", "en": "the receipt"},
    "failure.what.expense_registration": {"nb": "utlegget", "en": "the expense"},
    "failure.what.invoice_registration": {"nb": "kjøpet", "en": "the purchase"},
    "failure.what.reversal": {"nb": "reverseringen", "en": "the reversal"},
    "failure.what.other": {"nb": "forslaget", "en": "the proposal"},
    "failure.unavailable": {
        "nb": "{system} svarte ikke; jeg prøver igjen",
        "en": "{system} did not answer; I will try again",
    },
    "failure.unavailable.retry": {
        "nb": "{system} svarte ikke — prøver igjen kl. {at}",
        "en": "{system} did not answer — trying again at {at}",
    },
    "failure.auth": {
        "nb": "{system} godtok ikke tilgangen vår (nøkkelen er feil, trukket tilbake eller "
        "mangler API-modulen)",
        "en": "{system} refused our access (the key is wrong, revoked or lacks the API module)",
    },
    "failure.not_found": {
        "nb": "{system} fant ikke det {what} viser til",
        "en": "{system} could not find what {what} refers to",
    },
    "failure.account": {
        "nb": "{system} avviste {what}: kontoen {account} finnes ikke i {system}",
        "en": "{system} refused {what}: the account {account} does not exist in {system}",
    },
    "failure.refused": {
        "nb": "{system} avviste {what} (feilkode {status})",
        "en": "{system} refused {what} (error {status})",
    },
    "failure.ours": {
        "nb": "en feil hos oss (detaljene står i revisjonssporet)",
        "en": "an error on our side (the details are in the audit trail)",
    },
    # utlegg (expense registrations) asked for in a conversation
    "expenses.header": {
        "nb": "{count} utlegg ({start} – {end}):",
        "en": "{count} expense(s) ({start} – {end}):",
    },
    "expenses.none": {
        "nb": "Ingen utlegg ({start} – {end}).",
        "en": "No expenses ({start} – {end}).",
    },
    # spending questions (issue 11), from the cost snapshots
    "spending.header": {
        "nb": "Forbruk på {sources} ({start} – {end}):",
        "en": "Spending on {sources} ({start} – {end}):",
    },
    "spending.none": {
        "nb": "Ingen kostnader registrert for {sources} ({start} – {end}).",
        "en": "No costs recorded for {sources} ({start} – {end}).",
    },
    "spending.total": {"nb": "Sum: {amount}", "en": "Total: {amount}"},
    "spending.all": {"nb": "alle kilder", "en": "all sources"},
    # VAT questions, from the ledger's VAT report
    "vat.header": {
        "nb": "Mva for termin {term} {year} ({start} – {end}):",
        "en": "VAT for term {term} {year} ({start} – {end}):",
    },
    "vat.so_far": {
        "nb": "Hittil i termin {term} {year} ({start} – {end}):",
        "en": "So far in term {term} {year} ({start} – {end}):",
    },
    "vat.year_header": {
        "nb": "Mva for {year} (årstermin, {start} – {end}):",
        "en": "VAT for {year} (yearly term, {start} – {end}):",
    },
    "vat.year_so_far": {
        "nb": "Hittil i {year} (årstermin, {start} – {end}):",
        "en": "So far in {year} (yearly term, {start} – {end}):",
    },
    "vat.pay": {"nb": "å betale {amount}", "en": "to pay {amount}"},
    "vat.refund": {"nb": "til gode {amount}", "en": "to get back {amount}"},
    "vat.nothing": {"nb": "ingenting å betale", "en": "nothing to pay"},
    "vat.parts": {
        "nb": "utgående mva {output}, inngående mva {input}",
        "en": "output VAT {output}, input VAT {input}",
    },
    "vat.due": {"nb": "Fristen er {due}.", "en": "Due {due}."},
    "vat.no_term": {
        "nb": "Mva-terminene er 1–6 (to måneder hver).",
        "en": "The VAT terms are 1–6 (two months each).",
    },
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


def kind_word(kind: str, language: Language, data: Mapping[str, Any] | None = None) -> str:
    """What a proposal is, in words; with its `data`, a supplier's credit note is called
    one (ADR 0054), not a supplier invoice."""
    entry = TEXTS.get(f"kind.{shown_kind(kind, data)}") or TEXTS["kind.other"]
    return entry[language]


def shown_kind(kind: str, data: Mapping[str, Any] | None) -> str:
    """The kind people are shown: `credit_note` for an invoice registration that is a
    supplier's credit note (ADR 0054), else the kind itself."""
    if kind == "invoice_registration" and data is not None and data.get("creditNote") is True:
        return "credit_note"
    return kind


def status_word(status: str, language: Language) -> str:
    entry = STATUS_WORDS.get(status)
    return entry[language] if entry is not None else status.lower()


# --- reasons and warnings in the user's language -------------------------------------------
#
# Confidence reasons (domain.confidence) and reading warnings (the extractors, the pipeline)
# are written once, in English, in the events (the record stays one language). What a person
# is shown is in their language: each sentence form below is matched and said in Norwegian;
# a sentence with no form here is shown as it is.

_SENTENCES_NB: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern + r"$", re.DOTALL), norwegian)
    for pattern, norwegian in (
        (r"no approved pattern for this merchant", "intet godkjent mønster for leverandøren"),
        (r"approved pattern for (?P<m>.+): account (?P<a>\S+), (?P<v>\S+) % VAT",
         "godkjent mønster for {m}: konto {a}, {v} % mva"),
        (r"similar to the approved pattern for (?P<m>.+) \(similarity (?P<s>\S+)\)",
         "likner det godkjente mønsteret for {m} (likhet {s})"),
        (r"approved pattern for (?P<m>.+) says account (?P<a>\S+) at (?P<v>\S+) %, the "
         r"proposal says (?P<b>\S+) at (?P<w>\S+) %",
         "godkjent mønster for {m} sier konto {a} med {v} %, forslaget sier {b} med {w} %"),
        (r"all required fields present", "alle påkrevde felt er med"),
        (r"no input VAT deduction for representation \(account (?P<a>\S+), "
         r"merverdiavgiftsloven § 8-3\): the whole amount is booked as the cost",
         "ingen fradragsrett for representasjon (konto {a}, merverdiavgiftsloven § 8-3): "
         "hele beløpet føres som kostnad"),
        (r"no input VAT deduction for this account \(account (?P<a>\S+), "
         r"merverdiavgiftsloven § 8-3\): the whole amount is booked as the cost",
         "ingen fradragsrett for inngående mva på konto {a} (merverdiavgiftsloven § 8-3): "
         "hele beløpet føres som kostnad"),
        (r"a service bought from abroad without VAT: reverse charge \(mval\. § 3-30\), the "
         r"VAT calculated under SAF-T (?P<c>\d+) and 87, with no deduction on 87 "
         r"\(the cost carries it\)",
         "tjeneste kjøpt fra utlandet uten mva: omvendt avgiftsplikt (mval. § 3-30), mva "
         "beregnet under SAF-T {c} og 87, uten fradrag på 87 (kostnaden bærer den)"),
        (r"a service bought from abroad without VAT: reverse charge \(mval\. § 3-30\), the "
         r"VAT calculated under SAF-T (?P<c>\d+), with no deduction on 87 "
         r"\(the cost carries it\)",
         "tjeneste kjøpt fra utlandet uten mva: omvendt avgiftsplikt (mval. § 3-30), mva "
         "beregnet under SAF-T {c}, uten fradrag (kostnaden bærer den)"),
        (r"a service bought from abroad without VAT: reverse charge \(mval\. § 3-30\), the "
         r"VAT calculated under SAF-T (?P<c>\d+)$",
         "tjeneste kjøpt fra utlandet uten mva: omvendt avgiftsplikt (mval. § 3-30), mva "
         "beregnet under SAF-T {c} og fradragsført"),
        (r"lines\[(?P<i>\d+)\]: account (?P<a>\S+) carries no input VAT deduction "
         r"\(merverdiavgiftsloven § 8-3\), so VAT code (?P<c>\S+) cannot be used on it: "
         r"book the gross amount with VAT code 0",
         "linje {i}: konto {a} gir ingen fradragsrett for inngående mva (merverdiavgiftsloven "
         "§ 8-3), så mva-kode {c} kan ikke brukes: før bruttobeløpet med mva-kode 0"),
        (r"missing: (?P<f>.+)", "mangler: {f}"),
        (r"§ 5-1-1 field (?P<f>\S+) is missing", "§ 5-1-1-feltet «{f}» mangler"),
        (r"organisation number (?P<o>\S+) fails the MOD11 check",
         "organisasjonsnummeret {o} består ikke MOD11-kontrollen"),
        (r"VAT amount not stated; (?P<r>\S+) % of (?P<a>.+) is (?P<e>.+)",
         "mva-beløpet er ikke oppgitt; {r} % av {a} er {e}"),
        (r"VAT (?P<v>.+) matches (?P<r>\S+) % of (?P<a>.+)", "mva {v} stemmer med {r} % av {a}"),
        (r"VAT (?P<v>.+) does not match (?P<r>\S+) % of (?P<a>.+?)(?P<x> \(expected .+\))?",
         "mva {v} stemmer ikke med {r} % av {a}{x}"),
        (r"(?P<a>.+) is within the usual range (?P<r>.+)", "{a} er innenfor det vanlige, {r}"),
        (r"(?P<a>.+) is outside the usual range (?P<r>.+)", "{a} er utenfor det vanlige, {r}"),
        (r"(?P<a>.+) not weighed against the usual range (?P<r>.+)",
         "{a} er ikke veid mot det vanlige, {r}"),
        (r"a matching bank transaction was found", "en banktransaksjon som passer, ble funnet"),
        (r"no matching bank transaction was found", "ingen banktransaksjon som passer"),
        (r"the same document file as (?P<s>.+?); possible duplicate of (?P<d>.+)",
         "samme dokumentfil som {s}; mulig duplikat av {d}"),
        (r"the same document file as (?P<s>.+)", "samme dokumentfil som {s}"),
        (r"possible duplicate of (?P<d>.+)", "mulig duplikat av {d}"),
        (r"payment account (?P<n>.+) differs from the supplier's known account (?P<k>.+)",
         "kontonummeret {n} er et annet enn leverandørens kjente kontonummer {k}"),
        (r"the proposer's own estimate (?P<e>\S+) lowers the score",
         "forslagsstillerens eget anslag {e} senker sikkerheten"),
        (r"the proposer's own estimate (?P<e>\S+) cannot raise the score",
         "forslagsstillerens eget anslag {e} kan ikke heve sikkerheten"),
        # the review rule's explanation of a decision (domain.review.decide)
        (r"read-only query: recorded, never reviewed",
         "spørring som bare leser: registrert, aldri til godkjenning"),
        (r"the payment account differs from the supplier's known account",
         "kontonummeret er et annet enn leverandørens kjente kontonummer"),
        (r"receipt attachment is always reviewed", "kvitteringer godkjennes alltid av en person"),
        (r"invoice registration is always reviewed",
         "leverandørfakturaer godkjennes alltid av en person"),
        (r"expense registration is always reviewed", "utlegg godkjennes alltid av en person"),
        (r"pattern suggestion is always reviewed",
         "forslag til mønster godkjennes alltid av en person"),
        (r"reversal is always reviewed", "reverseringer godkjennes alltid av en person"),
        (r"correction is always reviewed", "korrigeringer godkjennes alltid av en person"),
        (r"the receipt does not match the bank event it names",
         "kvitteringen stemmer ikke med banktransaksjonen den viser til"),
        (r"the account code is not in the books' chart of accounts",
         "kontoen finnes ikke i regnskapets kontoplan"),
        (r"account (?P<a>.+) is not in the books' chart of accounts",
         "kontoen {a} finnes ikke i regnskapets kontoplan"),
        (r"no NOK amount for this (?P<c>\S+) document \(no exchange rate, no bank payment "
         r"in NOK\): approve it with the amount in NOK \(nokAmount\)",
         "bilaget i {c} har ikke noe beløp i NOK (ingen valutakurs, ingen betaling i NOK i "
         "banken): godkjenn med beløpet i NOK"),
        (r"the (?P<c>\S+) document has no NOK amount \(no exchange rate, no bank payment in "
         r"NOK\): approve it with corrections\.nokAmount, the amount paid in NOK",
         "bilaget i {c} har ikke noe beløp i NOK (ingen valutakurs, ingen betaling i NOK i "
         "banken): godkjenn med beløpet som ble betalt i NOK"),
        (r"the (?P<c>\S+) document has no NOK amount: approve it with the amount in NOK "
         r"\(nokAmount\) or configure BOOKKEEPER_EXCHANGE_RATES",
         "bilaget i {c} har ikke noe beløp i NOK: godkjenn med beløpet i NOK, eller slå på "
         "BOOKKEEPER_EXCHANGE_RATES"),
        (r"the foreign-currency document has no NOK amount: give it on approval",
         "bilaget i utenlandsk valuta har ikke noe beløp i NOK: oppgi det ved godkjenning"),
        (r"confidence (?P<s>\S+) is not above (?P<t>\S+)",
         "sikkerheten {s} er ikke over {t}"),
        (r"no human-approved pattern matches this merchant exactly",
         "ingen mønster godkjent av en person passer nøyaktig for leverandøren"),
        (r"a possible duplicate is never approved automatically",
         "et mulig duplikat godkjennes aldri automatisk"),
        (r"amount (?P<a>.+) is above the automatic limit (?P<l>.+)",
         "beløpet {a} er over grensen for automatisk godkjenning, {l}"),
        (r"amount (?P<a>.+) above (?P<l>.+) needs two approvers",
         "beløpet {a} er over {l} og må godkjennes av to"),
        (r"approved pattern and confidence (?P<s>\S+) above (?P<t>\S+)",
         "godkjent mønster og sikkerhet {s} over {t}"),
        # reading warnings
        (r"no organisation number", "fant ikke organisasjonsnummer"),
        (r"no total amount", "fant ikke totalbeløp"),
        (r"no date", "fant ikke dato"),
        (r"no VAT", "fant ikke mva"),
        (r"no merchant name", "fant ikke selgerens navn"),
        (r"no document number", "fant ikke bilagsnummer"),
        (r"no due date", "fant ikke forfallsdato"),
        (r"no merchant read", "ingen leverandør lest"),
        (r"no supplier read", "ingen leverandør lest"),
        (r"no VAT rate read; (?P<r>\S+) % assumed", "ingen mva-sats lest; {r} % antatt"),
        (r"no usable due date read; (?P<d>\d+) days after the date assumed",
         "ingen brukbar forfallsdato lest; {d} dager etter datoen antatt"),
        (r"no amount could be read; (?P<a>\S+) stands in for it and must be corrected before "
         r"the proposal can be approved",
         "beløpet kunne ikke leses; {a} står i stedet og må rettes før forslaget kan godkjennes"),
        (r"no date could be read; the day it arrived \((?P<d>\S+)\) stands in for it and must "
         r"be corrected before the proposal can be approved",
         "datoen kunne ikke leses; dagen dokumentet kom ({d}) står i stedet og må rettes før "
         "forslaget kan godkjennes"),
        (r"hidden text \((?P<why>.+?)\), not read: (?P<t>.+)",
         "skjult tekst ({why}), ikke lest: {t}"),
        (r"invisible text \(render mode 3\)", "usynlig tekst (visningsmodus 3)"),
        (r"white text", "hvit tekst"),
        (r"tiny text \((?P<s>.+)\)", "bitteliten tekst ({s})"),
        (r"text outside the page", "tekst utenfor siden"),
        (r"text with no visible ink \(same colour as the background, or covered\)",
         "tekst uten synlig blekk (samme farge som bakgrunnen, eller tildekket)"),
        (r"instruction-like text in the document \(not followed\): (?P<t>.+)",
         "tekst som likner en instruks i dokumentet (ikke fulgt): {t}"),
        (r"two different bank accounts \((?P<a>.+)\)", "to ulike bankkontoer ({a})"),
        (r"different amounts to pay on one document \((?P<a>.+)\): ask the supplier which is "
         r"right before paying",
         "ulike beløp å betale i ett dokument ({a}): spør leverandøren hvilket som stemmer "
         "før du betaler"),
        (r"two different IBANs \((?P<a>.+)\)", "to ulike IBAN-er ({a})"),
        (r"two different KIDs \((?P<a>.+)\): neither is used",
         "to ulike KID-er ({a}): ingen brukt"),
        (r"mixed VAT rates: (?P<r>.+)", "flere mva-satser: {r}"),
        (r"a credit note: it reduces an earlier invoice and is not booked as a purchase; "
         r"propose a correction of that invoice instead",
         "en kreditnota: den reduserer en tidligere faktura og bokføres ikke som et kjøp; "
         "foreslå heller en korrigering av den fakturaen"),
        (r"a credit note: proposed as a credit of the supplier's earlier invoice \(the cost and "
         r"its input VAT reversed\), always reviewed",
         "en kreditnota: foreslått som kreditering av leverandørens tidligere faktura "
         "(kostnaden og den inngående mvaen reverseres), godkjennes alltid av en person"),
        (r"a supplier's credit note is always reviewed",
         "kreditnotaer fra leverandører godkjennes alltid av en person"),
        (r"the sender wrote a reservation with the document",
         "innsenderen tok et forbehold med dokumentet"),
        (r'the sender wrote with the document: "(?P<q>.+)"',
         "innsenderen skrev med dokumentet: «{q}»"),
        (r"a credit note for more than its invoice is always reviewed",
         "kreditnotaer for mer enn fakturaen godkjennes alltid av en person"),
        (r"the invoice's credit notes come to (?P<c>.+) with this one, more than the invoice's "
         r"(?P<i>.+)",
         "kreditnotaene på fakturaen blir {c} med denne, mer enn fakturaens {i}"),
        (r"VAT rate (?P<r>\S+) % inferred from the amounts", "mva-sats {r} % utledet av beløpene"),
        (r"VAT rate (?P<r>\S+) % is not a Norwegian rate", "mva-sats {r} % er ikke en norsk sats"),
        (r"VAT rate (?P<r>\S+) is not a Norwegian rate on its date; ignored",
         "mva-sats {r} % er ikke en norsk sats på datoen; den brukes ikke"),
        (r"read by OCR from an image", "lest med OCR fra et bilde"),
        (r"foreign seller: no Norwegian organisation number expected",
         "utenlandsk selger: norsk organisasjonsnummer ventes ikke"),
        # what kind of paper a document is, and what was reckoned rather than printed
        (r"not an invoice or a receipt \(an order confirmation or pro forma\): wait for the "
         r"invoice or receipt before booking",
         "ikke en faktura eller kvittering (en ordrebekreftelse eller proforma): vent på "
         "fakturaen eller kvitteringen før bokføring"),
        (r"a payment reminder: the invoice it reminds of may be booked already; book only a "
         r"reminder fee, if any",
         "en purring: fakturaen den minner om kan være bokført allerede; bokfør bare et "
         "eventuelt purregebyr"),
        (r"due date reckoned from the payment terms \((?P<d>\d+) days after the date\)",
         "forfallsdato regnet ut fra betalingsfristen ({d} dager etter datoen)"),
        (r"a tip of (?P<a>.+) is in the total \(no VAT on it\)",
         "tips på {a} er med i totalen (uten mva)"),
        (r"no VAT stated by a seller billing in (?P<c>\S+): 0 % read",
         "ingen mva oppgitt av en selger som fakturerer i {c}: 0 % lest"),
        (r"a service bought from abroad without VAT: booked as reverse charge \(SAF-T 86\), "
         r"the 25 % VAT calculated as output VAT and deducted as input VAT; correct "
         r"reverseCharge to false if it is not a service",
         "en tjeneste kjøpt fra utlandet uten mva: bokført med omvendt avgiftsplikt (SAF-T 86), "
         "25 % mva beregnet som utgående og fradragsført som inngående; korriger "
         "reverseCharge til false hvis det ikke er en tjeneste"),
        (r"a service used abroad where it is supplied \(accommodation, food and drink, "
         r"transport, parking, admission\): no reverse charge and no Norwegian input VAT; "
         r"any foreign VAT is part of the cost, booked gross",
         "en tjeneste brukt i utlandet der den ytes (overnatting, mat og drikke, transport, "
         "parkering, inngangsbillett): ingen omvendt avgiftsplikt og ingen norsk inngående "
         "mva; utenlandsk mva er en del av kostnaden, ført brutto"),
        (r"VAT charged by a seller abroad \(another currency, no Norwegian organisation "
         r"number\) is no Norwegian input VAT: booked gross at 0 %, no reverse charge",
         "mva beregnet av en selger i utlandet (annen valuta, uten norsk organisasjonsnummer) "
         "er ikke norsk inngående mva: ført brutto med 0 %, uten omvendt avgiftsplikt"),
        (r"the company is not VAT-registered: no reverse charge on a service bought from "
         r"abroad; booked gross as the cost",
         "selskapet er ikke mva-registrert: ingen omvendt avgiftsplikt på tjenester kjøpt fra "
         "utlandet; ført brutto som kostnad"),
        (r"the company is not VAT-registered: the VAT the document shows is no input VAT it "
         r"may deduct; booked gross at 0 % as the cost",
         "selskapet er ikke mva-registrert: mva-en på bilaget er ikke inngående mva det kan "
         "trekke fra; ført brutto med 0 % som kostnad"),
        (r"the company is not VAT-registered: no input VAT deduction \(merverdiavgiftsloven "
         r"§ 8-1\); the whole amount, any VAT shown included, is booked as the cost at 0 %",
         "selskapet er ikke mva-registrert: ingen fradragsrett for inngående mva "
         "(merverdiavgiftsloven § 8-1); hele beløpet, også mva som står på bilaget, føres som "
         "kostnad med 0 %"),
        (r"the only amount on the document, read as the total \(no total label\)",
         "det eneste beløpet i dokumentet, lest som totalen (uten etikett for total)"),
        (r"a negative amount \((?P<a>.+)\) was read: a credit, not a purchase; (?P<p>\S+) "
         r"stands in for it and must be corrected before the proposal can be approved",
         "et negativt beløp ({a}) ble lest: en kreditering, ikke et kjøp; {p} står i stedet og "
         "må rettes før forslaget kan godkjennes"),
        (r"no text: needs review \(an image, not read: OCR/Tesseract is not available\)",
         "ingen tekst: må gjennomgås (et bilde, ikke lest: OCR/Tesseract er ikke installert)"),
        (r"no text: needs review", "ingen tekst: må gjennomgås"),
        # EHF e-invoices (ADR 0033, addendum 6).
        (r"fields read from the elements of a structured EHF e-invoice \(PEPPOL BIS Billing "
         r"3\.0\), not guessed from text; the checks still apply",
         "feltene er lest fra elementene i en strukturert EHF-faktura (PEPPOL BIS Billing "
         "3.0), ikke gjettet fra tekst; kontrollene gjelder likevel"),
        (r"the EHF e-invoice has no embedded PDF: there is no rendering to attach in Fiken "
         r"\(only the XML is kept here\); attach a copy by hand if the books need one",
         "EHF-fakturaen har ingen innebygd PDF: det finnes ingen visning å legge ved i Fiken "
         "(bare XML-en er lagret her); legg ved en kopi for hånd om regnskapet trenger det"),
        (r"KID (?P<k>\S+) fails the MOD10/MOD11 check",
         "KID {k} består ikke MOD10/MOD11-kontrollen"),
        (r"KID (?P<k>.+) is not 2 to 25 digits; left out",
         "KID {k} er ikke 2 til 25 sifre; utelatt"),
        (r"bank account (?P<k>\S+) fails the MOD11 check",
         "kontonummeret {k} består ikke MOD11-kontrollen"),
        (r"IBAN (?P<k>\S+) fails its check", "IBAN {k} består ikke kontrollen"),
        (r"the lines could not be used; one line of the whole amount",
         "linjene kunne ikke brukes; én linje med hele beløpet"),
        # A receipt's VAT breakdown (ADR 0052).
        (r"the parts at (?P<r>\S+) % and (?P<v>\S+) % are reckoned from their VAT and the "
         r"total \(the bases to within (?P<k>.+)\)",
         "delene med {r} % og {v} % er regnet ut av mva-beløpene og totalen "
         "(grunnlagene med inntil {k} slingring)"),
        (r"the VAT breakdown does not add up to the total; one line of the whole amount at "
         r"one rate",
         "mva-spesifikasjonen går ikke opp i totalen; én linje med hele beløpet til én sats"),
    )
)  # fmt: skip
#: Groups that are themselves sentences (the reason text is hidden in), said in Norwegian too.
_NESTED: Final = frozenset({"why"})
#: Groups that hold a bare number (a score, a threshold, an estimate, a similarity, a VAT
#: rate): written with the Norwegian decimal comma ("0,40"), as the page and chat write
#: scores, while the record keeps the point.
_NUMBERS: Final = frozenset({"s", "t", "e", "r", "v", "w"})
_DECIMAL: Final = re.compile(r"[-+]?\d+\.\d+")
#: Groups that hold the names of proposal fields ("merchantOrgNumber", "amount, date"):
#: said as the page labels the fields ("Org.nr.", "Beløp, Dato"), in either language; a
#: name without a label is kept as written.
_FIELDS: Final = frozenset({"f"})
#: The English reasons that name fields, said with the fields' labels (the rest of an
#: English reason is kept as written).
_SENTENCES_EN: Final = tuple(
    (re.compile(pattern + r"\Z"), english)
    for pattern, english in (
        (r"missing: (?P<f>.+)", "missing: {f}"),
        (r"§ 5-1-1 field (?P<f>\S+) is missing", "§ 5-1-1 field “{f}” is missing"),
    )
)


def _field_names(value: str, language: Language) -> str:
    names = value.split(", ")
    labels = [TEXTS.get(f"web.field.{name}", {}).get(language, name) for name in names]
    return ", ".join(labels)


def _said(name: str, value: str, language: Language) -> str:
    if name in _NESTED:
        return sentence(value, language)
    if name in _FIELDS:
        return _field_names(value, language)
    if name in _NUMBERS and _DECIMAL.fullmatch(value):
        return value.replace(".", ",")
    return value


def sentence(detail: str, language: Language) -> str:
    """A reason or warning written in English, said in `language` (see above)."""
    for pattern, english in _SENTENCES_EN if language != NORWEGIAN else ():
        found = pattern.match(detail)
        if found is not None:
            return english.format(f=_field_names(found.group("f"), language))
    if language != NORWEGIAN:
        return detail
    for pattern, norwegian in _SENTENCES_NB:
        found = pattern.match(detail)
        if found is not None:
            values = {
                name: _said(name, value, language)
                for name, value in found.groupdict(default="").items()
            }
            if values.get("x"):
                values["x"] = values["x"].replace("expected", "forventet")
            return norwegian.format(**values)
    return detail


# --- the web page's words (entrypoints/web/i18n.py reads them from here) -----------------------
#
# One catalogue for everything people read: the page's labels are keys "web.<name>" of TEXTS
# (its proposal kinds are the conversation's "kind.*" keys); i18n.text("<name>", lang) says them.

TEXTS.update(
    {
        "web.app": {"nb": "Bokføring", "en": "Bookkeeping"},
        "web.yearly_term": {"nb": "årstermin", "en": "yearly term"},
        "vat.not_registered": {
            "nb": "Selskapet er ikke mva-registrert: det leverer ingen mva-melding, har ingen "
            "mva-frist og trekker ikke fra inngående mva (kjøp føres brutto som kostnad).",
            "en": "The company is not VAT-registered: it files no VAT return, has no VAT "
            "deadline and deducts no input VAT (purchases are booked gross as costs).",
        },
        "vat.before_registration": {
            "nb": "Selskapet er mva-registrert fra {date}: det leverer ingen mva-melding for "
            "en termin som sluttet før det.",
            "en": "The company is VAT-registered from {date}: it files no VAT return for a "
            "term that ended before then.",
        },
        "morning.vat_overdue": {
            "nb": "Mva-melding ikke levert: {start}–{end}, fristen var {due} (terminen er "
            "ikke låst)",
            "en": "VAT return not filed: {start}–{end}, it was due {due} (the term is not locked)",
        },
        "morning.vat_overdue_hint": {
            "nb": "  Levert et annet sted? Lås terminen: bookkeeper rules lock-vat-term "
            "--year {year} --term {term} (API: POST /rules/vat-terms/{year}/{term}/lock). "
            "Mva-registrert senere? Sett datoen: bookkeeper rules review-rules --set "
            "vatRegisteredFrom=ÅÅÅÅ-MM-DD.",
            "en": "  Filed elsewhere? Lock the term: bookkeeper rules lock-vat-term "
            "--year {year} --term {term} (API: POST /rules/vat-terms/{year}/{term}/lock). "
            "VAT-registered later? Set the day: bookkeeper rules review-rules --set "
            "vatRegisteredFrom=YYYY-MM-DD.",
        },
        "morning.no_vat_return": {
            "nb": "Mva-frist: ingen — selskapet er ikke mva-registrert og leverer ingen "
            "mva-melding",
            "en": "VAT deadline: none — the company is not VAT-registered and files no VAT return",
        },
        "web.vat_before_registration": {
            "nb": "Selskapet er mva-registrert fra {date}: det leverer ingen mva-melding for "
            "en termin som sluttet før det. Det som er bokført med mva-kode, står under «Ikke "
            "i mva-meldingen».",
            "en": "The company is VAT-registered from {date}: it files no VAT return for a term "
            "that ended before then. What was booked with a VAT code is listed under “Not in "
            "the VAT return”.",
        },
        "web.no_vat_return": {
            "nb": "Selskapet er ikke mva-registrert: det leverer ingen mva-melding og har ingen "
            "mva-frist. Det som er bokført med mva-kode, står under «Ikke i mva-meldingen».",
            "en": "The company is not VAT-registered: it files no VAT return and has no VAT "
            "deadline. What was booked with a VAT code is listed under “Not in the VAT return”.",
        },
        "web.skip": {"nb": "Hopp til innholdet", "en": "Skip to content"},
        "web.review": {"nb": "Til godkjenning", "en": "Review"},
        "web.reports": {"nb": "Rapporter", "en": "Reports"},
        "web.logout": {"nb": "Logg ut", "en": "Log out"},
        "web.login": {"nb": "Logg inn", "en": "Log in"},
        "web.login.token": {"nb": "Tilgangsnøkkel (token)", "en": "Access token"},
        "web.login.token_help": {
            "nb": "Lag en med `bookkeeper token --subject DEG --tenant FIRMA --role reviewer` "
            "og lim den inn her.",
            "en": "Mint one with `bookkeeper token --subject YOU --tenant COMPANY --role reviewer` "
            "and paste it here.",
        },
        "web.login.oidc": {
            "nb": "Logg inn med bedriftskontoen",
            "en": "Log in with your company account",
        },
        "web.login.failed": {"nb": "Innloggingen feilet: {reason}", "en": "Login failed: {reason}"},
        "web.login.expired": {
            "nb": "Økten er utløpt. Logg inn igjen.",
            "en": "Your session has ended. Please log in again.",
        },
        "web.signed_in_as": {
            "nb": "Innlogget som {who} ({tenant})",
            "en": "Signed in as {who} ({tenant})",
        },
        "web.language": {"nb": "Språk", "en": "Language"},
        "web.queue": {"nb": "Forslag som venter", "en": "Proposals waiting"},
        "web.queue.empty": {"nb": "Ingen forslag her.", "en": "No proposals here."},
        "web.status": {"nb": "Status", "en": "Status"},
        "web.all": {"nb": "Alle", "en": "All"},
        "web.kind": {"nb": "Type", "en": "Kind"},
        "web.merchant": {"nb": "Leverandør", "en": "Merchant"},
        "web.amount": {"nb": "Beløp", "en": "Amount"},
        "web.date": {"nb": "Dato", "en": "Date"},
        "web.account": {"nb": "Konto", "en": "Account"},
        "web.vat_rate": {"nb": "Mva-sats (%)", "en": "VAT rate (%)"},
        "web.nok_amount": {"nb": "Beløp i NOK", "en": "Amount in NOK"},
        "web.reverse_charge": {
            "nb": "Omvendt avgiftsplikt (tjeneste kjøpt fra utlandet, kode 86)",
            "en": "Reverse charge (service bought from abroad, code 86)",
        },
        "web.nok_amount_help": {
            "nb": "Bilaget er i {currency} og har ikke noe beløp i NOK: "
            "skriv beløpet som ble betalt i NOK.",
            "en": "The document is in {currency} and has no NOK amount: "
            "enter the amount paid in NOK.",
        },
        # A proposal's fields, as the page names them (the API's camelCase names otherwise).
        "web.field.vatAmount": {"nb": "Mva-beløp", "en": "VAT amount"},
        # A purchase's lines: an invoice's, or a receipt's parts per VAT rate (ADR 0052).
        "web.field.lineItems": {"nb": "Linjer (per mva-sats)", "en": "Lines (per VAT rate)"},
        "web.field.currency": {"nb": "Valuta", "en": "Currency"},
        "web.field.folioEventId": {
            "nb": "Banktransaksjon (Folio)",
            "en": "Bank transaction (Folio)",
        },
        "web.field.merchantOrgNumber": {"nb": "Org.nr.", "en": "Organisation number"},
        "web.field.supplierOrgNumber": {
            "nb": "Leverandørens org.nr.",
            "en": "Supplier's org. number",
        },
        "web.field.documentNumber": {"nb": "Bilagsnummer", "en": "Document number"},
        "web.field.invoiceNumber": {"nb": "Fakturanummer", "en": "Invoice number"},
        "web.field.supplier": {"nb": "Leverandør", "en": "Supplier"},
        "web.field.dueDate": {"nb": "Forfallsdato", "en": "Due date"},
        "web.field.kid": {"nb": "KID", "en": "KID"},
        "web.field.paymentAccount": {"nb": "Betales til konto", "en": "Pay to account"},
        "web.field.creditNote": {"nb": "Kreditnota", "en": "Credit note"},
        "web.field.creditedInvoice": {"nb": "Krediterer faktura", "en": "Credits invoice"},
        "web.credits_invoice": {"nb": "Fakturaen den krediterer", "en": "The invoice it credits"},
        "web.field.description": {"nb": "Beskrivelse", "en": "Description"},
        "web.field.employee": {"nb": "Ansatt", "en": "Employee"},
        "web.field.category": {"nb": "Kategori", "en": "Category"},
        "web.field.merchant": {"nb": "Leverandør", "en": "Merchant"},
        "web.field.reason": {"nb": "Begrunnelse", "en": "Reason"},
        "web.field.fileUrl": {"nb": "Fil", "en": "File"},
        "web.field.accountCode": {"nb": "Konto", "en": "Account"},
        "web.field.vatRate": {"nb": "Mva-sats (%)", "en": "VAT rate (%)"},
        "web.field.nokAmount": {"nb": "Beløp i NOK", "en": "Amount in NOK"},
        "web.field.amount": {"nb": "Beløp", "en": "Amount"},
        "web.field.date": {"nb": "Dato", "en": "Date"},
        "web.field.merchantName": {"nb": "Leverandør", "en": "Merchant"},
        "web.field.targetProposalId": {"nb": "Gjelder forslag", "en": "Concerns proposal"},
        "web.field.sourceProposalId": {"nb": "Lært av forslag", "en": "Learnt from proposal"},
        "web.confidence": {"nb": "Sikkerhet", "en": "Confidence"},
        "web.reasons": {"nb": "Hvorfor", "en": "Why"},
        "web.no_reasons": {"nb": "Ingen begrunnelse registrert.", "en": "No reasons recorded."},
        "web.review_rule": {"nb": "Regel", "en": "Rule"},
        "web.reading_warnings": {
            "nb": "Advarsler fra lesingen av dokumentet",
            "en": "Warnings from reading the document",
        },
        "web.document": {"nb": "Dokument", "en": "Document"},
        "web.no_document": {"nb": "Ikke noe dokument vedlagt.", "en": "No document attached."},
        "web.open_document": {"nb": "Åpne dokumentet", "en": "Open the document"},
        "web.proposal": {"nb": "Forslag", "en": "Proposal"},
        "web.history": {"nb": "Historikk", "en": "History"},
        "web.event": {"nb": "Hendelse", "en": "Event"},
        "web.actor": {"nb": "Av", "en": "By"},
        "web.when": {"nb": "Når", "en": "When"},
        "web.note": {"nb": "Merknad", "en": "Note"},
        "web.approve": {"nb": "Godkjenn", "en": "Approve"},
        "web.comment": {"nb": "Kommentar", "en": "Comment"},
        "web.reject": {"nb": "Avvis", "en": "Reject"},
        "web.reject_reason": {"nb": "Begrunnelse", "en": "Reason"},
        "web.decided": {"nb": "Avgjort av {who}", "en": "Decided by {who}"},
        "web.endorsed_msg": {
            "nb": "Din godkjenning er registrert som den første av to. Forslaget venter nå "
            "på en annen godkjenner før det utføres.",
            "en": "Your approval is recorded as the first of two. The proposal now waits for "
            "another approver before it is carried out.",
        },
        "web.approved_msg": {
            "nb": "Godkjent. Status nå: {status}.",
            "en": "Approved. Status now: {status}.",
        },
        "web.rejected_msg": {"nb": "Avvist.", "en": "Rejected."},
        "web.retry": {"nb": "Prøv igjen", "en": "Try again"},
        "web.retry_help": {
            "nb": "Utføringen feilet. Når årsaken er rettet (Fiken er oppe igjen, nøkkelen er "
            "fornyet …), sendes forslaget til utføring igjen slik det ble godkjent; det som "
            "alt ble registrert, finnes igjen og registreres ikke to ganger.",
            "en": "The execution failed. Once its cause is fixed (Fiken is back, the token "
            "renewed …), the proposal is sent back to execution as it was approved; what was "
            "registered already is found again, not registered twice.",
        },
        "web.retried_msg": {
            "nb": "Sendt til utføring igjen. Status nå: {status}.",
            "en": "Sent back to execution. Status now: {status}.",
        },
        "web.refused": {"nb": "Ikke utført: {reason}", "en": "Not done: {reason}"},
        "web.stale_form": {
            "nb": "Ikke utført: {who} endret forslaget etter at du åpnet det. Skjemaet viser "
            "det nå slik det er; se over og godkjenn eller avvis på nytt.",
            "en": "Not done: {who} changed this proposal after you opened it. The form now "
            "shows it as it is; check it, then approve or reject again.",
        },
        "web.back": {"nb": "Tilbake til listen", "en": "Back to the list"},
        "web.error": {"nb": "Noe gikk galt", "en": "Something went wrong"},
        "web.external_ids": {"nb": "Utført som", "en": "Carried out as"},
        "web.last_error": {"nb": "Siste feil", "en": "Last error"},
        "web.last_error_raw": {"nb": "Slik den ble registrert", "en": "As recorded"},
        "web.trial_balance": {"nb": "Saldobalanse", "en": "Trial balance"},
        "web.general_ledger": {"nb": "Hovedbok", "en": "General ledger"},
        "web.vat_report": {"nb": "Mva per termin", "en": "VAT per term"},
        "web.income_statement": {"nb": "Resultatregnskap", "en": "Income statement"},
        "web.balance_sheet": {"nb": "Balanse", "en": "Balance sheet"},
        "web.spending": {"nb": "Kostnader", "en": "Spending"},
        # the spending page (GET /reports/costs, ADR 0031)
        "web.spending.group_by": {"nb": "Gruppert etter", "en": "Grouped by"},
        "web.spending.by.source": {"nb": "Kilde", "en": "Source"},
        "web.spending.by.service": {"nb": "Tjeneste", "en": "Service"},
        "web.spending.by.model": {"nb": "Modell", "en": "Model"},
        "web.spending.by.day": {"nb": "Dag", "en": "Day"},
        "web.spending.currency": {"nb": "Valuta", "en": "Currency"},
        "web.spending.amount": {"nb": "Beløp", "en": "Amount"},
        "web.spending.nok": {"nb": "NOK", "en": "NOK"},
        "web.spending.records": {"nb": "Poster", "en": "Records"},
        "web.spending.input_tokens": {"nb": "Inn-tokens", "en": "Input tokens"},
        "web.spending.output_tokens": {"nb": "Ut-tokens", "en": "Output tokens"},
        "web.spending.totals": {"nb": "Sum per valuta", "en": "Totals per currency"},
        "web.spending.total_nok": {"nb": "Sum i NOK", "en": "Total in NOK"},
        "web.spending.period": {
            "nb": "{start} – {end} (UTC-dager)",
            "en": "{start} – {end} (UTC days)",
        },
        "web.spending.none": {
            "nb": "Ingen kostnader registrert i perioden.",
            "en": "No costs recorded in the period.",
        },
        "web.spending.budgets": {"nb": "Budsjett for {month}", "en": "Budget for {month}"},
        "web.spending.budgets_help": {
            "nb": "Månedens kostnader til og med {end} mot månedsbudsjettet i NOK.",
            "en": "The month's costs up to and including {end} against the monthly budget in NOK.",
        },
        "web.spending.source": {"nb": "Kilde", "en": "Source"},
        "web.spending.spent": {"nb": "Brukt", "en": "Spent"},
        "web.spending.budget": {"nb": "Budsjett", "en": "Budget"},
        "web.spending.used": {"nb": "Brukt av budsjett", "en": "Budget used"},
        "web.spending.forecast": {"nb": "Prognose for måneden", "en": "Month-end forecast"},
        "web.spending.forecast_help": {
            "nb": "Prognosen er månedens kostnader per hele dag (Oslo-tid, til og med dagen "
            "før {end}) ganget med månedens dager.",
            "en": "The forecast is the month's cost per whole day (Oslo days, up to the day "
            "before {end}) times the month's days.",
        },
        "web.spending.no_budgets": {
            "nb": "Ingen budsjetter er satt.",
            "en": "No budgets are set.",
        },
        "web.spending.daily": {
            "nb": "Kostnader i NOK per dag og kilde, {start} – {end}",
            "en": "Costs in NOK per day and source, {start} – {end}",
        },
        "web.spending.by_group": {"nb": "NOK per gruppe", "en": "NOK per group"},
        "web.download_csv": {"nb": "Last ned CSV", "en": "Download CSV"},
        "web.show": {"nb": "Vis", "en": "Show"},
        "web.from": {"nb": "Fra", "en": "From"},
        "web.to": {"nb": "Til", "en": "To"},
        "web.at": {"nb": "Per", "en": "At"},
        "web.year": {"nb": "År", "en": "Year"},
        "web.term": {"nb": "Termin", "en": "Term"},
        "web.name": {"nb": "Navn", "en": "Name"},
        "web.debit": {"nb": "Debet", "en": "Debit"},
        "web.credit": {"nb": "Kredit", "en": "Credit"},
        "web.balance": {"nb": "Saldo", "en": "Balance"},
        "web.total": {"nb": "Sum", "en": "Total"},
        "web.description": {"nb": "Tekst", "en": "Description"},
        "web.opening_balance": {"nb": "Inngående saldo", "en": "Opening balance"},
        "web.closing_balance": {"nb": "Utgående saldo", "en": "Closing balance"},
        "web.movement": {"nb": "Periodens endring", "en": "Movement"},
        "web.carried": {"nb": "Overført resultat", "en": "Result carried"},
        "web.next_page": {"nb": "Neste side", "en": "Next page"},
        "web.vat_code": {"nb": "Mva-kode", "en": "VAT code"},
        "web.rate": {"nb": "Sats", "en": "Rate"},
        "web.direction": {"nb": "Retning", "en": "Direction"},
        "web.base": {"nb": "Grunnlag", "en": "Basis"},
        "web.vat": {"nb": "Mva", "en": "VAT"},
        # The VAT report's direction column: a code's direction, or for a code without one
        # the side its basis was booked on (ADR 0047 addendum 4).
        "web.direction.input": {"nb": "Inngående", "en": "Input"},
        "web.direction.output": {"nb": "Utgående", "en": "Output"},
        "web.side.sales": {"nb": "Salg", "en": "Sales"},
        "web.side.purchases": {"nb": "Kjøp", "en": "Purchases"},
        "web.not_in_return": {"nb": "Ikke i mva-meldingen", "en": "Not in the VAT return"},
        "web.not_in_return_note": {
            "nb": "Bokført med koder meldingen ikke har linje for, kjøp under kode 6 og "
            "grunnlaget for kode 14 og 15. Telles ikke med i summene.",
            "en": "Booked under codes the return has no line for, purchases under code 6 and "
            "the basis of codes 14 and 15. Not counted in the totals.",
        },
        "web.input_vat": {"nb": "Inngående mva", "en": "Input VAT"},
        "web.output_vat": {"nb": "Utgående mva", "en": "Output VAT"},
        "web.payable": {"nb": "Å betale (negativt: til gode)", "en": "Payable (negative: refund)"},
        "web.due": {"nb": "Frist", "en": "Due"},
        "web.operating_revenue": {"nb": "Driftsinntekter", "en": "Operating revenue"},
        "web.operating_costs": {"nb": "Driftskostnader", "en": "Operating costs"},
        "web.operating_result": {"nb": "Driftsresultat", "en": "Operating result"},
        "web.financial_items": {"nb": "Finansposter", "en": "Financial items"},
        "web.result_before_tax": {
            "nb": "Ordinært resultat før skattekostnad",
            "en": "Result before tax",
        },
        "web.tax": {"nb": "Skattekostnad", "en": "Tax"},
        "web.result": {"nb": "Årsresultat", "en": "Annual result"},
        "web.dispositions": {
            "nb": "Overføringer og disponeringer",
            "en": "Transfers and dispositions",
        },
        "web.total_assets": {"nb": "Sum eiendeler", "en": "Total assets"},
        "web.total_equity_and_liabilities": {
            "nb": "Sum egenkapital og gjeld",
            "en": "Total equity and liabilities",
        },
        "web.unallocated_result": {"nb": "Udisponert resultat", "en": "Result not yet closed"},
        "web.unclassified": {"nb": "Uklassifisert", "en": "Unclassified"},
        "web.chart": {"nb": "Diagram", "en": "Chart"},
        "web.nothing": {"nb": "Ingen posteringer i perioden.", "en": "No postings in the period."},
        "web.vat_deviation": {
            "nb": "Mva avviker fra grunnlag × sats med mer enn én krone på {lines}. "
            "Skatteetaten markerer da mva-meldingen som avvikende: se over bilagene i "
            "terminen før den sendes.",
            "en": "The VAT differs from basis × rate by more than one krone on {lines}. "
            "Skatteetaten then marks the VAT return as deviating: check the term's "
            "documents before it is filed.",
        },
        "web.vat_deviation_line": {"nb": "kode {code} ({amount})", "en": "code {code} ({amount})"},
        # Skatteetaten's rules R020 / R021 (ADR 0064 addendum 4).
        "web.vat_remark": {
            "nb": "Mva-meldingen må ha en merknad på {lines}: beløpet har motsatt fortegn "
            "(kreditnotaer eller en korrigering av en tidligere termin er større enn "
            "terminens beløp). Forklar det i merknaden, ellers markerer Skatteetaten "
            "meldingen som avvikende.",
            "en": "The VAT return needs a remark on {lines}: the amount has the opposite "
            "sign (credit notes or a correction of an earlier term outweigh the term). "
            "Explain it in the remark, or Skatteetaten marks the return as deviating.",
        },
        "web.vat_remark_line": {"nb": "kode {code} ({rule})", "en": "code {code} ({rule})"},
        # norway.md: "A return is due even with nothing to report."
        "web.vat_nothing_to_report": {
            "nb": "Ingenting å rapportere i terminen, men mva-meldingen skal likevel leveres "
            "innen {due} (uten beløp).",
            "en": "Nothing to report this term, but the VAT return is still due by {due} "
            "(with no amounts).",
        },
        "web.account_required": {"nb": "Velg en konto.", "en": "Choose an account."},
        # NS 4102 groups (statements.py keys)
        "web.group.revenue": {"nb": "Driftsinntekter", "en": "Operating revenue"},
        "web.group.costOfGoods": {"nb": "Varekostnad", "en": "Cost of goods"},
        "web.group.payroll": {"nb": "Lønnskostnad", "en": "Payroll"},
        "web.group.otherOperatingCosts": {
            "nb": "Andre driftskostnader",
            "en": "Other operating costs",
        },
        "web.group.financialItems": {"nb": "Finansposter", "en": "Financial items"},
        "web.group.tax": {"nb": "Skattekostnad", "en": "Tax"},
        "web.group.dispositions": {
            "nb": "Overføringer og disponeringer",
            "en": "Transfers and dispositions",
        },
        "web.group.assets": {"nb": "Eiendeler", "en": "Assets"},
        "web.group.equityAndLiabilities": {
            "nb": "Egenkapital og gjeld",
            "en": "Equity and liabilities",
        },
        # statuses
        "web.status.PROPOSED": {"nb": "Venter", "en": "Waiting"},
        "web.status.APPROVED": {"nb": "Godkjent", "en": "Approved"},
        "web.status.REJECTED": {"nb": "Avvist", "en": "Rejected"},
        "web.status.EXECUTED": {"nb": "Utført", "en": "Executed"},
        "web.status.FAILED": {"nb": "Feilet", "en": "Failed"},
        # kinds (the four the conversation names are its kind.* keys; these two are the page's)
        "web.kind.reversal": {"nb": "Reversering", "en": "Reversal"},
        "web.kind.correction": {"nb": "Korreksjon", "en": "Correction"},
    }
)

# The review page's correction form, confidence signals, categories and event names
# (webfix): Norwegian words for what the page showed in English.
TEXTS.update(
    {
        "web.approve_help_fields": {
            "nb": "Rett det som er feil før du godkjenner: beløp som 1 234,50, datoer som "
            "18.11.2026. Felt du lar stå, beholdes som foreslått.",
            "en": "Correct what is wrong before approving: amounts as 1234.50 or 1 234,50, "
            "dates as 2026-11-18 or 18.11.2026. Fields left as they are stay as proposed.",
        },
        "web.form.unread": {
            "nb": "kunne ikke leses fra dokumentet: fyll inn",
            "en": "could not be read from the document: fill it in",
        },
        "web.form.bad_number": {
            "nb": "{field}: «{text}» er ikke et tall (skriv for eksempel 1 234,50)",
            "en": "{field}: “{text}” is not a number (write, for example, 1234.50)",
        },
        "web.form.bad_date": {
            "nb": "{field}: «{text}» er ikke en dato (skriv dd.mm.åååå, for eksempel 18.11.2026)",
            "en": "{field}: “{text}” is not a date (write yyyy-mm-dd, for example 2026-11-18)",
        },
        "web.form.date_placeholder": {"nb": "dd.mm.åååå", "en": "yyyy-mm-dd"},
        "web.form.date_window": {
            "nb": "{field}: «{text}» ligger utenfor 01.01.1900–31.12.2200",
            "en": "{field}: “{text}” lies outside 1900-01-01 – 2200-12-31",
        },
        "web.form.repeated": {
            "nb": "«{name}» er gitt mer enn én gang i adressen; den tar én verdi",
            "en": "“{name}” is given more than once in the address; it takes one value",
        },
        # The error page (ADR 0027 addendum): where its link leads, and Litestar's own
        # refusals (no such page, a form's address opened as a page …) in words.
        "web.back.previous": {"nb": "Tilbake til forrige side", "en": "Back to the previous page"},
        "web.back.proposal": {"nb": "Tilbake til forslaget", "en": "Back to the proposal"},
        "web.back.review": {"nb": "Til listen over forslag", "en": "To the list of proposals"},
        "web.back.reports": {"nb": "Til rapportene", "en": "To the reports"},
        "web.back.page": {"nb": "Tilbake", "en": "Back"},
        "web.http.400": {
            "nb": "Adressen eller skjemaet kan ikke leses.",
            "en": "The address or the form cannot be read.",
        },
        "web.http.403": {
            "nb": "Skjemaet kunne ikke bekreftes (det er for gammelt, eller sendt fra et annet "
            "sted). Åpne siden på nytt og prøv igjen.",
            "en": "The form could not be verified (it is too old, or was sent from elsewhere). "
            "Open the page again and try once more.",
        },
        "web.http.404": {"nb": "Siden finnes ikke.", "en": "There is no such page."},
        "web.http.405": {
            "nb": "Denne adressen er handlingen til et skjema og kan ikke åpnes som en side. "
            "Bruk knappen på siden skjemaet står på.",
            "en": "This address is a form's action and cannot be opened as a page. Use the "
            "button on the page the form is on.",
        },
        "web.http.405.page": {
            "nb": "Denne siden tar ikke imot {method}; åpne den som en side.",
            "en": "This page does not take {method}; open it as a page.",
        },
        "web.http.413": {
            "nb": "Det som ble sendt, er for stort.",
            "en": "What was sent is too large.",
        },
        "web.http.429": {
            "nb": "For mange forespørsler på kort tid. Vent litt og prøv igjen.",
            "en": "Too many requests in a short time. Wait a little and try again.",
        },
        # Confidence signals (domain/confidence.py): what each reason weighs.
        "web.signal.amount": {"nb": "Beløp", "en": "Amount"},
        "web.signal.bank": {"nb": "Bankmatch", "en": "Bank match"},
        "web.signal.bank-mismatch": {"nb": "Avvik mot banken", "en": "Bank mismatch"},
        "web.signal.completeness": {"nb": "Fullstendighet", "en": "Completeness"},
        "web.signal.documentation": {"nb": "Dokumentasjon", "en": "Documentation"},
        "web.signal.duplicate": {"nb": "Mulig duplikat", "en": "Possible duplicate"},
        "web.signal.nok-amount": {"nb": "Beløp i NOK", "en": "Amount in NOK"},
        "web.signal.pattern": {"nb": "Kjent mønster", "en": "Known pattern"},
        "web.signal.payment-account": {"nb": "Betalingskonto", "en": "Payment account"},
        "web.signal.proposer-estimate": {"nb": "Leserens anslag", "en": "Reader's estimate"},
        "web.signal.unknown-account": {"nb": "Ukjent konto", "en": "Unknown account"},
        "web.signal.vat": {"nb": "Mva", "en": "VAT"},
        "web.effect": {"nb": "{effect} poeng", "en": "{effect} points"},
        # Expense categories (domain/accounts.py).
        "web.category.travel": {"nb": "Reise", "en": "Travel"},
        "web.category.telecom": {"nb": "Telefon og internett", "en": "Telecom"},
        "web.category.software": {"nb": "Programvare", "en": "Software"},
        "web.category.food": {"nb": "Mat og drikke", "en": "Food and drink"},
        "web.category.equipment": {"nb": "Inventar og utstyr", "en": "Equipment"},
        "web.category.office": {"nb": "Kontorrekvisita", "en": "Office supplies"},
        "web.category.other": {"nb": "Annet", "en": "Other"},
        "web.category.pattern": {"nb": "Etter mønster", "en": "By pattern"},
        # A proposal's lifecycle steps (domain.events.Step), after its kind: "Utlegg: godkjent".
        "web.step.proposed": {"nb": "foreslått", "en": "proposed"},
        "web.step.approved": {"nb": "godkjent", "en": "approved"},
        "web.step.endorsed": {"nb": "første godkjenning", "en": "first approval"},
        "web.step.rejected": {"nb": "avvist", "en": "rejected"},
        "web.step.execution_started": {"nb": "utføres", "en": "being carried out"},
        "web.step.executed": {"nb": "utført", "en": "carried out"},
        "web.step.execution_failed": {"nb": "forsøk feilet", "en": "attempt failed"},
        "web.step.failed": {"nb": "feilet", "en": "failed"},
        "web.step.execution_retried": {
            "nb": "sendt til utføring igjen",
            "en": "sent back to execution",
        },
        # Other events a proposal's history holds.
        "web.event.DocumentExtracted": {"nb": "Dokumentet lest", "en": "Document read"},
        "web.event.ProposalNoted": {"nb": "Merknad", "en": "Note"},
        "web.notes": {"nb": "Merknader", "en": "Notes"},
        "web.event.IntentClassified": {"nb": "Meldingen tolket", "en": "Message understood"},
        "web.event.JournalEntryPosted": {"nb": "Bilag bokført", "en": "Journal entry posted"},
        "web.event.AlertRaised": {"nb": "Varsel", "en": "Alert"},
        "web.event.PatternSuggested": {"nb": "Mønster foreslått", "en": "Pattern suggested"},
        "web.event.PatternApplied": {"nb": "Mønster tatt i bruk", "en": "Pattern applied"},
        # The approval's refusals a correction form meets (handlers, domain/proposals.py).
        "refusal.unread.amount": {
            "nb": "beløpet kunne ikke leses fra dokumentet: godkjenn med riktig beløp",
            "en": "amount could not be read from the document: approve with a corrected amount",
        },
        "refusal.unread.date": {
            "nb": "datoen kunne ikke leses fra dokumentet: godkjenn med riktig dato",
            "en": "date could not be read from the document: approve with a corrected date",
        },
        "refusal.unread.amount_date": {
            "nb": "beløpet og datoen kunne ikke leses fra dokumentet: godkjenn med riktig "
            "beløp og dato",
            "en": "amount and date could not be read from the document: approve with a "
            "corrected amount and date",
        },
        "refusal.correction.amount_positive": {
            "nb": "rettelsen gjør forslaget ugyldig: beløpet må være større enn null",
            "en": "correction makes the proposal invalid: amount must be a positive amount",
        },
        "refusal.correction.amount_ore": {
            "nb": "rettelsen gjør forslaget ugyldig: beløpet kan ha høyst to desimaler (øre)",
            "en": "correction makes the proposal invalid: amount must have at most two "
            "decimals (øre)",
        },
        # The domain's other checks a corrected value meets (domain/proposals.py).
        "refusal.correction.vat_rate": {
            "nb": "rettelsen gjør forslaget ugyldig: {rate} er ikke en norsk mva-sats ({rates})",
            "en": "correction makes the proposal invalid: vatRate {rate} is not a Norwegian "
            "VAT rate ({rates})",
        },
        "refusal.correction.vat_rate_on_date": {
            "nb": "rettelsen gjør forslaget ugyldig: mva-satsen {rate} gjelder ikke på "
            "bilagets dato ({rates})",
            "en": "correction makes the proposal invalid: vatRate {rate} is not a VAT rate "
            "valid on its date ({rates})",
        },
        "refusal.correction.date_range": {
            "nb": "rettelsen gjør forslaget ugyldig: datoen {date} er utenfor {start}–{end}",
            "en": "correction makes the proposal invalid: date {date} is outside {start}–{end}",
        },
        "refusal.correction.due_date_range": {
            "nb": "rettelsen gjør forslaget ugyldig: forfallsdatoen {date} er utenfor "
            "{start}–{end}",
            "en": "correction makes the proposal invalid: dueDate {date} is outside {start}–{end}",
        },
        "refusal.correction.vat_amount": {
            "nb": "rettelsen gjør forslaget ugyldig: mva-beløpet må være mellom 0 og bruttobeløpet",
            "en": "correction makes the proposal invalid: vatAmount must be between 0 and the "
            "gross amount",
        },
        "refusal.correction.merchant_long": {
            "nb": "rettelsen gjør forslaget ugyldig: leverandørnavnet er lengre enn {max} tegn",
            "en": "correction makes the proposal invalid: merchantName is longer than {max} "
            "characters",
        },
        "refusal.correction.supplier_long": {
            "nb": "rettelsen gjør forslaget ugyldig: leverandøren er lengre enn {max} tegn",
            "en": "correction makes the proposal invalid: supplier is longer than {max} characters",
        },
        "refusal.correction.nul": {
            "nb": "rettelsen gjør forslaget ugyldig: teksten kan ikke inneholde NUL-tegn",
            "en": "correction makes the proposal invalid: text must not contain NUL "
            "(\\u0000) characters",
        },
        "refusal.correction.bank_account": {
            "nb": "rettelsen gjør forslaget ugyldig: {field} {code} er bankkontoen kjøpet betales "
            "fra, ikke en kostnadskonto: bilaget ville debitere og kreditere banken og ikke føre "
            "noen kostnad",
            "en": "correction makes the proposal invalid: {field} {code} is the bank account a "
            "purchase is paid from, not a cost account: its entry would debit and credit the "
            "bank and book no cost",
        },
        "refusal.correction.vat_account": {
            "nb": "rettelsen gjør forslaget ugyldig: {field} {code} er en mva-konto: kjøpets mva "
            "føres der etter satsen, kostnaden på en kostnadskonto (hele beløpet ville blitt "
            "inngående mva)",
            "en": "correction makes the proposal invalid: {field} {code} is a VAT account: a "
            "purchase's VAT is booked there by its rate, its cost goes to a cost account (the "
            "whole amount would be input VAT)",
        },
        "refusal.comment_too_long": {
            "nb": "kommentaren kan ha høyst {max} tegn og ingen NUL-tegn",
            "en": "a comment has at most {max} characters and no NUL",
        },
        "web.event.TransactionFailedCompliance": {
            "nb": "Stoppet av kontrollregel",
            "en": "Stopped by a compliance rule",
        },
    }
)


# --- the terminal chat's own sentences (entrypoints/chat.py): a /file line that cannot be
# read, and a line that failed ("{reason}": explained by application/failures.py) ------------

TEXTS.update(
    {
        "chat.missing": {"nb": "Fant ikke filen {path}.", "en": "Could not find the file {path}."},
        "chat.folder": {
            "nb": "{path} er en mappe, ikke en fil.",
            "en": "{path} is a folder, not a file.",
        },
        "chat.denied": {
            "nb": "Har ikke lov til å lese filen {path}.",
            "en": "Not allowed to read the file {path}.",
        },
        "chat.other": {
            "nb": "Kunne ikke lese filen {path} ({reason}).",
            "en": "Could not read the file {path} ({reason}).",
        },
        "chat.not_a_file": {
            "nb": "{path} er ikke en vanlig fil (men en enhet, et rør eller en sokkel).",
            "en": "{path} is not a regular file (but a device, a pipe or a socket).",
        },
        "chat.too_large": {
            "nb": "{path} er større enn {reason} MB, det meste et bilag kan være.",
            "en": "{path} is larger than {reason} MB, the most a document may be.",
        },
        "chat.usage": {"nb": "Bruk: /file STI [melding]", "en": "Usage: /file PATH [message]"},
        "chat.failed": {
            "nb": "Det gikk ikke: {reason}. Prøv igjen, eller spør om noe annet.",
            "en": "That did not work: {reason}. Try again, or ask something else.",
        },
    }
)

# --- refusals of our own, said for people (application/failures.py) ---------------------------
#
# What our code says when an action cannot be decided or carried out. The record (events,
# logs, the API's problem details) keeps one language, English: each "refusal.<name>" key's
# English text IS the message the code raises (application/execution builds its refusals with
# `text(key, ENGLISH, …)`; the domain's messages are written the same way), so `refusal_form`
# recognises a recorded message by the catalogue and failures.py says it in Norwegian. A
# message no key matches is said by its error code ("refusal.code.<code>") or, recorded
# without one, in a general sentence: never in English to a Norwegian reader.

TEXTS.update(
    {
        # application/execution: the executor's own refusals
        "refusal.pattern_on_approval": {
            "nb": "et forslag til mønster tas i bruk når det godkjennes",
            "en": "a pattern suggestion is applied on approval",
        },
        "refusal.not_correctable": {
            "nb": "et forslag av typen {kind} kan ikke korrigeres",
            "en": "a {kind} cannot be corrected",
        },
        "refusal.target_not_an_id": {
            "nb": "det forslaget viser til, {target}, er ikke en forslags-ID",
            "en": "target {target} is not a proposal id",
        },
        "refusal.target_not_executed": {
            "nb": "forslaget det viser til ({id}), er ikke utført",
            "en": "target proposal {id} is not EXECUTED",
        },
        "refusal.bank_event_taken": {
            "nb": "banktransaksjonen {event} hører til forslaget {other}: én betaling "
            "bokføres bare én gang. Samme kjøp: avvis det. Annet kjøp: oppgi dets egen "
            "banktransaksjon",
            "en": "bank event {event} is already claimed by proposal {other} (approved or "
            "executed): one payment is booked once. If this is the same purchase, reject it "
            "as a duplicate; if it is another purchase, approve it with its own bank event "
            "(corrections.folioEventId)",
        },
        "refusal.bank_event_executed": {
            "nb": "banktransaksjonen {event} er allerede bokført av forslaget {other}: "
            "kvitteringen festes ikke, og betalingen bokføres ikke en gang til",
            "en": "bank event {event} is already booked by proposal {other}: the receipt is "
            "not attached and the payment not booked again",
        },
        "refusal.bank_event_waiting": {
            "nb": "banktransaksjonen {event} er også godkjent for forslaget {other}, som ble "
            "foreslått først: venter på at det blir utført eller feiler",
            "en": "bank event {event} is also approved for proposal {other}, proposed first: "
            "waiting until it is executed or fails",
        },
        "refusal.no_folio_event": {
            "nb": "kvitteringen viser ikke til noen banktransaksjon i Folio (folioEventId): "
            "det er ingenting å feste den til",
            "en": "the receipt names no Folio event (folioEventId): nothing to attach it to",
        },
        "refusal.purchase_deleted": {
            "nb": "kjøpet {id} i Fiken har referansen vår {reference}, men er slettet; rydd opp "
            "for hånd før det registreres på nytt",
            "en": "Fiken purchase {id} carries our reference {reference} but is deleted; "
            "resolve it by hand before registering again",
        },
        "refusal.journal_entry_cancelled": {
            "nb": "bilaget {id} i Fiken har referansen vår {reference}, men er annullert; rydd "
            "opp for hånd før det registreres på nytt",
            "en": "Fiken journal entry {id} carries our reference {reference} but is cancelled; "
            "resolve it by hand before registering again",
        },
        "discord.reverse_charge_label": {
            "nb": "Omvendt avgiftsplikt (ja/nei)",
            "en": "Reverse charge (yes/no)",
        },
        "discord.reverse_charge_invalid": {
            "nb": "Omvendt avgiftsplikt: skriv ja eller nei.",
            "en": "Reverse charge: write yes or no.",
        },
        # A correction written in a document's thread while it waits for review: handed on
        # to its review message, where the reviewer decides.
        "discord.note": {
            "nb": "{name} skrev i tråden om dette forslaget: «{text}»",
            "en": '{name} wrote in the thread about this proposal: "{text}"',
        },
        "discord.note_forwarded": {
            "nb": (
                "Jeg kan ikke endre forslaget selv, men godkjenneren har fått meldingen din "
                "ved forslaget i godkjenningskanalen, og kan korrigere eller avvise det der."
            ),
            "en": (
                "I cannot change the proposal myself, but the reviewer has your message next "
                "to the proposal in the review channel, and can correct or reject it there."
            ),
        },
        "discord.yes": {"nb": "ja", "en": "yes"},
        "discord.no": {"nb": "nei", "en": "no"},
        "note.reverse_charge": {
            "nb": "Omvendt avgiftsplikt: tjeneste kjøpt fra utlandet uten mva, mva-kode {codes} "
            "(beregnes av oss)",
            "en": "Reverse charge: a service bought from abroad without VAT, VAT code {codes} "
            "(calculated by us)",
        },
        "refusal.no_bank_account": {
            "nb": "regnskapet har ingen aktiv bankkonto å betale utlegget fra; sett "
            "BOOKKEEPER_PAYMENT_ACCOUNT",
            "en": "the books have no active bank account to pay the expense from; configure "
            "BOOKKEEPER_PAYMENT_ACCOUNT",
        },
        "refusal.no_document": {
            "nb": "forslaget viser ikke til noe lagret dokument (documentHash): last opp filen "
            "med POST /files først",
            "en": "the proposal names no stored document (documentHash): upload the file with "
            "POST /files first",
        },
        "refusal.document_not_stored": {
            "nb": "dokumentet {sha256} er ikke lagret for dette firmaet: last det opp med "
            "POST /files",
            "en": "document {sha256} is not stored for this tenant: upload it with POST /files",
        },
        "refusal.content_type": {
            "nb": "et dokument av typen {type} kan ikke legges ved",
            "en": "document type {type} cannot be attached",
        },
        "refusal.handed_back": {
            "nb": "utføreren {name} stoppet før forsøket startet; det prøves igjen",
            "en": "executor {name} stopped before starting this attempt",
        },
        "refusal.cut": {
            "nb": "utføreren {name} stoppet midt i forsøket; det prøves igjen",
            "en": "executor {name} stopped during the attempt",
        },
        "refusal.deferred": {
            "nb": "ikke startet: et tidligere forsøk for firmaet fant {system} utilgjengelig "
            "({error})",
            "en": "not started: an earlier attempt of this tenant found {system} unavailable "
            "({error})",
        },
        "refusal.no_outcome": {
            "nb": "{count} forsøk endte uten resultat (krasj eller tapt lås); se etter "
            "referansen {reference} i regnskapet og banken, og fullfør for hånd",
            "en": "{count} attempts ended without an outcome (crashes or lost leases); look "
            "for reference {reference} in the books and the bank and finish it by hand",
        },
        # the domain's refusals (domain/proposals.py, domain/rules.py, domain/ledger.py)
        "refusal.not_pending": {
            "nb": "kan ikke {action} forslaget {id}: det er {status}, ikke til godkjenning",
            "en": "cannot {action} proposal {id}: it is {status}, not PROPOSED",
        },
        "refusal.not_approved": {
            "nb": "kan ikke {action} forslaget {id}: det er {status}, ikke godkjent",
            "en": "cannot {action} proposal {id}: it is {status}, not APPROVED",
        },
        "refusal.not_compensable": {
            "nb": "forslaget {id} er {status}; bare en utført handling kan reverseres eller "
            "korrigeres",
            "en": "proposal {id} is {status}; only an executed action can be reversed or corrected",
        },
        "refusal.period_closed": {
            "nb": "perioden {period} ({start} – {end}) er lukket: ingenting datert {date} kan "
            "bokføres; bokfør en reversering eller korrigering i en åpen periode",
            "en": "the period {period} ({start} to {end}) is closed: nothing dated {date} can "
            "be posted; post a reversal or correction in an open period",
        },
        "refusal.vat_term_locked": {
            "nb": "mva-terminen {period} ({start} – {end}) er låst og meldingen levert: ingen "
            "postering med mva datert {date} kan bokføres; dater den i en åpen termin",
            "en": "the VAT term {period} ({start} to {end}) is locked, its return reported: "
            "no entry with VAT dated {date} can be posted; date it in an open term",
        },
        "refusal.unbalanced": {
            "nb": "debet ({debit}) er ikke lik kredit ({credit})",
            "en": "debits ({debit}) do not equal credits ({credit})",
        },
        "refusal.no_input_vat": {
            "nb": "det finnes ingen behandling av inngående mva for satsen {rate}",
            "en": "no input VAT treatment for rate {rate}",
        },
        "refusal.reason_required": {
            "nb": "en avvisning må ha en begrunnelse",
            "en": "a rejection needs a reason",
        },
        "refusal.reason_too_long": {
            "nb": "begrunnelsen er lengre enn {max} tegn",
            "en": "the reason is longer than {max} characters",
        },
        "refusal.compensating_correction": {
            "nb": "et kompenserende forslag kan ikke korrigeres; avvis det",
            "en": "a compensating proposal cannot be corrected; reject it",
        },
        "refusal.approved_once": {
            "nb": "forslaget er allerede godkjent én gang slik det står nå; godkjenn det som "
            "det er, eller avvis det",
            "en": "this proposal was approved once already with what it says now; approve it "
            "as it is or reject it",
        },
        # by error code, when the message is none of the above
        "refusal.code.invalid-proposal": {
            "nb": "forslaget er ikke gyldig",
            "en": "the proposal is not valid",
        },
        "refusal.code.invalid-correction": {
            "nb": "rettelsen kan ikke brukes på dette forslaget",
            "en": "the correction cannot be used on this proposal",
        },
        "refusal.code.proposal-not-pending": {
            "nb": "forslaget venter ikke lenger på godkjenning",
            "en": "the proposal is no longer awaiting review",
        },
        "refusal.code.proposal-not-approved": {
            "nb": "forslaget er ikke godkjent",
            "en": "the proposal is not approved",
        },
        "refusal.code.proposal-not-failed": {
            "nb": "bare en feilet utføring kan prøves på nytt",
            "en": "only a failed execution can be retried",
        },
        "refusal.code.illegal-transition": {
            "nb": "forslaget er ikke i en tilstand som tillater dette",
            "en": "the proposal is not in a state that allows this",
        },
        "refusal.code.not-compensable": {
            "nb": "bare en utført handling kan reverseres eller korrigeres",
            "en": "only an executed action can be reversed or corrected",
        },
        "refusal.code.self-approval": {
            "nb": "du kan ikke godkjenne ditt eget forslag",
            "en": "you cannot approve your own proposal",
        },
        "refusal.code.own-document-approval": {
            "nb": "du kan ikke godkjenne et bilag du lastet opp selv",
            "en": "you cannot approve a document you uploaded yourself",
        },
        "refusal.code.second-approver-required": {
            "nb": "du har allerede godkjent dette; en annen godkjenner må gjøre resten",
            "en": "you approved this already; another approver must do the rest",
        },
        "refusal.code.reason-required": {
            "nb": "en avvisning må ha en begrunnelse (uten NUL-tegn, ikke for lang)",
            "en": "a rejection needs a reason (no NUL characters, not too long)",
        },
        "refusal.code.approval-refused": {
            "nb": "reglene for godkjenning tillater ikke at du avgjør dette forslaget",
            "en": "the approval rules do not let you decide this proposal",
        },
        "refusal.code.approval-limit-exceeded": {
            "nb": "beløpet er over godkjenningsgrensen din (eller du har ingen grense)",
            "en": "the amount is above your approval limit (or you have none)",
        },
        "refusal.code.department-mismatch": {
            "nb": "forslaget hører til en annen avdeling enn den du godkjenner for",
            "en": "the proposal belongs to another department than the one you approve for",
        },
        "refusal.code.nok-amount-missing": {
            "nb": "bilaget i utenlandsk valuta har ikke noe beløp i NOK: godkjenn med beløpet "
            "som ble betalt i NOK",
            "en": "the foreign-currency document has no NOK amount: approve it with the amount "
            "paid in NOK",
        },
        "refusal.code.nok-amount-stale": {
            "nb": "beløpet i NOK gjelder det gamle beløpet, ikke det korrigerte: reverser og "
            "foreslå bilaget på nytt",
            "en": "the NOK amount is for the old amount, not the corrected one: reverse it and "
            "propose the document again",
        },
        "refusal.code.unbalanced-entry": {
            "nb": "bilaget ville gitt en postering som ikke går opp",
            "en": "the document would make an entry that does not balance",
        },
        # domain/vat_registration.py: a company outside the VAT register (ADR 0056 add. 4)
        "refusal.not_vat_registered": {
            "nb": "selskapet er ikke mva-registrert: det har ikke fradrag for inngående mva og "
            "beregner ikke omvendt avgiftsplikt (merverdiavgiftsloven § 8-1, § 3-30); før hele "
            "beløpet som kostnad med mva-sats 0, uten omvendt avgiftsplikt",
            "en": "the company is not VAT-registered: it deducts no input VAT and accounts for "
            "no reverse charge (merverdiavgiftsloven § 8-1, § 3-30); book the whole amount as "
            "the cost at VAT rate 0, without reverse charge",
        },
        "refusal.not_vat_registered_sale": {
            "nb": "linje {i}: selskapet er ikke mva-registrert, så mva-kode {c} (utgående mva) "
            "kan ikke brukes: et selskap utenfor Merverdiavgiftsregisteret beregner ikke mva, "
            "og mva det likevel har fakturert skal betales til staten "
            "(merverdiavgiftsloven § 11-3); krediter fakturaen og send den på nytt uten mva",
            "en": "lines[{i}]: the company is not VAT-registered, so VAT code {c} (output VAT) "
            "cannot be used: a company outside the VAT register charges no VAT, and VAT it "
            "invoiced is owed to the state all the same (merverdiavgiftsloven § 11-3); credit "
            "the invoice and issue it again without VAT",
        },
        "refusal.not_vat_registered_entry": {
            "nb": "linje {i}: selskapet er ikke mva-registrert, så mva-kode {c} kan ikke "
            "brukes: det har ikke fradrag for inngående mva og beregner ikke omvendt "
            "avgiftsplikt (merverdiavgiftsloven § 8-1, § 3-30); før bruttobeløpet med mva-kode 0",
            "en": "lines[{i}]: the company is not VAT-registered, so VAT code {c} cannot be "
            "used: it deducts no input VAT and accounts for no reverse charge "
            "(merverdiavgiftsloven § 8-1, § 3-30); book the gross amount with VAT code 0",
        },
        "refusal.code.not-vat-registered": {
            "nb": "selskapet er ikke mva-registrert: ingen mva kan føres på dette",
            "en": "the company is not VAT-registered: no VAT can be booked on this",
        },
        # Why a token does not log in (adapters/auth, the web page's login), said on the
        # login form.
        "refusal.token_empty": {
            "nb": "tilgangsnøkkelen er tom eller for lang",
            "en": "the token is empty or too long",
        },
        "refusal.token_malformed": {
            "nb": "tilgangsnøkkelen er ikke en gyldig nøkkel (er hele nøkkelen limt inn?)",
            "en": "the token is malformed",
        },
        "refusal.token_expired": {
            "nb": "tilgangsnøkkelen er utløpt; lag en ny med «bookkeeper token»",
            "en": "the token has expired",
        },
        "refusal.token_lifetime": {
            "nb": "tilgangsnøkkelen gjelder lenger enn tjenesten godtar (høyst {hours} timer); "
            "lag en med kortere levetid",
            "en": "the token lives longer than this service accepts (at most {hours} h)",
        },
        "refusal.token_early": {
            "nb": "tilgangsnøkkelen gjelder ikke ennå",
            "en": "the token is not valid yet",
        },
        "refusal.token_signature": {
            "nb": "tilgangsnøkkelens signatur stemmer ikke",
            "en": "the token signature does not verify",
        },
        "refusal.token_kid": {
            "nb": "tilgangsnøkkelen er signert med en nøkkel som ikke er vår",
            "en": "the token names a key that is not ours (kid)",
        },
        "refusal.token_unknown_key": {
            "nb": "tilgangsnøkkelen er signert med en ukjent nøkkel",
            "en": "the token was signed with an unknown key",
        },
        "refusal.token_audience": {
            "nb": "tilgangsnøkkelen er laget for en annen tjeneste",
            "en": "the token is meant for another audience",
        },
        "refusal.token_issuer": {
            "nb": "tilgangsnøkkelen kommer fra en ukjent utsteder",
            "en": "the token comes from an unknown issuer",
        },
        "refusal.token_claim": {
            "nb": "tilgangsnøkkelen mangler feltet {claim}",
            "en": "the token lacks the {claim} claim",
        },
        "refusal.login_stale": {
            "nb": "innloggingen ble ikke startet her, eller tok for lang tid; prøv igjen",
            "en": "the login was not started here, or took too long",
        },
        "refusal.login_no_code": {
            "nb": "identitetstjenesten ga ingen kode",
            "en": "the identity provider gave no code",
        },
        "refusal.login_provider": {
            "nb": "identitetstjenesten svarte {answer}",
            "en": "the identity provider said {answer}",
        },
        "refusal.code.invalid-token": {
            "nb": "tilgangsnøkkelen kan ikke brukes",
            "en": "the token cannot be used",
        },
        # A report's own refusals (ledger, SAF-T, spending), said on its page.
        "refusal.period_backwards": {
            "nb": "perioden starter ({start}) etter at den slutter ({end})",
            "en": "the period starts ({start}) after it ends ({end})",
        },
        "refusal.spending_backwards": {
            "nb": "fra-datoen er etter til-datoen",
            "en": "from is after to",
        },
        "refusal.spending_span": {
            "nb": "et tidsrom kan være høyst {days} dager",
            "en": "a range spans at most {days} days",
        },
        "refusal.cursor_foreign": {
            "nb": "lenken til neste side er ikke en denne rapporten ga; åpne rapporten på nytt",
            "en": "the cursor is not one this report handed out",
        },
        "refusal.cursor_elsewhere": {
            "nb": "lenken til neste side hører til en annen konto eller periode; åpne "
            "rapporten på nytt",
            "en": "the cursor belongs to another account or period",
        },
        "refusal.code.invalid-report-period": {
            "nb": "perioden kan ikke brukes i denne rapporten",
            "en": "the period cannot be used for this report",
        },
        "refusal.code.invalid-cursor": {
            "nb": "lenken til neste side kan ikke brukes; åpne rapporten på nytt",
            "en": "the next page's link cannot be used; open the report again",
        },
        "refusal.code.invalid-spending": {
            "nb": "kostnadsrapporten kan ikke lages slik",
            "en": "the cost report cannot be made that way",
        },
        "refusal.code.invalid-party": {
            "nb": "kunden eller leverandøren på en linje er ikke gyldig",
            "en": "a line's customer or supplier is not valid",
        },
        "refusal.code.invalid-journal-entry": {
            "nb": "posteringen er ikke gyldig",
            "en": "the entry is not valid",
        },
        "refusal.code.period-closed": {
            "nb": "perioden er lukket",
            "en": "the period is closed",
        },
        "refusal.code.vat-term-locked": {
            "nb": "mva-terminen er låst",
            "en": "the VAT term is locked",
        },
        "refusal.code.not-found": {
            "nb": "fant det ikke (det finnes ikke, eller hører til et annet firma)",
            "en": "not found (it does not exist, or belongs to another company)",
        },
        "refusal.code.forbidden": {
            "nb": "du har ikke tilgang til dette",
            "en": "you are not allowed to do that",
        },
        "refusal.code.concurrency-conflict": {
            "nb": "noen andre endret det samtidig; prøv igjen",
            "en": "someone else changed it at the same time; try again",
        },
        "refusal.code.idempotency-conflict": {
            "nb": "den samme forespørselen ble brukt før til noe annet",
            "en": "the same request was used before for something else",
        },
        "refusal.code.storage-unavailable": {
            "nb": "databasen svarte ikke; prøv igjen om litt",
            "en": "the database did not answer; try again shortly",
        },
        "refusal.code.schema-changed": {
            "nb": "databasen er oppgradert til en nyere versjon mens tjenesten kjørte; "
            "ingenting ble skrevet, og en driftsansvarlig må starte den på nytt med den "
            "nye versjonen",
            "en": "the database was upgraded to a newer version while the service ran; "
            "nothing was written, and an operator must restart it with that version",
        },
        "refusal.code.chart-unavailable": {
            "nb": "kontoplanen kunne ikke hentes fra regnskapet akkurat nå; prøv igjen",
            "en": "the chart of accounts could not be read from the books just now; try again",
        },
        "refusal.code.invalid-document": {
            "nb": "filen kan ikke brukes som bilag (tom, ødelagt eller ikke lesbar)",
            "en": "the file cannot be used as a document (empty, broken or unreadable)",
        },
        "refusal.code.unsupported-document-type": {
            "nb": "filtypen tas ikke imot; send en PDF, JPEG, PNG, HEIC eller WebP, eller en "
            "EHF-faktura (XML)",
            "en": "the file type is not accepted; send a PDF, JPEG, PNG, HEIC or WebP, or an "
            "EHF invoice (XML)",
        },
        "refusal.code.document-too-large": {
            "nb": "filen er for stor",
            "en": "the file is too large",
        },
        "refusal.code.extraction-failed": {
            "nb": "dokumentet kunne ikke leses",
            "en": "the document could not be read",
        },
        "refusal.code.incomplete-document": {
            "nb": "dokumentet mangler opplysninger som trengs for å bokføre det",
            "en": "the document lacks what is needed to book it",
        },
        # a Discord attachment that could not be fetched (adapters/fetch/safe.py)
        "refusal.fetch.not_allowed": {
            "nb": "{host} er ikke et sted jeg henter vedlegg fra",
            "en": "{host} is not an allowed host",
        },
        "refusal.fetch.non_public": {
            "nb": "{host} peker til en adresse som ikke er offentlig",
            "en": "{host} resolves to a non-public address",
        },
        "refusal.fetch.redirect": {
            "nb": "{host} svarte med en videresending, og den følger jeg ikke",
            "en": "{host} answered with a redirect, which is not followed",
        },
        "refusal.fetch.timeout": {
            "nb": "{host} svarte ikke innen {seconds} s",
            "en": "{host} did not answer within {seconds} s",
        },
        "refusal.fetch.unresolved": {
            "nb": "fant ikke {host} i DNS ({cause})",
            "en": "{host} cannot be resolved ({cause})",
        },
        "refusal.fetch.no_address": {
            "nb": "{host} har ingen adresse",
            "en": "{host} has no address",
        },
        "refusal.fetch.unreachable": {
            "nb": "fikk ikke kontakt med {host} ({cause})",
            "en": "{host} could not be reached ({cause})",
        },
        "refusal.fetch.broke_off": {
            "nb": "{host} brøt forbindelsen ({cause})",
            "en": "{host} broke off ({cause})",
        },
        "refusal.fetch.answered": {
            "nb": "{host} svarte med feilkode {answer}",
            "en": "{host} answered {answer}",
        },
        "refusal.code.fetch-failed": {
            "nb": "vedlegget kunne ikke hentes",
            "en": "the attachment could not be fetched",
        },
        "refusal.code.fetch-refused": {
            "nb": "lenken til vedlegget hentes ikke (bare https fra tillatte steder)",
            "en": "the attachment's link is not fetched (https from allowed hosts only)",
        },
        "refusal.code.fetch-too-large": {
            "nb": "vedlegget er for stort",
            "en": "the attachment is too large",
        },
        "refusal.code.fetch-unsupported-type": {
            "nb": "vedlegget er ikke en PDF eller et bilde",
            "en": "the attachment is not a PDF or an image",
        },
        # a refusal of ours recorded in words no key above knows
        "refusal.other": {
            "nb": "{what} ble stoppet av en kontroll hos oss (årsaken står i revisjonssporet)",
            "en": "{what} was stopped by a check of ours (the reason is in the audit trail)",
        },
        # verbs in "cannot {action} proposal …" (domain/proposals.py)
        "refusal.action.approve": {"nb": "godkjenne", "en": "approve"},
        "refusal.action.reject": {"nb": "avvise", "en": "reject"},
        "refusal.action.start executing": {"nb": "begynne å utføre", "en": "start executing"},
        "refusal.action.record execution of": {
            "nb": "registrere utførelsen av",
            "en": "record execution of",
        },
        "refusal.action.record a failure of": {
            "nb": "registrere en feil ved",
            "en": "record a failure of",
        },
    }
)

# Story 8: questions about the books themselves, answered from the ledger (conversation.py).
TEXTS.update(
    {
        "ledger.result.header": {
            "nb": "Resultat {start} – {end}:",
            "en": "Result {start} – {end}:",
        },
        "ledger.result.lines": {
            "nb": (
                "  Driftsinntekter: {revenue}\n  Driftskostnader: {costs}\n"
                "  Driftsresultat: {operating}\n  Finansposter: {financial}\n"
                "  Skattekostnad: {tax}\n  Årsresultat: {result} ({verdict})"
            ),
            "en": (
                "  Operating revenue: {revenue}\n  Operating costs: {costs}\n"
                "  Operating result: {operating}\n  Financial items: {financial}\n"
                "  Tax: {tax}\n  Annual result: {result} ({verdict})"
            ),
        },
        # A cost question in everyday words is answered from the books; the cost
        # snapshots (cloud and AI) are asked by name.
        "ledger.cloud_hint": {
            "nb": (
                "Dette er regnskapets kostnader. Sky- og AI-forbruket (Anthropic, Google, "
                "Cloudflare) får du med for eksempel «hva har vi brukt på sky og AI i år?»."
            ),
            "en": (
                "These are the books' costs. For the cloud and AI spending (Anthropic, "
                "Google, Cloudflare) ask e.g. “what did we spend on cloud and AI this year?”."
            ),
        },
        # A period asked that has not begun, or a date that does not exist: said, and
        # nothing read (they were answered for an empty period, or the month's last day).
        "period.future": {
            "nb": (
                "Perioden {start} – {end} har ikke begynt ennå (i dag er {today}), så det "
                "finnes ingen tall for den. Spør om en periode som er begynt, for eksempel "
                "«hittil i år» eller «forrige kvartal»."
            ),
            "en": (
                "The period {start} – {end} has not begun yet (today is {today}), so there "
                "are no figures for it. Ask about a period that has begun, e.g. “so far this "
                "year” or “last quarter”."
            ),
        },
        "period.no_such_date": {
            "nb": (
                "«{date}» finnes ikke: {month} har {days} dager. Spør igjen med en dato som finnes."
            ),
            "en": (
                "“{date}” does not exist: {month} has {days} days. Ask again with a date "
                "that exists."
            ),
        },
        "ledger.profit": {"nb": "overskudd", "en": "profit"},
        "ledger.loss": {"nb": "underskudd", "en": "loss"},
        "ledger.even": {"nb": "går i null", "en": "break-even"},
        "ledger.result.none": {
            "nb": "Ingenting er bokført på resultatkontoene {start} – {end}.",
            "en": "Nothing is posted on the income statement's accounts {start} – {end}.",
        },
        "ledger.payables": {
            "nb": "Leverandørgjeld (konto 2400) per {date}: {amount}.",
            "en": "Accounts payable (account 2400) as of {date}: {amount}.",
        },
        "ledger.receivables": {
            "nb": "Kundefordringer (konto 1500) per {date}: {amount}.",
            "en": "Accounts receivable (account 1500) as of {date}: {amount}.",
        },
        "ledger.open.header": {
            "nb": "Ubetalte leverandørfakturaer ({count}), forfalte først:",
            "en": "Unpaid supplier invoices ({count}), overdue first:",
        },
        "ledger.open.line": {
            "nb": "  {identifier}: {amount}, forfall {due}{overdue}",
            "en": "  {identifier}: {amount}, due {due}{overdue}",
        },
        "ledger.open.overdue": {"nb": " – forfalt", "en": " – overdue"},
        "ledger.open.no_due": {"nb": "ukjent", "en": "unknown"},
        "ledger.open.none": {
            "nb": "Ingen ubetalte leverandørfakturaer fra {start} – {end}.",
            "en": "No unpaid supplier invoices from {start} – {end}.",
        },
        "ledger.debit": {"nb": "debet", "en": "debit"},
        "ledger.credit": {"nb": "kredit", "en": "credit"},
        "ledger.account.balance": {
            "nb": "Saldo på konto {account}{name} per {date}: {amount} ({side}).",
            "en": "Balance of account {account}{name} as of {date}: {amount} ({side}).",
        },
        "ledger.account.period": {
            "nb": "Konto {account}{name} {start} – {end}: {amount} ({side}).",
            "en": "Account {account}{name} {start} – {end}: {amount} ({side}).",
        },
        "ledger.account.missing": {
            "nb": "Hvilken konto? Skriv for eksempel «saldo på konto 1920».",
            "en": 'Which account? Write for example "balance of account 1920".',
        },
        "ledger.costs.header": {
            "nb": "Kostnader til {topic} {start} – {end}:",
            "en": "Costs for {topic} {start} – {end}:",
        },
        "ledger.costs.line": {
            "nb": "  {account}{name}: {amount}",
            "en": "  {account}{name}: {amount}",
        },
        "ledger.costs.total": {"nb": "  Sum: {amount}", "en": "  Total: {amount}"},
        "ledger.costs.none": {
            "nb": "Ingen kostnader til {topic} er bokført {start} – {end}.",
            "en": "No costs for {topic} are posted {start} – {end}.",
        },
        "ledger.costs.unknown": {
            "nb": (
                "Jeg vet ikke hvilke kontoer «{topic}» er. Ingen bilag {start} – {end} "
                "nevner det heller. Spør gjerne om en konto: «hvor mye har vi brukt på konto "
                "6540 i år»."
            ),
            "en": (
                'I do not know which accounts "{topic}" are. No entry {start} – {end} names it '
                'either. Ask about an account instead: "how much did we spend on account 6540 '
                'this year".'
            ),
        },
        # The balance sheet ("vis balansen", "balanse i fjor", "balance sheet").
        "ledger.balance.header": {"nb": "Balanse per {date}:", "en": "Balance sheet as of {date}:"},
        "ledger.balance.assets": {"nb": "Eiendeler", "en": "Assets"},
        "ledger.balance.equityAndLiabilities": {
            "nb": "Egenkapital og gjeld",
            "en": "Equity and liabilities",
        },
        "ledger.balance.group": {"nb": "  {title}: {amount}", "en": "  {title}: {amount}"},
        "ledger.balance.line": {
            "nb": "    {account}{name}: {amount}",
            "en": "    {account}{name}: {amount}",
        },
        "ledger.balance.result": {
            "nb": "    Årets resultat, ikke disponert: {amount}",
            "en": "    This year's result, not yet allocated: {amount}",
        },
        "ledger.balance.unbalanced": {
            "nb": (
                "  Merk: eiendelene og egenkapital og gjeld skiller seg med {difference} "
                "(kontoer utenfor kontoplanens klasser: {accounts})."
            ),
            "en": (
                "  Note: assets and equity and liabilities differ by {difference} (accounts "
                "outside the chart's classes: {accounts})."
            ),
        },
        "ledger.balance.none": {
            "nb": "Ingenting er bokført på balansekontoene per {date}.",
            "en": "Nothing is posted on the balance sheet's accounts as of {date}.",
        },
        # Costs by supplier, from the entries' texts ("hva har vi brukt hos Adobe?").
        "ledger.supplier.header": {
            "nb": "Kostnader hos {name} {start} – {end}: {amount} uten mva{gross}, {count} {noun}:",
            "en": "Costs at {name} {start} – {end}: {amount} without VAT{gross}, {count} {noun}:",
        },
        "ledger.supplier.gross": {"nb": " ({amount} med mva)", "en": " ({amount} with VAT)"},
        "ledger.supplier.line": {
            "nb": "  {date} {description}: {amount}",
            "en": "  {date} {description}: {amount}",
        },
        "ledger.supplier.none": {
            "nb": "Ingen kostnader hos «{name}» er bokført {start} – {end}.",
            "en": 'No costs at "{name}" are posted {start} – {end}.',
        },
        "ledger.suppliers.header": {
            "nb": "Kostnader per leverandør {start} – {end}, størst først (uten mva):",
            "en": "Costs by supplier {start} – {end}, largest first (without VAT):",
        },
        "ledger.monthly.header": {
            "nb": "Kostnader per måned {start} – {end} (uten mva):",
            "en": "Costs per month {start} – {end} (without VAT):",
        },
        "ledger.monthly.line": {"nb": "  {month}: {amount}", "en": "  {month}: {amount}"},
        "month.1": {"nb": "januar", "en": "January"},
        "month.2": {"nb": "februar", "en": "February"},
        "month.3": {"nb": "mars", "en": "March"},
        "month.4": {"nb": "april", "en": "April"},
        "month.5": {"nb": "mai", "en": "May"},
        "month.6": {"nb": "juni", "en": "June"},
        "month.7": {"nb": "juli", "en": "July"},
        "month.8": {"nb": "august", "en": "August"},
        "month.9": {"nb": "september", "en": "September"},
        "month.10": {"nb": "oktober", "en": "October"},
        "month.11": {"nb": "november", "en": "November"},
        "month.12": {"nb": "desember", "en": "December"},
        "ledger.suppliers.line": {
            "nb": "  {name}: {amount} ({count} {noun})",
            "en": "  {name}: {amount} ({count} {noun})",
        },
        "ledger.entries.one": {"nb": "bilag", "en": "entry"},
        "ledger.entries.many": {"nb": "bilag", "en": "entries"},
        "ledger.suppliers.none": {
            "nb": "Ingen kostnader er bokført {start} – {end}.",
            "en": "No costs are posted {start} – {end}.",
        },
        "ledger.suppliers.capped": {
            "nb": "(Bare de første {count} bilagene fra perioden er lest.)",
            "en": "(Only the first {count} entries of the period were read.)",
        },
        "ledger.journal.header": {
            "nb": "De siste {count} bilagene:",
            "en": "The latest {count} journal entries:",
        },
        "ledger.journal.line": {
            "nb": "  {date} {description}: {amount}, {who}",
            "en": "  {date} {description}: {amount}, {who}",
        },
        "ledger.journal.approved": {"nb": "godkjent av {name}", "en": "approved by {name}"},
        "ledger.journal.posted": {"nb": "bokført av {name}", "en": "posted by {name}"},
        "ledger.journal.none": {"nb": "Ingenting er bokført ennå.", "en": "Nothing is posted yet."},
        # What became of the documents sent in ("er kvitteringen fra Adobe godkjent?").
        "proposals.header": {"nb": "Dokumenter ({count}):", "en": "Documents ({count}):"},
        "proposals.line": {"nb": "  {subject}: {status}", "en": "  {subject}: {status}"},
        "proposals.waiting": {"nb": "venter på godkjenning", "en": "awaiting approval"},
        "proposals.approved": {
            "nb": "godkjent av {by}, ikke bokført ennå",
            "en": "approved by {by}, not yet booked",
        },
        "proposals.executed": {
            "nb": "godkjent av {by} og bokført",
            "en": "approved by {by} and booked",
        },
        "proposals.rejected": {
            "nb": "avvist av {by}: «{reason}»",
            "en": 'rejected by {by}: "{reason}"',
        },
        "proposals.failed": {"nb": "ikke bokført: {error}", "en": "not booked: {error}"},
        "proposals.none": {
            "nb": "Ingen dokumenter venter på godkjenning.",
            "en": "No documents are awaiting approval.",
        },
        "proposals.nothing": {
            "nb": "Ingen kvitteringer eller fakturaer er sendt inn ennå.",
            "en": "No receipts or invoices have been sent in yet.",
        },
        "proposals.none.status": {
            "nb": "Ingen av de siste dokumentene er det.",
            "en": "None of the latest documents are.",
        },
        "proposals.none.named": {
            "nb": "Jeg finner ingen kvittering eller faktura fra «{name}» blant de siste.",
            "en": 'I find no receipt or invoice from "{name}" among the latest.',
        },
    }
)

#: The refusal keys whose English text `refusal_form` recognises (not the words by code,
#: the general sentence or the verbs).
_NOT_FORMS: Final = ("refusal.code.", "refusal.action.", "refusal.other")


def _form(template: str) -> re.Pattern[str]:
    """A pattern that matches `template` filled in, capturing each placeholder by name."""
    parts: list[str] = []
    seen: set[str] = set()
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
            seen.add(name)
    return re.compile("".join(parts), re.DOTALL)


@functools.cache
def _refusal_forms() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple(
        (key, _form(entry[ENGLISH]))
        for key, entry in TEXTS.items()
        if key.startswith("refusal.") and not key.startswith(_NOT_FORMS)
    )


def refusal_form(message: str) -> tuple[str, dict[str, str]] | None:
    """The "refusal.*" key whose English text `message` is, with its placeholders' values
    (None: no key's text)."""
    for key, pattern in _refusal_forms():
        found = pattern.fullmatch(message)
        if found is not None:
            return key, found.groupdict()
    return None
