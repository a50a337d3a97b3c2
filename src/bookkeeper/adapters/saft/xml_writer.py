"""Writes a SAF-T Financial 1.30 document as XML, a chunk of bytes at a time.

Written by hand with `xml.sax.saxutils.escape` rather than built as a tree: the
transactions arrive as an async stream and leave as ~64 KiB chunks, so memory stays flat
whatever the file's size. The element order is the XSD's (Norwegian_SAF-T_Financial_Schema
_v_1.30.xsd, vendored beside this module; the tests validate against it). Text is cut to
the XSD's lengths (SAFshorttext 18 … SAFlongtext 256) and stripped of characters XML 1.0
cannot carry.
"""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from functools import cache, lru_cache
from importlib.resources import files
from typing import Final
from xml.sax.saxutils import escape

from bookkeeper.application.saft import (
    BalanceOnAccount,
    CustomerBalance,
    SaftAccount,
    SaftDocument,
    SaftHeader,
    SaftTaxCode,
    SaftTransaction,
    SupplierBalance,
)

NAMESPACE: Final = "urn:StandardAuditFile-Taxation-Financial:NO"
XSD_NAME: Final = "Norwegian_SAF-T_Financial_Schema_v_1.30.xsd"
SOFTWARE_COMPANY: Final = "bookkeeper"
SOFTWARE_ID: Final = "bookkeeper"
CHUNK_BYTES: Final = 64 * 1024

_SHORT, _MIDDLE1, _MIDDLE2, _LONG = 18, 35, 70, 256
#: The characters XML 1.0 cannot carry, as the body of a regex character class.
_NOT_XML_CHARS: Final = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
_NOT_XML: Final = re.compile(f"[{_NOT_XML_CHARS}]")


def xsd_path() -> str:
    """The vendored XSD's path (for validation in tests and by operators)."""
    return str(files("bookkeeper.adapters.saft") / XSD_NAME)


@cache
def standard_tax_code_descriptions() -> dict[str, str]:
    """DescriptionNOB of each SAF-T standard tax code (Skatteetaten's Standard_Tax_Codes)."""
    text = (files("bookkeeper.adapters.saft") / "Standard_Tax_Codes.csv").read_text("utf-8-sig")
    return {
        row["Code"]: row["DescriptionNOB"]
        for row in csv.DictReader(text.splitlines(), delimiter=";")
    }


#: What _text has to do anything about: characters XML 1.0 cannot carry, and markup.
_SPECIAL: Final = re.compile(f"[&<>{_NOT_XML_CHARS}]")


def written_standard_code(code: str) -> str:
    """StandardTaxCode for a code: itself when it is on Skatteetaten's list (any of them,
    whether or not we know its rate: a manual or imported entry may use 81-85, 51 …), else
    `NA` (the XSD's pattern allows letters for this)."""
    return code if code in standard_tax_code_descriptions() else "NA"


def _text(value: str, limit: int) -> str:
    """The text cut to `limit`, stripped of what XML cannot carry, escaped. Most text
    needs none of it: one regex search decides (the transactions' lines call this for
    every field, so it is most of the writer's work)."""
    if _SPECIAL.search(value) is None:
        return value[:limit]
    return escape(_NOT_XML.sub("", value)[:limit])


#: The same few codes (accounts, VAT codes, sources, actors) come on line after line.
_code = lru_cache(maxsize=4096)(_text)


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


@lru_cache(maxsize=256)
def _rate(value: Decimal) -> str:
    return f"{value.normalize():f}"


