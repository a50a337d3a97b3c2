"""Query parameters answered alike on every route (ADR 0007 addendum, params.bounded_query):
a value outside a parameter's set is a 400 naming the parameter and the set (an unknown
`?type=` listed nothing, as if the log held no such events); a parameter that takes one
value given twice is a 400 naming it (`?limit=5&limit=500`: the last one counted, silently);
a range backwards is a 400 naming `from` (it was a 422 on the reports, an empty page on
the events, a report of no days on the approval rate). The routes are read from the OpenAPI
document, so a new one is held to the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.domain.events import CATALOGUE
from tests.http_helpers import API, Api, assert_problem, pattern, running_api

ROLES = ("admin", "accountant", "system")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


def _root(api: Api) -> dict[str, str]:
    return api.headers("root", *ROLES)


async def _document(api: Api) -> dict[str, Any]:
    document: dict[str, Any] = (await api.client.get("/schema/openapi.json")).json()
    return document


def _schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A parameter's schema and its alternatives (`oneOf`), each with its items if any."""
    found = []
    for option in [schema, *schema.get("oneOf", [])]:
        found.append(option)
        if isinstance(option.get("items"), dict):
            found.append(option["items"])
    return found


def _choices(schema: dict[str, Any]) -> list[str]:
    return [v for s in _schemas(schema) for v in s.get("enum", []) if v is not None]


def _repeatable(schema: dict[str, Any]) -> bool:
    return any(s.get("type") == "array" for s in _schemas(schema))


