"""Spending over HTTP, end to end: the real container with the Anthropic Admin API, Google's
BigQuery billing export, Cloudflare and Norges Bank as loopback fakes; pulls recorded as
cost snapshots, the cost report in the source currency and NOK (JSON and CSV), budgets and
their alerts, price tables, and /health naming the sources that are absent."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from bookkeeper.application.event_log import cost_snapshot_id
from bookkeeper.container import Container, resolve
from bookkeeper.settings import Settings
from tests.fakes.anthropic_admin import CostRow, FakeAnthropicAdmin
from tests.fakes.bigquery import PROJECT, TABLE, ExportRow, FakeBigQuery
from tests.fakes.cloudflare import ACCOUNT, TOKEN, FakeCloudflare, Invocations
from tests.fakes.norges_bank import FakeNorgesBank
from tests.fakes.server import serve_in_thread
from tests.http_helpers import API, Api, FixedClock, MemoryDatabase, assert_problem, running_api

D = Decimal
NOV = dt.date(2026, 11, 1)
SYSTEM = ("system:cron", "system")


def day(n: int) -> dt.date:
    return NOV + dt.timedelta(days=n)


@dataclass
class Fakes:
    anthropic: FakeAnthropicAdmin
    google: FakeBigQuery
    cloudflare: FakeCloudflare
    norges_bank: FakeNorgesBank


@pytest.fixture
def fakes() -> Iterator[tuple[Fakes, dict[str, str]]]:
    state = Fakes(FakeAnthropicAdmin(), FakeBigQuery(), FakeCloudflare(), FakeNorgesBank())
    with (
        serve_in_thread(state.anthropic.app) as anthropic_url,
        serve_in_thread(state.google.app) as google_url,
        serve_in_thread(state.cloudflare.app) as cloudflare_url,
        serve_in_thread(state.norges_bank.app) as norges_url,
    ):
        state.google.url = google_url
        yield (
            state,
            {
                "anthropic": anthropic_url,
                "google": f"{google_url}/bigquery/v2",
                "cloudflare": f"{cloudflare_url}/client/v4",
                "norges": f"{norges_url}/api",
            },
        )


@pytest.fixture
async def api(
    tmp_path: Path, fakes: tuple[Fakes, dict[str, str]]
) -> AsyncIterator[tuple[Api, Fakes]]:
    state, urls = fakes
    key_file = tmp_path / "google-key.json"
    key_file.write_text(json.dumps(state.google.key_info()), encoding="utf-8")
    settings = Settings.for_data_dir(
        tmp_path / "data",
        anthropic_admin_key="sk-ant-admin01-secret",
        anthropic_admin_base_url=urls["anthropic"],
        google_billing_key_file=key_file,
        google_billing_table=TABLE,
        google_billing_project=PROJECT,
        google_bigquery_url=urls["google"],
        cloudflare_token=TOKEN,
        cloudflare_account=ACCOUNT,
        cloudflare_base_url=urls["cloudflare"],
        norges_bank_url=urls["norges"],
    )
    container = Container()
    container.settings.override(providers.Object(settings))
    container.clock.override(providers.Object(FixedClock()))  # 2026-11-20 09:00 UTC
    container.database.override(providers.Object(MemoryDatabase()))
    container.redacted_database_url.override(providers.Object("memory://"))
    async with running_api(tmp_path, container=container) as running:
        yield running, state


def usd_rates(state: Fakes) -> None:
    for n in range(-5, 30):
        published = day(n)
        if published.weekday() < 5:
            state.norges_bank.rates[("USD", published)] = D("11.00") + D(n) / 100


async def pull(api: Api, start: dt.date, end: dt.date) -> dict[str, Any]:
    response = await api.client.post(
        f"{API}/spending/pull",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers=api.headers(*SYSTEM),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def report(api: Api, **params: str) -> Any:
    response = await api.client.get(
        f"{API}/reports/costs", params=params, headers=api.headers("vera", "viewer")
    )
    assert response.status_code == 200, response.text
    return response


async def test_four_sources_pulled_once_reported_in_their_currency_and_nok(
    api: tuple[Api, Fakes],
) -> None:
    client, state = api
    usd_rates(state)
    state.anthropic.costs.append(CostRow(day=day(2), model="claude-haiku-4-5", amount_cents="250"))
    state.google.rows.append(ExportRow(day(2), "Vertex AI", "Gemini Flash", "1.50", ("-0.50",)))
    state.cloudflare.usage.append(Invocations(day(2), "api", 2_000_000, cpu_time_us=10**9))
    first = await pull(client, day(0), day(4))
    assert (first["recorded"], first["revised"], first["failed"]) == (3, 0, {})
    again = await pull(client, day(0), day(4))
    assert (again["recorded"], again["revised"], again["unchanged"]) == (0, 0, 3)

    body = (await report(client, **{"from": "2026-11-01", "to": "2026-11-05"})).json()
    rows = {r["group"]: r for r in body["rows"]}
    rate = D("11.02")  # 3 November's
    assert rows["anthropic"]["amount"] == "2.50" and rows["anthropic"]["currency"] == "USD"
    assert D(rows["anthropic"]["amountNok"]) == (D("2.50") * rate).quantize(D("0.01"))
    assert rows["google"]["amount"] == "1.00"
    # Cloudflare: 2M requests, 10M/30 a day free; 1M CPU ms, 1M free a day: an estimate.
    expected_cf = ((D(2_000_000) - D(10_000_000) / 30) * D("0.30") / 1_000_000).quantize(
        D("0.000001")
    )
    assert rows["cloudflare"]["amount"] == str(expected_cf.quantize(D("0.01")))
    assert body["totalNok"] == str(
        sum((D(r["amountNok"]) for r in body["rows"]), D(0)).quantize(D("0.01"))
    )
    by_day = await report(client, **{"from": "2026-11-01", "to": "2026-11-05", "groupBy": "day"})
    assert [r["group"] for r in by_day.json()["rows"]] == ["2026-11-03"]
    as_csv = await report(client, **{"from": "2026-11-01", "to": "2026-11-05", "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(as_csv.text)))
    assert table[0][:4] == ["source", "currency", "amount", "amountNok"]
    assert table[-1][0] == "total" and table[-1][2] == body["totalNok"]


async def test_a_revised_figure_is_reported_as_revised_and_the_log_keeps_both(
    api: tuple[Api, Fakes],
) -> None:
    client, state = api
    usd_rates(state)
    state.anthropic.costs.append(CostRow(day=day(9), model="claude-haiku-4-5", amount_cents="100"))
    await pull(client, day(9), day(9))
    state.anthropic.costs.append(CostRow(day=day(9), model="claude-haiku-4-5", amount_cents="50"))
    revised = await pull(client, day(9), day(9))
    assert revised["revised"] == 1
    body = (await report(client, **{"from": "2026-11-10", "to": "2026-11-10"})).json()
    assert [(r["group"], r["amount"]) for r in body["rows"]] == [("anthropic", "1.50")]
    spending = await resolve(client.container.spending)
    stream = cost_snapshot_id("acme", "anthropic", day(9), "claude-api", "claude-haiku-4-5")
    assert [h.amount for h in await spending.history("acme", stream)] == [D("1"), D("1.5")]


async def test_a_provider_that_is_down_is_named_and_the_rest_recorded(
    api: tuple[Api, Fakes],
) -> None:
    client, state = api
    usd_rates(state)
    state.anthropic.fail_next(5, 503, retry_after="0")  # asked again at once, not 1, 2, 4 s on
    state.google.rows.append(ExportRow(day(2), "Vertex AI", "Gemini Flash", "1.00"))
    state.cloudflare.errors_next("not authorized: missing Account Analytics Read")
    body = await pull(client, day(2), day(2))
    assert set(body["failed"]) == {"anthropic", "cloudflare"}
    # Asked four times: the failure says the source stayed down.
    assert "still down after 4 attempts" in body["failed"]["anthropic"], body["failed"]
    assert body["recorded"] == 1
    assert "sk-ant-admin01-secret" not in json.dumps(body)


async def test_budgets_alert_at_80_and_100_percent_once_each(api: tuple[Api, Fakes]) -> None:
    client, state = api
    usd_rates(state)
    admin = client.headers("ada", "admin")
    refused = await client.client.put(
        f"{API}/spending/budgets",
        json={"source": "anthropic", "monthlyNok": "100.00"},
        headers=client.headers("vera", "viewer"),
    )
    assert_problem(refused, 403)
    for bad in (
        {"monthlyNok": "-1"},
        {"monthlyNok": 5},
        {"monthly": "5"},
        {"monthlyNok": "1e3"},
        {"monthlyNok": "5", "source": "no/such"},
    ):
        response = await client.client.put(
            f"{API}/spending/budgets", json={"source": "anthropic", **bad}, headers=admin
        )
        assert response.status_code == 400, (bad, response.text)
    response = await client.client.put(
        f"{API}/spending/budgets",
        json={"source": "Anthropic", "monthlyNok": "100.00"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    listed = await client.client.get(f"{API}/spending/budgets", headers=client.viewer)
    assert listed.json() == [{"source": "anthropic", "monthlyNok": "100.00"}]
    # 8 USD at 11.01: 88.08 NOK, past 80 %.
    state.anthropic.costs.append(CostRow(day=day(1), model="claude-haiku-4-5", amount_cents="800"))
    first = await pull(client, day(1), day(1))
    assert [(a["threshold"], a["spentNok"]) for a in first["alerts"]] == [(80, "88.08")]
    state.anthropic.costs.append(CostRow(day=day(1), model="claude-sonnet-4-5", amount_cents="200"))
    second = await pull(client, day(1), day(1))
    assert [a["threshold"] for a in second["alerts"]] == [100]
    assert (await pull(client, day(1), day(1)))["alerts"] == []


async def test_price_tables_are_tenant_data(api: tuple[Api, Fakes]) -> None:
    client, state = api
    usd_rates(state)
    default = await client.client.get(
        f"{API}/spending/prices", params={"source": "cloudflare"}, headers=client.viewer
    )
    assert default.status_code == 200
    assert {p["metric"] for p in default.json()["prices"]} == {"requests", "cpuMs"}
    state.cloudflare.usage.append(Invocations(day(2), "api", 1_000_000))
    await pull(client, day(2), day(2))
    response = await client.client.put(
        f"{API}/spending/prices",
        json={
            "source": "cloudflare",
            "currency": "USD",
            "prices": [{"metric": "requests", "price": "1", "per": "1000000"}],
        },
        headers=client.headers("acc", "accountant"),
    )
    assert response.status_code == 200, response.text
    revised = await pull(client, day(2), day(2))
    assert revised["revised"] == 1
    body = (await report(client, **{"from": "2026-11-03", "to": "2026-11-03"})).json()
    assert body["rows"][0]["amount"] == "1.00"
    unknown = await client.client.get(
        f"{API}/spending/prices", params={"source": "nothing"}, headers=client.viewer
    )
    problem = assert_problem(unknown, 400, "validation-failed")
    assert problem["errors"][0]["field"] == "source"
    assert "anthropic, google, cloudflare" in problem["errors"][0]["message"], problem
    # A source the service knows without a table of its own (priced by its bill): none.
    missing = await client.client.get(
        f"{API}/spending/prices", params={"source": "anthropic"}, headers=client.viewer
    )
    assert_problem(missing, 404)


async def test_bad_report_parameters_are_4xx_never_500(api: tuple[Api, Fakes]) -> None:
    client, _ = api
    for params in (
        {"groupBy": "tenant"},
        {"from": "2026-11-05", "to": "2026-11-01"},
        {"from": "yesterday"},
        {"from": "2020-01-01", "to": "2026-11-01"},
    ):
        response = await client.client.get(
            f"{API}/reports/costs", params=params, headers=client.viewer
        )
        # Query parameters the route cannot answer: a 400 naming one (ADR 0007 addendum).
        problem = assert_problem(response, 400, "validation-failed")
        assert problem["errors"][0]["field"] in params, (params, problem)


async def test_health_names_each_source_and_says_which_are_absent(tmp_path: Path) -> None:
    async with running_api(tmp_path) as plain:
        body = (await plain.client.get("/health")).json()
    sources = {s["name"]: s for s in body["spending"]["sources"]}
    assert sources["bookkeeper"]["status"] == "configured"
    for name in ("anthropic", "google", "cloudflare"):
        assert sources[name]["status"] == "absent"
        assert "BOOKKEEPER_" in sources[name]["reason"]


async def test_health_with_every_source_configured(api: tuple[Api, Fakes]) -> None:
    client, _ = api
    body = (await client.client.get("/health")).json()
    assert {s["name"]: s["status"] for s in body["spending"]["sources"]} == {
        "bookkeeper": "configured",
        "anthropic": "configured",
        "google": "configured",
        "cloudflare": "configured",
    }
    assert "secret" not in json.dumps(body)


async def test_a_budget_names_a_known_source_and_one_not_configured_gets_a_warning(
    tmp_path: Path,
) -> None:
    """PUT /spending/budgets kept a budget for "nosuch" (shown as "0,0 % brukt"): an
    unknown source is a 422 naming the known ones. One not configured yet (no credentials
    here) is kept, with a warning saying its costs are not read."""
    async with running_api(tmp_path) as client:
        admin = client.headers("ada", "admin")
        unknown = await client.client.put(
            f"{API}/spending/budgets",
            json={"source": "nosuch", "monthlyNok": "100.00"},
            headers=admin,
        )
        body = assert_problem(unknown, 422, "unknown-source")
        for name in ("bookkeeper", "anthropic", "google", "cloudflare"):
            assert name in body["detail"]
        absent = await client.client.put(
            f"{API}/spending/budgets",
            json={"source": "anthropic", "monthlyNok": "100.00"},
            headers=admin,
        )
        assert absent.status_code == 200, absent.text
        assert "not configured" in absent.json()["warning"]
        listed = await client.client.get(f"{API}/spending/budgets", headers=client.viewer)
        assert listed.json() == [{"source": "anthropic", "monthlyNok": "100.00"}]


async def test_a_price_table_names_a_known_source_as_a_budget_does(tmp_path: Path) -> None:
    """PUT /spending/prices kept a table for any name: the same 422 as a budget's (and
    GET a 400 for it)."""
    table = {"currency": "USD", "prices": [{"metric": "requests", "price": "1"}]}
    async with running_api(tmp_path) as client:
        admin = client.headers("ada", "admin")
        unknown = await client.client.put(
            f"{API}/spending/prices", json={"source": "nosuch", **table}, headers=admin
        )
        body = assert_problem(unknown, 422, "unknown-source")
        for name in ("bookkeeper", "anthropic", "google", "cloudflare"):
            assert name in body["detail"]
        # The same source as a query parameter: a 400 naming it and the known ones, as
        # any query value outside its set (ADR 0007 addendum); the body's is a 422.
        missing = await client.client.get(
            f"{API}/spending/prices", params={"source": "nosuch"}, headers=client.viewer
        )
        problem = assert_problem(missing, 400, "validation-failed")
        assert problem["errors"][0]["field"] == "source"
        for name in ("bookkeeper", "anthropic", "google", "cloudflare"):
            assert name in problem["detail"]
        absent = await client.client.put(
            f"{API}/spending/prices", json={"source": "Cloudflare", **table}, headers=admin
        )
        assert absent.status_code == 200, absent.text
        assert absent.json()["source"] == "cloudflare"
        assert "not configured" in absent.json()["warning"]


async def test_the_forecast_says_where_the_month_ends_at_its_rate_against_the_budget(
    api: tuple[Api, Fakes],
) -> None:
    """ "At this rate the month ends at X NOK, over or under budget": 20 November in Oslo
    (the clock), 19 whole days passed, the month has 30."""
    client, state = api
    usd_rates(state)
    admin = client.headers("ada", "admin")
    for source, budget in (("anthropic", "100.00"), ("google", "50.00")):
        response = await client.client.put(
            f"{API}/spending/budgets", json={"source": source, "monthlyNok": budget}, headers=admin
        )
        assert response.status_code == 200, response.text
    # 8 USD at 11.01 on 2 November: 88.08 NOK; 1 USD at 11.05 on the 6th: 11.05 NOK.
    state.anthropic.costs.append(CostRow(day=day(1), model="claude-haiku-4-5", amount_cents="800"))
    state.google.rows.append(ExportRow(day(5), "Vertex AI", "Gemini Flash", "1.00"))
    await pull(client, day(0), day(19))
    response = await client.client.get(f"{API}/spending/forecast", headers=client.viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["month"], body["asOf"], body["daysPassed"], body["daysInMonth"]) == (
        "2026-11",
        "2026-11-20",
        19,
        30,
    )
    by_source = {s["source"]: s for s in body["sources"]}
    assert by_source["anthropic"] == {
        "source": "anthropic",
        "spentNok": "88.08",
        "forecastNok": "139.07",  # 88.08 / 19 × 30
        "budgetNok": "100.00",
        "overBudget": True,
    }
    assert (by_source["google"]["forecastNok"], by_source["google"]["overBudget"]) == (
        "17.45",  # 11.05 / 19 × 30
        False,
    )
    assert body["spentNok"] == "99.13"
    anonymous = await client.client.get(f"{API}/spending/forecast")
    assert_problem(anonymous, 401)
