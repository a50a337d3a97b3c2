"""/journal-entries and the ledger's reports: manual entries, trial balance, general
ledger, VAT per term, and the account codes the tenant's chart does not know.

Dates are plain calendar dates (`2026-03-31`), periods inclusive at both ends. Amounts are
decimal strings; a balance is debit minus credit.
"""

import datetime as dt
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta

from bookkeeper.application.ledger import (
    GeneralLedgerPage,
    InvalidCursor,
    LedgerService,
    PostedEntry,
    TrialBalance,
    UnknownAccountsReport,
    VatReport,
    VatReportLine,
)
from bookkeeper.domain.events import JournalLine, Party
from bookkeeper.domain.ledger import VAT_REMARK_NEEDED
from bookkeeper.domain.money import two_places
from bookkeeper.domain.statements import (
    BalanceSheet,
    IncomeStatement,
    StatementGroup,
    StatementLine,
)
from bookkeeper.domain.vat_registration import BEFORE_REGISTRATION, NO_VAT_RETURN
from bookkeeper.entrypoints.http.controllers.events import API_PREFIX, IdempotencyKey
from bookkeeper.entrypoints.http.csv_out import (
    CsvOperation,
    ReportFormat,
    amount,
    csv_response,
    wants_csv,
)
from bookkeeper.entrypoints.http.decoding import StrictJson
from bookkeeper.entrypoints.http.params import NO_NUL, Cursor, Limit
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import MAX_TEXT, RequestBody, ResponseBody, amount_out

MAX_LINES: Final = 500
#: The side of a manual line without an amount.
ZERO_SIDE: Final = Decimal("0.00")

FromDate = Annotated[
    dt.date | None,
    QueryParameter(name="from", description="First day of the period (YYYY-MM-DD), inclusive"),
]
ToDate = Annotated[
    dt.date | None,
    QueryParameter(name="to", description="Last day of the period (YYYY-MM-DD), inclusive"),
]

# --- wire shapes ------------------------------------------------------------------------


class PartyIn(RequestBody, frozen=True, kw_only=True):
    """The customer (on receivables) or supplier (on payables) a line is owed by or to."""

    kind: Literal["customer", "supplier"]
    id: Annotated[str, Meta(min_length=1, max_length=35, examples=["K-1001"])]
    name: Annotated[str, Meta(max_length=MAX_TEXT, examples=["Nordlys AS"])] | None = None
    org_number: Annotated[str, Meta(min_length=1, max_length=35, examples=["987654321"])] | None = (
        None
    )

    def to_domain(self) -> Party:
        return Party(kind=self.kind, id=self.id, name=self.name, org_number=self.org_number)


class JournalLineIn(RequestBody, frozen=True, kw_only=True):
    """One line: an amount on the debit or the credit side of an account."""

    account: Annotated[str, Meta(max_length=100, examples=["6800"])]
    debit: Decimal | None = None
    credit: Decimal | None = None
    description: Annotated[str, Meta(max_length=MAX_TEXT)] | None = None
    vat_code: Annotated[str, Meta(max_length=10, examples=["1"])] | None = None
    vat_part: Literal["base", "tax"] | None = None
    #: Who the line is owed by or to (a customer on 15xx, a supplier on 24xx), for SAF-T.
    party: PartyIn | None = None

    def to_domain(self) -> JournalLine:
        return JournalLine(
            account=self.account,
            # Amounts are stored as people write them in the books: "500" is "500.00".
            debit=two_places(self.debit) if self.debit is not None else ZERO_SIDE,
            credit=two_places(self.credit) if self.credit is not None else ZERO_SIDE,
            description=self.description,
            vat_code=self.vat_code,
            vat_part=self.vat_part,
            party=None if self.party is None else self.party.to_domain(),
        )


class JournalEntryIn(RequestBody, frozen=True, kw_only=True):
    """POST /journal-entries: a manual entry whose debits must equal its credits."""

    date: dt.date
    description: Annotated[str, Meta(max_length=MAX_TEXT)]
    lines: Annotated[list[JournalLineIn], Meta(max_length=MAX_LINES)]
    #: The department the entry belongs to (default: the poster's, where the tenant uses
    #: departments); a poster with a department posts only for it.
    department: Annotated[str, Meta(max_length=100, examples=["sales"])] | None = None


class PartyOut(ResponseBody, frozen=True, kw_only=True):
    kind: str
    id: str
    name: str | None
    org_number: str | None


