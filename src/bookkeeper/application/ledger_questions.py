"""Story 8: the chat's questions about the books themselves, answered from the ledger.

    "hva er resultatet hittil i år?" / "hvordan går det?"  ──▶ result: the income statement
        of the period (year to date unless a month, quarter or year is named)
    "hva skylder vi leverandører?" / "leverandørgjeld"      ──▶ payables: 2400 today, and the
        open supplier invoices from the books (overdue first)
    "hva skylder kundene oss?"                              ──▶ receivables: 1500 today
    "hvor mye har vi brukt på programvare i år?"            ──▶ costs: the accounts of the
        group named (the NS 4102 ranges below, and the chart's names), per account and sum
    "saldo på konto 6810" / "hva står på 1920?"             ──▶ account_balance: a balance
        account up to today, a result account over the period (year to date)
    "vis de siste 5 bilagene"                               ──▶ journal: the latest entries
        (date, text, amount, who approved them)
    "vis balansen" / "balanse i fjor" / "balance sheet"      ──▶ balance_sheet: assets, equity
        and liabilities at the period's end (today unless a date or period is named)
    "hva har vi brukt hos Adobe i fjor?" / "spent at Adobe" ──▶ supplier_costs: the costs of the
    "kostnader per leverandør" / "costs by supplier"            entries naming a supplier, or
                                                                 every supplier's, largest first
        ("brukt hos Adobe og Telenor": each supplier named, answered in turn)
    "kostnader per måned i år" / "costs per month"          ──▶ monthly_costs: the income
        statement's operating costs of each month of the period (Europe/Oslo months)

Read-only: every answer reads the ledger through `LedgerService` (`reports:read`) or the log,
and is recorded as one LedgerQueried event with the asker as actor. Nothing is proposed,
reviewed or executed. Every read is bounded: a period, an account, or a number of entries.
The keyword rules that pick these intents are `ledger_intent`; the model classifier
(adapters/intents/claude.py) offers the same names.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final

from bookkeeper.domain import statements
from bookkeeper.domain.events import JournalEntryPostedData

#: Entries listed by "vis de siste bilagene" when no number is named, and at most.
DEFAULT_ENTRIES: Final = 5
MAX_ENTRIES: Final = 20

_ZERO: Final = Decimal("0.00")

# --- Nynorsk ---------------------------------------------------------------------------

#: Nynorsk words of questions about the books and their Bokmål form, which the keyword
#: rules below are written in: a word table, so that every wording the rules know in
#: Bokmål is known in Nynorsk too ("kva skuldar vi leverandørane", "vis dei siste 3
#: bilaga", "kor mykje har vi brukt på straum i førre månad"). Whole words only; words
#: that are the same in both are not listed. "me" (Nynorsk "vi") is left out: English
#: "show me" is the commoner reading.
NYNORSK: Final[dict[str, str]] = {
    # question words and little words
    "kva": "hva", "kor": "hvor", "korleis": "hvordan", "kvifor": "hvorfor",
    "kven": "hvem", "kva for": "hvilke", "mykje": "mye", "dei": "de", "ein": "en",
    "eit": "et", "eitt": "ett", "eg": "jeg", "ikkje": "ikke", "syn": "vis", "sjå": "se",
    "berre": "bare", "sidan": "siden", "frå": "fra", "fram": "frem",
    # the books
    "bilaga": "bilagene", "bilagslista": "bilagslisten", "posteringar": "posteringer",
    "posteringane": "posteringene", "bokføringar": "bokføringer",
    "rekneskap": "regnskap", "rekneskapen": "regnskapet", "rekneskapet": "regnskapet",
    "rekneskapsåret": "regnskapsåret", "hovudbok": "hovedbok", "hovudboka": "hovedboken",
    # owing
    "skuldar": "skylder", "skulda": "skyldte", "skuldig": "skyldig",
    "leverandørar": "leverandører", "leverandørane": "leverandørene",
    "leverandørgjelda": "leverandørgjelden", "kundar": "kunder", "kundane": "kundene",
    "kundefordringane": "kundefordringene",
    # result
    "overskot": "overskudd", "overskotet": "overskuddet", "underskot": "underskudd",
    "underskotet": "underskuddet", "omsetnad": "omsetning", "omsetnaden": "omsetningen",
    # costs
    "kostnadar": "kostnader",
    "straum": "strøm", "straumen": "strømmen", "løn": "lønn", "løna": "lønnen",
    "husleige": "husleie", "kontorleige": "kontorleie",
    "forsikringar": "forsikringer", "gebyra": "gebyrene",
    # periods and counts
    "månad": "måned", "månaden": "måneden", "månader": "måneder", "førre": "forrige",
    "fyrste": "første", "tjuge": "tjue",
}  # fmt: skip
_NYNORSK_WORDS: Final = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, NYNORSK), key=len, reverse=True)) + r")\b"
)


def in_bokmal(lowered: str) -> str:
    """A lowered question with its Nynorsk words in Bokmål (NYNORSK), for the rules."""
    return _NYNORSK_WORDS.sub(lambda found: NYNORSK[found[1]], lowered)


def _lowered(text: str) -> str:
    """A question as the rules read it: lower case, single spaces, Bokmål words."""
    return in_bokmal(" ".join(text.lower().split()))


# --- what the question names -----------------------------------------------------------

_MONTHS: Final[dict[str, int]] = {
    name: number
    for number, names in enumerate(
        (
            ("januar", "january"),
            ("februar", "february"),
            ("mars", "march"),
            ("april",),
            ("mai", "may"),
            ("juni", "june"),
            ("juli", "july"),
            ("august",),
            ("september",),
            ("oktober", "october"),
            ("november",),
            ("desember", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH: Final = re.compile(
    r"\b(?:i|in|for|fra|from|during|om|på)\s+("
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\b(?:\s+(20\d\d))?"
)
_YEAR_NAMED: Final = re.compile(r"\b(?:i|in|for|år|year|regnskapsåret)\s+(20\d\d)\b")
_QUARTER: Final = re.compile(
    r"\bq([1-4])\b|\b([1-4])\.\s*kvartal|\b(første|andre|tredje|fjerde)\s+kvartal"
    r"|\b(first|second|third|fourth)\s+quarter"
)
_ORDINALS: Final = {
    "første": 1,
    "andre": 2,
    "tredje": 3,
    "fjerde": 4,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
}
#: A year right after a quarter ("q3 2025", "3. kvartal 2025", "first quarter of 2025"):
#: that quarter's. A bare year elsewhere may be an account (2050), so it counts only here
#: or after a word that points at it (`_YEAR_NAMED`).
_YEAR_AFTER: Final = re.compile(r"\s+(?:of\s+|i\s+|in\s+)?(20\d\d)\b")
_LAST_YEAR: Final = re.compile(r"\b(i fjor|ifjor|last year|forrige år|previous year)\b")


def _month(year: int, month: int, today: dt.date) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    last = first.replace(day=calendar.monthrange(year, month)[1])
    return first, min(last, today) if first <= today else last


def year_asked(text: str, today: dt.date) -> int | None:
    """The year a question names ("i 2025", "for 2025", "i fjor", "last year"), or None."""
    lowered = _lowered(text)
    if _LAST_YEAR.search(lowered):
        return today.year - 1
    named = _YEAR_NAMED.search(lowered)
    return int(named[1]) if named else None


def names_a_period(text: str) -> bool:
    """Whether a question names a year, last year or a quarter (`ledger_period` reads it)."""
    lowered = _lowered(text)
    return any(p.search(lowered) for p in (_LAST_YEAR, _YEAR_NAMED, _QUARTER))


# --- days, ranges and weeks -------------------------------------------------------------

#: The month names a date is written with ("3. november", "november 3rd", "3 nov").
_DATE_MONTHS: Final[dict[str, int]] = {
    **_MONTHS,
    **{name[:3]: number for name, number in _MONTHS.items() if name != "may"},
    "sept": 9,
}
_MONTH_NAMES: Final = "|".join(sorted(map(re.escape, _DATE_MONTHS), key=len, reverse=True))
_DAY_MONTH: Final = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:of\s+)?({_MONTH_NAMES})\b\.?(?:\s+(20\d\d)\b)?"
)
_MONTH_DAY: Final = re.compile(
    rf"\b({_MONTH_NAMES})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\.\d)(?:,?\s+(20\d\d)\b)?"
)
_NUMERIC_DATE: Final = re.compile(
    r"\b(\d{1,2})\.(\d{1,2})\.?(?:(20\d\d)\b)?(?![\d,])(?!\s*(?:kr|nok|usd|eur|\$|%))"
)
_ISO_DATE: Final = re.compile(r"\b(20\d\d)-(\d{2})-(\d{2})\b")
_WHOLE_MONTH: Final = re.compile(rf"\b({'|'.join(sorted(_MONTHS, key=len, reverse=True))})\b")
#: What stands between the two ends of a range: "1. oktober til 15. november", "1.10–15.11".
_RANGE_JOIN: Final = re.compile(r"\s*(?:-|–|—|til|to|until|og|and|t\.o\.m\.?)\s*")
#: A count said in words ("de siste tre månedene", "the last two quarters").
_COUNTS: Final[dict[str, int]] = {
    "en": 1, "ett": 1, "one": 1, "to": 2, "two": 2, "tre": 3, "three": 3, "fire": 4,
    "four": 4, "fem": 5, "five": 5, "seks": 6, "six": 6, "sju": 7, "syv": 7, "seven": 7,
    "åtte": 8, "eight": 8, "ni": 9, "nine": 9, "ti": 10, "ten": 10, "elleve": 11,
    "eleven": 11, "tolv": 12, "twelve": 12, "fjorten": 14, "fourteen": 14, "tretti": 30,
    "thirty": 30, "seksti": 60, "sixty": 60, "nitti": 90, "ninety": 90,
}  # fmt: skip
_LAST_DAYS: Final = re.compile(
    r"\b(?:siste|de siste|last|past|the last|the past)\s+"
    r"(\d{1,3}|" + "|".join(_COUNTS) + r")\s+"
    r"(dager|dagene|døgn|days|uker|ukene|weeks|måneder|månedene|months|"
    r"kvartaler|kvartalene|quarters)\b"
)
_LAST_WEEK: Final = re.compile(r"\b(forrige uke|sist uke|last week|previous week)\b")
_THIS_WEEK: Final = re.compile(r"\b(denne uken|denne uka|hittil denne uken|this week)\b")
#: The last quarter ended ("siste kvartal", "forrige kvartal", "det siste kvartalet").
_LAST_QUARTER: Final = re.compile(
    r"\b(forrige kvartal|forrige kvartalet|sist kvartal|siste kvartal|siste kvartalet|"
    r"last quarter|previous quarter|the last quarter)\b"
)
_THIS_QUARTER: Final = re.compile(
    r"\b(dette kvartalet|dette kvartal|hittil i kvartalet|this quarter|quarter to date)\b"
)


#: A day or month a period starts at and runs to today from ("siden mars", "since 1 March",
#: "fra og med august"); plain "fra" is left out: "kvitteringer fra oktober" is October's.
_SINCE: Final = re.compile(
    r"\b(?:siden|since|fra og med|f\.o\.m\.?|starting(?: from)?|helt fra)\s+"
)


def _on(year: int | None, month: int, day: int) -> tuple[int | None, int, int] | None:
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    return year, month, day


def _mentions(lowered: str) -> list[tuple[int, int, tuple[int | None, int, int | None]]]:
    """The days and months a question names, in order: (where, where it ends, (year or
    None, month, day or None for a whole month))."""
    found: list[tuple[int, int, tuple[int | None, int, int | None]]] = []
    taken: list[range] = []

    def add(start: int, end: int, value: tuple[int | None, int, int | None]) -> None:
        if not any(start in r or end - 1 in r for r in taken):
            found.append((start, end, value))
            taken.append(range(start, end))

    for match in _ISO_DATE.finditer(lowered):
        day = _on(int(match[1]), int(match[2]), int(match[3]))
        if day is not None:
            add(match.start(), match.end(), day)
    for match in _DAY_MONTH.finditer(lowered):
        year = int(match[3]) if match[3] else None
        day = _on(year, _DATE_MONTHS[match[2]], int(match[1]))
        if day is not None:
            add(match.start(), match.end(), day)
    for match in _MONTH_DAY.finditer(lowered):
        year = int(match[3]) if match[3] else None
        day = _on(year, _DATE_MONTHS[match[1]], int(match[2]))
        if day is not None:
            add(match.start(), match.end(), day)
    for match in _NUMERIC_DATE.finditer(lowered):
        year = int(match[3]) if match[3] else None
        day = _on(year, int(match[2]), int(match[1]))
        if day is not None:
            add(match.start(), match.end(), day)
    for match in _WHOLE_MONTH.finditer(lowered):
        year_after = _YEAR_AFTER.match(lowered, match.end())
        end = year_after.end() if year_after else match.end()
        year = int(year_after[1]) if year_after else None
        add(match.start(), end, (year, _MONTHS[match[1]], None))
    return sorted(found)


def _span(value: tuple[int | None, int, int | None], year: int) -> tuple[dt.date, dt.date]:
    named, month, day = value
    year = named or year
    if day is None:
        last = calendar.monthrange(year, month)[1]
        return dt.date(year, month, 1), dt.date(year, month, last)
    day = min(day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day), dt.date(year, month, day)


def _latest(value: tuple[int | None, int, int | None], today: dt.date) -> tuple[dt.date, dt.date]:
    """A day or month without a year: the latest one begun by today."""
    first, last = _span(value, today.year)
    if value[0] is None and first > today:
        first, last = _span(value, today.year - 1)
    return first, last


def impossible_dates(text: str, today: dt.date) -> list[tuple[str, int, int]]:
    """The dates a question names that the calendar does not have ("31. februar",
    "30.02.2026", "31. april"): each as written, with its month and how many days that
    month has (in the year written, else this year). They were read as the month's last
    day, and the answer named a day nobody asked for."""
    lowered = _lowered(text)
    found: list[tuple[str, int, int]] = []
    for start, end, (year, month, day) in _mentions(lowered):
        if day is None:
            continue
        days = calendar.monthrange(year or today.year, month)[1]
        leap_day = year is None and (month, day) == (2, 29)  # the latest one that was
        if day > days and not leap_day:
            found.append((lowered[start:end].strip(" .,"), month, days))
    return found


def explicit_period(text: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """A period a question names by its days — a date ("3. november", "03.11.2026",
    "november 3rd"), a range of dates or months ("fra 1. oktober til 15. november",
    "1.10–15.11", "from October to November"), the last N days, weeks or months, this or
    last week, or since a day or month ("siden mars": to today) — or None. A date or month
    without a year is the latest one begun by today (a range's start the latest one not
    after its end)."""
    lowered = _lowered(text)
    last = _LAST_DAYS.search(lowered)
    if last is not None:
        count = max(1, int(last[1]) if last[1].isdigit() else _COUNTS[last[1]])
        unit = last[2]
        if unit in ("kvartaler", "kvartalene", "quarters"):
            unit, count = "months", 3 * count
        if unit in ("måneder", "månedene", "months"):
            back = today.month - 1 - count
            year, month = today.year + back // 12, back % 12 + 1
            start = dt.date(year, month, min(today.day, calendar.monthrange(year, month)[1]))
            return start + dt.timedelta(days=1), today
        days = count * (7 if unit in ("uker", "ukene", "weeks") else 1)
        return today - dt.timedelta(days=days - 1), today
    monday = today - dt.timedelta(days=today.weekday())
    if _LAST_WEEK.search(lowered):
        return monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)
    if _THIS_WEEK.search(lowered):
        return monday, today
    quarter_start = today.replace(month=today.month - (today.month - 1) % 3, day=1)
    if _THIS_QUARTER.search(lowered):
        return quarter_start, today
    if _LAST_QUARTER.search(lowered):
        end = quarter_start - dt.timedelta(days=1)
        return end.replace(month=end.month - 2, day=1), end
    mentions = _mentions(lowered)
    for (_, gap_from, first), (gap_to, _, second) in itertools.pairwise(mentions):
        if _RANGE_JOIN.fullmatch(lowered, gap_from, gap_to):
            _, until = _latest(second, today) if second[0] is None else _span(second, today.year)
            since, _ = _span(first, until.year)
            if first[0] is None and since > until:
                since, _ = _span(first, until.year - 1)
            return since, until
    begun = _SINCE.search(lowered)
    if begun is not None:
        # "siden 1. september", "since March", "f.o.m. mars 2025": from then to today.
        for at, _, value in mentions:
            if at == begun.end():
                day, _ = _latest(value, today) if value[0] is None else _span(value, today.year)
                if day <= today:
                    return day, today
    named = [value for _, _, value in mentions if value[2] is not None]
    if len(named) == 1:
        return _latest(named[0], today) if named[0][0] is None else _span(named[0], today.year)
    return None


def month_or_days_asked(text: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The period of the month(s), quarter or days a question names ("i mars", "for
    januar og februar", "q3", "3. november", "fra mars til april"), or None when it names
    none of them (a year alone, "i fjor", is not one)."""
    lowered = _lowered(text)
    if (
        explicit_period(text, today) is None
        and _MONTH.search(lowered) is None
        and _QUARTER.search(lowered) is None
    ):
        return None
    return ledger_period(text, today)


