"""No input reaches a 500 (ADR 0021): integers beyond a BIGINT, dates outside the window
1900-01-01..2200-12-31 on every date query parameter, JSON bodies nested without end, and
a download answers with a content type its operation documents. On SQLite, the real
storage, so a cursor beyond the column's range would reach the driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.entrypoints.http.decoding import MAX_DEPTH
from bookkeeper.entrypoints.http.params import EARLIEST, LATEST
from tests.http_helpers import API, Api, assert_problem, receipt, running_api, sqlite_container

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OUTSIDE = ["0001-01-01", "1899-12-31", "2201-01-01", "9999-12-31"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path, container=sqlite_container(tmp_path)) as running:
        yield running


def _root(api: Api) -> dict[str, str]:
    return api.headers("root", "admin", "accountant")


def _dated_parameters(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, str]]]:
    """(path, parameter, format, other required query parameters) of every GET with a date
    or timestamp query parameter, read from the document so new routes are covered."""
    found = []
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None or "{" in path:
            continue
        parameters = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        required = {p["name"]: _valid_value(p["schema"]) for p in parameters if p.get("required")}
        for parameter in parameters:
            schema = parameter["schema"]
            formats = {s.get("format") for s in [schema, *schema.get("oneOf", [])]}
            for fmt in formats & {"date", "date-time"}:
                found.append((path, parameter["name"], fmt, required))
    return found


def _valid_value(schema: dict[str, Any]) -> str:
    options = [schema, *schema.get("oneOf", [])]
    if any(s.get("format") == "date" for s in options):
        return "2026-01-01"
    if any(s.get("format") == "date-time" for s in options):
        return "2026-01-01T00:00:00Z"
    if any(s.get("type") == "integer" for s in options):
        return str(int(schema.get("minimum", 1)))
    return "1920"


async def test_every_date_query_parameter_refuses_dates_outside_the_window(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    dated = _dated_parameters(document)
    paths = {path for path, *_ in dated}
    assert {f"{API}/bank/transactions", f"{API}/reports/trial-balance"} <= paths
    for path, name, fmt, required in dated:
        for day in OUTSIDE:
            value = day if fmt == "date" else f"{day}T00:00:00Z"
            params = {**required, name: value}
            response = await api.client.get(path, params=params, headers=_root(api))
            body = assert_problem(response, 400, "validation-failed")
            assert body["errors"][0]["field"] == name, (path, body)
            assert EARLIEST.isoformat() in body["detail"], body


async def test_every_integer_query_parameter_is_bounded_or_clamped(api: Api) -> None:
    """An unbounded integer would reach a BIGINT column (or a range() or a date) as it came:
    each declares its minimum and maximum, or says it is clamped (then it is, see
    test_http_hardening)."""
    document = (await api.client.get("/schema/openapi.json")).json()
    integers = 0
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                if parameter["in"] != "query" or schema.get("type") != "integer":
                    continue
                integers += 1
                clamped = "clamped" in (parameter.get("description") or "")
                bounded = "minimum" in schema and "maximum" in schema
                assert bounded or clamped, (path, parameter["name"])
                if bounded:
                    assert schema["maximum"] <= 2**63 - 1, (path, parameter["name"])
    assert integers >= 3


async def test_the_edges_of_the_window_are_accepted(api: Api) -> None:
    for start, end in ((EARLIEST, EARLIEST), (LATEST, LATEST)):
        response = await api.client.get(
            f"{API}/reports/trial-balance",
            params={"from": start.isoformat(), "to": end.isoformat()},
            headers=_root(api),
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", ["events", "proposals"])
@pytest.mark.parametrize("after", [2**53, 2**63, 10**20, -(2**63) - 1])
async def test_a_cursor_beyond_the_column_is_a_400(api: Api, route: str, after: int) -> None:
    response = await api.client.get(
        f"{API}/{route}", params={"after": str(after)}, headers=_root(api)
    )
    body = assert_problem(response, 400, "validation-failed")
    assert body["errors"][0]["field"] == "after"


@pytest.mark.parametrize("route", ["events", "proposals"])
async def test_the_largest_documented_cursor_pages_to_nothing(api: Api, route: str) -> None:
    response = await api.client.get(
        f"{API}/{route}", params={"after": str(2**53 - 1)}, headers=_root(api)
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


@pytest.mark.parametrize("opening", ["[", '{"a":'])
async def test_a_body_nested_ten_thousand_deep_is_a_400(api: Api, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    deep = opening * 10_000 + "1" + closing * 10_000
    body = '{"type":"ReceiptAttachmentProposed","data":{"x":' + deep + "}}"
    response = await api.client.post(
        f"{API}/events", content=body, headers=api.agent | {"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 400, "validation-failed")
    assert f"more than {MAX_DEPTH} levels" in problem["detail"]
    # Nothing was stored.
    listed = await api.client.get(f"{API}/events", headers=_root(api))
    assert listed.json()["items"] == []


async def test_brackets_inside_strings_do_not_count_as_nesting(api: Api) -> None:
    text = "[" * (MAX_DEPTH * 4)
    response = await api.submit(
        "ReceiptAttachmentProposed", receipt(merchantName="Adobe " + text, documentNumber="B-1")
    )
    assert response.status_code == 201, response.text


async def test_a_download_answers_with_a_documented_content_type(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    declared = document["paths"][f"{API}/files/{{sha256}}"]["get"]["responses"]["200"]["content"]
    uploaded = await api.client.post(
        f"{API}/files", content=PNG, headers=api.agent | {"Content-Type": "image/png"}
    )
    assert uploaded.status_code == 201, uploaded.text
    download = await api.client.get(f"{API}/files/{uploaded.json()['sha256']}", headers=api.viewer)
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-type"] in declared