class JournalLineOut(ResponseBody, frozen=True, kw_only=True):
    line_no: int
    account: str
    debit: str
    credit: str
    description: str | None
    vat_code: str | None
    vat_part: str | None
    #: The customer or supplier the line names, if any.
    party: PartyOut | None = None


class JournalEntryOut(ResponseBody, frozen=True, kw_only=True):
    """A posted journal entry."""

    entry_id: uuid.UUID
    position: int
    date: dt.date
    description: str
    source: str
    proposal_id: str | None
    reverses_entry_id: str | None
    actor: str
    posted_at: dt.datetime
    lines: list[JournalLineOut]


class AccountTotalOut(ResponseBody, frozen=True, kw_only=True):
    """One account; every balance is debit − credit."""

    account: str
    #: The account's name in the tenant's chart (None when the chart lacks it or the
    #: books could not be read).
    name: str | None = None
    #: Opening balance (IB) at `start`: an income-statement account (3xxx–8xxx) with its
    #: own financial year's lines only, 2050 with earlier years' unclosed result; 0.00
    #: without `start` (the beginning of the books).
    opening: str
    debit: str
    credit: str
    balance: str  # the period's movement: debit − credit
    #: Ended years' result moved from 3xxx–8xxx to 2050 inside a period that crosses a
    #: year end; 0.00 within one financial year.
    carried: str
    #: Closing balance (UB) at `end` (without `end`: after the last line, in its year):
    #: opening + balance + carried.
    closing: str


class TotalsOut(ResponseBody, frozen=True, kw_only=True):
    debit: str
    credit: str
    balance: str
    #: The sums of the opening, carried and closing columns: 0.00 when the ledger balances.
    opening: str
    carried: str
    closing: str


class TrialBalanceOut(ResponseBody, frozen=True, kw_only=True):
    """Opening balance, debits, credits, movement, carried result and closing balance per
    account over the period; debit equals credit and the balance columns sum to zero."""

    start: dt.date | None
    end: dt.date | None
    accounts: list[AccountTotalOut]
    totals: TotalsOut


class LedgerLineOut(ResponseBody, frozen=True, kw_only=True):
    entry_id: uuid.UUID
    line_no: int
    position: int
    date: dt.date
    description: str
    debit: str
    credit: str
    balance: str
    vat_code: str | None
    vat_part: str | None
    source: str
    proposal_id: uuid.UUID | None


class GeneralLedgerOut(ResponseBody, frozen=True, kw_only=True):
    """One page of an account's lines, with the balance before the period and the running
    balance after each line; page on with `cursor` = `nextCursor`."""

    account: str
    account_name: str | None = None
    start: dt.date | None
    end: dt.date | None
    opening_balance: str
    items: list[LedgerLineOut]
    next_cursor: str | None
    closing_balance: str | None


class VatLineOut(ResponseBody, frozen=True, kw_only=True):
    vat_code: str
    rate: str | None
    direction: str | None
    base: str
    vat: str
    #: Of a code without a direction (0, 6, 7, 20): "sales" (booked on income accounts,
    #: credit-positive) or "purchases" (debit-positive); null for the others.
    side: str | None = None
    #: A line with a basis whose VAT lies more than a krone from basis × rate: VAT minus
    #: basis × rate ("2.00"); null otherwise. Skatteetaten marks a return with such a
    #: line as deviating (rule R019): look at the term's documents before filing.
    deviation: str | None = None
    #: The line's amount has the sign opposite to its kind (a sale's basis below zero, a
    #: deduction that pays — credit notes or a correction of an earlier term outweighing
    #: the term): the return must carry a remark (merknad) on it, under Skatteetaten's
    #: rule "R020" (basis and output VAT) or "R021" (deducted input VAT); null otherwise.
    remark: str | None = None