class _Out:
    """Collects the text of a chunk."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def el(self, name: str, text: str) -> None:
        self.add(f"<{name}>{text}</{name}>")

    def take(self) -> bytes:
        data = "".join(self.parts).encode("utf-8")
        self.parts = []
        self.size = 0
        return data


def _header(out: _Out, header: SaftHeader) -> None:
    company = header.company
    out.add("<Header>")
    out.el("AuditFileVersion", "1.30")
    out.el("AuditFileCountry", "NO")
    out.el("AuditFileDateCreated", header.created.isoformat())
    out.el("SoftwareCompanyName", SOFTWARE_COMPANY)
    out.el("SoftwareID", SOFTWARE_ID)
    out.el("SoftwareVersion", _text(header.software_version, _SHORT))
    out.add("<Company>")
    out.el("RegistrationNumber", _text(company.orgnr, _MIDDLE1))
    out.el("Name", _text(company.name, _LONG))
    out.add("<Contact><ContactPerson>")
    out.el("FirstName", _text(company.contact_first_name, _MIDDLE1))
    out.el("LastName", _text(company.contact_last_name, _MIDDLE2))
    out.add("</ContactPerson></Contact>")
    if company.vat_registered:  # the VAT number: a company outside the register has none
        out.add("<TaxRegistration>")
        out.el("TaxRegistrationNumber", _text(f"{company.orgnr}MVA", _MIDDLE1))
        out.el("TaxAuthority", "Skatteetaten")
        out.add("</TaxRegistration>")
    out.add("</Company>")
    out.el("DefaultCurrencyCode", "NOK")
    out.add("<SelectionCriteria>")
    out.el("SelectionStartDate", header.start.isoformat())
    out.el("SelectionEndDate", header.end.isoformat())
    out.add("</SelectionCriteria>")
    out.el("TaxAccountingBasis", "A")
    out.el("UserID", _text(header.user_id, _LONG))
    out.add("</Header>")


def _balance(out: _Out, prefix: str, amount: Decimal) -> None:
    """Opening/Closing as a debit balance, or a credit balance when negative."""
    if amount < 0:
        out.el(f"{prefix}CreditBalance", _amount(-amount))
    else:
        out.el(f"{prefix}DebitBalance", _amount(amount))


def _account(out: _Out, account: SaftAccount) -> None:
    out.add("<Account>")
    out.el("AccountID", _text(account.account, _MIDDLE2))
    out.el("AccountDescription", _text(account.description, _LONG))
    out.el("GroupingCategory", _text(account.grouping_category, _LONG))
    out.el("GroupingCode", _text(account.grouping_code, _MIDDLE1))
    out.el("AccountType", "GL")
    _balance(out, "Opening", account.opening)
    _balance(out, "Closing", account.closing)
    out.add("</Account>")


def _balance_accounts(out: _Out, balances: list[BalanceOnAccount]) -> None:
    for balance in balances:
        out.add("<BalanceAccount>")
        out.el("AccountID", _text(balance.account, _MIDDLE2))
        _balance(out, "Opening", balance.opening)
        _balance(out, "Closing", balance.closing)
        out.add("</BalanceAccount>")


def _party(out: _Out, registration_number: str | None, name: str) -> None:
    """CompanyStructure's head: RegistrationNumber (when known), then Name."""
    if registration_number:
        out.el("RegistrationNumber", _text(registration_number, _MIDDLE1))
    out.el("Name", _text(name, _LONG))


def _customer(out: _Out, customer: CustomerBalance) -> None:
    out.add("<Customer>")
    _party(out, customer.registration_number, customer.name)
    out.el("CustomerID", _text(customer.customer_id, _MIDDLE1))
    _balance_accounts(out, customer.balances)
    out.add("</Customer>")


def _supplier(out: _Out, supplier: SupplierBalance) -> None:
    out.add("<Supplier>")
    _party(out, supplier.registration_number, supplier.name)
    out.el("SupplierID", _text(supplier.supplier_id, _MIDDLE1))
    _balance_accounts(out, supplier.balances)
    out.add("</Supplier>")


def _tax_code(out: _Out, code: SaftTaxCode) -> None:
    descriptions = standard_tax_code_descriptions()
    out.add("<TaxCodeDetails>")
    out.el("TaxCode", _text(code.code, _MIDDLE2))
    if code.effective is not None:
        out.el("EffectiveDate", code.effective.isoformat())
    if code.expiration is not None:
        out.el("ExpirationDate", code.expiration.isoformat())
    standard = written_standard_code(code.standard_code)
    description = descriptions.get(standard)
    if description:
        out.el("Description", _text(description, _LONG))
    out.el("TaxPercentage", _rate(code.rate if code.rate is not None else Decimal(0)))
    out.el("Country", "NO")
    out.el("StandardTaxCode", standard)
    out.el("BaseRate", "100")
    out.add("</TaxCodeDetails>")


