"""Checks shared by the SAF-T tests: XSD validity, totals against the trial balance."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import xmlschema

from bookkeeper.adapters.saft.xml_writer import (
    NAMESPACE,
    standard_tax_code_descriptions,
    xsd_path,
)

NS = {"s": NAMESPACE}


@cache
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(xsd_path())


def validate(xml: bytes) -> ElementTree.Element:
    """Raise unless `xml` is valid against the vendored SAF-T 1.30 XSD; its root."""
    schema().validate(xml.decode("utf-8"))
    return ElementTree.fromstring(xml)


def amount(element: ElementTree.Element | None) -> Decimal:
    return Decimal(element.text or "0") if element is not None else Decimal(0)


def signed(account: ElementTree.Element, prefix: str) -> Decimal:
    """Opening or Closing balance as debit − credit."""
    return amount(account.find(f"s:{prefix}DebitBalance", NS)) - amount(
        account.find(f"s:{prefix}CreditBalance", NS)
    )


def file_summary(root: ElementTree.Element) -> dict[str, Any]:
    entries = root.find("s:GeneralLedgerEntries", NS)
    assert entries is not None
    lines = entries.findall("s:Journal/s:Transaction/s:Line", NS)
    return {
        "entries": int(entries.findtext("s:NumberOfEntries", namespaces=NS) or 0),
        "total_debit": amount(entries.find("s:TotalDebit", NS)),
        "total_credit": amount(entries.find("s:TotalCredit", NS)),
        "transactions": len(entries.findall("s:Journal/s:Transaction", NS)),
        "line_debit": sum(
            (amount(x.find("s:DebitAmount/s:Amount", NS)) for x in lines), Decimal(0)
        ),
        "line_credit": sum(
            (amount(x.find("s:CreditAmount/s:Amount", NS)) for x in lines), Decimal(0)
        ),
        "accounts": {
            a.findtext("s:AccountID", namespaces=NS): (signed(a, "Opening"), signed(a, "Closing"))
            for a in root.findall("s:MasterFiles/s:GeneralLedgerAccounts/s:Account", NS)
        },
    }


def amount_lines(
    root: ElementTree.Element,
) -> Iterator[tuple[str, str | None, str, dict[str, str]]]:
    """Every transaction line as (transaction description, account, "debit" or "credit",
    the amount's elements by name: Amount, and CurrencyCode, CurrencyAmount, ExchangeRate
    for a foreign-currency line)."""
    for tx in root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS):
        description = tx.findtext("s:Description", namespaces=NS) or ""
        for line in tx.findall("s:Line", NS):
            amount = line.find("s:DebitAmount", NS)
            if amount is None:
                amount = line.find("s:CreditAmount", NS)
            assert amount is not None
            side = "debit" if amount.tag.endswith("DebitAmount") else "credit"
            fields = {child.tag.split("}")[1]: child.text or "" for child in amount}
            yield description, line.findtext("s:AccountID", namespaces=NS), side, fields


def check_against_trial_balance(
    root: ElementTree.Element,
    period: Any,
    to_date: Any,
    start: dt.date,
    before_year: Any,
) -> None:
    """The file's totals equal the trial balance of the period, and each account's closing
    balance equals its balance up to the period's end (`to_date`: trial balance up to end,
    with the opening = balance before `start`), except that what earlier years
    (`before_year`: the trial balance up to the financial year's eve) left on the
    income-statement accounts (3xxx–8xxx) is in 2050 Annen egenkapital instead: they open
    the year at zero."""
    summary = file_summary(root)
    assert summary["total_debit"] == period.debit == summary["line_debit"]
    assert summary["total_credit"] == period.credit == summary["line_credit"]
    assert summary["entries"] == summary["transactions"]
    earlier = {a.account: a.balance for a in before_year.accounts if a.account[:1] in set("345678")}
    closing = {a.account: a.balance - earlier.get(a.account, Decimal(0)) for a in to_date.accounts}
    if any(earlier.values()):
        closing["2050"] = closing.get("2050", Decimal(0)) + sum(earlier.values(), Decimal(0))
    assert set(summary["accounts"]) == set(closing)
    for account, (opening, close) in summary["accounts"].items():
        assert close == closing[account], account
        turnover = next((a.balance for a in period.accounts if a.account == account), Decimal(0))
        assert opening + turnover == close, account
        if start.timetuple().tm_yday == 1 and account[:1] in set("345678"):
            assert opening == 0, account
    # The ledger's trial balance of the same period opens and closes every account as
    # the file does (one financial year: ADR 0062 addendum "years").
    ledger = {a.account: (a.opening, a.closing) for a in period.accounts}
    zero = (Decimal(0), Decimal(0))
    for account in set(ledger) | set(summary["accounts"]):
        assert ledger.get(account, zero) == summary["accounts"].get(account, zero), account


def customers(root: ElementTree.Element) -> dict[str, Any]:
    """Each Customer of the file: (name, RegistrationNumber, {account: (opening, closing)})."""
    return {
        c.findtext("s:CustomerID", namespaces=NS): (
            c.findtext("s:Name", namespaces=NS),
            c.findtext("s:RegistrationNumber", namespaces=NS),
            {
                b.findtext("s:AccountID", namespaces=NS): (
                    signed(b, "Opening"),
                    signed(b, "Closing"),
                )
                for b in c.findall("s:BalanceAccount", NS)
            },
        )
        for c in root.findall("s:MasterFiles/s:Customers/s:Customer", NS)
    }


def check_customers(root: ElementTree.Element, expected: dict[str, Any]) -> None:
    """The file's customers are `expected` (saft_ledger.expected_customers); a CustomerID
    stands only on receivables (15xx) lines and names a listed customer; per receivables
    account, the customers' balances add up to the account's when every line on it names
    a customer."""
    found = customers(root)
    assert found == expected
    lines = root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction/s:Line", NS)
    named_accounts: set[str] = set()
    for line in lines:
        account = line.findtext("s:AccountID", namespaces=NS) or ""
        customer = line.findtext("s:CustomerID", namespaces=NS)
        if customer is not None:
            assert account.startswith("15"), account
            assert customer in found
            named_accounts.add(account)
    accounts = file_summary(root)["accounts"]
    for account in named_accounts:
        if any(
            (x.findtext("s:AccountID", namespaces=NS) == account)
            and x.find("s:CustomerID", NS) is None
            for x in lines
        ):
            continue
        for index in (0, 1):
            total = sum(
                (b[account][index] for _, _, b in found.values() if account in b), Decimal(0)
            )
            assert total == accounts[account][index], account


#: Skatteetaten's grouping codes (a copy of ../shared/contracts/saf-t, as the OpenAPI ones).
GROUPINGS = Path(__file__).resolve().parent / "fakes/contracts/naeringsspesifikasjon.csv"


@cache
def listed_groupings() -> set[tuple[str, str]]:
    """(GroupingCategory, GroupingCode) of every row of Skatteetaten's list."""
    with GROUPINGS.open(encoding="utf-8-sig") as handle:
        return {
            (r["GroupingCategory"], r["GroupingCode"])
            for r in csv.DictReader(handle, delimiter=";")
        }


def text_of(element: ElementTree.Element, path: str) -> str | None:
    return element.findtext(path, namespaces=NS)


def audit(xml: bytes, start: dt.date, end: dt.date) -> ElementTree.Element:
    """Every check an auditor makes of any SAF-T file of the period start..end, whatever
    the books; its root. Valid against the XSD; the selection is the period; every
    account's grouping is on Skatteetaten's list, and openings and closings each sum to
    zero; every standard tax code is Skatteetaten's (or NA) and every line's TaxCode is
    in the TaxTable; NumberOfEntries, TotalDebit and TotalCredit are the transactions';
    each transaction balances, is dated in the period with its Period and PeriodYear, and
    names only accounts, customers and suppliers the MasterFiles list; each account's and
    each party's closing less opening is what its lines moved."""
    root = validate(xml)
    header = root.find("s:Header", NS)
    assert header is not None
    assert text_of(header, "s:SelectionCriteria/s:SelectionStartDate") == start.isoformat()
    assert text_of(header, "s:SelectionCriteria/s:SelectionEndDate") == end.isoformat()
    accounts = {
        text_of(a, "s:AccountID") or "": a
        for a in root.findall("s:MasterFiles/s:GeneralLedgerAccounts/s:Account", NS)
    }
    for account_id, account in accounts.items():
        pair = (text_of(account, "s:GroupingCategory"), text_of(account, "s:GroupingCode"))
        assert pair in listed_groupings(), (account_id, pair)
    opening = sum((signed(a, "Opening") for a in accounts.values()), Decimal(0))
    closing = sum((signed(a, "Closing") for a in accounts.values()), Decimal(0))
    assert opening == 0 and closing == 0, (opening, closing)
    tax_codes = {}
    for code in root.findall("s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails", NS):
        standard = text_of(code, "s:StandardTaxCode")
        assert standard in standard_tax_code_descriptions() or standard == "NA", standard
        tax_codes[text_of(code, "s:TaxCode")] = code
    customers = {
        text_of(c, "s:CustomerID"): c
        for c in root.findall("s:MasterFiles/s:Customers/s:Customer", NS)
    }
    suppliers = {
        text_of(c, "s:SupplierID"): c
        for c in root.findall("s:MasterFiles/s:Suppliers/s:Supplier", NS)
    }
    entries = root.find("s:GeneralLedgerEntries", NS)
    assert entries is not None
    transactions = entries.findall("s:Journal/s:Transaction", NS)
    assert int(text_of(entries, "s:NumberOfEntries") or -1) == len(transactions)
    movement: dict[str, Decimal] = defaultdict(Decimal)
    party_movement: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    total_debit = total_credit = Decimal(0)
    ids = set()
    for tx in transactions:
        tx_id = text_of(tx, "s:TransactionID")
        assert tx_id not in ids
        ids.add(tx_id)
        date = dt.date.fromisoformat(text_of(tx, "s:TransactionDate") or "")
        assert start <= date <= end, (tx_id, date)
        assert text_of(tx, "s:GLPostingDate") == date.isoformat()
        assert (int(text_of(tx, "s:Period") or 0), int(text_of(tx, "s:PeriodYear") or 0)) == (
            date.month,
            date.year,
        )
        for kind, table in (("Customer", customers), ("Supplier", suppliers)):
            named = text_of(tx, f"s:{kind}ID")
            assert named is None or named in table, (tx_id, kind, named)
        debit = credit = Decimal(0)
        for line in tx.findall("s:Line", NS):
            line_account = text_of(line, "s:AccountID") or ""
            assert line_account in accounts, (tx_id, line_account)
            d = amount(line.find("s:DebitAmount/s:Amount", NS))
            c = amount(line.find("s:CreditAmount/s:Amount", NS))
            debit += d
            credit += c
            movement[line_account] += d - c
            for kind, table in (("Customer", customers), ("Supplier", suppliers)):
                named = text_of(line, f"s:{kind}ID")
                if named is not None:
                    assert named in table, (tx_id, kind, named)
                    party_movement[(kind, named, line_account)] += d - c
            for tax in line.findall("s:TaxInformation", NS):
                assert text_of(tax, "s:TaxCode") in tax_codes, (tx_id, text_of(tax, "s:TaxCode"))
        assert debit == credit, tx_id
        total_debit += debit
        total_credit += credit
    assert amount(entries.find("s:TotalDebit", NS)) == total_debit
    assert amount(entries.find("s:TotalCredit", NS)) == total_credit
    for account_id, account in accounts.items():
        change = signed(account, "Closing") - signed(account, "Opening")
        assert change == movement.get(account_id or "", Decimal(0)), account_id
    for kind, table in (("Customer", customers), ("Supplier", suppliers)):
        for party_id, party in table.items():
            for balance in party.findall("s:BalanceAccount", NS):
                on = text_of(balance, "s:AccountID") or ""
                change = signed(balance, "Closing") - signed(balance, "Opening")
                assert change == party_movement.get((kind, party_id or "", on), 0), (
                    kind,
                    party_id,
                    on,
                )
    return root
