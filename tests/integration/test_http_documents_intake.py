"""POST /documents over real HTTP (Litestar test client), the real container, an in-test
extractor double and a bank double that lists events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from bookkeeper.application.documents import MAX_DOCUMENT_BYTES
from bookkeeper.application.errors import ExtractionFailed
from bookkeeper.application.ports import ExtractedLine, Extraction
from bookkeeper.backends import Backends
from tests.http_helpers import API, Api, FixedClock, assert_problem, memory_container, running_api
from tests.unit.external_doubles import PDF, PNG, World
from tests.unit.pipeline_doubles import ExtractorDouble, ListedBank, card_event
from tests.unit.test_pipeline import adobe_receipt


class FailingExtractor:
    name = "failing"

    def __init__(self, retryable: bool) -> None:
        self.retryable = retryable

    async def extract(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        raise ExtractionFailed("the model is overloaded", retryable=self.retryable)


@pytest.fixture
def extractor() -> ExtractorDouble:
    return ExtractorDouble(adobe_receipt())


@pytest.fixture
def bank_amount() -> Decimal:
    return Decimal("-199.00")


@pytest.fixture
async def api(
    tmp_path: Path, extractor: ExtractorDouble, bank_amount: Decimal
) -> AsyncIterator[Api]:
    container = memory_container(tmp_path, clock=FixedClock())
    world = World()
    banks: dict[str, ListedBank] = {}
    event = card_event(amount=bank_amount)
    container.backends.override(
        providers.Object(
            Backends(
                books=world.books,
                bank=lambda tenant: banks.setdefault(tenant, ListedBank([event])),
                books_backend="memory",
                bank_backend="memory",
            )
        )
    )
    container.extractor.override(providers.Object(extractor))
    async with running_api(tmp_path, container=container) as running:
        yield running


async def upload(
    api: Api,
    content: bytes = PDF,
    content_type: str = "application/pdf",
    headers: dict[str, str] | None = None,
    **form: str,
) -> Any:
    return await api.client.post(
        f"{API}/documents",
        files={"file": ("kvittering.pdf", content, content_type)},
        data=form,
        headers=headers if headers is not None else api.agent,
    )


async def test_a_known_receipt_is_attached_and_auto_approved_story_1(api: Api) -> None:
    await api.learn_adobe()
    response = await upload(api)
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["documentHash"]) == 64
    assert body["duplicate"] is False
    assert body["filename"] == "kvittering.pdf"
    assert body["extraction"]["merchantName"] == "Adobe Systems Software Ireland Ltd"
    assert body["extraction"]["gross"] == "199.00"
    assert body["extraction"]["costUsd"] == "0.0082"
    assert body["bankMatch"]["eventId"] == "ev-1"
    proposal = body["proposal"]
    assert proposal["kind"] == "receipt_attachment"
    assert proposal["type"] == "ReceiptAttachmentProposed"
    assert proposal["status"] == "APPROVED"
    assert proposal["decision"]["outcome"] == "auto_approved"
    assert proposal["confidence"]["score"] > 0.9
    assert {r["signal"] for r in proposal["confidence"]["reasons"]} >= {"pattern", "bank"}

    stored = await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)
    assert stored.status_code == 200
    assert stored.json()["data"]["documentHash"] == body["documentHash"]
    assert stored.json()["data"]["accountCode"] == "6540"
    events = await api.client.get(
        f"{API}/events", params={"type": "DocumentExtracted"}, headers=api.viewer
    )
    assert events.status_code == 200, events.text
    extracted = [e for e in events.json()["items"] if e["type"] == "DocumentExtracted"]
    assert [e["data"]["inputTokens"] for e in extracted] == [1500]


async def test_the_same_file_twice_answers_with_the_earlier_proposal(
    api: Api, extractor: ExtractorDouble
) -> None:
    first = (await upload(api)).json()
    again = await upload(api, filename="another-name.pdf")
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["duplicate"] is True
    assert second["proposal"]["id"] == first["proposal"]["id"]
    assert second["proposal"]["confidence"] == first["proposal"]["confidence"]
    assert second["extraction"] is None
    assert extractor.calls == 1


async def test_the_duplicate_lookup_is_per_tenant(api: Api, extractor: ExtractorDouble) -> None:
    ours = (await upload(api)).json()
    theirs_response = await upload(api, headers=api.foreigner)
    assert theirs_response.status_code == 201, theirs_response.text
    theirs = theirs_response.json()
    assert theirs["documentHash"] == ours["documentHash"]
    assert theirs["duplicate"] is False
    assert theirs["proposal"]["id"] != ours["proposal"]["id"]
    assert extractor.calls == 2
    # Neither tenant sees the other's proposal.
    cross = await api.client.get(f"{API}/proposals/{ours['proposal']['id']}", headers=api.foreigner)
    assert cross.status_code == 404


async def test_more_than_10_mib_is_413(api: Api, extractor: ExtractorDouble) -> None:
    too_large = PDF + b"\x00" * (MAX_DOCUMENT_BYTES + 1 - len(PDF))
    response = await upload(api, too_large)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert extractor.calls == 0


async def test_other_types_are_415_and_the_bytes_decide_over_a_declaration(
    api: Api, extractor: ExtractorDouble
) -> None:
    text = await upload(api, b"hello, approve me", "text/plain")
    assert text.status_code == 415, text.text
    missing = await api.client.post(
        f"{API}/documents", files={"x": ("a.pdf", PDF, "application/pdf")}, headers=api.agent
    )
    assert missing.status_code == 400, missing.text
    assert extractor.calls == 0
    # Issue 13: a photo called kvittering.pdf (application/pdf) is read as the image it is.
    named_pdf = await upload(api, PNG, "application/pdf")
    assert named_pdf.status_code == 201, named_pdf.text
    assert named_pdf.json()["contentType"] == "image/png"
    assert extractor.calls == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"GIF89a not a receipt", "application/octet-stream"),  # the bytes decide: no type
        (b"GIF89a not a receipt", "application/pdf"),  # a type taken, contradicted
        (b"hello, approve me", "text/plain"),  # a type not taken
    ],
)
async def test_a_refused_file_type_names_ehf_among_what_may_be_sent(
    api: Api, extractor: ExtractorDouble, body: bytes, content_type: str
) -> None:
    """The refusal of content that is no PDF or photo listed PDF, JPEG, PNG, HEIC and WebP
    only, as if an EHF invoice (XML), which the upload takes, would be refused too."""
    refused = await upload(api, body, content_type)
    assert refused.status_code == 415, refused.text
    assert "EHF invoice (XML)" in refused.json()["detail"], refused.text
    assert extractor.calls == 0


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/pdf", PDF),  # the raw file, as POST /files takes it
        ("application/json", b'{"file": "a.pdf"}'),
        ("application/x-www-form-urlencoded", b"file=a.pdf"),
        ("text/plain", b"hello"),
        (None, PDF),
    ],
)
async def test_a_body_that_is_no_multipart_form_is_a_415_saying_how_to_send_it(
    api: Api, extractor: ExtractorDouble, content_type: str | None, body: bytes
) -> None:
    """It was a 400 "data: Object missing required field `file`", naming a field the
    caller had sent (a raw PDF is what POST /files takes)."""
    headers = api.agent | ({"Content-Type": content_type} if content_type else {})
    response = await api.client.post(f"{API}/documents", content=body, headers=headers)
    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "multipart/form-data" in problem["detail"]
    assert "POST /files" in problem["detail"]
    assert extractor.calls == 0
    assert await api.events() == []


async def test_roles(api: Api, extractor: ExtractorDouble) -> None:
    assert (await upload(api, headers=api.viewer)).status_code == 403
    assert (await upload(api, headers=api.reviewer)).status_code == 403
    assert (
        await api.client.post(f"{API}/documents", files={"file": ("a", PDF)})
    ).status_code == 401
    assert extractor.calls == 0
    accountant = await upload(api, headers=api.headers("anne", "accountant"))
    assert accountant.status_code == 201, accountant.text


async def test_no_amount_is_a_proposal_in_review_that_says_so(
    api: Api, extractor: ExtractorDouble
) -> None:
    # Issue 13: not "nothing was proposed": the fields found, in review, and why.
    extractor.extraction = adobe_receipt(gross=None)
    response = await upload(api)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["proposal"]["status"] == "PROPOSED"
    assert body["proposal"]["decision"]["outcome"] != "auto_approved"
    assert any(w.startswith("no amount could be read") for w in body["warnings"])
    assert body["extraction"]["merchantName"] == "Adobe Systems Software Ireland Ltd"
    approve = await api.approve(body["proposal"]["id"])
    assert approve.status_code == 422, approve.text
    assert "amount" in approve.json()["detail"]


@pytest.mark.parametrize("bank_amount", [Decimal("-199")])
async def test_every_amount_read_is_answered_with_two_decimals(
    api: Api, extractor: ExtractorDouble
) -> None:
    # JSON amounts are decimal strings with two decimals, whatever spelling the reader
    # (or the bank) gave: "199", "1.592E+2", "39.8" are "199.00", "159.20", "39.80".
    extractor.extraction = adobe_receipt(
        gross=Decimal("199"),
        net=Decimal("1.592E+2"),
        vat_amount=Decimal("39.8"),
        lines=(
            ExtractedLine(
                description="Creative Cloud",
                gross=Decimal("199"),
                net=Decimal("159.2"),
                vat_amount=Decimal("39.800"),
                vat_rate=Decimal("25"),
            ),
        ),
    )
    response = await upload(api)
    assert response.status_code == 201, response.text
    body = response.json()
    read = body["extraction"]
    assert (read["gross"], read["net"], read["vatAmount"]) == ("199.00", "159.20", "39.80")
    [line] = read["lines"]
    assert (line["gross"], line["net"], line["vatAmount"]) == ("199.00", "159.20", "39.80")
    assert body["bankMatch"]["amount"] == "-199.00"


@pytest.mark.parametrize(("retryable", "status"), [(False, 422), (True, 503)])
async def test_an_extraction_failure_is_a_problem(
    tmp_path: Path, retryable: bool, status: int
) -> None:
    container = memory_container(tmp_path, clock=FixedClock())
    container.extractor.override(providers.Object(FailingExtractor(retryable)))
    async with running_api(tmp_path, container=container) as api:
        response = await upload(api)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert ("retry later" in detail) if retryable else ("could not be read" in detail)


async def test_the_route_is_documented_as_a_multipart_form(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    operation = schema["paths"][f"{API}/documents"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"201", "400", "401", "403", "413", "415", "422"} <= set(operation["responses"])


def test_amounts_in_the_double_are_decimals() -> None:
    assert adobe_receipt().gross == Decimal("199.00")


@pytest.mark.parametrize("field", ["file", "filename"])
async def test_a_form_field_sent_twice_is_a_400_naming_it_and_reads_nothing(
    api: Api, extractor: ExtractorDouble, field: str
) -> None:
    parts = [("file", ("a.pdf", PDF, "application/pdf"))]
    parts.append(
        ("file", ("b.pdf", PDF, "application/pdf")) if field == "file" else ("filename", "x.pdf")
    )
    form = {"filename": "y.pdf"} if field == "filename" else {}
    response = await api.client.post(f"{API}/documents", files=parts, data=form, headers=api.agent)
    problem = assert_problem(response, 400)
    assert f"'{field}'" in problem["detail"] and "once" in problem["detail"]
    assert "class" not in problem["detail"]
    assert extractor.calls == 0
    assert await api.events() == []


async def test_a_part_the_form_does_not_have_is_ignored_even_repeated(
    api: Api, extractor: ExtractorDouble
) -> None:
    """Only the form's own fields must come once: another part, sent once or twice, is
    ignored as the route ignores it (the schema allows more properties)."""
    parts = [
        ("file", ("a.pdf", PDF, "application/pdf")),
        ("note", "first"),
        ("note", "second"),
    ]
    response = await api.client.post(f"{API}/documents", files=parts, headers=api.agent)
    assert response.status_code == 201, response.text
    assert extractor.calls == 1
