"""The SAF-T Financial 1.30 export: what goes into the file, read from one ledger snapshot.

Bokføringsforskriften § 7-8 obliges us to hand the tax authority the books as a SAF-T
Financial file on request (norway.md). `SaftExport.export` checks the caller and the period
at once (so HTTP can still answer 403 or 400) and returns the file's name and an iterator
of its bytes; the ledger is read only while the bytes are pulled, from one consistent
snapshot (`AuditReads.snapshot`), the lines a keyset page at a time, so a file of millions
of lines never sits in memory.

What the file holds, and where it comes from:

* Header: the company from BOOKKEEPER_COMPANY_* settings, else the books (Fiken, sandbox).
* MasterFiles: every account with a line on or before the period's end (name from the
  books' chart, grouping from the tenant's `saft_grouping` table, opening and closing
  balances from the ledger); the customers named on journal lines (a line's `party`,
  e.g. the invoice translator's receivables line) and the suppliers named on executed
  purchases or on journal lines (purchases imported from the books), each with its
  balances on receivables (15xx) or payables (24xx) and its organisation number where
  known; the VAT codes used in the period. One supplier or customer met under several
  ids (an executed purchase's merchant and the books' contact) is one entry: the same
  organisation number, else the same normalised name (merge_suppliers, customers_of), and
  every line names it by that entry's id.
* GeneralLedgerEntries: one journal, one transaction per journal entry, one line per
  journal line, VAT information on the lines that carry a VAT code.

Turning that into XML is the renderer's job (adapters.saft.xml_writer), injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.application.errors import ApplicationError
from bookkeeper.application.ports import Authorizer, BooksCompany, BooksProvider, Clock, Principal
from bookkeeper.application.projections import org_digits
from bookkeeper.domain.ledger import (
    CUSTOMER,
    SUPPLIER,
    TAX,
    InvalidReportPeriod,
    base_account,
    rate_periods,
    saft_vat_code,
)
from bookkeeper.domain.patterns import normalise_merchant
from bookkeeper.domain.rules import NORWAY_TAX_RATES, Exchange, TaxTable
from bookkeeper.domain.statements import carry_forward, year_start

EXPORTS_READ: Final = "exports:read"
#: Lines read per round trip: big enough that the round trips do not dominate, small
#: enough that a page is a few megabytes at most.
PAGE_SIZE: Final = 5000
_ZERO: Final = Decimal("0.00")
#: Where the file is read: its creation date, its name's time, each SystemEntryDate.
OSLO: Final = ZoneInfo("Europe/Oslo")


class CompanyUnknown(ApplicationError):
    """Neither the settings nor the books name the company (or its organisation number)."""

    code = "company-unknown"


# --- what the ledger snapshot answers ---------------------------------------------------


class AccountBalances(msgspec.Struct, frozen=True, kw_only=True):
    """One account: its balance before the period and its turnover in it (debit/credit)."""

    account: str
    opening_debit: Decimal
    opening_credit: Decimal
    debit: Decimal
    credit: Decimal

    @property
    def opening(self) -> Decimal:
        return self.opening_debit - self.opening_credit

    @property
    def closing(self) -> Decimal:
        return self.opening + self.debit - self.credit


class BalanceOnAccount(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    opening: Decimal  # debit − credit
    closing: Decimal


class SupplierBalance(msgspec.Struct, frozen=True, kw_only=True):
    """A supplier named on executed purchases, with its balances on the payables accounts
    (24xx) before and at the end of the period (none for a supplier paid at once)."""

    supplier_id: str
    name: str
    balances: list[BalanceOnAccount]
    #: The organisation number the purchase's document carries, when it does.
    registration_number: str | None = None
    #: The other ids the same supplier was met under (merge_suppliers): lines that name
    #: one of them carry `supplier_id` in the file.
    aliases: tuple[str, ...] = ()


class CustomerBalance(msgspec.Struct, frozen=True, kw_only=True):
    """A customer named on journal lines (a line's party of kind customer), with its
    balances on the receivables accounts (15xx) before and at the end of the period."""

    customer_id: str
    name: str
    balances: list[BalanceOnAccount]
    registration_number: str | None = None
    #: The other ids the same customer was met under (customers_of).
    aliases: tuple[str, ...] = ()


def supplier_id_of(merchant_key: str) -> str:
    """A supplier's SupplierID: stable, short (SAFmiddle1text: 35), from its merchant key."""
    return "S" + hashlib.sha256(merchant_key.encode()).hexdigest()[:16]


def is_payables(account: str) -> bool:
    """Supplier payables (leverandørgjeld): the 24xx accounts and their sub-ledgers."""
    main = base_account(account)
    return len(main) >= 4 and main[:2] == "24" and main[:4].isdigit()


def is_receivables(account: str) -> bool:
    """Customer receivables (kundefordringer): the 15xx accounts and their sub-ledgers."""
    main = base_account(account)
    return len(main) >= 4 and main[:2] == "15" and main[:4].isdigit()


class PartyLine(msgspec.Struct, frozen=True, kw_only=True):
    """A journal line that names a counterparty (its `party`), as the customer and supplier
    master data are built from: `kind` customer or supplier, `party_id` its key."""

    date: dt.date
    position: int
    account: str
    debit: Decimal
    credit: Decimal
    party_id: str
    name: str | None
    org_number: str | None
    kind: str = CUSTOMER


PartyFold = tuple[str, str, str | None, list[BalanceOnAccount]]
"""(id, name, organisation number, balances on the party's accounts), by id."""


class PartyFolder:
    """Folds the lines that name a party, one at a time, into the parties of one `kind`
    named on lines dated on or before `end`, by id: the name and organisation number of
    the latest line that gives them, and the opening (before `start`) and closing balance
    on each account of theirs (`on_account`) they touch. What it holds grows with the
    parties and their accounts, not with the lines (an export streams them in)."""

    def __init__(
        self, kind: str, on_account: Callable[[str], bool], start: dt.date, end: dt.date
    ) -> None:
        self.kind, self._on_account, self._start, self._end = kind, on_account, start, end
        self._named: dict[str, tuple[tuple[dt.date, int], str | None, str | None]] = {}
        self._sums: dict[str, dict[str, list[Decimal]]] = {}

    def add(self, line: PartyLine) -> None:
        if line.kind != self.kind or line.date > self._end:
            return
        order = (line.date, line.position)
        seen = self._named.get(line.party_id)
        if seen is None or order >= seen[0]:
            name = line.name or (seen[1] if seen else None)
            org = line.org_number or (seen[2] if seen else None)
            self._named[line.party_id] = (order, name, org)
        elif seen is not None and (seen[1] is None or seen[2] is None):
            # An earlier line fills in what the later ones left out.
            self._named[line.party_id] = (
                seen[0],
                seen[1] or line.name,
                seen[2] or line.org_number,
            )
        accounts = self._sums.setdefault(line.party_id, {})
        if not self._on_account(line.account):
            return
        row = accounts.setdefault(line.account, [_ZERO, _ZERO])
        amount = line.debit - line.credit
        if line.date < self._start:
            row[0] += amount
        row[1] += amount

    def folds(self) -> list[PartyFold]:
        return [
            (
                party_id,
                name or party_id,
                org,
                [
                    BalanceOnAccount(account=account, opening=opening, closing=closing)
                    for account, (opening, closing) in sorted(self._sums[party_id].items())
                ],
            )
            for party_id, (_, name, org) in sorted(self._named.items())
        ]


def customer_folder(start: dt.date, end: dt.date) -> PartyFolder:
    """The folder of the customers and their receivables (customers_of)."""
    return PartyFolder(CUSTOMER, is_receivables, start, end)


def supplier_folder(start: dt.date, end: dt.date) -> PartyFolder:
    """The folder of the suppliers and their payables (suppliers_of)."""
    return PartyFolder(SUPPLIER, is_payables, start, end)


def customers_of(lines: Iterable[PartyLine], start: dt.date, end: dt.date) -> list[CustomerBalance]:
    """The customers named on lines dated on or before `end`, by id: the name and
    organisation number of the latest line that gives them, and the opening (before
    `start`) and closing balance on each receivables account the customer's lines touch."""
    folder = customer_folder(start, end)
    for line in lines:
        folder.add(line)
    return customers_folded(folder)


def customers_folded(folder: PartyFolder) -> list[CustomerBalance]:
    """The customers a customer_folder folded, one per party (_one_per_party)."""
    return [
        CustomerBalance(
            customer_id=key, name=name, registration_number=org, balances=b, aliases=aliases
        )
        for (key, name, org, b), aliases in _one_per_party((*f, True) for f in folder.folds())
    ]


def suppliers_of(lines: Iterable[PartyLine], start: dt.date, end: dt.date) -> list[SupplierBalance]:
    """The suppliers named on lines (a line's party of kind supplier: the payables and
    payment lines of purchases imported from the books, and journal entries on a supplier's
    sub-ledger account), as customers_of, with their balances on payables (24xx)."""
    folder = supplier_folder(start, end)
    for line in lines:
        folder.add(line)
    return suppliers_folded(folder)


def suppliers_folded(folder: PartyFolder) -> list[SupplierBalance]:
    """The suppliers a supplier_folder folded."""
    return [
        SupplierBalance(supplier_id=key, name=name, registration_number=org, balances=balances)
        for key, name, org, balances in folder.folds()
    ]


def org_key(registration_number: str | None) -> str | None:
    """An organisation number as the key of a party: its nine digits, whatever the
    spelling ("912 345 678", "NO912345678MVA"); None when it is not nine digits."""
    digits = org_digits(registration_number)
    return digits if digits is not None and len(digits) == 9 else None


_Member = tuple[str, str, str | None, list[BalanceOnAccount], bool]
"""(id, name, organisation number, balances, whether its id is the books' own key)."""


def _one_per_party(members: Iterable[_Member]) -> list[tuple[PartyFold, tuple[str, ...]]]:
    """Parties met under several ids as one: the same organisation number (org_key) is one
    party; without one, the same normalised name is (joining the party with a number of
    that name when exactly one has it). Each keeps one id, deterministically: the smallest
    of the books' own keys among its ids, else the smallest id; its name and number are
    that id's (else the first known), its balances on each account are added up, and its
    other ids come back beside it (to rename its lines)."""
    members = list(members)
    groups: dict[tuple[str, str], list[_Member]] = {}
    orgs_of_name: dict[str, set[str]] = {}
    for member in members:
        org = org_key(member[2])
        if org is not None:
            groups.setdefault(("org", org), []).append(member)
            name = normalise_merchant(member[1])
            if name:
                orgs_of_name.setdefault(name, set()).add(org)
    for member in members:
        if org_key(member[2]) is not None:
            continue
        name = normalise_merchant(member[1])
        orgs = orgs_of_name.get(name, set()) if name else set()
        if len(orgs) == 1:
            key = ("org", next(iter(orgs)))
        elif name:
            key = ("name", name)
        else:
            key = ("id", member[0])
        groups.setdefault(key, []).append(member)
    out: list[tuple[PartyFold, tuple[str, ...]]] = []
    for group in groups.values():
        group.sort(key=lambda m: m[0])
        own = [m for m in group if m[4]]
        head = (own or group)[0]
        name = head[1]
        org = head[2] or next((m[2] for m in group if m[2]), None)
        org = org_key(org) or org
        sums: dict[str, list[Decimal]] = {}
        for member in group:
            for b in member[3]:
                row = sums.setdefault(b.account, [_ZERO, _ZERO])
                row[0] += b.opening
                row[1] += b.closing
        balances = [
            BalanceOnAccount(account=account, opening=opening, closing=closing)
            for account, (opening, closing) in sorted(sums.items())
        ]
        aliases = tuple(sorted({m[0] for m in group} - {head[0]}))
        out.append(((head[0], name, org, balances), aliases))
    out.sort(key=lambda item: item[0][0])
    return out


def merge_suppliers(
    executed: Iterable[SupplierBalance], named: Iterable[SupplierBalance] = ()
) -> list[SupplierBalance]:
    """The suppliers of executed purchases and those lines name, one per supplier: one
    met under several ids (the merchant of executed purchases and the books' contact of
    imported ones, with the same organisation number or, without one, the same
    normalised name) is listed once, under the books' key, with its balances on each
    account added up and its other ids in `aliases` (_one_per_party)."""
    members: list[_Member] = [
        (s.supplier_id, s.name, s.registration_number, s.balances, False) for s in executed
    ]
    members += [(s.supplier_id, s.name, s.registration_number, s.balances, True) for s in named]
    return [
        SupplierBalance(
            supplier_id=key, name=name, registration_number=org, balances=b, aliases=aliases
        )
        for (key, name, org, b), aliases in _one_per_party(members)
    ]


def aliases_of(
    parties: Iterable[SupplierBalance | CustomerBalance],
) -> dict[str, str]:
    """Each other id a listed party was met under → the id the file lists it by."""
    found: dict[str, str] = {}
    for party in parties:
        key = party.supplier_id if isinstance(party, SupplierBalance) else party.customer_id
        for alias in party.aliases:
            found[alias] = key
    return found


def with_party(line: AuditLine, party: tuple[str, str] | None) -> AuditLine:
    """The line with the CustomerID or SupplierID its party gives it, (kind, id): a
    customer on a receivables line, a supplier on a payables line that no executed
    purchase already names."""
    if party is None:
        return line
    kind, key = party
    if kind == CUSTOMER and is_receivables(line.account):
        return msgspec.structs.replace(line, customer_id=key)
    if kind == SUPPLIER and is_payables(line.account) and line.supplier_id is None:
        return msgspec.structs.replace(line, supplier_id=key)
    return line


def org_number_of(data: Mapping[str, Any]) -> str | None:
    """The seller's organisation number a proposal's stored payload carries, if any."""
    for key in ("merchantOrgNumber", "supplierOrgNumber"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.replace(" ", "")[:35]
    return None


class EntryTotals(msgspec.Struct, frozen=True, kw_only=True):
    entries: int
    debit: Decimal
    credit: Decimal


class AuditLine(msgspec.Struct, frozen=True, kw_only=True):
    """A journal line with what an audit file needs beside it: who posted the entry and
    the supplier of the purchase it came from."""

    entry_id: uuid.UUID
    line_no: int
    position: int
    date: dt.date
    account: str
    debit: Decimal
    credit: Decimal
    description: str
    entry_description: str
    vat_code: str | None
    vat_part: str | None
    source: str
    posted_at: dt.datetime
    actor: str
    #: The supplier of the purchase the entry posts (or reverses), if any.
    supplier_id: str | None
    #: The customer the line names (its party), if any.
    customer_id: str | None = None
    #: How the foreign-currency document the line was booked from was converted to NOK
    #: (ADR 0051): its currency, amount and rate; None for a NOK line.
    exchange: Exchange | None = None


class Grouping(msgspec.Struct, frozen=True, kw_only=True):
    """Where an account goes in the business statement (næringsspesifikasjon): a range of
    4-digit accounts and its GroupingCategory/GroupingCode."""

    first: int
    last: int
    category: str
    code: str


LineKey = tuple[dt.date, int, int]
"""(date, position, line_no): the order lines are exported in, and the keyset of a page."""


class AuditSnapshot(Protocol):
    """The ledger of one tenant as of one moment, for the length of an export."""

    async def entry_totals(self, start: dt.date, end: dt.date) -> EntryTotals:
        """How many entries the period has, and their debits and credits."""
        ...

    async def account_balances(self, start: dt.date, end: dt.date) -> list[AccountBalances]:
        """Every account with a line on or before `end`, by code."""
        ...

    async def suppliers(self, start: dt.date, end: dt.date) -> list[SupplierBalance]:
        """The suppliers of purchases posted on or before `end` and those named on lines
        (a line's party of kind supplier) dated on or before it, by id."""
        ...

    async def customers(self, start: dt.date, end: dt.date) -> list[CustomerBalance]:
        """The customers named on lines dated on or before `end`, by id (customers_of)."""
        ...

    async def vat_codes(self, start: dt.date, end: dt.date) -> list[str]:
        """The VAT codes the period's lines carry."""
        ...

    async def groupings(self) -> list[Grouping]:
        """The tenant's grouping ranges, its own before the defaults (tenant `*`)."""
        ...

    async def lines(
        self, start: dt.date, end: dt.date, after: LineKey | None, limit: int
    ) -> list[AuditLine]:
        """The period's lines after `after` in (date, position, line_no) order, at most
        `limit`; every line of an entry shares its date and position, so an entry's lines
        come together."""
        ...


class AuditReads(Protocol):
    """Opens read-only, consistent snapshots of a tenant's ledger (the SAF-T export's port)."""

    def snapshot(self, tenant_id: str) -> AbstractAsyncContextManager[AuditSnapshot]:
        """A snapshot that stays consistent until the context exits."""
        ...


# --- what the renderer takes ------------------------------------------------------------


class SaftCompany(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    orgnr: str
    contact_first_name: str
    contact_last_name: str
    #: In the VAT register (the tenant's `vatRegistered`): only then does the header carry
    #: a TaxRegistration, the VAT number "<orgnr>MVA" (the XSD: "mandatory if the company
    #: is subject to VAT"); a company outside the register claims none.
    vat_registered: bool = True


class SaftHeader(msgspec.Struct, frozen=True, kw_only=True):
    company: SaftCompany
    start: dt.date
    end: dt.date
    created: dt.date
    software_version: str
    user_id: str


class SaftAccount(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    description: str
    grouping_category: str
    grouping_code: str
    opening: Decimal  # debit − credit
    closing: Decimal


class SaftTaxCode(msgspec.Struct, frozen=True, kw_only=True):
    """One TaxCodeDetails: a code's rate over its dates (None: open; a code the tax table
    does not date has neither). A code whose rate changed in the period has one per rate."""

    code: str
    rate: Decimal | None
    standard_code: str
    effective: dt.date | None = None
    expiration: dt.date | None = None


class SaftLine(msgspec.Struct, frozen=True, kw_only=True):
    record_id: str
    account: str
    description: str
    debit: Decimal
    credit: Decimal
    supplier_id: str | None
    vat_code: str | None
    vat_rate: Decimal | None
    #: The VAT basis (the line's amount) on a base line; None on a lone VAT line.
    tax_base: Decimal | None
    #: The VAT amount and its side ("debit"/"credit"), when the line carries VAT information.
    tax_amount: Decimal | None
    tax_side: str | None
    customer_id: str | None = None
    #: A line booked from a foreign-currency document: its currency (ISO 4217), its
    #: amount in that currency and the rate (NOK per unit); None for a NOK line.
    currency: LineCurrency | None = None


class LineCurrency(msgspec.Struct, frozen=True, kw_only=True):
    """What an AmountStructure says of a foreign currency: CurrencyCode, CurrencyAmount
    and ExchangeRate (CurrencyAmount × ExchangeRate = Amount)."""

    code: str
    amount: Decimal
    rate: Decimal
    #: The document's own amount (the line carries its whole NOK amount), not converted
    #: back from the line's NOK amount.
    exact: bool = False


class SaftTransaction(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: str
    voucher_no: str
    voucher_type: str
    period: int
    period_year: int
    date: dt.date
    source_id: str
    description: str
    system_entry_date: dt.date
    supplier_id: str | None
    lines: list[SaftLine]
    customer_id: str | None = None


class SaftDocument(msgspec.Struct, frozen=True, kw_only=True):
    """Everything but the transactions is small and known up front; they stream."""

    header: SaftHeader
    accounts: list[SaftAccount]
    suppliers: list[SupplierBalance]
    tax_codes: list[SaftTaxCode]
    totals: EntryTotals
    transactions: AsyncIterator[SaftTransaction]
    customers: list[CustomerBalance] = []


Renderer = Callable[[SaftDocument], AsyncIterator[bytes]]
"""Turns a document into the bytes of the file (adapters.saft.xml_writer.render)."""

BooksSource = Callable[[], Awaitable[BooksProvider]]


class SaftFile(msgspec.Struct, frozen=True, kw_only=True):
    filename: str
    chunks: AsyncIterator[bytes]


class CompanySettings(msgspec.Struct, frozen=True, kw_only=True):
    """BOOKKEEPER_COMPANY_*: what the header says, when the books should not decide."""

    name: str | None = None
    orgnr: str | None = None
    contact: str | None = None


# --- rules ------------------------------------------------------------------------------


def check_period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The period of an export: both ends given, in order, within one financial year (the
    calendar year, norway.md) and the years SAF-T allows (PeriodYear 1970–2100).

    One file per financial year (ADR 0062 addendum "years"): an account has one opening
    and one closing balance in the file, and a validator holds closing − opening to the
    account's lines in it. Across a year end an income-statement account would have to
    close either with both years' turnover (a wrong balance) or with the second year's
    only (its lines then no longer add up), so such a period is refused (422) rather
    than exported wrong; the auditor gets one file per year."""
    if start is None or end is None:
        raise InvalidReportPeriod("a SAF-T export needs both `from` and `to`")
    if start > end:
        raise InvalidReportPeriod(f"the period starts ({start}) after it ends ({end})")
    if start.year < 1970 or end.year > 2100:
        raise InvalidReportPeriod("SAF-T periods lie between 1970 and 2100")
    if year_start(start) != year_start(end):
        raise InvalidReportPeriod(
            f"a SAF-T file covers one financial year: {start} and {end} lie in "
            f"{start.year} and {end.year}; export each year on its own"
        )
    return start, end


UNKNOWN_GROUPING: Final = Grouping(first=0, last=0, category="annenDriftskostnad", code="7700")
"""For an account no range covers (a code that is not 4 digits): 'other cost', visibly
wrong rather than silently plausible; the tenant adds a range to fix it."""


def grouping_of(account: str, groupings: Sequence[Grouping]) -> Grouping:
    """The narrowest range that holds the account's 4-digit main account; the first
    listed wins a tie (the tenant's own rows come before the defaults)."""
    main = base_account(account)
    digits = main[:4]
    if len(digits) < 4 or not digits.isdigit():
        return UNKNOWN_GROUPING
    number = int(digits)
    best: Grouping | None = None
    for grouping in groupings:
        if grouping.first <= number <= grouping.last and (
            best is None or grouping.last - grouping.first < best.last - best.first
        ):
            best = grouping
    return best or UNKNOWN_GROUPING


#: Our codes that are not SAF-T standard codes, and the standard code each maps to. 23 is
#: Fiken's code of NONE_IMPORT_BASIS (the cost of imported goods without VAT; ADR 0044
#: §6), which `import fiken` keeps as Fiken's own postings show it; Standard_Tax_Codes.csv
#: has no 23 — its code for that cost is 20, "Kostnad ved innførsel av varer, ingen
#: merverdiavgiftsbehandling", beside 21 / 22 for the regular and middle rate (ADR 0047
#: addendum).
STANDARD_TAX_CODE_OF: Final[dict[str, str]] = {"23": "20"}


def standard_tax_code(code: str) -> str:
    """The standard code an entry's VAT code is exported under: itself (our codes are SAF-T
    standard codes), but for Fiken's 23 (STANDARD_TAX_CODE_OF). Whether it is on
    Skatteetaten's list at all is the writer's to say, which holds the list
    (xml_writer.written_standard_code: `NA` otherwise)."""
    return STANDARD_TAX_CODE_OF.get(code, code)


def split_name(name: str) -> tuple[str, str]:
    """First and last name of a contact person (the XSD wants both)."""
    parts = name.split()
    if len(parts) >= 2:
        return " ".join(parts[:-1])[:35], parts[-1][:70]
    return (parts[0] if parts else "-")[:35], "-"


def filename(orgnr: str, now: dt.datetime) -> str:
    """Skatteetaten's file name: SAF-T Financial_<orgnr>_<yyyymmddhhmmss>_1_1.xml (the
    last two numbers: file 1 of 1), the time Oslo's."""
    return f"SAF-T Financial_{orgnr}_{now.astimezone(OSLO).strftime('%Y%m%d%H%M%S')}_1_1.xml"


#: A code's rate on a day (None: it has none).
RateOf = Callable[[str, dt.date], Decimal | None]


def rate_of_table(table: TaxTable, start: dt.date, end: dt.date) -> RateOf:
    """A code's rate on a day of the export's period, as the VAT report reads it
    (`TaxTable.rate_row`), remembered per (code, day): a line's TaxPercentage is the rate
    of its entry's date, so a 2021 low-rate line shows 6 %, not today's 12 %. A code
    without a row that day: its one known rate."""

    @functools.lru_cache(maxsize=4096)
    def rate(code: str, day: dt.date) -> Decimal | None:
        row = table.rate_row(code, day)
        return row.rate if row is not None else _vat_rate(code)

    return rate


def transaction_of(
    lines: Sequence[AuditLine],
    aliases: Mapping[str, str] | None = None,
    rate_of: RateOf | None = None,
) -> SaftTransaction:
    """The transaction of one entry's lines, with VAT information: a base line carries the
    VAT of its code's next unclaimed VAT line in the entry; a VAT line no base line claims
    carries its own amount. `aliases`: the id each other id of a listed supplier or
    customer goes by in the file (aliases_of), so a party has one id throughout. `rate_of`:
    a code's rate on the entry's date (rate_of_table); None: the code's one known rate."""
    first = lines[0]
    tax_lines: dict[str, list[AuditLine]] | None = None
    for line in lines:
        if line.vat_part == TAX and line.vat_code:
            if tax_lines is None:
                tax_lines = {}
            tax_lines.setdefault(line.vat_code, []).append(line)
    claimed: set[int] = set()
    out: list[SaftLine] = []
    supplier: str | None = None
    customer: str | None = None
    for line in lines:
        code = line.vat_code
        rate = tax_base = tax_amount = None
        tax_side = None
        if code:
            rate = _vat_rate(code) if rate_of is None else rate_of(code, line.date)
            if line.vat_part != TAX:
                tax_base = line.debit or line.credit
                pending = [t for t in (tax_lines or {}).get(code, ()) if t.line_no not in claimed]
                if pending:
                    paired = pending[0]
                    claimed.add(paired.line_no)
                    tax_amount = paired.debit or paired.credit
                    tax_side = "debit" if paired.debit else "credit"
                else:
                    tax_amount, tax_side = _ZERO, "debit" if line.debit else "credit"
        kind = _account_kind(line.account)
        supplier_id = line.supplier_id
        if supplier_id is not None and aliases:
            supplier_id = aliases.get(supplier_id, supplier_id)
        if supplier is None:
            supplier = supplier_id
        customer_id = line.customer_id if kind == _RECEIVABLES else None
        if customer_id is not None:
            if aliases:
                customer_id = aliases.get(customer_id, customer_id)
            if customer is None:
                customer = customer_id
        out.append(
            SaftLine(
                record_id=str(line.line_no),
                account=line.account,
                description=line.description,
                debit=line.debit,
                credit=line.credit,
                supplier_id=supplier_id if kind == _PAYABLES else None,
                vat_code=code,
                vat_rate=rate,
                tax_base=tax_base,
                tax_amount=tax_amount,
                tax_side=tax_side,
                customer_id=customer_id,
                currency=None
                if line.exchange is None
                else line_currency(line.debit or line.credit, line.exchange),
            )
        )
    if tax_lines is not None:
        # Second pass: VAT lines that no base line claimed speak for themselves.
        for index, line in enumerate(lines):
            if line.vat_code and line.vat_part == TAX and line.line_no not in claimed:
                out[index] = msgspec.structs.replace(
                    out[index],
                    tax_amount=line.debit or line.credit,
                    tax_side="debit" if line.debit else "credit",
                )
    if first.exchange is not None:
        out = balanced_in_currency(out)
    date = first.date
    return SaftTransaction(
        transaction_id=str(first.entry_id),
        voucher_no=str(first.position),
        voucher_type=first.source,
        period=date.month,
        period_year=date.year,
        date=date,
        source_id=first.actor[:35],
        description=first.entry_description,
        system_entry_date=first.posted_at.astimezone(OSLO).date(),
        supplier_id=supplier,
        lines=out,
        customer_id=customer,
    )


#: SAFexchangerateType: at most 8 decimals (18 digits in all).
_RATE_PLACES: Final = Decimal("0.00000001")
_CENT: Final = Decimal("0.01")


def line_currency(amount: Decimal, exchange: Exchange | None) -> LineCurrency | None:
    """A line's amount in the currency of the document it was booked from (ADR 0051):
    the document's own amount for the line that carries the whole NOK amount (the
    payment or payables line: exact, whatever the rounding), else the line's NOK amount
    at the recorded rate, in cents (half up). None for a NOK line, or a conversion the
    file cannot carry (a code that is not three letters, a rate that is not positive)."""
    if exchange is None:
        return None
    code = exchange.currency.strip().upper()
    rate = exchange.rate
    if len(code) != 3 or not code.isalpha() or not code.isascii() or rate <= 0:
        return None
    exact = amount == exchange.nok_amount
    foreign = exchange.amount if exact else amount / rate
    return LineCurrency(
        code=code,
        amount=foreign.quantize(_CENT, rounding=ROUND_HALF_UP),
        rate=rate.quantize(_RATE_PLACES, rounding=ROUND_HALF_UP),
        exact=exact,
    )


def balanced_in_currency(lines: list[SaftLine]) -> list[SaftLine]:
    """An entry booked from one foreign-currency document, its currency amounts adding up
    on both sides as its NOK amounts do: the cent or two that converting each line back
    separately leaves is taken by the largest line converted back (not one carrying the
    document's own amount), as in_nok lets the last line take the NOK rounding. Lines in
    mixed currencies or without one are left as they are."""
    currencies = [line.currency for line in lines]
    if not currencies or any(c is None for c in currencies):
        return lines
    if len({(c.code, c.rate) for c in currencies if c is not None}) != 1:
        return lines
    pairs = list(zip(currencies, lines, strict=True))
    debit = sum((c.amount for c, x in pairs if c is not None and x.debit), _ZERO)
    credit = sum((c.amount for c, x in pairs if c is not None and not x.debit), _ZERO)
    difference = debit - credit
    if not difference or abs(difference) > _CENT * len(lines):
        return lines
    converted = [index for index, c in enumerate(currencies) if c is not None and not c.exact]
    if not converted:
        return lines
    index = max(converted, key=lambda i: lines[i].debit or lines[i].credit)
    line = lines[index]
    currency = line.currency
    assert currency is not None
    amount = currency.amount - difference if line.debit else currency.amount + difference
    if amount < 0:
        return lines
    out = list(lines)
    out[index] = msgspec.structs.replace(
        line, currency=msgspec.structs.replace(currency, amount=amount)
    )
    return out


_OTHER, _PAYABLES, _RECEIVABLES = 0, 1, 2


@functools.cache
def _account_kind(account: str) -> int:
    """Payables, receivables or neither (is_payables, is_receivables), once per code."""
    if is_payables(account):
        return _PAYABLES
    return _RECEIVABLES if is_receivables(account) else _OTHER


@functools.cache
def _vat_rate(code: str) -> Decimal | None:
    return saft_vat_code(code).rate


async def transactions(
    snapshot: AuditSnapshot,
    start: dt.date,
    end: dt.date,
    *,
    page_size: int = PAGE_SIZE,
    progress: Callable[[int], None] | None = None,
    aliases: Mapping[str, str] | None = None,
    rate_of: RateOf | None = None,
) -> AsyncIterator[SaftTransaction]:
    """The period's entries as transactions, reading `page_size` lines at a time; at most
    two pages (the one rendered, the next one read meanwhile: the database works while
    this one is turned into XML) and one entry are held at once. `progress` hears the
    lines read so far; `aliases` as transaction_of."""
    pending: list[AuditLine] = []
    read = 0
    fetching: asyncio.Future[list[AuditLine]] | None = asyncio.ensure_future(
        snapshot.lines(start, end, None, page_size)
    )
    try:
        while fetching is not None:
            page = await fetching
            fetching = None
            if len(page) >= page_size:
                last = page[-1]
                after: LineKey = (last.date, last.position, last.line_no)
                fetching = asyncio.ensure_future(snapshot.lines(start, end, after, page_size))
                await asyncio.sleep(0)  # the next page's query is sent before this is rendered
            entry_id = pending[0].entry_id if pending else None
            for line in page:
                if line.entry_id != entry_id:
                    if pending:
                        yield transaction_of(pending, aliases, rate_of)
                    pending = []
                    entry_id = line.entry_id
                pending.append(line)
            read += len(page)
            if progress is not None and page:
                progress(read)
        if pending:
            yield transaction_of(pending, aliases, rate_of)
    finally:
        if fetching is not None:
            # Abandoned (the download stopped): let the read in flight finish, so the
            # snapshot's connection is idle when it closes.
            with contextlib.suppress(Exception):
                await fetching


# --- the use case -----------------------------------------------------------------------


class SaftExport:
    """SAF-T Financial files of the caller's tenant (needs `exports:read`)."""

    def __init__(
        self,
        reads: AuditReads,
        authorizer: Authorizer,
        clock: Clock,
        render: Renderer,
        *,
        software_version: str,
        company: CompanySettings | None = None,
        books_source: BooksSource | None = None,
        page_size: int = PAGE_SIZE,
        tax_table: Callable[[str], Awaitable[TaxTable]] | None = None,
        vat_registered: Callable[[str, dt.date], Awaitable[bool]] | None = None,
    ) -> None:
        self._reads = reads
        self._authorizer = authorizer
        self._clock = clock
        self._render = render
        self._software_version = software_version
        self._company = company or CompanySettings()
        self._books_source = books_source
        self._page_size = page_size
        #: A tenant's tax rates, for the TaxTable's rate periods; None: the shipped ones.
        self._tax_table = tax_table
        #: Whether a tenant is in the VAT register during the period ending on the date
        #: (`vatRegistered`, and `vatRegisteredFrom` on or before it); None: every tenant is.
        self._vat_registered = vat_registered

    async def export(
        self,
        principal: Principal,
        start: dt.date | None,
        end: dt.date | None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> SaftFile:
        """Check the caller and the period, read the company and the chart from the books
        (before any snapshot: no transaction waits on a remote call), and hand back the
        file's name and its bytes, produced as they are read."""
        self._authorizer.check(principal, EXPORTS_READ)
        start, end = check_period(start, end)
        company, chart = await self._company_and_chart(principal, end)
        # The file is read in Norway: its dates and its name's time are Oslo's.
        now = self._clock.now().astimezone(OSLO)
        header = SaftHeader(
            company=company,
            start=start,
            end=end,
            created=now.date(),
            software_version=self._software_version,
            user_id=principal.actor,
        )
        chunks = self._chunks(principal.tenant_id, header, chart, progress)
        return SaftFile(filename=filename(company.orgnr, now), chunks=chunks)

    async def _chunks(
        self,
        tenant_id: str,
        header: SaftHeader,
        chart: dict[str, str],
        progress: Callable[[int], None] | None,
    ) -> AsyncIterator[bytes]:
        start, end = header.start, header.end
        # The tenant's tax rates by date (ADR 0047 addendum), read before the snapshot.
        if self._tax_table is None:
            rates = TaxTable(NORWAY_TAX_RATES)
        else:
            rates = await self._tax_table(tenant_id)
        async with self._reads.snapshot(tenant_id) as snapshot:
            totals = await snapshot.entry_totals(start, end)
            balances = await snapshot.account_balances(start, end)
            # Income-statement accounts open each financial year at zero: what earlier
            # years left on them, unclosed, opens in equity instead (ADR 0020 addendum).
            first_day = year_start(start)
            before_year = (
                balances
                if start == first_day
                else await snapshot.account_balances(first_day, first_day)
            )
            earlier = {b.account: b.opening for b in before_year}
            opening = carry_forward({b.account: b.opening for b in balances}, earlier)
            closing = carry_forward({b.account: b.closing for b in balances}, earlier)
            groupings = await snapshot.groupings()
            suppliers = await snapshot.suppliers(start, end)
            customers = await snapshot.customers(start, end)
            codes = await snapshot.vat_codes(start, end)
            accounts = []
            for account in _with_new_accounts([b.account for b in balances], opening):
                grouping = grouping_of(account, groupings)
                accounts.append(
                    SaftAccount(
                        account=account,
                        description=_account_name(account, chart),
                        grouping_category=grouping.category,
                        grouping_code=grouping.code,
                        opening=opening[account],
                        closing=closing[account],
                    )
                )
            document = SaftDocument(
                header=header,
                accounts=accounts,
                suppliers=suppliers,
                customers=customers,
                tax_codes=[
                    SaftTaxCode(
                        code=code,
                        rate=period.rate,
                        standard_code=standard_tax_code(code),
                        effective=period.effective,
                        expiration=period.expiration,
                    )
                    for code in codes
                    for period in rate_periods(code, rates, start, end)
                ],
                totals=totals,
                transactions=transactions(
                    snapshot,
                    start,
                    end,
                    page_size=self._page_size,
                    progress=progress,
                    aliases=aliases_of([*suppliers, *customers]),
                    rate_of=rate_of_table(rates, start, end),
                ),
            )
            async for chunk in self._render(document):
                yield chunk

    async def _company_and_chart(
        self, principal: Principal, end: dt.date
    ) -> tuple[SaftCompany, dict[str, str]]:
        settings = self._company
        books = None
        if self._books_source is not None:
            books = (await self._books_source())(principal.tenant_id)
        name, orgnr = settings.name, settings.orgnr
        if books is not None and (name is None or orgnr is None):
            company: BooksCompany = await books.company()
            name = name or company.name
            orgnr = orgnr or company.organization_number
        if not name or not orgnr:
            raise CompanyUnknown(
                "the company's name and organisation number are not known: set "
                "BOOKKEEPER_COMPANY_NAME and BOOKKEEPER_COMPANY_ORGNR"
            )
        chart = {} if books is None else {a.code: a.name for a in await books.accounts()}
        first, last = split_name(settings.contact or principal.subject)
        registered = (
            True
            if self._vat_registered is None
            else await self._vat_registered(principal.tenant_id, end)
        )
        return (
            SaftCompany(
                name=name,
                orgnr=orgnr.replace(" ", ""),
                contact_first_name=first,
                contact_last_name=last,
                vat_registered=registered,
            ),
            chart,
        )


def _with_new_accounts(codes: list[str], balances: Mapping[str, Decimal]) -> list[str]:
    """The ledger's accounts in its order, and each one `balances` adds (the equity account
    carry_forward gave earlier years' result to) before the first code after it."""
    ordered = list(codes)
    for code in sorted(set(balances) - set(codes)):
        ordered.insert(next((i for i, c in enumerate(ordered) if c > code), len(ordered)), code)
    return ordered


def _account_name(account: str, chart: dict[str, str]) -> str:
    """The chart's name of the account (or of its main account), else the code itself."""
    return (chart.get(account) or chart.get(base_account(account)) or f"Konto {account}")[:256]
