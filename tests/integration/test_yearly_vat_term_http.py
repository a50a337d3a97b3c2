"""The yearly VAT term (årstermin, ADR 0064) over HTTP on SQLite and PostgreSQL: an admin
sets `vatTerm: "yearly"` in the review rules, the VAT report is the calendar year whatever
term is asked, due on 10 March of the next year, the lock of a term locks the year, and the
web page names the yearly term."""

from __future__ import annotations

from typing import Any

from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api
from tests.integration.test_web_pages import APP, login


def _sale(day: str) -> dict[str, Any]:
    return {
        "date": day,
        "description": "Salg",
        "lines": [
            {"account": "1500", "debit": "1250.00"},
            {"account": "3000", "credit": "1000.00", "vatCode": "3", "vatPart": "base"},
            {"account": "2700", "credit": "250.00", "vatCode": "3", "vatPart": "tax"},
        ],
    }


async def test_a_yearly_company_reports_the_year_due_on_10_march(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, _ = fiken_world
    admin = api.headers("ada", "admin")
    accountant = api.headers("anna", "accountant")
    refused = await api.client.put(
        f"{API}/rules/review-rules", json={"vatTerm": "monthly"}, headers=admin
    )
    assert refused.status_code in (400, 422), refused.text
    saved = await api.client.put(
        f"{API}/rules/review-rules", json={"vatTerm": "yearly"}, headers=admin
    )
    assert saved.status_code == 200, saved.text
    shown = await api.client.get(f"{API}/rules/review-rules", headers=admin)
    assert shown.json()["vatTerm"] == "yearly"

    for day in ("2026-02-03", "2026-11-02"):
        posted = await api.client.post(
            f"{API}/journal-entries", json=_sale(day), headers=accountant
        )
        assert posted.status_code == 201, posted.text

    for term in (1, 6):
        report = await api.client.get(
            f"{API}/reports/vat", params={"year": 2026, "term": term}, headers=api.viewer
        )
        assert report.status_code == 200, report.text
        body = report.json()
        assert (body["start"], body["end"], body["dueDate"], body["termLength"]) == (
            "2026-01-01",
            "2026-12-31",
            "2027-03-10",
            "yearly",
        )
        assert (body["outputVat"], body["payable"]) == ("500.00", "500.00")

    await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/reports/vat?year=2026&term=1")).text
    assert "2026 (årstermin)" in page and "10.03.2027" in page

    locked = await api.client.post(f"{API}/rules/vat-terms/2026/1/lock", headers=accountant)
    assert locked.status_code == 201, locked.text
    period = locked.json()
    assert (period["start"], period["end"]) == ("2026-01-01", "2026-12-31")
    late = await api.client.post(
        f"{API}/journal-entries", json=_sale("2026-09-15"), headers=accountant
    )
    assert late.status_code == 409, late.text