class VatReportOut(ResponseBody, frozen=True, kw_only=True):
    """Basis and VAT per SAF-T code of one term as the return (mva-melding) shows them:
    input VAT and its basis are positive when booked as debits, output VAT when booked as
    credits; 14 and 15 have the VAT only. `notInReturn` lists what was booked under codes
    the return has no line for (0, 7, 20, 21–23), purchases under 6 and the basis of 14 /
    15, outside the totals. A company outside the VAT register (`vatRegistered` false)
    files no return: no lines, totals 0, everything booked in `notInReturn`, no
    `dueDate`, and `note` says why. A company on the yearly term gets its year whatever
    `term` (1–6) it asks for."""

    year: int
    term: int
    start: dt.date
    end: dt.date
    due_date: dt.date | None
    lines: list[VatLineOut]
    input_vat: str
    output_vat: str
    payable: str
    not_in_return: list[VatLineOut] = msgspec.field(default_factory=list)
    vat_registered: bool = True
    note: str | None = None
    #: "bimonthly", or "yearly" for a company on the yearly term (årstermin, ADR 0064):
    #: then the report is the calendar year (`term` 1) and the return is due on 10 March.
    term_length: str = "bimonthly"
    #: Set when a line needs a remark (`remark`): which codes, and that the return
    #: without one is marked as deviating. Null otherwise.
    remark_note: str | None = None


class UnknownAccountsOut(ResponseBody, frozen=True, kw_only=True):
    """Account codes in the ledger that the chart of `backend` does not have."""

    backend: str
    chart_size: int
    accounts: list[str]


class StatementLineOut(ResponseBody, frozen=True, kw_only=True):
    account: str
    name: str | None
    amount: str


class StatementGroupOut(ResponseBody, frozen=True, kw_only=True):
    """One NS 4102 group: its accounts and their total, in the sign a reader expects."""

    group: str
    title: str
    lines: list[StatementLineOut]
    total: str


class IncomeStatementOut(ResponseBody, frozen=True, kw_only=True):
    """Revenue (3xxx), cost of goods (4xxx), payroll (5xxx), other operating costs
    (6xxx–7xxx) and financial items (80xx–82xx) give the result before tax; tax (83xx–87xx)
    is subtracted from it to give `result`, the annual result; transfers and dispositions
    (88xx–89xx) follow it and are no cost. Revenue and financial income positive, costs and
    tax positive and subtracted, dispositions positive when the result is allocated."""

    start: dt.date | None
    end: dt.date | None
    groups: list[StatementGroupOut]
    operating_revenue: str
    operating_costs: str
    operating_result: str
    financial_items: str
    result_before_tax: str
    tax: str
    result: str
    dispositions: str


class BalanceSheetOut(ResponseBody, frozen=True, kw_only=True):
    """Assets (1xxx) and equity and liabilities (2xxx) at the end of `at`, with the result
    of classes 3–8 not yet closed into equity; accounts outside 1–8 are `unclassified`."""

    at: dt.date | None
    groups: list[StatementGroupOut]
    total_assets: str
    unallocated_result: str
    total_equity_and_liabilities: str
    unclassified: list[StatementLineOut]


# --- results → wire ---------------------------------------------------------------------


Names = Callable[[str], str | None]


def _no_names(code: str) -> str | None:
    return None


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def entry_out(posted: PostedEntry) -> JournalEntryOut:
    entry = posted.entry
    return JournalEntryOut(
        entry_id=posted.entry_id,
        position=posted.position,
        date=entry.date,
        description=entry.description,
        source=entry.source,
        proposal_id=entry.proposal_id,
        reverses_entry_id=entry.reverses_entry_id,
        actor=posted.actor,
        posted_at=posted.posted_at,
        lines=[
            JournalLineOut(
                line_no=number,
                account=line.account,
                debit=amount_out(line.debit),
                credit=amount_out(line.credit),
                description=line.description,
                vat_code=line.vat_code,
                vat_part=line.vat_part,
                party=None
                if line.party is None
                else PartyOut(
                    kind=line.party.kind,
                    id=line.party.id,
                    name=line.party.name,
                    org_number=line.party.org_number,
                ),
            )
            for number, line in enumerate(entry.lines, start=1)
        ],
    )


def trial_balance_out(report: TrialBalance, names: Names = _no_names) -> TrialBalanceOut:
    return TrialBalanceOut(
        start=report.start,
        end=report.end,
        accounts=[
            AccountTotalOut(
                account=a.account,
                name=names(a.account),
                opening=amount_out(a.opening),
                debit=amount_out(a.debit),
                credit=amount_out(a.credit),
                balance=amount_out(a.balance),
                carried=amount_out(a.carried),
                closing=amount_out(a.closing),
            )
            for a in report.accounts
        ],
        totals=TotalsOut(
            debit=amount_out(report.debit),
            credit=amount_out(report.credit),
            balance=amount_out(report.balance),
            opening=amount_out(report.opening),
            carried=amount_out(report.carried),
            closing=amount_out(report.closing),
        ),
    )


