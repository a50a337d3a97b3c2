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
        "utgifter", "hjelp",
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
        "can", "weather", "who", "where", "when", "why", "it", "of", "on",
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
            "«utlegg», «forbruk på Anthropic denne måneden» "
            "eller «hvor mye mva skal vi betale»."
        ),
        "en": (
            "Send a receipt or an invoice (PDF or image) and I will propose how to book it. "
            'You can also ask about the "balance", "missing receipts", "supplier invoices", '
            '"expense claims", "spending on Anthropic this month" or "what VAT do we owe".'
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
        (r"missing: (?P<f>.+)", "mangler: {f}"),
        (r"§ 5-1-1 field (?P<f>\S+) is missing", "§ 5-1-1-feltet {f} mangler"),
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
        (r"VAT rate (?P<r>\S+) % inferred from the amounts", "mva-sats {r} % utledet av beløpene"),
        (r"VAT rate (?P<r>\S+) % is not a Norwegian rate", "mva-sats {r} % er ikke en norsk sats"),
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
        (r"the only amount on the document, read as the total \(no total label\)",
         "det eneste beløpet i dokumentet, lest som totalen (uten etikett for total)"),
        (r"a negative amount \((?P<a>.+)\) was read: a credit, not a purchase; (?P<p>\S+) "
         r"stands in for it and must be corrected before the proposal can be approved",
         "et negativt beløp ({a}) ble lest: en kreditering, ikke et kjøp; {p} står i stedet og "
         "må rettes før forslaget kan godkjennes"),
        (r"no text: needs review \(an image, not read: OCR/Tesseract is not available\)",
         "ingen tekst: må gjennomgås (et bilde, ikke lest: OCR/Tesseract er ikke installert)"),
        (r"no text: needs review", "ingen tekst: må gjennomgås"),
        (r"KID (?P<k>\S+) fails the MOD10/MOD11 check",
         "KID {k} består ikke MOD10/MOD11-kontrollen"),
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


def _said(name: str, value: str, language: Language) -> str:
    if name in _NESTED:
        return sentence(value, language)
    if name in _NUMBERS and _DECIMAL.fullmatch(value):
        return value.replace(".", ",")
    return value


def sentence(detail: str, language: Language) -> str:
    """A reason or warning written in English, said in `language` (see above)."""
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
