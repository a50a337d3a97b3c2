"""The VAT report of the self-assessed import of goods (81–85) and the other standard codes
(51, 32) through the real app on SQLite and PostgreSQL: JSON, CSV and the web page show
each code as the return does, and the totals count both sides (ADR 0047 addendum 3)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import API, Api, running_api, sqlite_container
from tests.integration.test_web_pages import APP, login


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


def _line(account: str, side: str, amount: str, code: str | None = None, part: str = "base") -> Any:
    line: dict[str, str] = {"account": account, side: amount}
    if code is not None:
        line |= {"vatCode": code, "vatPart": part}
    return line


def customs(code: str, basis: str, vat: str, deduction: str | None) -> dict[str, Any]:
    """A customs declaration as Fiken's "fri postering" books it: the cost account on both
    sides (the basis under the code), the calculated VAT credited to 2700 and deducted on
    the rate's input account — or, without deduction, a cost."""
    lines = [_line("4300", "debit", basis, code), _line("4300", "credit", basis)]
    if vat != "0.00":
        lines.append(_line("2700", "credit", vat, code, "tax"))
        lines.append(
            _line(deduction, "debit", vat, code, "tax")
            if deduction
            else _line("4300", "debit", vat)
        )
    return {"date": "2026-03-12", "description": f"Tolldeklarasjon {code}", "lines": lines}


ENTRIES = [
    customs("81", "1000.00", "250.00", "2710"),
    customs("82", "400.00", "100.00", None),
    customs("83", "200.00", "30.00", "2711"),
    customs("84", "100.00", "15.00", None),
    customs("85", "300.00", "0.00", None),
    {
        "date": "2026-04-02",
        "description": "Gull til næringsdrivende",
        "lines": [_line("1500", "debit", "5000.00"), _line("3100", "credit", "5000.00", "51")],
    },
    {
        "date": "2026-04-03",
        "description": "Råfisk",
        "lines": [
            _line("1500", "debit", "1111.10"),
            _line("3000", "credit", "1000.00", "32"),
            _line("2700", "credit", "111.10", "32", "tax"),
        ],
    },
]

EXPECTED = [
    ("32", "11.11", "output", "1000.00", "111.10"),
    ("51", "0", "output", "5000.00", "0.00"),
    ("81", "25", "output", "1000.00", "250.00"),
    ("81", "25", "input", "0.00", "250.00"),
    ("82", "25", "output", "400.00", "100.00"),
    ("83", "15", "output", "200.00", "30.00"),
    ("83", "15", "input", "0.00", "30.00"),
    ("84", "15", "output", "100.00", "15.00"),
    ("85", "0", "output", "300.00", "0.00"),
]


async def test_the_vat_report_shows_the_import_of_goods_as_the_return_does(api: Api) -> None:
    accountant = api.headers("anna", "accountant", tenant="acme")
    for body in ENTRIES:
        posted = await api.client.post(f"{API}/journal-entries", json=body, headers=accountant)
        assert posted.status_code == 201, posted.text
    params = {"year": 2026, "term": 2}

    report = await api.client.get(f"{API}/reports/vat", params=params, headers=api.viewer)
    assert report.status_code == 200, report.text
    body = report.json()
    assert [
        (x["vatCode"], x["rate"], x["direction"], x["base"], x["vat"]) for x in body["lines"]
    ] == EXPECTED
    assert (body["outputVat"], body["inputVat"], body["payable"]) == (
        "506.10",
        "280.00",
        "226.10",
    )

    exported = await api.client.get(
        f"{API}/reports/vat", params={**params, "format": "csv"}, headers=api.viewer
    )
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["vatCode", "rate", "direction", "base", "vat"]
    assert [tuple(row) for row in rows[1 : len(EXPECTED) + 1]] == EXPECTED
    assert rows[len(EXPECTED) + 1 :] == [
        ["inputVat", "", "", "", "280.00"],
        ["outputVat", "", "", "", "506.10"],
        ["payable", "", "", "", "226.10"],
    ]

    await login(api, "vera", "viewer")
    page = await api.client.get(f"{APP}/reports/vat?year=2026&term=2")
    assert page.status_code == 200
    body_html, _, foot_html = page.text.partition("</tbody>")
    rows_shown = [
        tuple(cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)[:3])
        for row in re.findall(r"<tr>(.*?)</tr>", body_html, re.S)
        if "<td" in row
    ]
    assert rows_shown == [(code, rate, way) for code, rate, way, _, _ in EXPECTED]
    # Output, input, payable, as the page writes amounts.
    assert re.findall(r"<td[^>]*>(?:<strong>)?([^<]*)", foot_html)[:3] == [
        "506,10",
        "280,00",
        "226,10",
    ]
