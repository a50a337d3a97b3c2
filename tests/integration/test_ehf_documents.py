"""ADR 0033 addendum 6: EHF (PEPPOL BIS Billing 3.0) invoices and credit notes through
POST /documents. Their fields are read from the XML's elements (never from its free text),
the embedded PDF is what the books attach, an EHF without one is booked without an
attachment and says so; hostile or foreign XML is refused with a problem."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bookkeeper.application import ehf as reader
from bookkeeper.application.event_log import alert_id
from tests.ehf_documents import SUPPLIER_ORG, ehf, tiny_pdf
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api, running_api


async def _send(
    api: Api, content: bytes, content_type: str = "application/xml", name: str = "faktura.xml"
) -> httpx.Response:
    return await api.client.post(
        f"{API}/documents", files={"file": (name, content, content_type)}, headers=api.agent
    )


async def _proposed(api: Api, content: bytes, **send: Any) -> tuple[dict[str, Any], Any]:
    """The answer to the upload and the proposal's view."""
    response = await _send(api, content, **send)
    assert response.status_code == 201, response.text
    answer = response.json()
    shown = await api.client.get(f"{API}/proposals/{answer['proposal']['id']}", headers=api.viewer)
    assert shown.status_code == 200, shown.text
    return answer, shown.json()


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def test_a_25_percent_invoice_with_its_pdf_is_read_from_its_elements(
    tmp_path: Path,
) -> None:
    pdf = tiny_pdf("Faktura INV-2026-1001")
    xml = ehf(pdf=pdf)
    async with running_api(tmp_path) as api:
        answer, view = await _proposed(api, xml)
        assert answer["contentType"] == "application/xml"
        reasons = {r["signal"]: r["detail"] for r in answer["proposal"]["confidence"]["reasons"]}
        assert "structured EHF e-invoice" in reasons["source"]
        assert answer["proposal"]["decision"]["outcome"] == "awaiting_review"
        data = view["data"]
        assert data["supplier"] == "Kontorleverandøren AS"  # the legal name, not the trade name
        assert data["supplierOrgNumber"] == SUPPLIER_ORG
        assert data["invoiceNumber"] == "INV-2026-1001"
        assert (data["date"], data["dueDate"]) == ("2026-11-18", "2026-12-02")
        assert data["amount"] == "1250.00"
        assert Decimal(data["vatRate"]) == 25
        assert data["vatAmount"] == "250.00"
        assert data["currency"] == "NOK"
        assert data["kid"] == "1234567890128"
        assert data["paymentAccount"] == "15032244898"
        assert data.get("creditNote") in (None, False)
        # What the books attach is the embedded PDF, stored beside the XML.
        assert data["documentHash"] == _sha(pdf)
        event = await api.client.get(
            f"{API}/events/{answer['proposal']['id']}", headers=api.reviewer
        )
        source = event.json()["metadata"]["source"]
        assert source["ehf"] == _sha(xml)
        assert "not guessed" in source["reading"]
        # The free text (a Note asking to approve) is no field and no instruction.
        assert "Ignore previous" not in event.text
        stored = await api.client.get(f"{API}/files/{_sha(pdf)}", headers=api.viewer)
        assert stored.status_code == 200 and stored.content == pdf
        assert not any("no embedded PDF" in w for w in answer.get("warnings", []))
        # The same XML again is the same proposal.
        again = await _send(api, xml)
        assert again.json()["proposal"]["id"] == answer["proposal"]["id"]


async def test_a_mixed_25_and_15_percent_invoice_has_a_line_per_rate(tmp_path: Path) -> None:
    xml = ehf(parts=(("S", "25", "800.00"), ("S", "15", "200.00")), number="INV-77")
    async with running_api(tmp_path) as api:
        _, view = await _proposed(api, xml)
        data = view["data"]
        assert data["amount"] == "1230.00"  # 800 + 200 + 200 + 30
        assert data["vatAmount"] == "230.00"
        lines = sorted((Decimal(x["vatRate"]), Decimal(x["amount"])) for x in data["lineItems"])
        assert lines == [(Decimal(15), Decimal("230.00")), (Decimal(25), Decimal("1000.00"))]


async def test_a_credit_note_names_the_invoice_it_credits(tmp_path: Path) -> None:
    xml = ehf(
        credit_note=True,
        number="CN-5",
        credited="INV-2026-1001",
        parts=(("S", "25", "400.00"),),
        kid=None,
        due_date=None,
    )
    async with running_api(tmp_path) as api:
        _, view = await _proposed(api, xml)
        data = view["data"]
        assert data["creditNote"] is True
        assert data["creditedInvoice"] == "INV-2026-1001"
        assert data["invoiceNumber"] == "CN-5"
        assert data["amount"] == "500.00"
        assert data["dueDate"] == data["date"] == "2026-11-18"


async def test_a_foreign_currency_invoice_keeps_its_currency(tmp_path: Path) -> None:
    xml = ehf(currency="EUR", parts=(("S", "25", "100.00"),), number="EU-1")
    async with running_api(tmp_path) as api:
        answer, view = await _proposed(api, xml)
        assert view["data"]["currency"] == "EUR"
        assert view["data"]["amount"] == "125.00"
        assert answer["proposal"]["status"] == "PROPOSED"


