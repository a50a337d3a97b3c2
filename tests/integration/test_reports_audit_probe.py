"""The reports as an auditor checks them from outside: random but valid books (purchases at
25 / 15 / 12 / 0 %, sales, reverse charge, credit notes, reversals, a year end, the days at
term and year boundaries) posted over HTTP, then every report read back and held to the
bookkeeping identities and to hledger's balances of the same journal.

- every entry balances, and the trial balance's debit and credit totals are equal; its
  opening, carried and closing columns sum to zero;
- the period's movement per account is hledger's (`hledger balance -b from -e to+1`), the
  closing balance of a balance-sheet account hledger's historical balance, of an
  income-statement account hledger's over its financial year;
- the VAT report's VAT per code is the sum of the lines booked under it, its input and
  output VAT the sums of its lines, and what it pays the term's movement of the VAT
  accounts;
- the income statement's result over a financial year so far is the balance sheet's
  unallocated result on its last day, assets equal equity and liabilities, and after the
  year end the year's result is in equity (2050).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.saft.xml_writer import NAMESPACE
from bookkeeper.application.ports import BooksAccount, BooksCompany
from bookkeeper.backends import Backends
from tests.http_helpers import API, FixedClock, memory_container, running_api, sqlite_container
from tests.integration.test_ledger_http import CHART, with_stub_backends
from tests.saft_checks import NS, file_summary, validate

HLEDGER = shutil.which("hledger")
ORE = Decimal("0.01")
ZERO = Decimal("0.00")

#: (rate, input code, input VAT account, output code)
RATES = [
    (Decimal(25), "1", "2710", "3"),
    (Decimal(15), "11", "2711", "31"),
    (Decimal(12), "13", "2713", "33"),
]
COSTS = ["6300", "6420", "6540", "6800", "7140", "4300"]
DAYS = [
    dt.date(2025, 12, 31),
    dt.date(2026, 1, 1),
    dt.date(2026, 2, 28),
    dt.date(2026, 3, 1),
    dt.date(2026, 4, 30),
    dt.date(2026, 5, 1),
    dt.date(2026, 10, 31),
    dt.date(2026, 11, 1),
    dt.date(2026, 12, 31),
    dt.date(2027, 1, 1),
    dt.date(2027, 2, 28),
]

Line = tuple[str, Decimal, str | None, str | None]  # account, debit − credit, code, part


@dataclass
class Entry:
    date: dt.date
    lines: list[Line]

    def body(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "description": "Revisjon",
            "lines": [
                {
                    "account": account,
                    **({"debit": str(amount)} if amount > 0 else {"credit": str(-amount)}),
                    **({"vatCode": code} if code else {}),
                    **({"vatPart": part} if part else {}),
                }
                for account, amount, code, part in self.lines
            ],
        }


def vat_of(net: Decimal, rate: Decimal) -> Decimal:
    return (net * rate / 100).quantize(ORE, rounding=ROUND_HALF_UP)


amounts = st.integers(min_value=1, max_value=10_000_000).map(lambda ore: Decimal(ore) / 100)
days = st.one_of(
    st.sampled_from(DAYS),
    st.dates(min_value=dt.date(2025, 12, 1), max_value=dt.date(2027, 2, 28)),
)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    kind = draw(st.sampled_from(["purchase", "credit-note", "sale", "zero", "reverse", "plain"]))
    date = draw(days)
    net = draw(amounts)
    rate, input_code, input_account, output_code = draw(st.sampled_from(RATES))
    cost = draw(st.sampled_from(COSTS))
    if kind in ("purchase", "credit-note"):
        vat = vat_of(net, rate)
        sign = 1 if kind == "purchase" else -1
        counter = draw(st.sampled_from(["1920", "2400"]))
        lines: list[Line] = [
            (cost, sign * net, input_code, "base"),
            (input_account, sign * vat, input_code, "tax"),
            (counter, -sign * (net + vat), None, None),
        ]
    elif kind == "sale":
        vat = vat_of(net, rate)
        lines = [
            ("1500", net + vat, None, None),
            ("3000", -net, output_code, "base"),
            ("2700", -vat, output_code, "tax"),
        ]
    elif kind == "zero":
        lines = [
            ("1500", net, None, None),
            ("3100", -net, draw(st.sampled_from(["5", "52"])), "base"),
        ]
    elif kind == "reverse":
        vat = vat_of(net, Decimal(25))
        lines = [
            ("6420", net, "86", "base"),
            ("2700", -vat, "86", "tax"),
            ("2710", vat, "86", "tax"),
            ("2400", -net, None, None),
        ]
    else:
        lines = [
            (
                draw(st.sampled_from(["8050", "8150", "1920", "2050", "5000", "8300", "8800"])),
                net,
                None,
                None,
            )
        ]
        lines.append(("1920" if lines[0][0] != "1920" else "2000", -net, None, None))
    return Entry(date, [line for line in lines if line[1]])


@st.composite
def books(draw: st.DrawFn) -> list[Entry]:
    found = draw(st.lists(entries(), min_size=1, max_size=25))
    # Reversals of some of them, on their day or later.
    for entry in draw(st.lists(st.sampled_from(found), max_size=3)):
        later = draw(st.dates(min_value=entry.date, max_value=dt.date(2027, 2, 28)))
        found.append(Entry(later, [(a, -x, c, p) for a, x, c, p in entry.lines]))
    return found


@st.composite
def spans(draw: st.DrawFn) -> tuple[dt.date | None, dt.date | None]:
    """A report's period: either end open or a day, often one at a term or year end."""
    start = draw(st.none() | days)
    end = draw(st.none() | days)
    if start is not None and end is not None and end < start:
        start, end = end, start
    return start, end


