"""Issue 12 over HTTP on SQLite and PostgreSQL (migration 0016): a closed period refuses
postings dated into it with a 409 problem naming the period, a correction goes into an
open period, and a tax-rate change on a date changes the VAT report from that date on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import API, Api, assert_problem, problem_fields, running_api
from tests.integration.test_http_role_matrix import policy_container


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    async with running_api(tmp_path, container=policy_container(tmp_path, url)) as running:
        yield running


def rent(day: str, amount: str = "1000.00", **fields: Any) -> dict[str, Any]:
    return {
        "date": day,
        "description": "Husleie",
        "lines": [
            {"account": "6300", "debit": amount},
            {"account": "1920", "credit": amount},
        ],
        **fields,
    }


def purchase(day: str, net: str, vat: str, code: str = "13") -> dict[str, Any]:
    gross = f"{float(net) + float(vat):.2f}"  # test data only; the service never sees floats
    return {
        "date": day,
        "description": "Reise",
        "lines": [
            {"account": "7140", "debit": net, "vatCode": code, "vatPart": "base"},
            {"account": "2713", "debit": vat, "vatCode": code, "vatPart": "tax"},
            {"account": "1920", "credit": gross},
        ],
    }


async def test_a_closed_period_refuses_postings_with_a_409_naming_it(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    admin = api.headers("ada", "admin")
    closed = await api.client.post(
        f"{API}/rules/periods",
        json={"start": "2026-01-01", "end": "2026-01-31"},
        headers=accountant,
    )
    assert closed.status_code == 201, closed.text
    assert closed.json()["name"] == "2026-01"
    again = await api.client.post(
        f"{API}/rules/periods",
        json={"start": "2026-01-01", "end": "2026-01-31"},
        headers=accountant,
    )
    assert again.status_code == 201 and again.json()["closedAt"] == closed.json()["closedAt"]

    refused = await api.client.post(
        f"{API}/journal-entries", json=rent("2026-01-15"), headers=accountant
    )
    body = assert_problem(refused, 409, "period-closed")
    assert "2026-01" in body["detail"]
    # Nothing was written: the trial balance of January is empty.
    balance = await api.client.get(
        f"{API}/reports/trial-balance",
        params={"from": "2026-01-01", "to": "2026-01-31"},
        headers=accountant,
    )
    assert balance.status_code == 200 and balance.json()["accounts"] == []

    # The correction goes into an open period.
    posted = await api.client.post(
        f"{API}/journal-entries", json=rent("2026-02-01"), headers=accountant
    )
    assert posted.status_code == 201, posted.text

    listed = await api.client.get(f"{API}/rules/periods", headers=accountant)
    assert [p["name"] for p in listed.json()] == ["2026-01"]
    assert (
        await api.client.delete(f"{API}/rules/periods/period/2026-01-01", headers=accountant)
    ).status_code == 403
    reopened = await api.client.delete(f"{API}/rules/periods/period/2026-01-01", headers=admin)
    assert reopened.status_code == 204
    assert (
        await api.client.post(f"{API}/journal-entries", json=rent("2026-01-15"), headers=accountant)
    ).status_code == 201


async def test_a_rate_change_on_a_date_changes_the_vat_report_from_that_date(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    admin = api.headers("ada", "admin")

    async def report() -> list[tuple[str, str | None, str, str]]:
        got = await api.client.get(
            f"{API}/reports/vat", params={"year": 2027, "term": 1}, headers=accountant
        )
        assert got.status_code == 200, got.text
        return [(x["vatCode"], x["rate"], x["base"], x["vat"]) for x in got.json()["lines"]]

    for day in ("2027-01-20", "2027-02-20"):
        posted = await api.client.post(
            f"{API}/journal-entries", json=purchase(day, "1000.00", "120.00"), headers=accountant
        )
        assert posted.status_code == 201, posted.text
    before = await report()
    assert before == [("13", "12", "2000.00", "240.00")]

    changed = await api.client.post(
        f"{API}/rules/tax-rates",
        json={"saftCode": "13", "rate": "10", "validFrom": "2027-02-01"},
        headers=admin,
    )
    assert changed.status_code == 201, changed.text
    assert changed.json()["rate"] == "10.00" and changed.json()["account"] == "2713"
    rates = await api.client.get(
        f"{API}/rules/tax-rates", params={"on": "2027-01-31", "country": "NO"}, headers=accountant
    )
    assert {r["saftCode"]: r["rate"] for r in rates.json()}["13"] == "12.00"

    after = await report()
    # January's purchase keeps 12 %; February's is reported at the 10 % valid from 1 February.
    assert after == [
        ("13", "10", "1000.00", "120.00"),
        ("13", "12", "1000.00", "120.00"),
    ]

    # A change that starts before the code's latest rate is refused, not a 500.
    refused = await api.client.post(
        f"{API}/rules/tax-rates",
        json={"saftCode": "13", "rate": "11", "validFrom": "2026-06-01"},
        headers=admin,
    )
    assert_problem(refused, 422, "invalid-rule")
    bad = await api.client.post(
        f"{API}/rules/tax-rates",
        json={"saftCode": "13", "rate": "eleven", "validFrom": "2028-01-01"},
        headers=admin,
    )
    assert bad.status_code == 400


async def test_a_rate_change_reaches_only_the_changing_tenants_vat_report(api: Api) -> None:
    """ADR 0040: another tenant's admin changing code 13 from 1 February leaves this
    tenant's VAT report at the default 12 %; this tenant's own change then moves it."""
    accountant = api.headers("anna", "accountant")

    async def report() -> list[tuple[str, str | None]]:
        got = await api.client.get(
            f"{API}/reports/vat", params={"year": 2027, "term": 1}, headers=accountant
        )
        assert got.status_code == 200, got.text
        return [(x["vatCode"], x["rate"]) for x in got.json()["lines"]]

    posted = await api.client.post(
        f"{API}/journal-entries",
        json=purchase("2027-02-20", "1000.00", "120.00"),
        headers=accountant,
    )
    assert posted.status_code == 201, posted.text
    other = api.headers("olga", "admin", tenant="other-company")
    changed = await api.client.post(
        f"{API}/rules/tax-rates",
        json={"saftCode": "13", "rate": "10", "validFrom": "2027-02-01"},
        headers=other,
    )
    assert changed.status_code == 201, changed.text
    assert await report() == [("13", "12")]

    own = await api.client.post(
        f"{API}/rules/tax-rates",
        json={"saftCode": "13", "rate": "10", "validFrom": "2027-02-01"},
        headers=api.headers("ada", "admin"),
    )
    assert own.status_code == 201, own.text
    assert await report() == [("13", "10")]


async def test_review_rules_and_currencies_over_http(api: Api) -> None:
    admin = api.headers("ada", "admin")
    changed = await api.client.put(
        f"{API}/rules/review-rules", json={"twoApproversAbove": "20000"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    got = await api.client.get(f"{API}/rules/review-rules", headers=api.reviewer)
    assert got.json()["twoApproversAbove"] == "20000.00"
    refused = await api.client.put(
        f"{API}/rules/review-rules", json={"twoApproversAbove": "lots"}, headers=admin
    )
    # Not a number at all: refused where every misspelt number is, naming the field
    # (ADR 0049, second addendum), and nothing kept.
    problem = assert_problem(refused, 422)
    assert problem_fields(problem) == {"$.twoApproversAbove"}
    kept = await api.client.get(f"{API}/rules/review-rules", headers=api.reviewer)
    assert kept.json()["twoApproversAbove"] == "20000.00"
    currencies = await api.client.get(f"{API}/rules/currencies", headers=admin)
    units = {c["code"]: c["minorUnits"] for c in currencies.json()}
    assert (units["NOK"], units["JPY"], units["BHD"]) == (2, 0, 3)
    countries = await api.client.get(f"{API}/rules/countries", headers=admin)
    assert {c["code"]: c["currency"] for c in countries.json()}["NO"] == "NOK"