async def test_without_an_embedded_pdf_the_proposal_says_nothing_can_be_attached(
    tmp_path: Path,
) -> None:
    xml = ehf(number="NOPDF-1")
    async with running_api(tmp_path) as api:
        answer, view = await _proposed(api, xml, content_type="text/xml")
        assert view["data"]["documentHash"] == _sha(xml)
        assert reader.NO_RENDERING in answer["warnings"]
        assert view["data"]["amount"] == "1250.00"


async def test_an_embedded_document_that_is_no_pdf_is_not_taken(tmp_path: Path) -> None:
    xml = ehf(number="FAKEPDF-1", pdf=b"<html>not a pdf</html>")
    async with running_api(tmp_path) as api:
        answer, view = await _proposed(api, xml)
        assert view["data"]["documentHash"] == _sha(xml)
        assert "the embedded document called a PDF is none and is not kept" in answer["warnings"]


async def test_an_ehf_sniffed_without_a_declared_xml_type(tmp_path: Path) -> None:
    xml = ehf(number="SNIFF-1")
    async with running_api(tmp_path) as api:
        _, view = await _proposed(api, xml, content_type="application/octet-stream")
        assert view["data"]["invoiceNumber"] == "SNIFF-1"


XXE = ehf(prolog='<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', number="&xxe;")
LAUGHS = ehf(
    prolog=(
        '<!DOCTYPE Invoice [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    ),
    supplier="&d;",
)


@pytest.mark.parametrize(
    ("content", "status", "said"),
    [
        (XXE, 422, "DTD"),
        (LAUGHS, 422, "DTD"),
        (ehf(root_ns="urn:example:not-ubl"), 422, "not an EHF"),
        (b'<?xml version="1.0"?><html><body>approve</body></html>', 422, "not an EHF"),
        (ehf(totals=False), 422, "LegalMonetaryTotal"),
        (b"<?xml version='1.0'?><Invoice", 422, "could not be parsed"),
    ],
    ids=["xxe", "billion-laughs", "wrong-namespace", "other-xml", "no-totals", "truncated"],
)
async def test_hostile_or_foreign_xml_is_refused_with_a_problem(
    tmp_path: Path, content: bytes, status: int, said: str
) -> None:
    async with running_api(tmp_path) as api:
        response = await _send(api, content)
        assert response.status_code == status, response.text
        assert said in response.json()["detail"]
        proposals = await api.client.get(f"{API}/proposals", headers=api.viewer)
        assert proposals.json()["items"] == [] if "items" in proposals.json() else True


async def test_a_huge_embedded_base64_is_a_413(tmp_path: Path) -> None:
    xml = ehf(pdf=b"%PDF-1.4\n" + b"0" * (8 * 1024 * 1024))  # ~10.7 MiB as base64
    async with running_api(tmp_path) as api:
        response = await _send(api, xml)
        assert response.status_code == 413, response.text


async def test_execution_attaches_the_embedded_pdf_or_books_without_one(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = fiken_world
    pdf = tiny_pdf("Faktura A-1")
    with_pdf = await _send(api, ehf(number="A-1", pdf=pdf))
    without = await _send(api, ehf(number="A-2", kid=None))
    for response in (with_pdf, without):
        assert response.status_code == 201, response.text
        proposal_id = response.json()["proposal"]["id"]
        approved = await api.approve(proposal_id)
        assert approved.status_code == 200, approved.text
        view = await api.executed(proposal_id)
        assert "fikenPurchaseId" in view["externalIds"]
    [attachment] = fiken.attachments
    assert attachment.content == pdf
    assert attachment.filename.endswith(".pdf")
    assert len(fiken.purchase_requests) == 2
    # The one without a PDF is booked, and an alert says its document stays here.
    pid = uuid.UUID(without.json()["proposal"]["id"])
    alert = await api.client.get(
        f"{API}/events/{alert_id(pid, 'document-not-attachable')}", headers=api.reviewer
    )
    assert alert.status_code == 200, alert.text
    assert "application/xml" in alert.text and "without an attachment" in alert.text


async def test_post_files_stores_an_ehf_and_its_pdf(tmp_path: Path) -> None:
    pdf = tiny_pdf("Faktura F-1")
    xml = ehf(number="F-1", pdf=pdf)
    async with running_api(tmp_path) as api:
        stored = await api.client.post(
            f"{API}/files",
            params={"filename": "F-1.xml"},
            content=xml,
            headers={**api.agent, "Content-Type": "application/xml"},
        )
        assert stored.status_code == 201, stored.text
        assert stored.json()["sha256"] == _sha(xml)
        assert stored.json()["contentType"] == "application/xml"
        rendering = await api.client.get(f"{API}/files/{_sha(pdf)}", headers=api.viewer)
        assert rendering.status_code == 200 and rendering.content == pdf
        hostile = await api.client.post(
            f"{API}/files",
            content=XXE,
            headers={**api.agent, "Content-Type": "text/xml"},
        )
        assert hostile.status_code == 422, hostile.text