def general_ledger_out(page: GeneralLedgerPage, names: Names = _no_names) -> GeneralLedgerOut:
    return GeneralLedgerOut(
        account=page.account,
        account_name=names(page.account),
        start=page.start,
        end=page.end,
        opening_balance=amount_out(page.opening_balance),
        items=[
            LedgerLineOut(
                entry_id=item.line.entry_id,
                line_no=item.line.line_no,
                position=item.line.position,
                date=item.line.date,
                description=item.line.description,
                debit=amount_out(item.line.debit),
                credit=amount_out(item.line.credit),
                balance=amount_out(item.balance),
                vat_code=item.line.vat_code,
                vat_part=item.line.vat_part,
                source=item.line.source,
                proposal_id=item.line.proposal_id,
            )
            for item in page.lines
        ],
        next_cursor=page.next_cursor,
        closing_balance=None if page.closing_balance is None else amount_out(page.closing_balance),
    )


def _vat_line_out(line: VatReportLine) -> VatLineOut:
    return VatLineOut(
        vat_code=line.vat_code,
        rate=_str(line.rate),
        direction=line.direction,
        base=amount_out(line.base),
        vat=amount_out(line.vat),
        side=line.side,
        deviation=None if line.deviation is None else amount_out(line.deviation),
        remark=line.remark,
    )


def _remark_note(report: VatReport) -> str | None:
    """What the accountant must add before filing when a return line has the sign opposite
    to its kind (ADR 0064 addendum 4); None when no line does."""
    flagged = [line for line in report.lines if line.remark is not None]
    if not flagged:
        return None
    codes = ", ".join(f"code {line.vat_code} ({line.remark})" for line in flagged)
    return VAT_REMARK_NEEDED.format(codes=codes)


def _vat_note(report: VatReport) -> str | None:
    """Why a report has no return: the company is outside the VAT register, or the term
    ended before its registration took effect (ADR 0064, addendum); None when it has one."""
    if report.vat_registered:
        return None
    if report.registered_from is not None:
        return BEFORE_REGISTRATION.format(date=report.registered_from.isoformat())
    return NO_VAT_RETURN


def vat_report_out(report: VatReport) -> VatReportOut:
    term = report.term
    return VatReportOut(
        year=term.year,
        term=term.term,
        start=term.start,
        end=term.end,
        due_date=term.due if report.vat_registered else None,
        lines=[_vat_line_out(line) for line in report.lines],
        input_vat=amount_out(report.input_vat),
        output_vat=amount_out(report.output_vat),
        payable=amount_out(report.payable),
        not_in_return=[_vat_line_out(line) for line in report.not_in_return],
        vat_registered=report.vat_registered,
        note=_vat_note(report),
        term_length=term.length,
        remark_note=_remark_note(report),
    )


def _lines_out(lines: list[StatementLine]) -> list[StatementLineOut]:
    return [
        StatementLineOut(account=x.account, name=x.name, amount=amount(x.amount)) for x in lines
    ]


def _groups_out(groups: list[StatementGroup]) -> list[StatementGroupOut]:
    return [
        StatementGroupOut(
            group=g.key, title=g.title, lines=_lines_out(g.lines), total=amount(g.total)
        )
        for g in groups
    ]


def _statement_rows(groups: list[StatementGroup]) -> list[list[object]]:
    rows: list[list[object]] = []
    for group in groups:
        rows += [[group.key, x.account, x.name, amount(x.amount)] for x in group.lines]
        rows.append([group.key, "total", group.title, amount(group.total)])
    return rows


# --- CSV (one shape for the API and the web page, entrypoints/web) ------------------------


def trial_balance_csv(report: TrialBalance, names: Names = _no_names) -> Response[Any]:
    """The trial balance as CSV: one row per account and a total row; the JSON's columns
    (opening, debit, credit, balance = the movement, carried, closing)."""
    return csv_response(
        "trial-balance.csv",
        ["account", "name", "opening", "debit", "credit", "balance", "carried", "closing"],
        [
            [a.account, names(a.account), amount(a.opening), amount(a.debit),
             amount(a.credit), amount(a.balance), amount(a.carried), amount(a.closing)]
            for a in report.accounts
        ]
        + [["total", None, amount(report.opening), amount(report.debit),
            amount(report.credit), amount(report.balance), amount(report.carried),
            amount(report.closing)]],
    )  # fmt: skip


