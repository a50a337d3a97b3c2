"""Rules as data: tax rates valid over dates, currencies' minor units, closed periods, and
the compliance checks of a posted journal entry (issue 12, ADR 0029).

A tax rate is a row (country, tax type, direction, SAF-T standard code, rate, input VAT
account, valid from, valid to — both inclusive, `valid_to` None: still valid). A rate
change on a date is a new row from that date and the old row ending the day before; the
postings, the VAT report and the compliance checks read the row valid on the document's
date, so a change takes effect without a deploy.

`NORWAY_TAX_RATES` is the seed (norway.md's VAT table; the history of the low rate, which
bokføring of older documents needs, from Skatteetaten's published rates: 10 % in 2016–17,
12 % from 2018, 6 % from 1 April 2020 to 30 September 2021 (the pandemic measure), 12 %
again since). Migration 0016 writes the same rows into `tax_rates`, except the import
codes 14, 15, 21–23 added later, which migration 0021 writes (ADR 0047 addendum), and
7, 20 and 51, which migration 0023 writes (ADR 0047 addendum 3): the store alone says
which rates there are (a row deleted there stays deleted); in-memory units of work start
with all of them. The reverse-charge codes (81–89, 91, 92) need no rows: they are
calculated at their tax type's output code's rate (REVERSE_CHARGE, TaxTable.rate_row).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

import msgspec

from bookkeeper.domain.errors import DomainError, InvalidCorrection, NokAmountStale
from bookkeeper.domain.events import (
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    ReceiptAttachmentData,
)

PurchaseData = ReceiptAttachmentData | InvoiceRegistrationData | ExpenseRegistrationData

NORWAY: Final = "NO"
NOK: Final = "NOK"

INPUT: Final = "input"
OUTPUT: Final = "output"

#: The kinds of period a tenant closes or locks.
PERIOD: Final = "period"  # closed by an accountant: no posting dated into it
#: Locked once its return is reported: no entry with VAT lines dated into it (ADR 0040
#: addendum "closed periods and locked VAT terms hold for every kind of posting").
VAT_TERM: Final = "vat-term"

#: Kroner of difference tolerated between a line's VAT and its basis × the rate (norway.md).
VAT_TOLERANCE: Final = Decimal("1")


class InvalidRule(DomainError):
    """A tax rate, currency or period that cannot be stored as given."""

    code = "invalid-rule"


class PeriodClosed(DomainError):
    """A posting dated into a closed period (HTTP 409): corrections go into an open
    period by reversal (bokføringsloven § 4)."""

    code = "period-closed"

    def __init__(self, period: FiscalPeriod, date: dt.date) -> None:
        super().__init__(
            f"the period {period.name} ({period.start} to {period.end}) is closed: nothing "
            f"dated {date} can be posted; post a reversal or correction in an open period"
        )
        self.period = period
        self.date = date


class VatTermLocked(DomainError):
    """An entry with VAT lines dated into a locked (reported) VAT term (HTTP 409): its
    return would no longer be the one reported; post it, or its correction, in an open
    term (the change is reported in the term in which it is booked)."""

    code = "vat-term-locked"

    def __init__(self, period: FiscalPeriod, date: dt.date) -> None:
        super().__init__(
            f"the VAT term {period.name} ({period.start} to {period.end}) is locked, its "
            f"return reported: no entry with VAT dated {date} can be posted; date it in an "
            "open term"
        )
        self.period = period
        self.date = date


def touches_vat(entry: JournalEntryPostedData) -> bool:
    """Whether the entry changes a VAT report: a line with a VAT code (the report sums
    every line that has one, 0 and unknown codes apart, ADR 0047 addendum 4)."""
    return any(line.vat_code is not None for line in entry.lines)


def shut_on(day: dt.date, periods: Iterable[FiscalPeriod], *, vat: bool) -> FiscalPeriod | None:
    """The closed period holding `day`, else — for an entry with VAT lines (`vat`) — the
    locked VAT term holding it; None: the day is open to such an entry."""
    terms: list[FiscalPeriod] = []
    for period in periods:
        if not period.contains(day):
            continue
        if period.kind == PERIOD:
            return period
        if vat and period.kind == VAT_TERM:
            terms.append(period)
    return terms[0] if terms else None


def first_open_day(
    day: dt.date, periods: Sequence[FiscalPeriod], *, vat: bool
) -> tuple[dt.date, list[FiscalPeriod]]:
    """The first day from `day` on in no closed period and (`vat`) no locked VAT term,
    and the periods and terms it was moved past (empty: `day` is open)."""
    passed: list[FiscalPeriod] = []
    while (period := shut_on(day, periods, vat=vat)) is not None:
        passed.append(period)
        day = period.end + dt.timedelta(days=1)
    return day, passed


def shut_note(passed: Sequence[FiscalPeriod]) -> str:
    """What was passed, as an entry's description says it (Norwegian, as the books):
    "periode 2026-11 lukket", "MVA-termin 2026-6 låst", or both."""
    closed = [p.name for p in passed if p.kind == PERIOD]
    locked = [p.name for p in passed if p.kind != PERIOD]
    parts = []
    if closed:
        parts.append(f"periode {', '.join(closed)} lukket")
    if locked:
        parts.append(f"MVA-termin {', '.join(locked)} låst")
    return "; ".join(parts)


class TaxRate(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One tax rate over its dates of validity (both ends inclusive)."""

    country: str
    #: regular, middle, low, raw-fish, zero, none (the SAF-T code list's rate column).
    tax_type: str
    #: input (purchases), output (sales) or None (outside either).
    direction: str | None
    saft_code: str
    #: Percent (25 = 25 %); None for codes without a rate (outside the VAT Act).
    rate: Decimal | None
    #: The input VAT account a purchase at this rate books its VAT on (2710 …).
    account: str | None = None
    valid_from: dt.date
    valid_to: dt.date | None = None

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class Currency(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An ISO 4217 currency and how many decimals its amounts have (NOK: 2, JPY: 0)."""

    code: str
    name: str
    minor_units: int


class Country(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    code: str
    name: str
    currency: str | None


class FiscalPeriod(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A closed period or a locked VAT term of one tenant."""

    tenant_id: str
    kind: str
    name: str
    start: dt.date
    end: dt.date
    closed_by: str
    closed_at: dt.datetime

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def period_name(start: dt.date, end: dt.date) -> str:
    """ "2026-01" for a month, "2026" for a year, else "2026-01-01..2026-03-31"."""
    if start.day == 1 and (end + dt.timedelta(days=1)).day == 1:
        if start.year == end.year and start.month == end.month:
            return f"{start:%Y-%m}"
        if (start.month, end.month, start.year) == (1, 12, end.year):
            return str(start.year)
    return f"{start}..{end}"


def check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise InvalidRule(f"a period ends on or after it starts ({start} > {end})")
    if (end - start).days > 366 * 2:
        raise InvalidRule("a period is at most two years")


class TaxTable:
    """The tax rates of one or more countries, looked up by date."""

    def __init__(self, rates: Iterable[TaxRate]) -> None:
        self.rates: tuple[TaxRate, ...] = tuple(
            sorted(rates, key=lambda r: (r.country, r.saft_code, r.valid_from))
        )
        #: `purchase`'s candidates per (rate, country), filtered once per table (issue 14:
        #: an executor's claim or record books many purchases with one table).
        self._purchase_candidates: dict[tuple[Decimal, str], tuple[TaxRate, ...]] = {}
        #: `valid_vat_rates` per (day, country), found once per table: a table the store
        #: keeps for a few seconds (RulesStore.tax_table) answers every dated proposal of
        #: its tenant meanwhile, most of them of a few days.
        self._valid_vat_rates: dict[tuple[dt.date, str], frozenset[Decimal] | None] = {}

    def on(self, day: dt.date, country: str = NORWAY) -> list[TaxRate]:
        """The rates valid on `day` in `country`."""
        return [r for r in self.rates if r.country == country and r.valid_on(day)]

    def code(self, saft_code: str, day: dt.date, country: str = NORWAY) -> TaxRate | None:
        """The row of a SAF-T code valid on `day` (None: the code is not valid then)."""
        for r in self.rates:
            if r.country == country and r.saft_code == saft_code and r.valid_on(day):
                return r
        return None

    def rate_row(self, saft_code: str, day: dt.date, country: str = NORWAY) -> TaxRate | None:
        """The row a code is calculated at on `day`: its own (`code`), else for a Norwegian
        reverse-charge code without a row of its own then, its tax type's output code's
        (REVERSE_CHARGE; ADR 0047). The one fallback the postings, the VAT report, the
        compliance checks and the SAF-T export share."""
        row = self.code(saft_code, day, country)
        if row is None and country == NORWAY and saft_code in REVERSE_CHARGE:
            row = self.code(REVERSE_CHARGE[saft_code].rate_code, day, country)
        return row

    def purchase(self, rate: Decimal, day: dt.date, country: str = NORWAY) -> TaxRate | None:
        """How a purchase at `rate` is booked on `day`: the input code of that rate valid
        then (rate 0: the "no VAT treatment" code 0); else the newest input code that ever
        had that rate (the compliance context flags the posting); else None."""
        wanted = rate.normalize() if rate else Decimal(0)

        def fits(r: TaxRate) -> bool:
            if r.country != country or r.rate is None or r.rate.normalize() != wanted:
                return False
            if r.saft_code in _IMPORT_CODES:  # an import's own codes, never a receipt's
                return False
            return r.direction == INPUT or (wanted == 0 and r.saft_code == "0")

        key = (wanted, country)
        candidates = self._purchase_candidates.get(key) if wanted.is_finite() else None
        if candidates is None:
            candidates = tuple(r for r in self.rates if fits(r))
            if wanted.is_finite():
                self._purchase_candidates[key] = candidates
        for r in candidates:
            if r.valid_on(day):
                return r
        return max(candidates, key=lambda r: r.valid_from, default=None)

    def boundaries(self, start: dt.date, end: dt.date, country: str = NORWAY) -> list[dt.date]:
        """The days in (start, end] on which some rate of `country` starts or stops."""
        days: set[dt.date] = set()
        for r in self.rates:
            if r.country != country:
                continue
            if start < r.valid_from <= end:
                days.add(r.valid_from)
            if r.valid_to is not None and start < r.valid_to + dt.timedelta(days=1) <= end:
                days.add(r.valid_to + dt.timedelta(days=1))
        return sorted(days)

    def change(self, new: TaxRate) -> tuple[list[TaxRate], TaxRate]:
        """A rate change: the rows of the same code and country that overlap `new` end the
        day before it (a row that would start after it is refused), and `new` is added.
        Returns (the rows as they become, the new row)."""
        if new.rate is not None and not Decimal(0) <= new.rate < Decimal(100):
            raise InvalidRule(f"a rate is a percentage from 0 to 100, not {new.rate}")
        if new.valid_to is not None and new.valid_to < new.valid_from:
            raise InvalidRule("validTo is on or after validFrom")
        ended: list[TaxRate] = []
        for r in self.rates:
            if r.country != new.country or r.saft_code != new.saft_code:
                continue
            if r.valid_from >= new.valid_from:
                raise InvalidRule(
                    f"code {r.saft_code} already has a rate from {r.valid_from}; a change "
                    "starts after the latest one"
                )
            if r.valid_to is None or r.valid_to >= new.valid_from:
                ended.append(
                    msgspec.structs.replace(r, valid_to=new.valid_from - dt.timedelta(days=1))
                )
        return ended, new


class ReverseCharge(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase on which the buyer calculates the VAT itself (omvendt avgiftsplikt):
    services bought from abroad (SAF-T 86–89), emissions allowances and gold (91, 92), and
    — since 2017, when the import VAT moved from the customs to the buyer's own return —
    the import of goods (81–85). The books post the calculated output VAT and, when
    deductible, the same amount as input VAT; when not, the cost carries it
    (Standard_Tax_Codes.csv, norway.md). The return shows such a code twice: its basis
    with the calculated VAT, and the deduction (Skatteetaten's mva-melding; ADR 0047)."""

    saft_code: str
    #: The rate it is calculated at (the code list's TaxRate column): regular, middle,
    #: low or zero.
    tax_type: str
    #: The output code whose rate that is, looked up on the purchase's date.
    rate_code: str
    #: The first day the code may be used, when later than its rate code's: the
    #: self-assessment of import VAT (81–85) began on 1 January 2017. The compliance checks
    #: flag an earlier date; the rate a valid date gets is its rate code's all the same.
    valid_from: dt.date | None = None
    #: The input VAT account of the deduction; None: not deductible (the cost takes it).
    input_account: str | None


#: The output code of each tax type a reverse-charge code is calculated at (the zero
#: rate's is 5, the domestic zero-rated sale: 85's VAT is 0 whatever the date).
_RATE_CODE_OF_TAX_TYPE: Final[dict[str, str]] = {
    "regular": "3",
    "middle": "31",
    "low": "33",
    "zero": "5",
}


#: When the import VAT moved from the customs to the buyer's own return (81–85): before,
#: the customs collected it and the buyer deducted it under 14 / 15 (ADR 0047 addendum 4).
IMPORT_SELF_ASSESSED_FROM: Final = dt.date(2017, 1, 1)


def _reverse_charge(
    code: str, tax_type: str, input_account: str | None, valid_from: dt.date | None = None
) -> ReverseCharge:
    return ReverseCharge(
        saft_code=code,
        tax_type=tax_type,
        rate_code=_RATE_CODE_OF_TAX_TYPE[tax_type],
        input_account=input_account,
        valid_from=valid_from,
    )


#: The reverse-charge codes by SAF-T code (Standard_Tax_Codes.csv: 81/82 the import of
#: goods at the regular rate, with / without deduction of the import VAT; 83/84 the same
#: at the middle rate; 85 goods on whose import no VAT is calculated — zero rate, a basis
#: only; 86/87 services from abroad at the regular rate, with / without deduction; 88/89
#: the same at the low rate; 91/92 emissions allowances or gold at the regular rate, with
#: / without deduction). The deduction of 81 / 83 is booked on the input VAT account of
#: its rate (2710 / 2711, norway.md), as 14 / 15's is.
REVERSE_CHARGE: Final[dict[str, ReverseCharge]] = {
    charge.saft_code: charge
    for charge in (
        _reverse_charge("81", "regular", "2710", IMPORT_SELF_ASSESSED_FROM),
        _reverse_charge("82", "regular", None, IMPORT_SELF_ASSESSED_FROM),
        _reverse_charge("83", "middle", "2711", IMPORT_SELF_ASSESSED_FROM),
        _reverse_charge("84", "middle", None, IMPORT_SELF_ASSESSED_FROM),
        _reverse_charge("85", "zero", None, IMPORT_SELF_ASSESSED_FROM),
        _reverse_charge("86", "regular", "2710"),
        _reverse_charge("87", "regular", None),
        _reverse_charge("88", "low", "2713"),
        _reverse_charge("89", "low", None),
        _reverse_charge("91", "regular", "2710"),
        _reverse_charge("92", "regular", None),
    )
}
#: Of those, the import of goods under the self-assessment in force since 2017 (the
#: mva-melding's "Kjøp av varer fra utlandet"; 14 / 15 are import VAT paid otherwise).
IMPORT_SELF_ASSESSED_CODES: Final = frozenset({"81", "82", "83", "84", "85"})
#: Import of goods (ADR 0044 §6, Standard_Tax_Codes.csv): the import VAT paid at the border
#: and deducted directly, at the regular and the middle rate — a line under one is the VAT
#: at its rate of its basis, like a domestic input code's.
IMPORT_VAT_CODES: Final = frozenset({"14", "15"})
#: The goods' cost as the basis of that import VAT (regular, middle, zero rate): a line
#: under one carries no VAT itself (the VAT is under 14 / 15, often on another document).
#: 23 is Fiken's code (NONE_IMPORT_BASIS); SAF-T's standard code for it is 20.
IMPORT_BASIS_CODES: Final = frozenset({"21", "22", "23"})
#: Codes a purchase is never booked with by its rate alone (TaxTable.purchase).
_IMPORT_CODES: Final = IMPORT_VAT_CODES | IMPORT_BASIS_CODES

#: Where the calculated output VAT of a reverse-charge purchase is booked (norway.md).
OUTPUT_VAT_ACCOUNT: Final = "2700"


#: The VAT accounts of the standard chart (27xx to 2749: output VAT 2700–2709, input VAT
#: from 2710, the settlement 2740; norway.md), and the output VAT accounts among them.
VAT_ACCOUNTS: Final = range(2700, 2750)
OUTPUT_VAT_ACCOUNTS: Final = range(2700, 2710)


def is_vat_account(account: str, among: range = VAT_ACCOUNTS) -> bool:
    """Whether `account` — a 4-digit account, or a sub-ledger account ("2710:x") by its
    main account — is a VAT account of the standard chart (`among`: of those, e.g.
    OUTPUT_VAT_ACCOUNTS). The one test of both the postings' and the import's."""
    base = account.partition(":")[0]
    return len(base) == 4 and base.isdigit() and int(base) in among


def is_output_vat_account(account: str) -> bool:
    """An output VAT account of the standard chart (2700–2709; input VAT is 2710 on)."""
    return is_vat_account(account, OUTPUT_VAT_ACCOUNTS)


#: What a seller writes when the buyer accounts for the VAT (ADR 0056): "reverse charge",
#: "omvendt avgiftsplikt", "snudd avregning", the EU VAT directive's article 196 …
REVERSE_CHARGE_WORDING: Final = re.compile(
    r"(?i)\b(reverse[ -]charged?|omvendt avgiftsplikt|snudd avregning|autoliquidation|"
    r"steuerschuldnerschaft|art(?:icle|\.)? ?196\b)"
)


#: Wording of a service that is used where it is supplied — accommodation, food and drink,
#: passenger transport, parking, admission to events. Bought abroad it carries that
#: country's VAT (its place of supply is where it is performed), so it is neither
#: reverse charged (mval. § 3-30 covers services that can be supplied remotely) nor
#: deductible as Norwegian input VAT: the gross is the cost (ADR 0056, addendum 3).
#: Matched as whole words in the seller's name, the document's lines and the snippets the
#: extractor read its fields from, in the languages receipts from abroad come in.
#: Words a remote service's invoice also uses are left out — "pub" (Cloud Pub/Sub), "bus"
#: (Service Bus), "toll" (toll-free numbers), "ticket" (support tickets), "bolt", "train",
#: "metro", "tram" — so a cloud bill stays reverse charged; the seller's default account
#: (travel) and the other words still find the taxi, the train ticket and the concert.
PLACE_BOUND_WORDING: Final = re.compile(
    r"(?i)\b("
    # accommodation
    r"hotels?|hotell|hôtel|hostel|motel|resort|lodging|accommodation|overnatting|"
    r"übernachtung|gasthof|gasthaus|guesthouse|guest house|bed (?:and|&) breakfast|airbnb|"
    r"albergo|hospedaje|"
    # food and drink
    r"restaurant|restaurante|ristorante|restaurang|café|cafe|kafé|bistro|brasserie|"
    r"trattoria|osteria|pizzeria|taverna|steakhouse|catering|meals?|"
    r"dinner|lunch|breakfast|frokost|middag|lunsj|speisen|getränke|"
    # passenger transport
    r"taxi|taxa|cab|uber|lyft|subway|railways?|bahn|sncf|"
    r"trenitalia|renfe|ferry|ferje|flights?|airlines?|airways|boarding pass|"
    r"fare|maut|péage|"
    # parking
    r"parking|parkering|parkhaus|parkplatz|"
    # admission to events
    r"billett(?:er)?|admission|eintritt|entrée|museum|concert|konsert|festival|"
    r"theatre|theater"
    r")\b"
)


def place_bound(texts: Iterable[str]) -> bool:
    """Whether any of `texts` names a service used where it is supplied
    (PLACE_BOUND_WORDING): a hotel, a restaurant, a taxi, parking, a ticket …"""
    return any(PLACE_BOUND_WORDING.search(text) for text in texts)


def reverse_charge_rate(table: TaxTable, code: str, day: dt.date) -> Decimal | None:
    """The rate a reverse-charge code is calculated at on `day`: its own row when the
    table has one, else the rate of its tax type's output code then; None: not known."""
    row = table.rate_row(code, day)
    return None if row is None else row.rate


#: The tenant id under which the shipped default tax rates are stored (every tenant's
#: fallback); a tenant's own rows of a code replace the defaults of that code (ADR 0040).
DEFAULT_RATES_TENANT: Final = ""


def overlay_rates(defaults: Iterable[TaxRate], own: Iterable[TaxRate]) -> list[TaxRate]:
    """A tenant's tax rates: its own rows of a (country, SAF-T code) — the code's whole
    history, copied on its first change — and the shipped defaults of every other code."""
    mine = list(own)
    overridden = {(r.country, r.saft_code) for r in mine}
    return [r for r in defaults if (r.country, r.saft_code) not in overridden] + mine


def valid_vat_rates(
    table: TaxTable, day: dt.date, country: str = NORWAY
) -> frozenset[Decimal] | None:
    """The purchase (input) VAT rates (percent) valid on `day` in `country` — what a
    receipt, expense or invoice may carry; None when no rate is. Found once per table and
    day (at most `_VALID_VAT_RATES_KEPT` days are remembered at once)."""
    known = table._valid_vat_rates
    key = (day, country)
    if key in known:
        return known[key]
    rates = frozenset(
        r.rate
        for r in table.on(day, country)
        if r.rate is not None
        and (r.direction == INPUT or r.saft_code == "0")
        and r.saft_code not in _IMPORT_CODES
    )
    if len(known) >= _VALID_VAT_RATES_KEPT:
        known.clear()
    known[key] = found = rates or None
    return found


#: How many (day, country) answers of `valid_vat_rates` a table remembers before it starts
#: again (a table read for a few seconds sees a few days; a long-lived one stays bounded).
_VALID_VAT_RATES_KEPT: Final = 1024


def _seed() -> tuple[TaxRate, ...]:
    def row(
        code: str,
        tax_type: str,
        direction: str | None,
        rate: str | None,
        start: dt.date,
        end: dt.date | None = None,
        account: str | None = None,
    ) -> TaxRate:
        return TaxRate(
            country=NORWAY,
            tax_type=tax_type,
            direction=direction,
            saft_code=code,
            rate=None if rate is None else Decimal(rate),
            account=account,
            valid_from=start,
            valid_to=end,
        )

    since_2005 = dt.date(2005, 1, 1)
    low: list[tuple[str, dt.date, dt.date | None]] = [
        ("10", dt.date(2016, 1, 1), dt.date(2017, 12, 31)),
        ("12", dt.date(2018, 1, 1), dt.date(2020, 3, 31)),
        ("6", dt.date(2020, 4, 1), dt.date(2021, 9, 30)),
        ("12", dt.date(2021, 10, 1), None),
    ]
    rows = [
        row("0", "none", None, "0", since_2005),
        row("1", "regular", INPUT, "25", since_2005, account="2710"),
        row("11", "middle", INPUT, "15", dt.date(2012, 1, 1), account="2711"),
        row("12", "raw-fish", INPUT, "11.11", since_2005, account="2712"),
        row("3", "regular", OUTPUT, "25", since_2005),
        row("31", "middle", OUTPUT, "15", dt.date(2012, 1, 1)),
        row("32", "raw-fish", OUTPUT, "11.11", since_2005),
        row("5", "zero", OUTPUT, "0", since_2005),
        row("52", "zero", OUTPUT, "0", since_2005),
        row("6", "none", None, None, since_2005),
        # Import of goods (ADR 0047 addendum): the import VAT deducted directly (14, 15)
        # and its basis (21, 22, 23: the rate of the VAT that basis bears under 14 / 15;
        # the basis line itself carries none, compliance_findings).
        row("14", "regular", INPUT, "25", since_2005, account="2710"),
        row("15", "middle", INPUT, "15", dt.date(2012, 1, 1), account="2711"),
        row("21", "regular", INPUT, "25", since_2005),
        row("22", "middle", INPUT, "15", dt.date(2012, 1, 1)),
        row("23", "zero", INPUT, "0", since_2005),
        # The rest of Skatteetaten's standard codes (ADR 0047 addendum 3, migration 0023):
        # 7 and 20 book income / the cost of imported goods with no VAT treatment (as 0
        # does purchases: rate 0, in no return); 51 is a domestic sale under reverse
        # charge — the buyer calculates the VAT, the seller reports the basis at zero.
        row("7", "none", None, "0", since_2005),
        row("20", "none", None, "0", since_2005),
        row("51", "zero", OUTPUT, "0", since_2005),
    ]
    for rate, start, end in low:
        rows.append(row("13", "low", INPUT, rate, start, end, account="2713"))
        rows.append(row("33", "low", OUTPUT, rate, start, end))
    return tuple(rows)


#: Norway's VAT rates as shipped (see the module docstring): migration 0016 seeded all but
#: the import codes (14, 15, 21–23), which migration 0021 wrote, and 7, 20, 51 (0023).
NORWAY_TAX_RATES: Final[tuple[TaxRate, ...]] = _seed()


# --- the compliance checks of a posted entry --------------------------------------------


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One rule a posted entry breaks, and the evidence."""

    rule: str
    message: str
    evidence: dict[str, str]


RATE_NOT_VALID: Final = "rate-not-valid"
TOO_MANY_DECIMALS: Final = "too-many-decimals"
LOCKED_VAT_TERM: Final = "locked-vat-term"
UNKNOWN_ACCOUNT: Final = "unknown-account"
#: Input VAT deducted on an entry dated before the company's VAT registration took effect
#: (`vatRegisteredFrom`, ADR 0064 addendum): only a registered business deducts input VAT
#: (merverdiavgiftsloven § 8-1); before, the VAT is part of the cost.
INPUT_VAT_BEFORE_REGISTRATION: Final = "input-vat-before-registration"
#: The source of the entries `import fiken` writes (ADR 0037): the books' history.
IMPORTED: Final = "import"


def compliance_findings(
    entry: JournalEntryPostedData,
    *,
    table: TaxTable,
    country: str = NORWAY,
    minor_units: int = 2,
    currency: str = NOK,
    locked: Sequence[FiscalPeriod] = (),
    chart: Iterable[str] | None = None,
    registered_from: dt.date | None = None,
) -> list[Finding]:
    """What is wrong with a posted entry, by the rules valid on its date. A reversal is
    not checked: it carries what it reverses on purpose (and checking it would propose a
    reversal of the reversal). `registered_from`: the day the company's VAT registration
    took effect (None: registered for as long as the books go back)."""
    if entry.reverses_entry_id is not None:
        return []
    findings: list[Finding] = []
    findings.extend(_rate_findings(entry, table, country))
    quantum = Decimal(1).scaleb(-minor_units)
    for number, line in enumerate(entry.lines, start=1):
        for side, amount in (("debit", line.debit), ("credit", line.credit)):
            if amount != amount.quantize(quantum):
                findings.append(
                    Finding(
                        rule=TOO_MANY_DECIMALS,
                        message=(
                            f"line {number} {side} {amount} has more decimals than "
                            f"{currency} allows ({minor_units})"
                        ),
                        evidence={
                            "line": str(number),
                            side: str(amount),
                            "currency": currency,
                            "minorUnits": str(minor_units),
                        },
                    )
                )
    # An entry without VAT lines changes no return: it may be dated into a locked term.
    # Imported history (source "import", ADR 0037) is the books as they were reported.
    vat = touches_vat(entry) and entry.source != IMPORTED
    for period in locked if vat else ():
        if period.kind == VAT_TERM and period.contains(entry.date):
            findings.append(
                Finding(
                    rule=LOCKED_VAT_TERM,
                    message=(
                        f"dated {entry.date}, in the VAT term {period.name}, which was "
                        f"locked by {period.closed_by} once reported"
                    ),
                    evidence={"date": entry.date.isoformat(), "term": period.name},
                )
            )
    if vat and registered_from is not None and entry.date < registered_from:
        deducted = [
            (number, line)
            for number, line in enumerate(entry.lines, start=1)
            if line.vat_code
            and line.vat_part == "tax"
            and is_vat_account(line.account)
            and not is_output_vat_account(line.account)
        ]
        if deducted:
            numbers = ", ".join(str(number) for number, _ in deducted)
            findings.append(
                Finding(
                    rule=INPUT_VAT_BEFORE_REGISTRATION,
                    message=(
                        f"dated {entry.date}, before the company's VAT registration took "
                        f"effect on {registered_from}, it deducts input VAT (line {numbers}): "
                        "no deduction before registration; the VAT is part of the cost"
                    ),
                    evidence={
                        "date": entry.date.isoformat(),
                        "vatRegisteredFrom": registered_from.isoformat(),
                        "lines": numbers,
                        "vatCodes": ",".join(sorted({str(ln.vat_code) for _, ln in deducted})),
                    },
                )
            )
    if chart is not None:
        known = set(chart)
        used = sorted({line.account for line in entry.lines})
        missing = [
            code for code in used if code not in known and code.partition(":")[0] not in known
        ]
        if missing:
            findings.append(
                Finding(
                    rule=UNKNOWN_ACCOUNT,
                    message=f"accounts not in the chart: {', '.join(missing)}",
                    evidence={"accounts": ",".join(missing)},
                )
            )
    return findings


def _rate_findings(entry: JournalEntryPostedData, table: TaxTable, country: str) -> list[Finding]:
    """Every VAT code used must be valid on the entry's date in `country`, and its VAT
    must be its basis × the rate valid then (within VAT_TOLERANCE)."""
    findings: list[Finding] = []
    base: dict[str, Decimal] = {}
    tax: dict[str, Decimal] = {}
    # A reverse-charge code's deducted VAT (its input side) is checked on its own; its
    # calculated output VAT is the code's VAT. Its rate is its tax type's (ADR 0047).
    deducted: dict[str, Decimal] = {}
    for line in entry.lines:
        if not line.vat_code:
            continue
        amount = abs(line.debit - line.credit)
        target = tax if line.vat_part == "tax" else base
        if (
            target is tax
            and line.vat_code in REVERSE_CHARGE
            and not is_output_vat_account(line.account)
        ):
            target = deducted
        target[line.vat_code] = target.get(line.vat_code, Decimal(0)) + amount
    for code in sorted(set(base) | set(tax) | set(deducted)):
        if code in IMPORT_BASIS_CODES and country == NORWAY and code in tax:
            findings.append(_basis_with_vat(code, entry.date, base, tax))
            continue
        charge = REVERSE_CHARGE.get(code) if country == NORWAY else None
        if charge is not None and charge.valid_from is not None and entry.date < charge.valid_from:
            findings.append(_before_valid_from(code, entry.date, charge.valid_from))
            continue
        row = table.rate_row(code, entry.date, country)
        if row is None:
            findings.append(
                Finding(
                    rule=RATE_NOT_VALID,
                    message=f"VAT code {code} is not valid in {country} on {entry.date}",
                    evidence={"vatCode": code, "date": entry.date.isoformat(), "country": country},
                )
            )
            continue
        findings.extend(_vat_finding(code, entry.date, row, base, tax))
        findings.extend(_vat_finding(code, entry.date, row, base, deducted))
    return findings


def _before_valid_from(code: str, date: dt.date, valid_from: dt.date) -> Finding:
    """A self-assessed import code (81–85) dated before the self-assessment began."""
    return Finding(
        rule=RATE_NOT_VALID,
        message=(
            f"VAT code {code}, the import VAT the buyer calculates in its own return, is "
            f"valid from {valid_from}, not on {date}: before, the customs collected the "
            "import VAT and it was deducted under 14 or 15"
        ),
        evidence={
            "vatCode": code,
            "date": date.isoformat(),
            "country": NORWAY,
            "validFrom": valid_from.isoformat(),
        },
    )


def _basis_with_vat(
    code: str, date: dt.date, base: dict[str, Decimal], tax: dict[str, Decimal]
) -> Finding:
    """A basis-only import code (21–23) with VAT on it: the import VAT belongs under 14 /
    15, the basis carries none."""
    return Finding(
        rule=RATE_NOT_VALID,
        message=(
            f"VAT {tax[code]} under code {code}, the basis of imported goods, which carries "
            f"no VAT itself (the import VAT is booked under 14 or 15) on {date}"
        ),
        evidence={
            "vatCode": code,
            "date": date.isoformat(),
            "validRate": "0",
            "basis": str(base.get(code, Decimal(0))),
            "vat": str(tax[code]),
        },
    )


def _vat_finding(
    code: str,
    date: dt.date,
    row: TaxRate | None,
    base: dict[str, Decimal],
    tax: dict[str, Decimal],
) -> list[Finding]:
    """A finding when the code's VAT (`tax`) is not its basis × the row's rate."""
    if row is None or row.rate is None or code not in tax:
        return []
    expected = base.get(code, Decimal(0)) * row.rate / Decimal(100)
    if abs(tax[code] - expected) <= VAT_TOLERANCE:
        return []
    # As people write it (25, 12, 11.11), whatever scale the store keeps (NUMERIC(6, 2)).
    rate = format(row.rate.normalize(), "f")
    return [
        Finding(
            rule=RATE_NOT_VALID,
            message=(
                f"VAT {tax[code]} on basis {base.get(code, Decimal(0))} under code "
                f"{code} is not the {rate} % valid on {date}"
            ),
            evidence={
                "vatCode": code,
                "date": date.isoformat(),
                "validRate": rate,
                "basis": str(base.get(code, Decimal(0))),
                "vat": str(tax[code]),
            },
        )
    ]


# --- foreign-currency documents -----------------------------------------------------------


#: Where a NOK amount came from when it is not the exchange-rate source (ADR 0051): the
#: bank transaction that paid the document, or the reviewer who approved it.
EXCHANGE_FROM_BANK: Final = "bank"
EXCHANGE_FROM_REVIEWER: Final = "reviewer"

#: The decimals an implied rate (a NOK amount over the document's amount) is kept to.
IMPLIED_RATE_PLACES: Final = Decimal("0.000001")


class Exchange(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """How a foreign-currency document was converted: its original amount and currency,
    the NOK amount, and the rate (NOK per unit) with the date it was published for.

    `source` None: the exchange-rate source (Norges Bank) published the rate. Otherwise
    the NOK amount is what the bank paid (EXCHANGE_FROM_BANK, `reference` the bank
    transaction) or what a reviewer said (EXCHANGE_FROM_REVIEWER, `reference` the actor),
    and the rate is implied by it (ADR 0051)."""

    currency: str
    amount: Decimal
    nok_amount: Decimal
    rate: Decimal
    rate_date: dt.date
    source: str | None = None
    reference: str | None = None


def implied_exchange(
    currency: str,
    amount: Decimal,
    nok_amount: Decimal,
    *,
    day: dt.date,
    source: str,
    reference: str | None,
) -> Exchange:
    """A conversion whose NOK amount is known (paid by the bank, or said by a reviewer):
    the rate is the NOK amount over the document's amount."""
    if amount <= 0 or nok_amount <= 0:
        raise InvalidCorrection("a NOK amount and the amount it converts must be positive")
    return Exchange(
        currency=currency,
        amount=amount,
        nok_amount=nok_amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        rate=(nok_amount / amount).quantize(IMPLIED_RATE_PLACES, rounding=ROUND_HALF_UP),
        rate_date=day,
        source=source,
        reference=reference,
    )


def foreign_currency(data: object) -> str | None:
    """The currency of a purchase (receipt, invoice, expense) that is not in NOK: the
    ledger can book it only with a NOK amount (ADR 0051). None for anything else."""
    if not isinstance(data, PurchaseData):
        return None
    return None if data.currency == NOK else data.currency


def to_nok(amount: Decimal, rate: Decimal) -> Decimal:
    """An amount in NOK at `rate`, in whole øre (half up, as norway.md rounds VAT)."""
    return (amount * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def exchange_for(data: object, exchange: Exchange | None) -> Exchange | None:
    """The conversion that holds for a foreign-currency purchase as it now reads (its
    amount perhaps corrected since `exchange` was recorded): the recorded one when it
    converts this amount; at a published rate, the same rate on the corrected amount.
    None for a NOK document, or without a conversion in its currency. A NOK amount the
    bank paid or a reviewer gave converts the amount it was given for only: for a
    corrected amount it raises NokAmountStale (ADR 0051 addendum)."""
    currency = foreign_currency(data)
    if currency is None or exchange is None or exchange.currency != currency:
        return None
    assert isinstance(data, PurchaseData)
    if exchange.amount == data.amount:
        return exchange
    if exchange.source is None:
        return msgspec.structs.replace(
            exchange, amount=data.amount, nok_amount=to_nok(data.amount, exchange.rate)
        )
    by = "the bank paid" if exchange.source == EXCHANGE_FROM_BANK else "a reviewer gave"
    raise NokAmountStale(
        f"the {currency} amount was corrected from {exchange.amount} to {data.amount}, but "
        f"its NOK amount {exchange.nok_amount} was what {by} for {exchange.amount}: give "
        "the NOK amount of the corrected amount with it (nokAmount)"
    )


def in_nok(data: PurchaseData, exchange: Exchange) -> PurchaseData:
    """A foreign-currency purchase with its amounts in NOK at the exchange's rate, as the
    ledger books it: the gross amount is the recorded NOK amount, the VAT and each line
    converted, the last line taking the rounding so that the lines still add up."""
    rate = exchange.rate
    changes: dict[str, object] = {"amount": exchange.nok_amount, "currency": NOK}
    if data.vat_amount is not None:
        changes["vat_amount"] = min(to_nok(data.vat_amount, rate), exchange.nok_amount)
    items = getattr(data, "line_items", ())
    if items:
        converted = [to_nok(item.amount, rate) for item in items]
        converted[-1] = exchange.nok_amount - sum(converted[:-1], Decimal(0))
        changes["line_items"] = tuple(
            msgspec.structs.replace(item, amount=amount)
            for item, amount in zip(items, converted, strict=True)
        )
    return msgspec.structs.replace(data, **changes)