def _query_parameters(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, operationId, parameter) of every query parameter of an operation
    without path parameters."""
    found = []
    for path, item in document["paths"].items():
        if "{" in path:
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    found.append((method.upper(), path, operation["operationId"], parameter))
    return found


def _valid(schema: dict[str, Any]) -> str:
    choices = _choices(schema)
    if choices:
        return choices[0]
    formats = {s.get("format") for s in _schemas(schema)}
    if "date-time" in formats:
        return "2026-11-01T00:00:00Z"
    if "date" in formats:
        return "2026-11-01"
    return "1"


async def test_every_parameter_with_a_set_of_values_refuses_one_outside_it(api: Api) -> None:
    document = await _document(api)
    checked = set()
    for method, path, operation_id, parameter in _query_parameters(document):
        choices = _choices(parameter["schema"])
        if not choices:
            continue
        name = parameter["name"]
        checked.add((operation_id, name))
        response = await api.client.request(method, path, params={name: "Nope"}, headers=_root(api))
        problem = assert_problem(response, 400, "validation-failed")
        assert [e["field"] for e in problem["errors"]] == [name], (operation_id, problem)
        message = problem["errors"][0]["message"]
        assert "'Nope'" in message, message
        assert all(choice in message for choice in choices), (operation_id, name, message)
    assert {
        ("listEvents", "type"),
        ("listEvents", "status"),
        ("listProposals", "kind"),
        ("listProposals", "status"),
        ("listClosedPeriods", "kind"),
        ("getCostReport", "groupBy"),
        ("getTrialBalance", "format"),
    } <= checked


async def test_the_event_type_filter_admits_exactly_the_event_types(api: Api) -> None:
    document = await _document(api)
    (parameter,) = [
        p
        for _, _, operation_id, p in _query_parameters(document)
        if (operation_id, p["name"]) == ("listEvents", "type")
    ]
    assert set(_choices(parameter["schema"])) == set(CATALOGUE)
    assert _repeatable(parameter["schema"])
    await api.propose("PatternSuggested", pattern())
    found = await api.client.get(
        f"{API}/events", params={"type": "PatternSuggested"}, headers=api.viewer
    )
    assert [e["type"] for e in found.json()["items"]] == ["PatternSuggested"]
    other = await api.client.get(
        f"{API}/events", params={"type": "ReceiptAttachmentProposed"}, headers=api.viewer
    )
    assert other.json()["items"] == []
    # One unknown type among known ones is refused as well: the page would omit it silently.
    mixed = await api.client.get(
        f"{API}/events",
        params={"type": ["PatternSuggested", "PatternSugested"]},
        headers=api.viewer,
    )
    problem = assert_problem(mixed, 400, "validation-failed")
    assert "'PatternSugested' is not one of: " in problem["detail"]


async def test_a_parameter_that_takes_one_value_given_twice_is_a_400_naming_it(
    api: Api,
) -> None:
    document = await _document(api)
    checked = set()
    for method, path, operation_id, parameter in _query_parameters(document):
        name, schema = parameter["name"], parameter["schema"]
        if _repeatable(schema):
            continue
        checked.add((operation_id, name))
        value = _valid(schema)
        response = await api.client.request(
            method, path, params=[(name, value), (name, value)], headers=_root(api)
        )
        problem = assert_problem(response, 400, "validation-failed")
        assert [e["field"] for e in problem["errors"]] == [name], (operation_id, problem)
        assert "more than once" in problem["detail"], problem
    assert {
        ("listEvents", "limit"),
        ("listEvents", "after"),
        ("listEvents", "from"),
        ("getVatReport", "year"),
        ("getTrialBalance", "format"),
        ("listClosedPeriods", "kind"),
        ("getCostReport", "groupBy"),
        ("getPriceTable", "source"),
        ("checkCosts", "to"),
    } <= checked


async def test_a_parameter_that_takes_several_values_takes_them(api: Api) -> None:
    approved = await api.propose("PatternSuggested", pattern())
    assert (await api.approve(approved["proposalId"])).status_code == 200
    await api.propose("PatternSuggested", pattern(merchant="Slack"))
    await api.propose("PatternSuggested", pattern(merchant="Zoom"))
    decided = await api.client.get(f"{API}/proposals/{approved['proposalId']}", headers=api.viewer)
    step = decided.json()["status"]  # APPROVED, or EXECUTED when applied at once
    assert step != "PROPOSED"
    both = await api.client.get(
        f"{API}/proposals",
        params=[("status", "PROPOSED"), ("status", step), ("kind", "pattern_suggestion")],
        headers=api.viewer,
    )
    assert both.status_code == 200, both.text
    assert sorted(p["status"] for p in both.json()["items"]) == sorted([step, *["PROPOSED"] * 2])
    events = await api.client.get(
        f"{API}/events",
        params=[("type", "PatternApproved"), ("type", "PatternSuggested"), ("limit", "5")],
        headers=api.viewer,
    )
    assert events.status_code == 200, events.text
    assert sorted(e["type"] for e in events.json()["items"]) == [
        "PatternApproved",
        *["PatternSuggested"] * 3,
    ]


async def test_a_range_backwards_is_a_400_naming_from_on_every_route(api: Api) -> None:
    document = await _document(api)
    ranged: dict[str, tuple[str, str, dict[str, Any]]] = {}
    names: dict[str, set[str]] = {}
    for method, path, operation_id, parameter in _query_parameters(document):
        names.setdefault(operation_id, set()).add(parameter["name"])
        if parameter["name"] == "from":
            ranged[operation_id] = (method, path, parameter["schema"])
    ranged = {o: r for o, r in ranged.items() if "to" in names[o]}
    assert {
        "listEvents",
        "getApprovalRate",
        "getTrialBalance",
        "getIncomeStatement",
        "getGeneralLedger",
        "exportSaftFinancial",
        "listBankTransactions",
        "getCostReport",
        "pullCosts",
        "checkCosts",
    } <= ranged.keys()
    for operation_id, (method, path, schema) in ranged.items():
        timestamps = "date-time" in {s.get("format") for s in _schemas(schema)}
        later, earlier = (
            ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z")
            if timestamps
            else ("2026-11-02", "2026-11-01")
        )
        response = await api.client.request(
            method, path, params={"from": later, "to": earlier}, headers=_root(api)
        )
        problem = assert_problem(response, 400, "validation-failed")
        assert [e["field"] for e in problem["errors"]] == ["from"], (operation_id, problem)
        assert problem["detail"] == f"from: {later} is after to ({earlier})", problem


async def test_a_range_of_one_day_is_no_range_backwards(api: Api) -> None:
    for path in ("reports/trial-balance", "bank/transactions", "reports/costs"):
        response = await api.client.get(
            f"{API}/{path}", params={"from": "2026-11-01", "to": "2026-11-01"}, headers=_root(api)
        )
        assert response.status_code != 400, (path, response.text)
    same = await api.client.get(
        f"{API}/events",
        params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T00:00:00+00:00"},
        headers=_root(api),
    )
    assert same.status_code == 200, same.text


async def test_a_missing_required_parameter_is_named_in_the_problems_errors(api: Api) -> None:
    """`GET /reports/general-ledger` without `account` (or the VAT report without `term`)
    answered "Missing required query parameter 'account' for path …" and no `errors`:
    the one 400 a client could not read by field, as every other bad parameter is. Each
    required query parameter of the OpenAPI document, left out, is named there now."""
    document = await _document(api)
    by_operation: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for method, path, operation_id, parameter in _query_parameters(document):
        by_operation.setdefault((method, path, operation_id), []).append(parameter)
    checked = set()
    for (method, path, operation_id), parameters in by_operation.items():
        required = [p for p in parameters if p.get("required")]
        for left_out in required:
            params = {p["name"]: _valid(p["schema"]) for p in required if p is not left_out}
            response = await api.client.request(method, path, params=params, headers=_root(api))
            problem = assert_problem(response, 400, "validation-failed")
            name = left_out["name"]
            assert problem.get("errors") == [
                {"field": name, "source": "query", "message": "required"}
            ], (operation_id, problem)
            assert f"'{name}'" in problem["detail"] and "required" in problem["detail"]
            checked.add((operation_id, name))
    assert {("getGeneralLedger", "account"), ("getVatReport", "term")} <= checked, checked
