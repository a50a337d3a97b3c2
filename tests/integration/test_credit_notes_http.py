"""ADR 0054 end to end, on SQLite and PostgreSQL: a supplier invoice is registered in the
loopback Fiken fake (the real client and adapter); the supplier's credit note for part of it
is proposed through POST /events, waits for a person (never auto-approved), names the
invoice's proposal as the one it credits, is approved and executed once as a journal entry
(the supplier's account debited, the cost credited under the input VAT code) and posted to
the ledger turned round: the trial balance and the VAT report of the credit note's term
show the reduction. A credit note read from a PDF by the offline reader is proposed as one.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api, invoice, running_api
from tests.integration.test_web_pages import APP, login
from tests.saft_checks import validate
from tests.unseen_documents import kreditnota

INVOICE = "InvoiceRegistrationProposed"


def _supplier_invoice() -> dict[str, Any]:
    # Term 5 (September–October): the credit note's own term holds only the credit.
    return invoice(
        supplier="Elektroservice Nord AS",
        supplierOrgNumber="923609016",
        amount="5000.00",
        date="2026-10-20",
        dueDate="2026-11-03",
        accountCode="6540",
        invoiceNumber="10012",
    )


def _credit_note(**changes: Any) -> dict[str, Any]:
    data = invoice(
        supplier="Elektroservice Nord AS",
        supplierOrgNumber="923609016",
        amount="1250.00",
        date="2026-11-05",
        dueDate="2026-11-05",
        accountCode="6540",
        invoiceNumber="K-10045",
        creditNote=True,
        creditedInvoice="10012",
    )
    data.update(changes)
    return data


async def test_a_credit_note_reverses_part_of_its_invoice_once(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = fiken_world
    original = await api.propose(INVOICE, _supplier_invoice())
    assert (await api.approve(original["proposalId"])).status_code == 200
    await api.executed(original["proposalId"])

    credit = await api.propose(INVOICE, _credit_note())
    assert credit["status"] == "PROPOSED", credit
    assert credit["decision"]["outcome"] == "awaiting_review", credit
    assert credit["decision"]["rule"] == "credit-note", credit
    shown = await api.client.get(f"{API}/events/{credit['proposalId']}", headers=api.reviewer)
    assert shown.status_code == 200, shown.text
    assert shown.json()["metadata"]["creditedProposal"] == original["proposalId"]

    approved = await api.approve(credit["proposalId"])
    assert approved.status_code == 200, approved.text
    view = await api.executed(credit["proposalId"])
    assert set(view["externalIds"]) >= {"fikenJournalEntryId", "fikenContactId"}

    # Fiken: one purchase (the invoice), one journal entry (the credit note), same contact.
    assert len(fiken.purchase_requests) == 1
    [body] = fiken.journal_entry_requests
    [entry] = body["journalEntries"]
    supplier = next(iter(fiken.contacts.values()))
    assert entry["lines"] == [
        {"amount": 125000, "debitAccount": supplier["supplierAccountCode"]},
        {"amount": 125000, "creditAccount": "6540", "creditVatCode": 1},
    ]
    assert "10012" in entry["description"] and "bk-" in entry["description"]

    trial = await api.client.get(f"{API}/reports/trial-balance", headers=api.reviewer)
    assert trial.status_code == 200, trial.text
    rows = {row["account"]: row for row in trial.json()["accounts"]}
    # The invoice's 4000 + 1000 less the credit's 1000 + 250; the supplier owed 3750.
    assert (rows["6540"]["debit"], rows["6540"]["credit"]) == ("4000.00", "1000.00")
    assert (rows["2710"]["debit"], rows["2710"]["credit"]) == ("1000.00", "250.00")
    assert (rows["2400"]["debit"], rows["2400"]["credit"]) == ("1250.00", "5000.00")
    assert trial.json()["totals"]["debit"] == trial.json()["totals"]["credit"]

    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 6}, headers=api.viewer
    )
    assert report.status_code == 200, report.text
    lines = {(ln["vatCode"], ln["rate"]): (ln["base"], ln["vat"]) for ln in report.json()["lines"]}
    assert lines == {("1", "25"): ("-1000.00", "-250.00")}
    assert report.json()["inputVat"] == "-250.00"
    earlier = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 5}, headers=api.viewer
    )
    assert earlier.json()["inputVat"] == "1000.00"

    # SAF-T: the credit note's lines as posted, its VAT a credit under code 1 (valid XSD).
    saft = await api.client.get(
        f"{API}/exports/saf-t",
        params={"from": "2026-11-01", "to": "2026-12-31"},
        headers=api.headers("revisor", "admin"),
    )
    assert saft.status_code == 200, saft.text
    root = validate(saft.content)
    ns = {"n": root.tag.split("}")[0].strip("{")}
    saft_lines = {
        line.findtext("n:AccountID", namespaces=ns): line
        for line in root.iterfind(".//n:Transaction/n:Line", ns)
    }
    assert saft_lines["2710"].findtext("n:CreditAmount/n:Amount", namespaces=ns) == "250.00"
    cost = saft_lines["6540"]  # the base line carries the VAT it reverses, as a credit
    assert cost.findtext("n:CreditAmount/n:Amount", namespaces=ns) == "1000.00"
    assert cost.findtext("n:TaxInformation/n:TaxCode", namespaces=ns) == "1"
    assert cost.findtext("n:TaxInformation/n:TaxBase", namespaces=ns) == "1000.00"
    assert cost.findtext("n:TaxInformation/n:CreditTaxAmount/n:Amount", namespaces=ns) == "250.00"


async def test_the_credit_note_is_called_one_where_people_see_it(tmp_path: Path) -> None:
    """REST shows the flag and the invoice it credits; the review page calls it a credit
    note (Norwegian), not a supplier invoice, and links to the invoice's proposal."""
    async with running_api(tmp_path) as api:
        original = await api.propose(INVOICE, _supplier_invoice())
        proposed = await api.propose(INVOICE, _credit_note())
        shown = await api.client.get(
            f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer
        )
        data = shown.json()["data"]
        assert (data["creditNote"], data["creditedInvoice"]) == (True, "10012")
        await login(api, "per", "reviewer")
        page = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
        assert "<h1>Kreditnota" in page, page
        assert "Krediterer faktura" in page
        link = page.split('id="credited"', 1)[0].rsplit("<a ", 1)[1]
        assert f'href="/app/review/{original["proposalId"]}"' in link, link
        assert "Fakturaen den krediterer" in page
        queue = (await api.client.get(f"{APP}/review")).text
        assert ">Kreditnota</a>" in queue