def general_ledger_csv(page: GeneralLedgerPage) -> Response[Any]:
    """One page of an account's lines after an opening-balance row; the next page's cursor
    in the `Next-Cursor` header."""
    response = csv_response(
        f"general-ledger-{_safe(page.account)}.csv",
        ["date", "entryId", "lineNo", "description", "debit", "credit", "balance",
         "vatCode", "source"],
        [[page.start or "", None, None, "opening balance", None, None,
          amount(page.opening_balance), None, None]]
        + [
            [i.line.date, i.line.entry_id, i.line.line_no, i.line.description,
             amount(i.line.debit), amount(i.line.credit), amount(i.balance),
             i.line.vat_code, i.line.source]
            for i in page.lines
        ],
    )  # fmt: skip
    if page.next_cursor is not None:
        response.headers["Next-Cursor"] = page.next_cursor
    return response


def vat_csv(report: VatReport) -> Response[Any]:
    """Basis and VAT per code of one term as the return shows them, then input, output and
    payable rows, then, for a company outside the VAT register, a `note` row saying it
    files no return (the JSON's `note`, ADR 0056 addendum 4) or a `remark` row saying
    which lines need a remark in the return (the JSON's `remarkNote`), then what is not
    in the return (inReturn false). A line's `deviation` (VAT − basis × rate beyond a
    krone, R019) and `remark` (R020 / R021) are the JSON's. Columns are only ever added
    at the end, so a reader of the first ones by position reads what it always did."""

    def row(line: VatReportLine, in_return: bool) -> list[str | None]:
        return [
            line.vat_code,
            _str(line.rate),
            line.direction,
            amount(line.base),
            amount(line.vat),
            line.side,
            "true" if in_return else "false",
            None,
            None if line.deviation is None else amount(line.deviation),
            line.remark,
        ]

    def total(name: str, value: Decimal) -> list[str | None]:
        return [name, None, None, None, amount(value), None, None, None, None, None]

    notes = [("note", _vat_note(report)), ("remark", _remark_note(report))]
    return csv_response(
        f"vat-{report.term.year}-{report.term.term}.csv",
        ["vatCode", "rate", "direction", "base", "vat", "side", "inReturn", "note",
         "deviation", "remark"],
        [row(line, True) for line in report.lines]
        + [total("inputVat", report.input_vat), total("outputVat", report.output_vat),
           total("payable", report.payable)]
        + [[name, *[None] * 6, text, None, None] for name, text in notes if text is not None]
        + [row(line, False) for line in report.not_in_return],
    )  # fmt: skip


def income_statement_csv(report: IncomeStatement) -> Response[Any]:
    """One row per account and a total per group, then the operating result, the result
    before tax and the annual result (after tax, before dispositions)."""
    return csv_response(
        "income-statement.csv",
        ["group", "account", "name", "amount"],
        [
            *_statement_rows(report.groups),
            ["operatingResult", None, None, amount(report.operating_result)],
            ["resultBeforeTax", None, None, amount(report.result_before_tax)],
            ["result", None, None, amount(report.result)],
        ],
    )


def balance_sheet_csv(report: BalanceSheet) -> Response[Any]:
    """One row per account and a total per group, the unallocated result, unclassified."""
    return csv_response(
        "balance-sheet.csv",
        ["group", "account", "name", "amount"],
        _statement_rows(report.groups)
        + [["unallocatedResult", None, None, amount(report.unallocated_result)]]
        + [["unclassified", x.account, x.name, amount(x.amount)]
           for x in report.unclassified],
    )  # fmt: skip


# --- routes -----------------------------------------------------------------------------


