"""The strict edge, round two (ADR 0049 addendum): numbers are written one way, `Accept` is
honoured, and unusual but valid input goes through unchanged.

- An amount or rate is `-?[0-9]+(\\.[0-9]+)?` as a string or a JSON number; " 1", "1_000",
  "+1", "1e3", ".5", "5.", Arabic-Indic and full-width digits are a 422 naming the field,
  and nothing is recorded.
- `Accept` that admits none of a route's types is a 406 problem document.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    expense,
    invoice,
    pattern,
    problem_fields,
    receipt,
)

#: Numbers that Python's Decimal (and so msgspec) reads, in spellings the API does not take.
MISSPELT = [
    " 199.00",
    "199.00 ",
    "1_99.00",
    "+199.00",
    "1.99e2",
    "1.99E+2",
    ".5",
    "5.",
    "١٩٩",  # Arabic-Indic digits
    "１９９",  # full-width digits
    "199,00",
    "1 99",
]


def _raw_submission(type_: str, data_json: str) -> bytes:
    """A submission whose `data` is written exactly as given (a JSON number's spelling)."""
    return f'{{"type": "{type_}", "data": {data_json}}}'.encode()


@pytest.mark.parametrize("value", MISSPELT)
@pytest.mark.parametrize(
    ("type_", "data", "field"),
    [
        ("ReceiptAttachmentProposed", receipt(), "amount"),
        ("ReceiptAttachmentProposed", receipt(), "vatRate"),
        ("InvoiceRegistrationProposed", invoice(), "vatAmount"),
        ("ExpenseRegistrationProposed", expense(), "amount"),
        ("PatternSuggested", pattern(), "vatRate"),
    ],
)
async def test_a_proposal_with_a_misspelt_number_is_a_422_naming_it(
    api: Api, type_: str, data: dict[str, Any], field: str, value: str
) -> None:
    response = await api.submit(type_, {**data, field: value})
    problem = assert_problem(response, 422)
    assert problem_fields(problem) == {f"$.data.{field}"}
    assert f"$.data.{field}" in problem["detail"]
    assert await api.events() == []


async def test_a_misspelt_number_in_a_nested_line_is_named_by_its_path(api: Api) -> None:
    line = {"description": "Abonnement", "amount": "1 250,00", "vatRate": "25"}
    response = await api.submit("InvoiceRegistrationProposed", invoice(lineItems=[line]))
    problem = assert_problem(response, 422)
    assert problem_fields(problem) == {"$.data.lineItems[0].amount"}


@pytest.mark.parametrize("number", ["199e0", "1.99e2", "19900E-2", "-0.0e1"])
async def test_a_json_number_with_an_exponent_is_a_422(api: Api, number: str) -> None:
    data = json.dumps(receipt(amount=None)).removesuffix("}") + f', "amount": {number}}}'
    body = _raw_submission("ReceiptAttachmentProposed", data)
    response = await api.client.post(
        f"{API}/events", content=body, headers=api.agent | {"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem_fields(problem) == {"$.data.amount"}
    assert await api.events() == []


@pytest.mark.parametrize(
    ("number", "shown"), [("199", "199.00"), ("199.0", "199.00"), ("199.00", "199.00")]
)
async def test_a_plain_json_number_is_taken(api: Api, number: str, shown: str) -> None:
    data = json.dumps(receipt(amount=None)).removesuffix("}") + f', "amount": {number}}}'
    body = _raw_submission("ReceiptAttachmentProposed", data)
    response = await api.client.post(
        f"{API}/events", content=body, headers=api.agent | {"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    proposal = await api.client.get(
        f"{API}/proposals/{response.json()['proposalId']}", headers=api.viewer
    )
    assert proposal.json()["amount"] == shown


@pytest.mark.parametrize("value", MISSPELT)
@pytest.mark.parametrize("field", ["amount", "vatAmount", "vatRate", "nokAmount"])
async def test_a_misspelt_correction_is_a_422_and_decides_nothing(
    api: Api, field: str, value: str
) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal_id = proposed["proposalId"]
    response = await api.approve(proposal_id, {"corrections": {field: value}})
    problem = assert_problem(response, 422)
    assert problem_fields(problem) == {f"$.corrections.{field}"}
    state = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


@pytest.mark.parametrize("value", ["1_000", " 1000", "1e3", "+1000", "١٠٠٠"])
async def test_misspelt_review_rule_amounts_are_a_422_and_nothing_is_kept(
    api: Api, value: str
) -> None:
    admin = api.headers("ada", "admin")
    before = (await api.client.get(f"{API}/rules/review-rules", headers=admin)).json()
    refused = await api.client.put(
        f"{API}/rules/review-rules", json={"maxAutoAmount": value}, headers=admin
    )
    problem = assert_problem(refused, 422)
    assert problem_fields(problem) == {"$.maxAutoAmount"}
    after = (await api.client.get(f"{API}/rules/review-rules", headers=admin)).json()
    assert after == before


async def test_not_finite_numbers_keep_the_domains_own_refusal(api: Api) -> None:
    """NaN is no spelling question: the domain names it (invalid-proposal), as before."""
    response = await api.submit("ReceiptAttachmentProposed", receipt(vatAmount="NaN"))
    assert_problem(response, 422, "invalid-proposal")


# --- Accept -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        "application/xml",
        "text/csv",
        "text/html",
        "text/*",
        "application/json;q=0",
        "application/json;q=0, application/problem+json;q=0, */*;q=0.1",
        "image/png, text/plain",
    ],
)
async def test_an_accept_without_json_is_a_406_on_a_json_route(api: Api, accept: str) -> None:
    for path in (f"{API}/events", f"{API}/proposals", f"{API}/rules/review-rules"):
        headers = api.headers("ada", "admin", "viewer") | {"Accept": accept}
        response = await api.client.get(path, headers=headers)
        problem = assert_problem(response, 406, "not-acceptable")
        assert "application/json" in problem["detail"]


async def test_an_accept_without_json_proposes_nothing(api: Api) -> None:
    body = json.dumps({"type": "PatternSuggested", "data": pattern()}).encode()
    headers = api.agent | {"Content-Type": "application/json", "Accept": "application/xml"}
    response = await api.client.post(f"{API}/events", content=body, headers=headers)
    assert_problem(response, 406, "not-acceptable")
    assert await api.events() == []


@pytest.mark.parametrize(
    "accept",
    [
        "*/*",
        "application/*",
        "application/json",
        "application/json; charset=utf-8",
        "application/json;q=0.5, text/html",
        "application/problem+json",
        "text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8",
        "nonsense",
        "",
    ],
)
async def test_an_accept_that_admits_json_gets_json(api: Api, accept: str) -> None:
    response = await api.client.get(f"{API}/events", headers=api.viewer | {"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = json.dumps({"type": "PatternSuggested", "data": pattern()}).encode()
    headers = api.agent | {"Content-Type": "application/json", "Accept": accept}
    posted = await api.client.post(f"{API}/events", content=body, headers=headers)
    assert posted.status_code == 201, posted.text


async def test_a_report_route_answers_csv_or_json_and_406_otherwise(api: Api) -> None:
    path = f"{API}/reports/approval-rate"
    as_csv = await api.client.get(path, headers=api.viewer | {"Accept": "text/csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    as_json = await api.client.get(path, headers=api.viewer | {"Accept": "application/json"})
    assert as_json.headers["content-type"].startswith("application/json")
    as_xml = await api.client.get(path, headers=api.viewer | {"Accept": "application/xml"})
    assert_problem(as_xml, 406, "not-acceptable")
    # `?format=` wins over Accept (csv_out): a browser's link names it, whatever it accepts.
    named = await api.client.get(
        f"{path}?format=csv", headers=api.viewer | {"Accept": "application/xml"}
    )
    assert named.status_code == 200, named.text
    assert named.headers["content-type"].startswith("text/csv")


async def test_every_operation_documents_the_406(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    for path, operations in document["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                assert "406" in operation["responses"], (method, path)


# --- found by probing a running server ----------------------------------------------------


@pytest.mark.parametrize("code", ["６５４０", "٦٥٤٠", "65\u200b40", "6540\x07"])
async def test_an_account_code_outside_visible_ascii_is_a_422(api: Api, code: str) -> None:
    """A full-width "６５４０" was stored as a code of its own (and read as 6540 by `int`)."""
    response = await api.submit("ReceiptAttachmentProposed", receipt(accountCode=code))
    problem = assert_problem(response, 422, "invalid-proposal")
    assert "accountCode" in problem["detail"]
    pattern_code = await api.submit("PatternSuggested", pattern(account=code))
    assert_problem(pattern_code, 422, "invalid-proposal")
    assert await api.events() == []


@pytest.mark.parametrize(
    ("merchant", "day", "amount", "vat"),
    [
        ("Kaffe ☕ & Co 🇳🇴", "2026-11-20", "199.00", "39.80"),
        (
            "Ærlige Øystein Åsheims Økologiske Grønnsaksforretning og Blomsterhandel AS",
            "2028-02-29",
            "0.01",
            "0.00",
        ),
        ("Ruter", "2026-12-31", "99999999.99", "20000000.00"),
        ("Vy", "2027-01-01", "125.00", "13.39"),
    ],
)
async def test_unusual_but_valid_receipts_are_taken_unchanged(
    api: Api, merchant: str, day: str, amount: str, vat: str
) -> None:
    rate = "12" if merchant == "Vy" else "25"
    data = receipt(merchantName=merchant, date=day, amount=amount, vatAmount=vat, vatRate=rate)
    proposed = await api.propose("ReceiptAttachmentProposed", data)
    state = (
        await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    ).json()
    assert (state["merchantName"], state["documentDate"], state["amount"]) == (
        merchant,
        day,
        amount,
    )