def month_named(text: str) -> int | None:
    """The number of the first month a question names by name, or None."""
    found = _WHOLE_MONTH.search(_lowered(text))
    return _MONTHS[found[1]] if found else None


#: A year written alone ("resultat 2025", "månedlige kostnader 2025"): not a date's part,
#: an amount or a number after an account word.
_BARE_YEAR: Final = re.compile(r"(?<![\d.,:/-])\b(20\d\d)\b(?![\d.,:/-])(?!\s*(?:kr|nok|,-|%))")


def _bare_year(lowered: str, today: dt.date) -> int | None:
    """A year written alone in a question about the books, when no account word claims
    the number ("saldo 2050", "på 2025" are accounts): it was passed over and the year
    so far answered instead ("resultat 2025" was 2026's). Only years up to next year."""
    found = _BARE_YEAR.search(lowered)
    if found is None or account_asked(lowered) == found[1]:
        return None
    year = int(found[1])
    return year if year <= today.year + 1 else None


def ledger_period(text: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The period a question about the books names, in Norwegian or English: last year
    ("i fjor"), a year ("i 2025"), a quarter ("q3", "3. kvartal", "q3 2025"), a month ("i
    november", the latest one not after today unless a year is given), a month or quarter
    of last year ("i mars i fjor"), this or last month; the year to date by default
    ("hittil i år", "i år", or nothing)."""
    lowered = _lowered(text)
    explicit = explicit_period(text, today)
    if explicit is not None:
        return explicit
    if re.search(r"\b(forrige måned|sist måned|last month|previous month)\b", lowered):
        end = today.replace(day=1) - dt.timedelta(days=1)
        return end.replace(day=1), end
    if re.search(r"\b(denne måneden|denne måned|this month|hittil i måneden)\b", lowered):
        return today.replace(day=1), today
    named = _YEAR_NAMED.search(lowered)
    year: int | None = int(named[1]) if named else None
    if _LAST_YEAR.search(lowered):
        year = today.year - 1
    if year is None:
        year = _bare_year(lowered, today)
    month = _MONTH.search(lowered)
    if month is not None:
        number = _MONTHS[month[1]]
        if month[2]:
            year = int(month[2])
        if year is None:
            year = today.year if number <= today.month else today.year - 1
        return _month(year, number, today)
    quarter = _QUARTER.search(lowered)
    if quarter is not None:
        after = _YEAR_AFTER.match(lowered, quarter.end())
        if after is not None:
            year = int(after[1])
        year = today.year if year is None else year
        number = int(quarter[1] or quarter[2] or _ORDINALS[quarter[3] or quarter[4]])
        first = dt.date(year, 3 * number - 2, 1)
        last_month = 3 * number
        last = dt.date(year, last_month, calendar.monthrange(year, last_month)[1])
        return first, min(last, today) if first <= today else last
    if year is not None and year != today.year:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    return today.replace(month=1, day=1), today


#: An account named as such: "konto 6810", "kontoen 1920", "account 2400", "konto nr. 1500".
_ACCOUNT_NAMED: Final = re.compile(
    r"\b(?:konto|kontoen|kontonummer|account|acct)\s*(?:nr\.?|no\.?|number)?\s*(\d{4}(?::[\w-]+)?)\b"
)
#: A bare account number (1000–8999) after a word that points at it ("hva står på 1920",
#: "saldo 1920": a balance with an account number is the ledger's, not the bank's).
_ACCOUNT_BARE: Final = re.compile(
    r"\b(?:på|on|of|for|til|saldo|saldoen|balance)\s+([1-8]\d{3})\b(?!\s*(?:kr|nok|,))"
)


def account_asked(text: str) -> str | None:
    """The account code a question names ("konto 6810", "på 1920"), or None. A year after
    "i"/"in"/"for" is not an account ("i 2025")."""
    lowered = _lowered(text)
    named = _ACCOUNT_NAMED.search(lowered)
    if named is not None:
        return named[1]
    bare = _ACCOUNT_BARE.search(lowered)
    if bare is not None and not (bare[0].startswith("for ") and 2000 <= int(bare[1]) < 2100):
        return bare[1]
    return None


class Topic:
    """An account group a cost question names: its words, and the NS 4102 account codes
    (prefixes) it spans; the chart's names are searched too (`cost_accounts`)."""

    def __init__(self, key: str, words: str, prefixes: tuple[str, ...]) -> None:
        self.key = key
        self.words = re.compile(rf"\b({words})\b")
        self.prefixes = prefixes


#: The cost groups people name, first match wins. Software is booked on 6540 here (the
#: default table of domain/accounts.py) as well as on NS 4102's 6551–6553 and 681x
#: (Data/EDB-kostnad: where story 2's reviewer corrects a subscription to).
TOPICS: Final[tuple[Topic, ...]] = (
    Topic(
        "software",
        r"programvare\w*|software|lisens\w*|licen[cs]e\w*|abonnement\w*|subscriptions?|saas",
        ("6540", "6551", "6552", "6553", "681"),
    ),
    Topic(
        "travel",
        r"reise\w*|travel\w*|fly|flyreise\w*|flybillett\w*|hotell\w*|hotels?|taxi|drosje|"
        r"diett|trips?",
        ("71",),
    ),
    Topic(
        "food",
        r"mat|lunsj|lunch|food|meals?|måltid\w*|bevertning|kantine\w*|middag\w*|dinners?|"
        r"kaffe|coffee",
        ("591", "599", "735"),
    ),
    Topic("telecom", r"telefon\w*|mobil\w*|internett|bredbånd|phones?|telecom|internet", ("69",)),
    Topic("rent", r"husleie|leie av lokale\w*|lokaler|kontorleie|rent|office rent", ("63",)),
    Topic(
        "marketing",
        r"reklame\w*|markedsføring|annonse\w*|annonsering|advertising|marketing|ads",
        ("730", "731", "732", "733", "734"),
    ),
    Topic(
        "services",
        r"regnskapsfør\w*|regnskapshjelp|revisjon|revisor\w*|konsulent\w*|advokat\w*|"
        r"accountants?|accounting|auditors?|audit|consult\w*|lawyers?|legal",
        ("67",),
    ),
    Topic(
        "office",
        r"kontorrekvisita|rekvisita|kontormateriell|office supplies|stationery",
        ("68",),
    ),
    Topic("payroll", r"lønn\w*|salar\w*|wages?|payroll|personal\w*|staff", ("5",)),
    Topic("insurance", r"forsikring\w*|insurance", ("75",)),
    Topic("bank_fees", r"bankgebyr\w*|gebyr\w*|bank fees|fees|kortgebyr\w*", ("777",)),
    Topic(
        "car", r"bil|biler|bilen|bilhold|bilkostnad\w*|drivstoff|bensin|diesel|fuel|cars?", ("70",)
    ),
    Topic("electricity", r"strøm|elektrisitet|electricity|energi|energy", ("62",)),
)

#: Where a cost question says what the costs were for: the words after these.
_COST_FOR: Final = re.compile(
    r"\b(?:brukt|brukte vi|bruker vi|brukes|bruke|betalt|betalte vi|kostet|kostnader|kostnad|"
    r"utgifter|spent|spend|spending|paid|costs?|expenses?|(?:do|did) we use|is used)\s+"
    r"(?:på|til|for|on|in|til)\s+"
    r"(?:konto\s+\d{4}\s*)?([a-zæøå][\wæøå-]*(?:\s+[a-zæøå][\wæøå-]*)?)"
)
#: A name right after "kostet" or before "cost" ("hva kostet AWS i oktober", "what did
#: AWS cost"): what the costs were for, said without a preposition.
_COST_OF: Final = re.compile(
    r"\bkostet\s+(?:oss\s+)?([a-zæøå][\wæøå-]*)"
    r"|\b(?:what|how much)\s+(?:did|does|do|has)\s+([a-zæøå][\wæøå-]*)\s+cost\b"
)
_COST_WORDS: Final = re.compile(
    r"\b(brukt|brukte|bruker|kostet|kost\w*|utgift\w*|spent|spend\w*|costs?|expenses?)\b"
)
_STOP: Final = frozenset(
    {"i", "in", "this", "denne", "dette", "hittil", "siste", "last", "så", "so", "for", "på",
     "år", "year", "måned", "month", "fjor", "til", "og", "and", "the", "vi", "we", "oss",
     "det", "den", "alt", "it", "that", "everything", "all", "totalt", "mest",
     "us", "you", "our", "vår", "våre", "mye", "much", "egentlig"}
)  # fmt: skip


def topic_asked(text: str) -> tuple[str, Topic | None] | None:
    """What a cost question names as what the costs were for: (the words as written, the
    group of TOPICS they are, None when none), or None when it names nothing."""
    lowered = _lowered(text)
    for topic in TOPICS:
        found = topic.words.search(lowered)
        if found is not None:
            return found[1], topic
    match = _COST_FOR.search(lowered)
    if match is None:
        of = _COST_OF.search(lowered)
        name = (of[1] or of[2]) if of is not None else None
        if name is None or name in _STOP or len(name) < 3 or _names_a_period(name):
            return None
        return name, None
    words = [w for w in match[1].split() if w not in _STOP]
    if not words or len(words[0]) < 3 or _names_a_period(words[0]):
        return None  # "how much did we spend in November": a period, not what on
    return words[0], None


def _names_a_period(word: str) -> bool:
    return (
        word in _DATE_MONTHS or word in _PERIOD_WORDS or re.fullmatch(r"q[1-4]", word) is not None
    )


#: Words of a period said where a cost question's "what on" would be ("spent in total").
_PERIOD_WORDS: Final = frozenset(
    {"quarter", "kvartal", "week", "uke", "today", "yesterday", "idag", "igår", "fjor",
     "ifjor", "total", "totalt", "sum", "all", "the", "our", "these", "those"}
)  # fmt: skip


def cost_accounts(
    codes: Sequence[str], topic: Topic | None, word: str, names: Callable[[str], str | None]
) -> list[str]:
    """Which of the ledger's `codes` a cost question about `word` asks: those in the
    topic's ranges, and the cost accounts (classes 4–7) whose name in the chart has the
    word (or its first five letters) in it."""
    stem = word[:5] if len(word) > 5 else word
    found = []
    for code in codes:
        main = code.split(":", 1)[0]
        if topic is not None and main.startswith(topic.prefixes):
            found.append(code)
            continue
        if statements.account_class(code) not in ("4", "5", "6", "7"):
            continue
        name = (names(code) or "").lower()
        if len(stem) >= 3 and stem in name:
            found.append(code)
    return found


_COUNT: Final = re.compile(r"\b(\d{1,3})\b")
_COUNT_WORDS: Final[dict[str, int]] = {
    "en": 1, "ett": 1, "one": 1, "to": 2, "two": 2, "tre": 3, "three": 3, "fire": 4,
    "four": 4, "fem": 5, "five": 5, "seks": 6, "six": 6, "sju": 7, "syv": 7, "seven": 7,
    "åtte": 8, "eight": 8, "ni": 9, "nine": 9, "ti": 10, "ten": 10, "tjue": 20, "twenty": 20,
}  # fmt: skip


def entries_asked(text: str) -> int:
    """How many entries "vis de siste 5 bilagene" asks for (DEFAULT_ENTRIES unnamed, at
    most MAX_ENTRIES, at least 1)."""
    lowered = _lowered(text)
    found = _COUNT.search(lowered)
    count = int(found[1]) if found else None
    if count is None:
        words = re.findall(r"[a-zæøå]+", lowered)
        count = next((_COUNT_WORDS[w] for w in words if w in _COUNT_WORDS and w != "en"), None)
    return max(1, min(count or DEFAULT_ENTRIES, MAX_ENTRIES))


# --- which question --------------------------------------------------------------------

_JOURNAL: Final = re.compile(
    r"\b(bilag|bilagene|bilaget|bilagsliste\w*|postering\w*|journalposter\w*|"
    r"journal entr\w*|entries|vouchers?|bokføringer|siste bokført\w*|latest postings?)\b"
)
_RECEIVABLES: Final = re.compile(
    r"\b(kundefordring\w*|skylder kunde\w*|kunde\w* skylder|kunder som skylder|skylder oss|"
    r"customers? owe|clients? owe|"
    r"utestående fra kunde\w*|owe us|owes us|receivables?|accounts receivable|"
    # Invoices to customers are receivables, not the suppliers' invoices (probe4).
    r"kundefaktura\w*|faktura\w* (?:fra|til) kunde\w*|customer invoices?|"
    r"invoices? (?:to|from) customers?)\b"
)
_PAYABLES: Final = re.compile(
    r"\b(leverandørgjeld\w*|skylder vi|hva skylder|gjeld til leverandør\w*|"
    r"skyldig til leverandør\w*|what do we owe|do we owe|we owe|payables?|accounts payable|"
    # Bills and what is overdue are the suppliers' ("hvilke regninger har forfalt?").
    r"regning\w*|forfalt\w*|forfalte|overdue|bills?)\b"
)
_RESULT: Final = re.compile(
    r"\b(resultat\w*|driftsresultat\w*|årsresultat\w*|hvordan går det|går det bra|"
    r"overskudd\w*|underskudd\w*|tjent|"
    r"omsetning\w*|inntekt\w*|profit\w*|result|results|how are we doing|how is business|"
    r"income statement|revenue|earnings|earned|"
    # What we invoiced, sold or earned is revenue (probe4: "hvor mye har vi fakturert?"
    # was answered with the supplier invoices); what a supplier invoiced us is not.
    r"fakturert(?! oss)|invoiced(?! us)|solgt|salg|salget|sold|sell|tjente|earn|"
    r"omsatte|omsatt|omsetter|turnover|tjener|ligger vi an)\b"
)
#: The costs as a whole ("hva er kostnadene i år", "total costs this year"): the income
#: statement's cost lines, not a group of them nor the cost snapshots.
_TOTAL_COSTS: Final = re.compile(
    r"\b(driftskostnad\w*|kostnadene|utgiftene|totale (?:kostnader|utgifter)|"
    r"(?:brukt|brukte vi|kostet|betalt) totalt|totalt (?:brukt|kostet)|"
    r"total (?:costs?|expenses|spending)|(?:spent|spend) in total|"
    r"operating (?:costs|expenses)|our (?:costs|expenses))\b"
)
_LEDGER_BALANCE_WORDS: Final = re.compile(
    r"\b(saldo\w*|balanse\w*|balance|står|bokføring\w*|hovedbok\w*|regnskap\w*|ledger|"
    r"books|konto\w*|account)\b"
)


#: The balance sheet as a whole ("vis balansen", "balanse i fjor", "the balance sheet",
#: "eiendeler og gjeld"). English "balance" alone stays the bank's (the product's
#: "balance?"), and so does a balance word with the bank in it ("balansen på bankkontoen").
_BALANCE_SHEET: Final = re.compile(
    r"\b(balanse|balansen|balanser|balanseregnskap\w*|balanseoppstilling\w*|balansetall\w*|"
    r"balance ?sheets?|eiendeler og gjeld|eiendelene og gjelden|assets and liabilities|"
    r"egenkapital og gjeld|egenkapitalen|equity and liabilities|hva eier vi|what do we own|"
    r"statement of financial position)\b"
)
_BANK: Final = re.compile(r"\bbank\w*")
#: Costs by supplier as a list ("kostnader per leverandør", "costs by supplier",
#: "hvilke leverandører har vi brukt mest på", "top suppliers").
_SUPPLIER_LIST: Final = re.compile(
    r"\b(?:per|by|etter|pr\.?|fordelt på|split by|broken down by)\s+"
    r"(?:leverandør\w*|supplier\w*|vendors?|merchants?|butikk\w*|firma\w*)"
    r"|\b(?:største|biggest|largest|top|topp)\s+(?:\d+\s+)?"
    r"(?:leverandør\w*|suppliers?|vendors?|merchants?)"
    r"|\bhvilke(?:n)?\s+leverandør\w*\s+(?:har vi\s+|bruker vi\s+|brukte vi\s+)?"
    r"(?:brukt|bruker|brukte|handlet|betalt|betaler|kjøpt|kostet|koster)"
    r"|\bwhich\s+(?:suppliers?|vendors?)\s+(?:do|did|have)\s+we\s+"
    r"(?:spend|spent|pay|paid|buy|bought)"
    r"|\b(?:hvem|hvor)\s+(?:har vi\s+)?(?:brukt|handlet|betalt|kjøpt)\w*\s+mest\b"
    r"|\bwho\s+(?:do|did|have)\s+we\s+(?:spend|spent|pay|paid)\s+(?:the\s+)?most\b"
)
#: Where a question names the supplier the money went to: "brukt hos Adobe", "handlet hos
#: Elkjøp", "kjøpt fra Clas Ohlson", "betalt til Adobe", "spent at Adobe", "paid to AWS",
#: "bought from IKEA". The name is the words after it, up to a period or little word.
_SPENT_AT: Final = re.compile(
    r"\b(?:brukt|brukte|bruker|bruke|handlet|handla|handler|handle|kjøpt|kjøpte|kjøper|"
    r"betalt|betalte|betaler|lagt igjen|la vi igjen|la igjen|spent|spend|spending|paid|pay|"
    r"bought|buy|purchased|shopped|kostnader|kostnad|utgifter|utgift|costs?|expenses?)\b"
    r"(?:\s+(?:vi|we|oss|us|totalt|in total|penger|money|for|til sammen))*\s+"
    r"(?:hos|at|with|from|fra|til|to)\s+[«\"'“‘]?"
    r"([\w&][\w&.'’-]*(?:\s+[\w&][\w&.'’-]*){0,3})"
)
#: Words that end a supplier's name in a question ("hos Clas Ohlson i fjor").
_NAME_ENDS: Final = frozenset(
    {"i", "in", "for", "this", "denne", "dette", "hittil", "siste", "last", "så", "so", "på",
     "og", "and", "the", "totalt", "total", "year", "år", "måned", "month", "fjor",
     "forrige", "previous", "kvartal", "quarter", "uke", "week", "since", "siden", "fra",
     "from", "til", "to", "until", "during", "ifjor", "idag", "today",
     "per", "etter", "om", "vs", "eller", "or", "med", "with", "uten", "without",
     "da", "then", "nå", "now", "egentlig", "really", "mon", "tro", "date", "dato",
     "vat", "mva", "moms",
     # not a name: a pronoun, or where the money came from ("brukt fra kontoen")
     "dem", "them", "de", "den", "det", "it", "ham", "him", "henne", "her", "deg", "you",
     "meg", "me", "oss", "us", "konto", "kontoen", "account", "kortet", "card", "banken",
     "bank", "kassa", "kassen"}
)  # fmt: skip
#: A supplier's legal form: no part of the name a question matches.
_LEGAL_FORMS: Final = frozenset({"as", "asa", "ab", "ltd", "inc", "gmbh", "llc", "sa", "ug"})
#: What the money went to that is not one supplier: the list question.
_NOT_A_SUPPLIER: Final = re.compile(
    r"^(?:leverandør\w*|suppliers?|vendors?|merchants?|butikk\w*|hvem|who|whom|"
    r"hvilke\w*|which|alle|all|everyone|everybody)$"
)


#: Words that join one supplier's name to the next ("hos Adobe og Telenor", "Adobe, Telenor
#: and Microsoft"), and words after them that begin no name ("hos Adobe og hva …").
_NAME_JOINS: Final = frozenset({"og", "and", "&", "samt", "eller", "or"})
_NOT_A_NAME_START: Final = frozenset(
    {"hva", "what", "hvor", "how", "hvem", "who", "vi", "we", "jeg", "i", "totalt", "total",
     "sammenlagt", "hver", "each", "ellers", "andre", "other", "others", "resten", "rest",
     "alle", "all", "også", "also", "så", "so"}
)  # fmt: skip


def _name_at(raws: list[str]) -> tuple[str, int, bool]:
    """The supplier's name the words `raws` begin with, how many words it took, and
    whether punctuation ended it (a comma: another name may follow)."""
    words: list[str] = []
    used = 0
    for raw in raws:
        word = raw.strip("?!.,:;«»\"'()’")
        if (
            not word
            or word in _NAME_ENDS
            or word in _NAME_JOINS
            or word in _MONTHS
            or re.fullmatch(r"q[1-4]|20\d\d", word)
            or re.fullmatch(r"\d{1,2}\.", raw)  # "3. kvartal", "1. mars"
        ):
            break
        words.append(word)
        used += 1
        if raw != word and raw.rstrip("?!.,:;«»\"')’") != raw:
            return " ".join(words), used, raw.rstrip("«»\"')’").endswith(",")
    return " ".join(words), used, False


def suppliers_asked(text: str) -> list[str]:
    """The suppliers a cost question names, lowered, in the order named: "hos Adobe"
    one, "hos Adobe og Telenor" / "at Adobe, Telenor and Microsoft" each; [] for none
    (none named, or a word of TOPICS or a period instead of a name)."""
    lowered = _lowered(text)
    found = _SPENT_AT.search(lowered)
    if found is None:
        return []
    return _names_from(lowered[found.start(1) :].split())


def names_listed(text: str, first: str) -> list[str]:
    """`first`, a name a cost question names ("hva kostet Adobe og Telenor"), and the
    names listed after it ("og Telenor"); [first] when none follow or it is not found."""
    lowered = _lowered(text)
    found = re.search(rf"(?<![\w&]){re.escape(first)}(?![\w&])", lowered)
    if found is None:
        return [first]
    listed = _names_from(lowered[found.start() :].split())
    return listed if listed and listed[0] == first else [first]


#: A preposition repeated after a joining word ("hos Adobe og hos Telenor").
_REPEATED_AT: Final = frozenset({"hos", "at", "with", "from", "fra", "til", "to", "på", "on"})


def _names_from(raws: list[str]) -> list[str]:
    """The names listed from the start of `raws` ("adobe og telenor i år")."""
    names: list[str] = []
    at = 0
    while at < len(raws):
        name, used, comma = _name_at(raws[at:])
        if not name or _NOT_A_SUPPLIER.match(name):
            break
        if any(topic.words.fullmatch(name) for topic in TOPICS):
            break  # "brukt til reise" is the travel accounts' question
        names.append(name)
        at += used
        if not comma:  # "Adobe og Telenor": a joining word, then the next name
            if at >= len(raws) or raws[at].strip("?!.,:;") not in _NAME_JOINS:
                break
            at += 1
        if at < len(raws) and raws[at] in _REPEATED_AT:
            at += 1  # "og hos Telenor"
        if at >= len(raws) or raws[at].strip("?!.,:;«»\"'") in _NOT_A_NAME_START:
            break
    return list(dict.fromkeys(names))


def supplier_asked(text: str) -> str | None:
    """The (first) supplier a cost question names ("hos Adobe", "spent at Clas Ohlson"),
    lowered, or None (none named, or a word of TOPICS or a period instead of a name)."""
    names = suppliers_asked(text)
    return names[0] if names else None


def asks_suppliers(text: str) -> bool:
    """Whether a question asks for the costs per supplier ("kostnader per leverandør")."""
    lowered = _lowered(text)
    if _SUPPLIER_LIST.search(lowered):
        return True
    found = _SPENT_AT.search(lowered)
    return (
        found is not None and _NOT_A_SUPPLIER.match(found[1].split()[0].strip("?!.,")) is not None
    )


#: Costs month by month ("kostnader per måned i år", "costs per month", "månedlige
#: utgifter", "hva har vi brukt hver måned"): each month's costs, not a supplier's or a
#: spending source's.
_PER_MONTH: Final = re.compile(
    r"\b(?:per|pr\.?|hver|each|every|by)\s+(?:måned|mnd|month)\b|\bmåned for måned\b|"
    r"\bmonth by month\b|\bmånedlig\w*|\bmonthly\b|\bmånedsvis\b|\bfordelt på måned\w*|"
    r"\bbroken down by month\b|(?<!hittil )\bi måneden\b|\ba month\b(?! ago)"
)
_MONTHLY_COST_WORDS: Final = re.compile(
    r"\b(kostnad\w*|utgift\w*|brukt|brukte|bruker|forbruk\w*|costs?|expenses?|spent|"
    r"spend\w*)\b"
)


def asks_monthly_costs(lowered: str) -> bool:
    """Whether a question asks for the costs month by month ("kostnader per måned i år")."""
    return (
        _PER_MONTH.search(lowered) is not None and _MONTHLY_COST_WORDS.search(lowered) is not None
    )


def months_of(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The calendar months [start, end] touches, each cut to the period."""
    months: list[tuple[dt.date, dt.date]] = []
    day = start
    while day <= end:
        last = dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
        months.append((day, min(last, end)))
        day = last + dt.timedelta(days=1)
    return months


def asks_balance_sheet(lowered: str) -> bool:
    return _BALANCE_SHEET.search(lowered) is not None and _BANK.search(lowered) is None


def ledger_intent(lowered: str, *, vat: bool, sources: bool) -> str | None:
    """The question about the books a lowered message asks, or None: `vat` when it has
    VAT words (then "hva skylder vi" is the VAT question's), `sources` when it names a
    spending source (then a cost question is the cost snapshots')."""
    if _JOURNAL.search(lowered):
        return "journal"
    if _RECEIVABLES.search(lowered):
        return "receivables"
    if _PAYABLES.search(lowered) and not vat:
        return "payables"
    account = account_asked(lowered)
    if account is None and not sources and (asks_suppliers(lowered) or supplier_asked(lowered)):
        return "supplier_costs"
    named = account is not None or topic_asked(lowered) is not None
    if not (named or sources or vat) and asks_monthly_costs(lowered):
        return "monthly_costs"
    if _COST_WORDS.search(lowered) and not sources and named:
        return "costs"
    if account is not None and _LEDGER_BALANCE_WORDS.search(lowered):
        return "account_balance"
    if asks_balance_sheet(lowered):
        return "balance_sheet"
    if _RESULT.search(lowered) and not vat:
        return "result"
    if _TOTAL_COSTS.search(lowered) and not (vat or sources or named):
        return "result"  # the costs as a whole are the income statement's
    if asks_costs_generally(lowered) and not (vat or sources or named or _AT.search(lowered)):
        # "kostnader i november", "hva brukte vi i fjor", "forbruk i år": the company's
        # costs, in the books; the cost snapshots' only with a source named (the answer
        # says how to ask for those).
        return "result"
    return None


#: Words of costs or spending that name neither a group, an account, a supplier nor a
#: spending source ("kostnader i november", "hva brukte vi i fjor", "expenses last month").
_GENERIC_COSTS: Final = re.compile(
    r"\b(kostnad\w*|kostet|koster|utgift\w*|forbruk\w*|brukt|brukte|"
    r"spent|spend|spending|costs?|expenses?|expenditures?)\b"
    # "bruker" alone is everyday ("hvilken konto bruker vi"); "hvor mye bruker vi" is costs
    r"|\bhvor mye\b.*\bbruker\b"
)
#: Costs at someone the question does not name ("hvor mye har vi brukt hos dem"): not the
#: costs as a whole.
_AT: Final = re.compile(r"\b(hos|at)\b")
#: A budget is the cost snapshots' (the spending alerts'), not the books'.
_BUDGET: Final = re.compile(r"\b(budsjett\w*|budget\w*)\b")
#: Words that make a cost question the books' without doubt ("driftskostnader",
#: "kostnadene i regnskapet"): no hint of the cost snapshots is given with the answer.
_BOOKS_WORDS: Final = re.compile(
    r"\b(regnskap\w*|bokført\w*|driftskostnad\w*|resultat\w*|hovedbok\w*|books|ledger|"
    r"accounts|accounting|income statement)\b"
)


def asks_costs_generally(lowered: str) -> bool:
    """Whether a question asks about costs or spending without naming what on (no budget
    either): the books' costs as a whole."""
    return _GENERIC_COSTS.search(lowered) is not None and _BUDGET.search(lowered) is None


def costs_could_be_cloud(lowered: str) -> bool:
    """Whether a cost question answered from the books could have meant the cost
    snapshots (cloud and AI spending): it asks about costs in everyday words and names
    no books word nor the result ("hva brukte vi i november", "kostnader i år")."""
    return (
        asks_costs_generally(lowered)
        and _BOOKS_WORDS.search(lowered) is None
        and _RESULT.search(lowered) is None
    )


def signed(balance: Decimal, language_words: Callable[[str], str]) -> tuple[Decimal, str]:
    """A debit − credit balance as people read it: the amount and its side."""
    if balance < 0:
        return -balance, language_words("ledger.credit")
    return balance, language_words("ledger.debit")


def main_account(code: str) -> str:
    return code.split(":", 1)[0]


def total_of(balances: Sequence[tuple[str, Decimal]], account: str) -> Decimal:
    """The balance of `account` with its sub-ledger accounts ("2400:20001")."""
    return sum((b for code, b in balances if main_account(code) == account), _ZERO)


# --- costs by supplier, from the entries' texts ------------------------------------------

#: The date a receipt's entry ends its description with, and the words an invoice's
#: entry names its document with (domain/ledger.posting_for): "Adobe 2026-03-10",
#: "Telenor faktura 1234", "Telenor kreditnota 77"; a correction's note after it.
_ENTRY_DATE: Final = re.compile(r"\s+\d{4}-\d{2}-\d{2}\b.*$")
_ENTRY_DOCUMENT: Final = re.compile(r"\s+(?:faktura|kreditnota)\b.*$", re.IGNORECASE)
_ENTRY_NOTE: Final = re.compile(r"\s+\((?:korrigering|reversering)\b.*$")
_REVERSAL: Final = re.compile(r"^(?:reversering|reversert|korrigering):\s*", re.IGNORECASE)
#: Longest supplier name shown.
MAX_SUPPLIER_NAME: Final = 60


def supplier_of(entry: JournalEntryPostedData) -> str:
    """Who an entry's costs went to, as its description names them: a receipt's or
    invoice's entry begins with the merchant or supplier (then its date, or "faktura N");
    a manual entry is its text."""
    text = " ".join(entry.description.split())
    text = _REVERSAL.sub("", text)
    for pattern in (_ENTRY_NOTE, _ENTRY_DOCUMENT, _ENTRY_DATE):
        shorter = pattern.sub("", text)
        if shorter:
            text = shorter
    text = text.strip(" -–:,")
    if len(text) > MAX_SUPPLIER_NAME:
        text = text[: MAX_SUPPLIER_NAME - 1] + "…"
    return text or "?"


def entry_cost(entry: JournalEntryPostedData) -> tuple[Decimal, Decimal]:
    """An entry's costs (classes 4–7, debit − credit) and the input VAT on them (the VAT
    accounts' lines of the entry's tax part, debit − credit)."""
    cost = vat = _ZERO
    for line in entry.lines:
        if statements.account_class(line.account) in ("4", "5", "6", "7"):
            cost += line.debit - line.credit
        elif line.vat_part == "tax" and main_account(line.account).startswith("27"):
            vat += line.debit - line.credit
    return cost, vat


#: The Norwegian letters as they are written without them ("aerlig ol", "Boeker og
#: Blaabaer"): both the name asked and the entry's are compared in this form.
_FOLDED: Final = (("æ", "ae"), ("ø", "o"), ("å", "a"), ("oe", "o"), ("aa", "a"))


def _folded(word: str) -> str:
    for letter, written in _FOLDED:
        word = word.replace(letter, written)
    return word


def supplier_words(text: str) -> list[str]:
    """A supplier's name as words to compare: lower case, without its legal form, the
    Norwegian letters as they are written without them ("Ærlig Øl" ~ "aerlig ol")."""
    words = re.findall(r"[\w&]+", text.casefold())
    return [_folded(w) for w in words if w not in _LEGAL_FORMS]


def whole_name(text: str, names: Sequence[str]) -> str | None:
    """The words a question names from the first of `names` to the last, as one name
    ("bøker og blåbær" of "hos Bøker og Blåbær"): a supplier whose name has a joining
    word in it was answered as two. None when they are not found in order."""
    lowered = _lowered(text)
    first = lowered.find(names[0])
    last = lowered.find(names[-1], first + len(names[0])) if first >= 0 else -1
    if first < 0 or last < 0:
        return None
    return lowered[first : last + len(names[-1])]


def names_supplier(asked: str, name: str) -> bool:
    """Whether an entry's supplier `name` is the one asked: every word asked begins a
    word of the name ("adobe" in "Adobe Systems Software Ireland", "clas ohlson")."""
    wanted = supplier_words(asked)
    have = supplier_words(name)
    return bool(wanted) and all(any(h.startswith(w) for h in have) for w in wanted)