class JournalEntryController(Controller):
    """Manual journal entries of the caller's tenant."""

    path = "/journal-entries"
    tags = ["ledger"]  # noqa: RUF012 - Litestar reads these class attributes

    @post(
        "/",
        operation_id="postJournalEntry",
        summary="Post a balanced manual journal entry",
        status_code=201,
        dto=StrictJson[JournalEntryIn],
        return_dto=None,
        response_headers=[
            ResponseHeader(
                name="Location",
                description="Where the posted entry can be read",
                documentation_only=True,
            ),
            ResponseHeader(
                name="Idempotent-Replayed",
                description="`true` when this answers a retry of an earlier request",
                required=False,
                documentation_only=True,
            ),
        ],
        responses=documented(401, 403, 409, 413, 415, 422),
    )
    async def post_entry(
        self,
        data: JSONBody[JournalEntryIn],
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[JournalEntryOut]:
        """Record a JournalEntryPosted with these lines and fold it into the ledger at once.
        Each line has a debit or a credit (decimal strings, whole øre); debits must equal
        credits (else 422). Account codes are not checked against the chart: see
        `GET /reports/unknown-accounts`. Needs the `ledger:post` permission, and the amount
        (the debits) within the poster's `approval_limit` and, where the tenant uses
        departments, the poster's department (else 403)."""
        posted = await ledger.post_manual(
            request.user,
            data.date,
            data.description,
            [line.to_domain() for line in data.lines],
            idempotency_key=idempotency_key,
            department=data.department,
        )
        headers = {"Location": f"{API_PREFIX}/journal-entries/{posted.entry_id}"}
        if posted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(entry_out(posted), status_code=201, headers=headers)

    @get(
        "/{entry_id:uuid}",
        operation_id="getJournalEntry",
        summary="One posted journal entry",
        responses=documented(401, 403, 404),
    )
    async def get_entry(
        self,
        entry_id: FromPath[uuid.UUID],
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
    ) -> JournalEntryOut:
        """A journal entry of the tenant (manual or posted by an executed proposal)."""
        return entry_out(await ledger.entry(request.user, entry_id))


class LedgerReportController(Controller):
    """Reports from the ledger of the caller's tenant."""

    path = "/reports"
    tags = ["reports"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/trial-balance",
        operation_id="getTrialBalance",
        summary="Trial balance",
        responses=documented(401, 403, 422),
        operation_class=CsvOperation,
    )
    async def trial_balance(
        self,
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
        start: FromDate = None,
        end: ToDate = None,
        format: ReportFormat = None,
    ) -> Response[TrialBalanceOut]:
        """Per account over [from, to] (either may be left open): the opening balance
        (IB) at `from`, debit and credit turnover and their difference, the result of
        ended years carried to equity inside the period, and the closing balance (UB) at
        `to`, with totals; total debit always equals total credit and the opening,
        carried and closing columns each sum to zero. Income-statement accounts
        (3xxx–8xxx) open each financial year at zero, earlier years' unclosed result is in
        2050 (ADR 0062 addendum). Each account carries its name from the tenant's chart
        where the chart has it. CSV with `Accept: text/csv` or `?format=csv`."""
        report = await ledger.trial_balance(request.user, start, end)
        names = await ledger.account_names(request.user)
        if wants_csv(request, format):
            return trial_balance_csv(report, names)
        return Response(trial_balance_out(report, names))

    @get(
        "/general-ledger",
        operation_id="getGeneralLedger",
        summary="General ledger of one account",
        responses=documented(401, 403, 422),
        operation_class=CsvOperation,
    )
    async def general_ledger(
        self,
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
        account: Annotated[
            str, QueryParameter(name="account", min_length=1, max_length=100, pattern=NO_NUL)
        ],
        start: FromDate = None,
        end: ToDate = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        format: ReportFormat = None,
    ) -> Response[GeneralLedgerOut]:
        """The account's lines in [from, to] by date and posting order, a page at a time,
        with the opening balance at `from` and the running balance after every line, as
        the trial balance has them (an income-statement account starts each financial year
        at zero; 2050 takes in ended years' result), and the
        account's name from the chart. CSV (`Accept: text/csv` or `?format=csv`): the page's
        lines after an opening-balance row; the next page's cursor is in the `Next-Cursor`
        header."""
        try:
            page = await ledger.general_ledger(request.user, account, start, end, cursor, limit)
        except InvalidCursor as error:
            raise ValidationException(
                f"cursor: {error.message}",
                extra=[{"key": "cursor", "source": "query", "message": error.message}],
            ) from None
        names = await ledger.account_names(request.user)
        if wants_csv(request, format):
            return general_ledger_csv(page)
        return Response(general_ledger_out(page, names))

    @get(
        "/vat",
        operation_id="getVatReport",
        summary="VAT per SAF-T code of one bi-monthly term",
        responses=documented(401, 403, 422),
        operation_class=CsvOperation,
    )
    async def vat(
        self,
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
        year: Annotated[int, QueryParameter(name="year", ge=1900, le=2999)],
        term: Annotated[
            int,
            QueryParameter(
                name="term", ge=1, le=6, description="1 = January–February … 6 = November–December"
            ),
        ],
        format: ReportFormat = None,
    ) -> Response[VatReportOut]:
        """Basis and VAT per SAF-T standard tax code of the term, the input and output VAT,
        what the return pays (output − input; negative: a refund) and when it is due. CSV
        with `Accept: text/csv` or `?format=csv`."""
        report = await ledger.vat_report(request.user, year, term)
        if wants_csv(request, format):
            return vat_csv(report)
        return Response(vat_report_out(report))

    @get(
        "/unknown-accounts",
        operation_id="getUnknownAccounts",
        summary="Account codes the chart of accounts does not know",
        responses=documented(401, 403, 502, 503),
        operation_class=CsvOperation,
    )
    async def unknown_accounts(
        self,
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
        format: ReportFormat = None,
    ) -> Response[UnknownAccountsOut]:
        """Codes used in the ledger that the tenant's chart (read from the books: Fiken, or
        the sandbox) lacks. A sub-ledger code such as `2400:20001` counts as known when the
        chart has it or its main account `2400`. CSV (one code a row) with `Accept:
        text/csv` or `?format=csv`."""
        report: UnknownAccountsReport = await ledger.unknown_accounts(request.user)
        if wants_csv(request, format):
            return csv_response(
                "unknown-accounts.csv", ["account"], [[code] for code in report.accounts]
            )
        return Response(
            UnknownAccountsOut(
                backend=report.backend, chart_size=report.chart_size, accounts=report.accounts
            )
        )

    @get(
        "/income-statement",
        operation_id="getIncomeStatement",
        summary="Income statement grouped by NS 4102 classes",
        responses=documented(401, 403, 422),
        operation_class=CsvOperation,
    )
    async def income_statement(
        self,
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
        start: FromDate = None,
        end: ToDate = None,
        format: ReportFormat = None,
    ) -> Response[IncomeStatementOut]:
        """Revenue, cost of goods, payroll, other operating costs and financial items over
        [from, to] from the ledger's account totals, each account with its name from the
        chart, the operating result, the result before tax, the tax and the annual result
        (positive: a profit), then the annual result's dispositions (NS 4102 88xx–89xx,
        not costs). CSV (one
        row per account and a total per group) with `Accept: text/csv` or `?format=csv`."""
        report = await ledger.income_statement(request.user, start, end)
        if wants_csv(request, format):
            return income_statement_csv(report)
        return Response(
            IncomeStatementOut(
                start=start,
                end=end,
                groups=_groups_out(report.groups),
                operating_revenue=amount(report.operating_revenue),
                operating_costs=amount(report.operating_costs),
                operating_result=amount(report.operating_result),
                financial_items=amount(report.financial_items),
                result_before_tax=amount(report.result_before_tax),
                tax=amount(report.tax),
                result=amount(report.result),
                dispositions=amount(report.dispositions),
            )
        )

    @get(
        "/balance-sheet",
        operation_id="getBalanceSheet",
        summary="Balance sheet grouped by NS 4102 classes",
        responses=documented(401, 403, 422),
        operation_class=CsvOperation,
    )
    async def balance_sheet(
        self,
        request: AuthenticatedRequest,
        ledger: NamedDependency[LedgerService],
        at: Annotated[
            dt.date | None,
            QueryParameter(name="at", description="The day (YYYY-MM-DD) whose end it shows"),
        ] = None,
        format: ReportFormat = None,
    ) -> Response[BalanceSheetOut]:
        """Assets and equity and liabilities from every posting up to the end of `at`
        (default: all of them), each account with its name from the chart, and the result
        not yet closed into equity; assets equal equity and liabilities plus that result.
        CSV with `Accept: text/csv` or `?format=csv`."""
        report = await ledger.balance_sheet(request.user, at)
        if wants_csv(request, format):
            return balance_sheet_csv(report)
        return Response(
            BalanceSheetOut(
                at=at,
                groups=_groups_out(report.groups),
                total_assets=amount(report.total_assets),
                unallocated_result=amount(report.unallocated_result),
                total_equity_and_liabilities=amount(report.total_equity_and_liabilities),
                unclassified=_lines_out(report.unclassified),
            )
        )


def _safe(code: str) -> str:
    """An account code fit for a file name ("2400:20001" → "2400-20001")."""
    return re.sub(r"[^0-9A-Za-z_-]+", "-", code)[:40] or "account"