def _transaction(tx: SaftTransaction) -> str:
    """One Transaction element: a few f-strings per line rather than a call per element
    (the same bytes as element by element; the writer's cost is per line)."""
    date = tx.date.isoformat()
    voucher = tx.voucher_no
    parts = [
        f"<Transaction><TransactionID>{_text(tx.transaction_id, _MIDDLE2)}</TransactionID>"
        f"<Period>{tx.period}</Period><PeriodYear>{tx.period_year}</PeriodYear>"
        f"<TransactionDate>{date}</TransactionDate>"
        f"<SourceID>{_code(tx.source_id, _MIDDLE1)}</SourceID>"
        f"<VoucherType>{_code(tx.voucher_type, _MIDDLE2)}</VoucherType>"
        f"<Description>{_text(tx.description, _LONG)}</Description>"
        f"<BatchID>{_text(voucher, _MIDDLE1)}</BatchID>"
        f"<SystemEntryDate>{tx.system_entry_date.isoformat()}</SystemEntryDate>"
        f"<GLPostingDate>{date}</GLPostingDate>"
    ]
    if tx.customer_id is not None:
        parts.append(f"<CustomerID>{_code(tx.customer_id, _MIDDLE1)}</CustomerID>")
    if tx.supplier_id is not None:
        parts.append(f"<SupplierID>{_code(tx.supplier_id, _MIDDLE1)}</SupplierID>")
    parts.append(f"<SystemID>{_text(voucher, _SHORT)}</SystemID>")
    for line in tx.lines:
        head = (
            f"<Line><RecordID>{_text(line.record_id, _SHORT)}</RecordID>"
            f"<AccountID>{_code(line.account, _MIDDLE2)}</AccountID>"
        )
        if line.customer_id is not None:
            head += f"<CustomerID>{_code(line.customer_id, _MIDDLE1)}</CustomerID>"
        if line.supplier_id is not None:
            head += f"<SupplierID>{_code(line.supplier_id, _MIDDLE1)}</SupplierID>"
        foreign = ""
        if line.currency is not None:
            # AmountStructure: the NOK Amount, then the document's currency (ADR 0020
            # addendum, foreign currency).
            currency = line.currency
            foreign = (
                f"<CurrencyCode>{_code(currency.code, 3)}</CurrencyCode>"
                f"<CurrencyAmount>{currency.amount:.2f}</CurrencyAmount>"
                f"<ExchangeRate>{_rate(currency.rate)}</ExchangeRate>"
            )
        if line.debit:
            amount = f"<DebitAmount><Amount>{line.debit:.2f}</Amount>{foreign}</DebitAmount>"
        else:
            amount = f"<CreditAmount><Amount>{line.credit:.2f}</Amount>{foreign}</CreditAmount>"
        parts.append(f"{head}<Description>{_text(line.description, _LONG)}</Description>{amount}")
        if line.vat_code is not None and line.tax_amount is not None:
            code = _code(line.vat_code, _MIDDLE2)
            tax = f"<TaxInformation><TaxType>MVA</TaxType><TaxCode>{code}</TaxCode>"
            if line.vat_rate is not None:
                tax += f"<TaxPercentage>{_rate(line.vat_rate)}</TaxPercentage>"
            tax += "<Country>NO</Country>"
            if line.tax_base is not None:
                tax += f"<TaxBase>{line.tax_base:.2f}</TaxBase>"
            side = "Debit" if line.tax_side == "debit" else "Credit"
            parts.append(
                f"{tax}<{side}TaxAmount><Amount>{line.tax_amount:.2f}</Amount>"
                f"</{side}TaxAmount></TaxInformation>"
            )
        parts.append("</Line>")
    parts.append("</Transaction>")
    return "".join(parts)


async def render(document: SaftDocument) -> AsyncIterator[bytes]:
    """The file's bytes, the master data first, then the transactions as they stream in."""
    out = _Out()
    out.add('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.add(f'<AuditFile xmlns="{NAMESPACE}">')
    _header(out, document.header)
    out.add("<MasterFiles>")
    if document.accounts:
        out.add("<GeneralLedgerAccounts>")
        for account in document.accounts:
            _account(out, account)
        out.add("</GeneralLedgerAccounts>")
    if document.customers:
        out.add("<Customers>")
        for customer in document.customers:
            _customer(out, customer)
        out.add("</Customers>")
    if document.suppliers:
        out.add("<Suppliers>")
        for supplier in document.suppliers:
            _supplier(out, supplier)
        out.add("</Suppliers>")
    if document.tax_codes:
        out.add("<TaxTable><TaxTableEntry>")
        out.el("TaxType", "MVA")
        out.el("Description", "Merverdiavgift")
        for code in document.tax_codes:
            _tax_code(out, code)
        out.add("</TaxTableEntry></TaxTable>")
    out.add("</MasterFiles>")
    totals = document.totals
    out.add("<GeneralLedgerEntries>")
    out.el("NumberOfEntries", str(totals.entries))
    out.el("TotalDebit", _amount(totals.debit))
    out.el("TotalCredit", _amount(totals.credit))
    yield out.take()
    journal_open = False
    async for tx in document.transactions:
        if not journal_open:
            out.add("<Journal><JournalID>GL</JournalID><Description>Hovedbok</Description>")
            out.add("<Type>GL</Type>")
            journal_open = True
        out.add(_transaction(tx))
        if out.size >= CHUNK_BYTES:
            yield out.take()
    if journal_open:
        out.add("</Journal>")
    out.add("</GeneralLedgerEntries></AuditFile>\n")
    yield out.take()
