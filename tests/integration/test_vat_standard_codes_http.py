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


NB_DIRECTION = {"output": "Utgående", "input": "Inngående"}


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
    assert rows[0] == [
        "vatCode", "rate", "direction", "base", "vat", "side", "inReturn", "note",
        "deviation", "remark",
    ]  # fmt: skip
    assert [tuple(row) for row in rows[1 : len(EXPECTED) + 1]] == [
        (*line, "", "true", "", "", "") for line in EXPECTED
    ]
    assert rows[len(EXPECTED) + 1 :] == [  # no note: the company is VAT-registered
        ["inputVat", "", "", "", "280.00", "", "", "", "", ""],
        ["outputVat", "", "", "", "506.10", "", "", "", "", ""],
        ["payable", "", "", "", "226.10", "", "", "", "", ""],
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
    # The direction and the rate (decimal comma) as the page's language (Norwegian by
    # default) says them.
    assert rows_shown == [
        (code, rate.replace(".", ","), NB_DIRECTION[way]) for code, rate, way, _, _ in EXPECTED
    ]
    # Output, input, payable, as the page writes amounts.
    assert re.findall(r"<td[^>]*>(?:<strong>)?([^<]*)", foot_html)[:3] == [
        "506,10",
        "280,00",
        "226,10",
    ]


def _entry(day: str, text: str, *lines: Any) -> dict[str, Any]:
    return {"date": f"2026-{day}", "description": text, "lines": list(lines)}


#: A term with codes the return has no line for, a sale and a purchase under 6, and
#: import VAT paid at the border (14) with its customs value (21).
APART_ENTRIES = [
    _entry("03-02", "Husleie (utenfor loven)", _line("1920", "debit", "800.00"),
           _line("3100", "credit", "800.00", "6")),
    _entry("03-03", "Kjøp utenfor loven", _line("6300", "debit", "100.00", "6"),
           _line("1920", "credit", "100.00")),
    _entry("03-04", "Salg uten mva-behandling", _line("1500", "debit", "200.00"),
           _line("3900", "credit", "200.00", "7")),
    _entry("03-05", "Kreditnota", _line("3900", "debit", "50.00", "7"),
           _line("1500", "credit", "50.00")),
    _entry("03-06", "Kjøp uten mva-behandling", _line("6800", "debit", "300.00", "0"),
           _line("1920", "credit", "300.00")),
    _entry("03-07", "Innførselsmva betalt ved grensen", _line("4300", "debit", "1000.00", "14"),
           _line("2710", "debit", "250.00", "14", "tax"), _line("2400", "credit", "1250.00")),
    _entry("03-08", "Tollverdi", _line("4300", "debit", "2000.00", "21"),
           _line("4300", "credit", "2000.00")),
    _entry("03-09", "Varekostnad import uten mva", _line("4300", "debit", "400.00", "20"),
           _line("2400", "credit", "400.00")),
]  # fmt: skip
#: (vatCode, rate, direction, base, vat, side): 6's sale and 7's turnover positive (the
#: credit note taking 50 off), 14 with its VAT only in the return, its basis apart.
APART_RETURN = [
    ("6", None, None, "800.00", "0.00", "sales"),
    ("14", "25", "input", "0.00", "250.00", None),
]
APART = [
    ("0", "0", None, "300.00", "0.00", "purchases"),
    ("6", None, None, "100.00", "0.00", "purchases"),
    ("7", "0", None, "150.00", "0.00", "sales"),
    ("14", "25", "input", "1000.00", "0.00", None),
    ("20", "0", None, "400.00", "0.00", "purchases"),
    ("21", "25", "input", "2000.00", "0.00", None),
]


def _csv_cell(value: str | None) -> str:
    return "" if value is None else value


def _six(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["vatCode"], line["rate"], line["direction"], line["base"], line["vat"],
            line["side"])  # fmt: skip


async def test_what_the_return_has_no_line_for_is_shown_apart(api: Api) -> None:
    """ADR 0047 addendum 4: the report's lines are the return's (14 with its VAT only, a
    sale outside the Act under 6 as a positive turnover); 0, 7, 20, 21, a purchase under
    6 and 14's basis are listed apart, outside the totals — as JSON, CSV and on the page,
    whose direction column is translated (nb and en)."""
    accountant = api.headers("anna", "accountant", tenant="acme")
    for body in APART_ENTRIES:
        posted = await api.client.post(f"{API}/journal-entries", json=body, headers=accountant)
        assert posted.status_code == 201, posted.text
    params = {"year": 2026, "term": 2}

    report = await api.client.get(f"{API}/reports/vat", params=params, headers=api.viewer)
    assert report.status_code == 200, report.text
    body = report.json()
    assert [_six(x) for x in body["lines"]] == APART_RETURN
    assert [_six(x) for x in body["notInReturn"]] == APART
    assert (body["outputVat"], body["inputVat"], body["payable"]) == ("0.00", "250.00", "-250.00")

    exported = await api.client.get(
        f"{API}/reports/vat", params={**params, "format": "csv"}, headers=api.viewer
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[1:] == [
        *([*map(_csv_cell, line), "true", "", "", ""] for line in APART_RETURN),
        ["inputVat", "", "", "", "250.00", "", "", "", "", ""],
        ["outputVat", "", "", "", "0.00", "", "", "", "", ""],
        ["payable", "", "", "", "-250.00", "", "", "", "", ""],
        *([*map(_csv_cell, line), "false", "", "", ""] for line in APART),
    ]

    await login(api, "vera", "viewer")
    for lang, words in (
        ("nb", {"input": "Inngående", "sales": "Salg", "purchases": "Kjøp"}),
        ("en", {"input": "Input", "sales": "Sales", "purchases": "Purchases"}),
    ):
        page = await api.client.get(f"{APP}/reports/vat?year=2026&term=2&lang={lang}")
        assert page.status_code == 200
        in_return, _, rest = page.text.partition("</tbody>")
        apart_html = rest.partition('class="not-in-return"')[2]
        assert apart_html, "the page shows what is not in the return"
        for html, expected in ((in_return, APART_RETURN), (apart_html, APART)):
            shown = [
                tuple(cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)[:3])
                for row in re.findall(r"<tr>(.*?)</tr>", html.partition("</tbody>")[0], re.S)
                if "<td" in row
            ]
            assert shown == [
                (code, rate or "", words[way or side]) for code, rate, way, _, _, side in expected
            ]


async def test_the_openapi_document_types_what_is_not_in_the_return(api: Api) -> None:
    """The added fields are in the schema: `notInReturn` a list of the lines, `side` on a
    line; the existing fields stay required (a client of the old shape reads on)."""
    schema = (await api.client.get("/schema/openapi.json")).json()
    components = schema["components"]["schemas"]
    report, line = components["VatReportOut"], components["VatLineOut"]
    assert report["properties"]["notInReturn"]["type"] == "array"
    assert report["properties"]["notInReturn"]["items"] == {
        "$ref": "#/components/schemas/VatLineOut"
    }
    assert {"lines", "inputVat", "outputVat", "payable"} <= set(report["required"])
    assert "notInReturn" not in report["required"]
    assert "side" in line["properties"] and "side" not in line["required"]
    assert {"vatCode", "rate", "direction", "base", "vat"} <= set(line["required"])
