"""SAF-T as Skatteetaten and an auditor read it, from outside: books built only through
the public routes (purchases with and without organisation numbers, names with Norwegian
letters and XML's special characters, a credit note, reverse charge, representation, a
receipt at two rates, sales to customers, a reversal, entries on both sides of a year
end), exported over HTTP, and every file held to what an auditor checks whatever the
books: XSD, totals, balanced transactions, balances against the trial balance, valid
grouping and standard tax codes, parties that exist, dates and periods, and a period that
holds only its own entries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api, invoice
from tests.integration.test_no_vat_deduction_http import dinner
from tests.saft_checks import NS, audit, signed, text_of

INVOICE = "InvoiceRegistrationProposed"
WEIRD = 'Bær & Sønn <Ørsta> "Å" AS'


async def _book(api: Api, data: dict[str, Any], corrections: dict[str, Any] | None = None) -> str:
    type_ = data.pop("_type", INVOICE)
    proposed = await api.propose(type_, data)
    approved = await api.approve(
        proposed["proposalId"], {"corrections": corrections} if corrections else None
    )
    assert approved.status_code == 200, approved.text
    await api.executed(proposed["proposalId"])
    return str(proposed["proposalId"])


async def _manual(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    admin = api.headers("ada", "admin")
    posted = await api.client.post(f"{API}/journal-entries", json=body, headers=admin)
    assert posted.status_code in (200, 201), posted.text
    result: dict[str, Any] = posted.json()
    return result


async def _export(api: Api, start: dt.date, end: dt.date) -> bytes:
    response = await api.client.get(
        f"{API}/exports/saf-t",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers=api.headers("ada", "admin"),
    )
    assert response.status_code == 200, response.text
    return response.content


async def _trial_balance(
    api: Api, start: dt.date, end: dt.date
) -> dict[str, tuple[Decimal, Decimal]]:
    response = await api.client.get(
        f"{API}/reports/trial-balance",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers=api.headers("ada", "admin"),
    )
    assert response.status_code == 200, response.text
    return {
        a["account"]: (Decimal(a["opening"]), Decimal(a["closing"]))
        for a in response.json()["accounts"]
    }


def _sale(day: str, customer: dict[str, Any], net: str, text: str) -> dict[str, Any]:
    vat = (Decimal(net) / 4).quantize(Decimal("0.01"))
    gross = Decimal(net) + vat
    return {
        "date": day,
        "description": text,
        "lines": [
            {"account": "1500", "debit": f"{gross:.2f}", "party": customer},
            {"account": "3000", "credit": net, "vatCode": "3", "vatPart": "base"},
            {"account": "2700", "credit": f"{vat:.2f}", "vatCode": "3", "vatPart": "tax"},
        ],
    }


async def test_an_auditor_finds_every_file_in_order(fiken_world: tuple[Api, FakeFiken]) -> None:
    api, _ = fiken_world
    nordlys = {"kind": "customer", "id": "K-1", "name": WEIRD, "orgNumber": "987654321"}
    fjord = {"kind": "customer", "id": "K-2", "name": "Fjord <Fisk> & Co"}
    # Sales before, in, at the end of and after 2026.
    await _manual(api, _sale("2025-12-31", nordlys, "1000.00", "Salg 2025 & <gammelt>"))
    await _manual(api, _sale("2026-01-01", fjord, "400.00", 'Nyttår "første" salg'))
    await _manual(api, _sale("2026-12-31", nordlys, "800.00", "Nyttårsaften æøå"))
    await _manual(api, _sale("2027-01-01", fjord, "200.00", "Neste år"))
    # Purchases: with and without organisation numbers, odd names, a credit note.
    await _book(
        api,
        invoice(
            supplier=WEIRD,
            supplierOrgNumber="NO 923 609 016 MVA",
            amount="5000.00",
            date="2026-03-10",
            dueDate="2026-03-24",
            accountCode="6540",
            invoiceNumber="A&1",
        ),
    )
    await _book(
        api,
        invoice(
            supplier=WEIRD,
            supplierOrgNumber="923609016",
            amount="1250.00",
            date="2026-04-05",
            dueDate="2026-04-05",
            accountCode="6540",
            invoiceNumber="K<1>",
            creditNote=True,
            creditedInvoice="A&1",
        ),
    )
    await _book(
        api,
        invoice(
            supplier="Rørlegger Østby",
            amount="625.00",
            date="2026-05-02",
            dueDate="2026-05-16",
            accountCode="6540",
            invoiceNumber="77",
        ),
    )
    # Reverse charge (a NOK invoice without VAT from abroad).
    await _book(
        api,
        {
            "supplier": "Atlassian Pty Ltd",
            "amount": "800.00",
            "date": "2026-06-20",
            "dueDate": "2026-07-19",
            "vatRate": "0",
            "vatAmount": "0.00",
            "accountCode": "6540",
            "invoiceNumber": "AT-77",
        },
        {"reverseCharge": True},
    )
    # Representation (no input VAT deduction).
    await _book(api, {"_type": "ExpenseRegistrationProposed", **dinner(accountCode="7350")})
    # A manual entry at two rates, then reversed.
    two = await _manual(
        api,
        {
            "date": "2026-08-15",
            "description": "Kiwi <to satser> & mer",
            "lines": [
                {"account": "7790", "debit": "100.00", "vatCode": "1", "vatPart": "base"},
                {"account": "2710", "debit": "25.00", "vatCode": "1", "vatPart": "tax"},
                {"account": "7790", "debit": "200.00", "vatCode": "11", "vatPart": "base"},
                {"account": "2711", "debit": "30.00", "vatCode": "11", "vatPart": "tax"},
                {"account": "1920", "credit": "355.00"},
            ],
        },
    )
    reversed_ = await api.submit(
        "ReversalProposed",
        {"targetProposalId": two["entryId"], "reason": "Feil & <dobbel>"},
        headers=api.headers("anna", "accountant"),
    )
    assert reversed_.status_code == 201, reversed_.text
    approved = await api.approve(
        reversed_.json()["eventId"], headers=api.headers("ivar", "reviewer")
    )
    assert approved.status_code == 200, approved.text
    await api.executed(reversed_.json()["eventId"])

    periods = [
        (dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        (dt.date(2026, 3, 1), dt.date(2026, 4, 30)),
        (dt.date(2026, 12, 31), dt.date(2026, 12, 31)),
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31)),
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),  # nothing booked
        (dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ]
    for start, end in periods:
        xml = await _export(api, start, end)
        root = audit(xml, start, end)
        trial = await _trial_balance(api, start, end)
        accounts = {
            text_of(a, "s:AccountID") or "": (signed(a, "Opening"), signed(a, "Closing"))
            for a in root.findall("s:MasterFiles/s:GeneralLedgerAccounts/s:Account", NS)
        }
        zero = (Decimal(0), Decimal(0))
        for account in set(trial) | set(accounts):
            assert trial.get(account, zero) == accounts.get(account, zero), (start, account)
        names = {text_of(s, "s:Name") for s in root.iter(f"{{{NS['s']}}}Supplier")}
        if start <= dt.date(2026, 3, 10) <= end:
            assert WEIRD in names, names


async def test_a_tenant_with_no_books_gets_a_valid_empty_file(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, _ = fiken_world
    response = await api.client.get(
        f"{API}/exports/saf-t",
        params={"from": "2026-01-01", "to": "2026-12-31"},
        headers=api.headers("ada", "admin", tenant="globex"),
    )
    assert response.status_code == 200, response.text
    root = audit(response.content, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert root.find("s:GeneralLedgerEntries/s:Journal", NS) is None