def hledger_balances(journal: list[Entry], *args: str) -> dict[str, Decimal]:
    """`hledger balance` of the entries: debit − credit per account (flat, no total)."""
    assert HLEDGER is not None
    with tempfile.NamedTemporaryFile("w", suffix=".journal", delete=False) as out:
        for entry in sorted(journal, key=lambda e: e.date):
            out.write(f"\n{entry.date.isoformat()} entry\n")
            for account, amount, _, _ in entry.lines:
                out.write(f"    a{account}  {amount}\n")
    done = subprocess.run(
        [HLEDGER, "balance", "-f", out.name, "--flat", "--no-total", "-O", "csv", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    Path(out.name).unlink()
    result: dict[str, Decimal] = {}
    for row in done.stdout.splitlines()[1:]:
        name, value = (cell.strip('"') for cell in row.split(",", 1))
        result[name[1:]] = Decimal(value.replace(",", "") or "0")
    return result


def is_result(account: str) -> bool:
    return account[0] in "345678"


class AuditBooks:
    name = "stub-books"

    async def company(self) -> BooksCompany:
        return BooksCompany(slug="acme", name="Acme AS", organization_number="923609016")

    async def accounts(self) -> list[BooksAccount]:
        return [BooksAccount(code=code, name=f"Konto {code}") for code in CHART]


async def _running(kind: str, url: str | None, tmp_path: Path) -> Any:
    if kind == "memory":
        container = memory_container(tmp_path)
    else:
        container = sqlite_container(
            tmp_path, url or f"sqlite+aiosqlite:///{tmp_path / 'books.db'}"
        )
    books = AuditBooks()
    container.backends.override(
        providers.Object(
            Backends(
                books=lambda tenant: books,  # type: ignore[arg-type,return-value]
                bank=lambda tenant: None,  # type: ignore[arg-type,return-value]
                books_backend="stub",
                bank_backend="stub",
            )
        )
    )
    return running_api(tmp_path, container=container)


def dec(value: str) -> Decimal:
    return Decimal(value)


@pytest.mark.skipif(HLEDGER is None, reason="hledger is not installed")
@pytest.mark.parametrize(
    "kind", ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_random_books_hold_the_reports_identities(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None

    @settings(
        max_examples=int(os.environ.get("BOOKKEEPER_PROBE_EXAMPLES", "5")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        journal=books(),
        period=st.sampled_from([(1, 3), (2, 6), (3, 1), (5, 2)]),
        span=spans(),
    )
    def check(
        journal: list[Entry], period: tuple[int, int], span: tuple[dt.date | None, dt.date | None]
    ) -> None:
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(probe(kind, url, Path(folder), journal, period, span))

    check()


async def probe(
    kind: str,
    url: str | None,
    folder: Path,
    journal: list[Entry],
    period: tuple[int, int],
    span: tuple[dt.date | None, dt.date | None],
) -> None:
    async with await _running(kind, url, folder) as api:
        tenant = f"t{uuid.uuid4().hex[:12]}"
        writer = api.headers("anna", "accountant", tenant=tenant)
        viewer = api.headers("vera", "viewer", tenant=tenant)
        for entry in journal:
            assert sum(x for _, x, _, _ in entry.lines) == 0
            answer = await api.client.post(
                f"{API}/journal-entries", json=entry.body(), headers=writer
            )
            assert answer.status_code == 201, answer.text

        async def get(path: str, **params: str) -> Any:
            answer = await api.client.get(f"{API}/reports/{path}", params=params, headers=viewer)
            assert answer.status_code == 200, answer.text
            return answer.json()

        # --- trial balance against hledger, over a period open at either end or not ----
        start, end = span
        shown = {
            name: day.isoformat() for name, day in (("from", start), ("to", end)) if day is not None
        }
        trial = await get("trial-balance", **shown)
        totals = trial["totals"]
        assert dec(totals["debit"]) == dec(totals["credit"])
        for column in ("opening", "carried", "closing"):
            assert dec(totals[column]) == 0, column
        ends = [] if end is None else ["-e", (end + dt.timedelta(days=1)).isoformat()]
        moved = hledger_balances(journal, *(["-b", start.isoformat()] if start else []), *ends)
        # The closing year: the end's, else the last line's (not before the start's).
        years = [e.date.year for e in journal] + ([start.year] if start else [])
        year = end.year if end is not None else max(years)
        first_day = f"{year}-01-01"

        def balances_at(until: list[str], first: str) -> dict[str, Decimal]:
            """What the trial balance says an account holds at a day (`until`)."""
            ever = hledger_balances(journal, *until)
            this_year = hledger_balances(journal, "-b", first, *until)
            before = hledger_balances(journal, "-e", first)
            earlier = sum((b for a, b in before.items() if is_result(a)), ZERO)
            expected = {a: b for a, b in ever.items() if not is_result(a)}
            expected |= {a: b for a, b in this_year.items() if is_result(a)}
            if earlier:
                expected["2050"] = expected.get("2050", ZERO) + earlier
            return expected

        closing = balances_at(ends, first_day)
        opening = (
            {} if start is None else balances_at(["-e", start.isoformat()], f"{start.year}-01-01")
        )
        ours = {a["account"]: a for a in trial["accounts"]}
        for account in ours.keys() | moved.keys() | closing.keys() | opening.keys():
            row = ours.get(account)
            got = (
                (ZERO, ZERO, ZERO)
                if row is None
                else (dec(row["opening"]), dec(row["balance"]), dec(row["closing"]))
            )
            expected = (
                opening.get(account, ZERO),
                moved.get(account, ZERO),
                closing.get(account, ZERO),
            )
            assert got == expected, (account, got, expected)

        # --- each account's general ledger, a few lines a page, agrees with it ----------
        for account, row in ours.items():
            params = {"account": account, **shown}
            page = await get("general-ledger", **params, limit="3")
            assert dec(page["openingBalance"]) == dec(row["opening"]), account
            lines = list(page["items"])
            while page["nextCursor"]:
                page = await get("general-ledger", **params, limit="3", cursor=page["nextCursor"])
                lines += page["items"]
            assert dec(page["closingBalance"]) == dec(row["closing"]), account
            assert sum((dec(x["debit"]) for x in lines), ZERO) == dec(row["debit"]), account
            assert sum((dec(x["credit"]) for x in lines), ZERO) == dec(row["credit"]), account
        # ... and its CSV has the JSON's figures.
        answer = await api.client.get(
            f"{API}/reports/trial-balance",
            params={**shown, "format": "csv"},
            headers=viewer,
        )
        table = list(csv.DictReader(io.StringIO(answer.text)))
        assert [(r["account"], r["closing"]) for r in table[:-1]] == [
            (a["account"], a["closing"]) for a in trial["accounts"]
        ]
        assert table[-1]["debit"] == totals["debit"]

        # --- the VAT report of a term --------------------------------------------------
        term, year_offset = period
        year = 2026 if year_offset != 1 else 2027
        term = min(term, 1) if year == 2027 else term
        vat = await get("vat", year=str(year), term=str(term))
        first, last = dt.date.fromisoformat(vat["start"]), dt.date.fromisoformat(vat["end"])
        in_term = [e for e in journal if first <= e.date <= last]
        booked: dict[str, Decimal] = {}
        for entry in in_term:
            for _, amount, code, part in entry.lines:
                if code and part == "tax":
                    booked[code] = booked.get(code, ZERO) + amount
        reported: dict[str, Decimal] = {}
        for line in vat["lines"]:
            sign = -1 if line["direction"] == "output" else 1
            reported[line["vatCode"]] = reported.get(line["vatCode"], ZERO) + sign * dec(
                line["vat"]
            )
        assert {c: b for c, b in booked.items() if b} == {c: r for c, r in reported.items() if r}
        inputs = sum((dec(x["vat"]) for x in vat["lines"] if x["direction"] == "input"), ZERO)
        outputs = sum((dec(x["vat"]) for x in vat["lines"] if x["direction"] == "output"), ZERO)
        assert (dec(vat["inputVat"]), dec(vat["outputVat"])) == (inputs, outputs)
        vat_accounts = ("2700", "2710", "2711", "2713")
        movement = sum((x for e in in_term for a, x, _, _ in e.lines if a in vat_accounts), ZERO)
        assert dec(vat["payable"]) == -movement
        assert dec(vat["payable"]) == outputs - inputs
        # Its CSV: the JSON's lines in the return, then the totals, then the rest.
        answer = await api.client.get(
            f"{API}/reports/vat",
            params={"year": str(year), "term": str(term), "format": "csv"},
            headers=viewer,
        )
        table = list(csv.DictReader(io.StringIO(answer.text)))
        assert [
            (r["vatCode"], r["direction"] or None, r["base"], r["vat"])
            for r in table
            if r["inReturn"] == "true"
        ] == [(x["vatCode"], x["direction"], x["base"], x["vat"]) for x in vat["lines"]]
        assert {
            r["vatCode"]: r["vat"] for r in table if r["vatCode"] in ("inputVat", "payable")
        } == {
            "inputVat": vat["inputVat"],
            "payable": vat["payable"],
        }

        # --- SAF-T of a period (of one year) against the trial balance ----------------------
        first, last = "2026-11-01", "2026-12-31"
        if start is not None and end is not None and start.year == end.year:
            first, last = start.isoformat(), end.isoformat()  # the drawn period, in one year
        answer = await api.client.get(
            f"{API}/exports/saf-t", params={"from": first, "to": last}, headers=writer
        )
        assert answer.status_code == 200, answer.text
        root = validate(answer.content)
        summary = file_summary(root)
        # Each VAT amount booked is in the file once, under its code (TaxInformation).
        taxed: dict[str, Decimal] = {}
        for info in root.iter(f"{{{NAMESPACE}}}TaxInformation"):
            code = info.findtext("s:TaxCode", namespaces=NS) or ""
            debit = info.findtext("s:DebitTaxAmount/s:Amount", namespaces=NS)
            credit = info.findtext("s:CreditTaxAmount/s:Amount", namespaces=NS)
            amount = Decimal(debit) if debit is not None else -Decimal(credit or "0")
            taxed[code] = taxed.get(code, ZERO) + amount
        booked_tax: dict[str, Decimal] = {}
        for entry in journal:
            if first <= entry.date.isoformat() <= last:
                for _, amount, code, part in entry.lines:
                    if code and part == "tax":
                        booked_tax[code] = booked_tax.get(code, ZERO) + amount
        assert {c: x for c, x in taxed.items() if x} == {c: x for c, x in booked_tax.items() if x}
        trial = await get("trial-balance", **{"from": first, "to": last})
        assert summary["total_debit"] == dec(trial["totals"]["debit"]) == summary["line_debit"]
        assert summary["total_credit"] == dec(trial["totals"]["credit"]) == summary["line_credit"]
        assert summary["entries"] == len(
            [e for e in journal if first <= e.date.isoformat() <= last]
        )
        ledger = {a["account"]: (dec(a["opening"]), dec(a["closing"])) for a in trial["accounts"]}
        for account in ledger.keys() | summary["accounts"].keys():
            assert ledger.get(account, (ZERO, ZERO)) == summary["accounts"].get(
                account, (ZERO, ZERO)
            ), account

        # --- income statement and balance sheet ----------------------------------------
        for at in (dt.date(2026, 2, 28), dt.date(2026, 12, 31), dt.date(2027, 1, 1)):
            income = await get(
                "income-statement", **{"from": f"{at.year}-01-01", "to": at.isoformat()}
            )
            sheet = await get("balance-sheet", at=at.isoformat())
            assert dec(sheet["totalAssets"]) == dec(sheet["totalEquityAndLiabilities"])
            result = dec(income["result"]) - dec(income["dispositions"])
            assert dec(sheet["unallocatedResult"]) == result, at
            expected_result = -sum(
                (
                    x
                    for e in journal
                    if dt.date(at.year, 1, 1) <= e.date <= at
                    for a, x, _, _ in e.lines
                    if is_result(a)
                ),
                ZERO,
            )
            assert result == expected_result
        # The year end: 2026's result is in 2050 on 1 January 2027.
        december = await get("balance-sheet", at="2026-12-31")
        january = await get("balance-sheet", at="2027-01-01")

        def equity(sheet: dict[str, Any]) -> Decimal:
            group = next(g for g in sheet["groups"] if g["group"] == "equityAndLiabilities")
            return sum((dec(x["amount"]) for x in group["lines"] if x["account"] == "2050"), ZERO)

        new_year = -sum(
            (
                x
                for e in journal
                if e.date == dt.date(2027, 1, 1)
                for a, x, _, _ in e.lines
                if a == "2050"
            ),
            ZERO,
        )
        assert equity(january) == (equity(december) + dec(december["unallocatedResult"]) + new_year)


async def test_the_balance_sheet_of_today_is_in_the_financial_year_of_oslo(tmp_path: Path) -> None:
    """At 2026-12-31 23:30 UTC it is 00:30 on 1 January 2027 in Oslo: the balance sheet
    without `at` is of the new financial year, so 2026's result is earlier years' equity
    (2050), not the unallocated result of the year."""
    clock = FixedClock(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC))
    container = with_stub_backends(memory_container(tmp_path, clock=clock))
    async with running_api(tmp_path, container=container) as api:
        sale = Entry(
            dt.date(2026, 12, 30),
            [("1920", Decimal("1000.00"), None, None), ("3000", Decimal("-1000.00"), None, None)],
        )
        writer = api.headers("anna", "accountant")
        answer = await api.client.post(f"{API}/journal-entries", json=sale.body(), headers=writer)
        assert answer.status_code == 201, answer.text
        answer = await api.client.get(f"{API}/reports/balance-sheet", headers=api.viewer)
        sheet = answer.json()
        assert dec(sheet["unallocatedResult"]) == 0
        equity = next(g for g in sheet["groups"] if g["group"] == "equityAndLiabilities")
        assert [(x["account"], x["amount"]) for x in equity["lines"]] == [("2050", "1000.00")]
        assert dec(sheet["totalAssets"]) == dec(sheet["totalEquityAndLiabilities"]) == 1000