async def test_credits_beyond_their_invoice_wait_with_both_amounts_shown(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    """A second credit note that takes the invoice's credits past its amount (the stored
    log found again on SQLite and PostgreSQL) waits under its own rule, and the review
    page says so in Norwegian with both amounts."""
    api, _ = fiken_world
    await api.propose(INVOICE, _supplier_invoice())
    first = await api.propose(INVOICE, _credit_note(amount="3000.00", invoiceNumber="K-1"))
    assert first["decision"]["rule"] == "credit-note", first
    second = await api.propose(INVOICE, _credit_note(amount="2500.00", invoiceNumber="K-2"))
    assert second["status"] == "PROPOSED", second
    assert second["decision"]["rule"] == "credit-beyond-invoice", second
    # The amounts are the proposal's warning, given with the answer; the rule's
    # explanation names the rule without repeating them.
    [warning] = second["warnings"]
    assert "5 500,00 kr" in warning and "5 000,00 kr" in warning
    assert "5 500,00 kr" not in second["decision"]["explanation"]
    await login(api, "per", "reviewer")
    page = (await api.client.get(f"{APP}/review/{second['proposalId']}")).text
    said = "kreditnotaene på fakturaen blir 5 500,00 kr med denne, mer enn fakturaens 5 000,00 kr"
    assert page.count(said) == 1, page


async def test_a_credit_note_pdf_is_proposed_as_a_credit(tmp_path: Path) -> None:
    """The offline reader's credit note (printed with minus signs) becomes a credit note
    proposal of the positive amount, naming the invoice it credits."""
    doc = kreditnota()
    async with running_api(tmp_path) as api:
        response = await api.client.post(
            f"{API}/documents",
            files={"file": ("kreditnota.pdf", doc.content, doc.media_type)},
            headers=api.agent,
        )
        assert response.status_code == 201, response.text
        proposal = response.json()["proposal"]
        assert proposal["status"] == "PROPOSED"
        shown = await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)
        view = shown.json()
        assert view["data"]["creditNote"] is True
        assert view["data"]["creditedInvoice"] == "10012"
        assert Decimal(view["amount"]) == Decimal("1234.50")
