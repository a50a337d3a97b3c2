"""The edge, round three (ADR 0049 addendum "round three"): a JSON object that repeats a
member name is refused wherever JSON enters; a name or text made only of invisible
characters is no name; /health honours Accept as the API does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    invoice,
    problem_fields,
    receipt,
    submission,
)

# --- repeated member names ----------------------------------------------------------------


def _with_repeat(body: dict[str, Any], inside: str, name: str, value: Any) -> bytes:
    """`body` as JSON, the object at the top (inside="") or at `inside` (a member of the
    top object) ending with `name` written once more."""
    text = json.dumps(body)
    extra = f", {json.dumps(name)}: {json.dumps(value)}"
    if not inside:
        return (text[:-1] + extra + "}").encode()
    nested = json.dumps(body[inside])
    assert text.count(nested) == 1
    return text.replace(nested, nested[:-1] + extra + "}").encode()


async def _post(api: Api, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return await api.client.post(
        path, content=body, headers=headers | {"Content-Type": "application/json"}
    )


@pytest.mark.parametrize(
    ("inside", "name", "value", "field"),
    [
        ("data", "amount", "9999.00", "$.data.amount"),
        ("data", "merchantName", "Someone Else AS", "$.data.merchantName"),
        ("data", "amount", "199.00", "$.data.amount"),  # the same value: still two members
        ("", "type", "PatternSuggested", "$.type"),
    ],
)
async def test_a_repeated_member_of_a_submission_is_a_400_naming_it(
    api: Api, inside: str, name: str, value: str, field: str
) -> None:
    body = _with_repeat(submission("ReceiptAttachmentProposed", receipt()), inside, name, value)
    response = await _post(api, f"{API}/events", body, api.agent)
    problem = assert_problem(response, 400)
    assert problem_fields(problem) == {field}
    assert field in problem["detail"]
    assert await api.events() == []


async def test_a_repeat_in_a_nested_line_is_named_by_its_path(api: Api) -> None:
    lines = [{"description": "A", "amount": "1000.00", "vatRate": "25"}] * 2
    text = json.dumps(
        submission("InvoiceRegistrationProposed", invoice(lineItems=lines, amount="2000.00"))
    )
    body = text.replace('"vatRate": "25"}]', '"vatRate": "25", "vatRate": "0"}]').encode()
    response = await _post(api, f"{API}/events", body, api.agent)
    problem = assert_problem(response, 400)
    assert problem_fields(problem) == {"$.data.lineItems[1].vatRate"}
    assert await api.events() == []


async def test_one_name_in_many_objects_and_colons_in_text_are_taken(api: Api) -> None:
    lines = [
        {"description": "Kl. 12:00: abonnement", "amount": "600.00", "vatRate": "25"},
        {"description": "https://x.example/a:b", "amount": "400.00", "vatRate": "25"},
    ]
    body = json.dumps(
        submission("InvoiceRegistrationProposed", invoice(lineItems=lines, amount="1000.00")),
        ensure_ascii=True,
    ).encode()
    response = await _post(api, f"{API}/events", body, api.agent)
    assert response.status_code == 201, response.text


async def test_a_repeated_correction_decides_nothing(api: Api) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal_id = proposed["proposalId"]
    body = b'{"corrections": {"amount": "100.00", "amount": "99999.00"}}'
    response = await _post(api, f"{API}/events/{proposal_id}/approve", body, api.reviewer)
    problem = assert_problem(response, 400)
    assert problem_fields(problem) == {"$.corrections.amount"}
    state = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


async def test_repeated_review_rules_keep_nothing(api: Api) -> None:
    admin = api.headers("ada", "admin")
    before = (await api.client.get(f"{API}/rules/review-rules", headers=admin)).json()
    body = b'{"maxAutoAmount": "100.00", "maxAutoAmount": "1000000.00"}'
    refused = await api.client.put(
        f"{API}/rules/review-rules",
        content=body,
        headers=admin | {"Content-Type": "application/json"},
    )
    problem = assert_problem(refused, 400)
    assert problem_fields(problem) == {"$.maxAutoAmount"}
    after = (await api.client.get(f"{API}/rules/review-rules", headers=admin)).json()
    assert after == before


async def test_a_name_spelt_twice_with_an_escape_is_a_repeat(api: Api) -> None:
    """`"amount"` and `"\\u0061mount"` are one name once decoded."""
    body = _with_repeat(
        submission("ReceiptAttachmentProposed", receipt()), "data", "amount", "9999.00"
    ).replace(b', "amount": "9999.00"', b', "\\u0061mount": "9999.00"')
    response = await _post(api, f"{API}/events", body, api.agent)
    assert problem_fields(assert_problem(response, 400)) == {"$.data.amount"}


# --- names of nothing -----------------------------------------------------------------------

#: Names that show nothing (a zero-width space, joiners, a word joiner, a BOM, a no-break
#: space, a Hangul filler) or hold a control character.
NO_NAMES = [
    "\u200b",
    "\u200c\u200d",
    "\u2060",
    "\ufeff",
    "\u00a0",
    " \u200b\u00a0 ",
    "\u3164",
    "Adobe\x07",
    "\x1b[2JAdobe",
    "Ado\u202ebe",  # a bidi override: reads otherwise than it is stored (round four)
    "Adobe \u2066x\u2069",
]


@pytest.mark.parametrize("name", NO_NAMES)
@pytest.mark.parametrize(
    ("type_", "data", "field"),
    [
        ("ReceiptAttachmentProposed", receipt(), "merchantName"),
        ("InvoiceRegistrationProposed", invoice(), "supplier"),
        ("ReceiptAttachmentProposed", receipt(), "documentNumber"),
        ("ReceiptAttachmentProposed", receipt(), "description"),
        ("InvoiceRegistrationProposed", invoice(), "invoiceNumber"),
    ],
)
async def test_a_name_of_nothing_is_a_422_and_nothing_is_recorded(
    api: Api, type_: str, data: dict[str, Any], field: str, name: str
) -> None:
    response = await api.submit(type_, {**data, field: name})
    problem = assert_problem(response, 422, "invalid-proposal")
    assert field in problem["detail"]
    assert await api.events() == []


async def test_a_name_is_stored_in_one_spelling(api: Api) -> None:
    """NFC, and nothing invisible at its ends; what is inside stays (a no-break space)."""
    sent = receipt(merchantName="\ufeff Cafe\u0301 Bl\u00e5\u00a0AS\u200b ", documentNumber=" R-7")
    proposed = await api.propose("ReceiptAttachmentProposed", sent)
    shown = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert shown.json()["merchantName"] == "Caf\u00e9 Bl\u00e5\u00a0AS"
    assert shown.json()["documentNumber"] == "R-7"


@pytest.mark.parametrize("reason", ["\u200b", "\u00a0\ufeff", "nei\x07"])
async def test_a_rejection_reason_of_nothing_is_refused(api: Api, reason: str) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    refused = await api.reject(proposed["proposalId"], {"reason": reason})
    assert refused.status_code in (400, 422), refused.text
    assert_problem(refused, refused.status_code)
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


# --- /health and /metrics honour Accept ------------------------------------------------------

PROMETHEUS = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


HEALTH_PATHS = ("/health", "/health/live", "/health/ready")


@pytest.mark.parametrize("path", HEALTH_PATHS)
@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*", ""])
async def test_health_answers_probes_and_json_clients(
    api: Api, path: str, accept: str | None
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = await api.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", HEALTH_PATHS)
@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/json;q=0"])
async def test_health_with_an_accept_without_json_is_a_406(
    api: Api, path: str, accept: str
) -> None:
    response = await api.client.get(path, headers={"Accept": accept})
    problem = assert_problem(response, 406, "not-acceptable")
    assert "application/json" in problem["detail"]


@pytest.mark.parametrize("accept", [None, "*/*", "text/plain", PROMETHEUS])
async def test_metrics_answer_a_scrape(api: Api, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = await api.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("accept", ["application/json", "text/html", "text/plain;q=0"])
async def test_metrics_with_an_accept_without_text_is_a_406(api: Api, accept: str) -> None:
    response = await api.client.get("/metrics", headers={"Accept": accept})
    assert_problem(response, 406, "not-acceptable")


async def test_health_and_metrics_document_the_406(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    for path in (*HEALTH_PATHS, "/metrics"):
        assert "406" in document["paths"][path]["get"]["responses"], path
