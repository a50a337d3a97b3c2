"""The web page under /app, through HTTP (the browser tests are in test_web_browser.py):
login by pasted token, session cookie and CSRF, the review queue and decisions through the
same commands and rules as REST, the reports and their CSV, both languages."""

from __future__ import annotations

import csv as csv_module
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.spending import CostRecord, ExchangeRate, SpendingService
from bookkeeper.container import resolve
from bookkeeper.entrypoints.web import i18n
from tests.http_helpers import API, Api, media_type_parameters, mint, receipt, running_api

APP = "/app"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def login(api: Api, subject: str, *roles: str, tenant: str = "acme") -> str:
    """Log in through the form; returns a CSRF token for the next POSTs."""
    api.client.cookies.clear()
    page = await api.client.get(f"{APP}/login")
    assert page.status_code == 200
    token = mint(api.container, subject, *roles, tenant=tenant)
    done = await api.client.post(
        f"{APP}/login",
        data={"token": token, "_csrf_token": _csrf(page.text), "next": f"{APP}/review"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{APP}/review"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("bk_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Path=/app" in cookie
    return _csrf((await api.client.get(f"{APP}/review")).text)


async def test_a_page_without_a_session_sends_to_the_login_form(api: Api) -> None:
    response = await api.client.get(f"{APP}/review?status=all", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{APP}/login?next=%2Fapp%2Freview")
    page = await api.client.get(response.headers["location"])
    assert "<textarea" in page.text and "bookkeeper token" in page.text


async def test_a_bad_token_is_refused_with_a_sentence_and_no_cookie(api: Api) -> None:
    page = await api.client.get(f"{APP}/login")
    response = await api.client.post(
        f"{APP}/login", data={"token": "not-a-jwt", "_csrf_token": _csrf(page.text)}
    )
    assert response.status_code == 401
    assert "bk_session" not in response.headers.get("set-cookie", "")
    assert 'role="alert"' in response.text


async def test_a_post_without_the_csrf_token_is_refused(api: Api) -> None:
    await login(api, "kari", "reviewer")
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    response = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve", data={"comment": "ok"}
    )
    assert response.status_code == 403
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


async def test_the_queue_shows_the_proposal_and_approving_it_is_the_rest_command(
    api: Api,
) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt(accountCode="6540"))
    csrf = await login(api, "kari", "reviewer")
    queue = await api.client.get(f"{APP}/review")
    assert proposed["proposalId"] in queue.text
    detail = await api.client.get(f"{APP}/review/{proposed['proposalId']}")
    assert detail.status_code == 200
    assert "Adobe Systems" in detail.text and "199,00" in detail.text
    assert "6540 Inventar og utstyr" in detail.text  # the name from the books' chart
    approved = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf, "account_code": "6551", "vat_rate": "25", "comment": "ok"},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    state = (
        await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    ).json()
    assert state["status"] == "APPROVED"
    assert state["decidedBy"] == "human:kari"
    assert state["corrections"] == {"accountCode": "6551"}


async def test_the_same_rules_refuse_a_viewer_and_a_self_approval(api: Api) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "vera", "viewer")
    refused = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve", data={"_csrf_token": csrf}
    )
    assert refused.status_code == 403
    assert 'role="alert"' in refused.text
    # The agent that proposed may not approve its own proposal (four eyes), on the page too.
    csrf = await login(api, "book-e", "agent", "reviewer")
    own = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve", data={"_csrf_token": csrf}
    )
    assert own.status_code in (403, 409, 422), own.text
    state = (
        await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    ).json()
    assert state["status"] == "PROPOSED"


async def test_another_tenants_proposal_is_not_found(api: Api) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    await login(api, "fred", "reviewer", tenant="globex")
    response = await api.client.get(f"{APP}/review/{proposed['proposalId']}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Adobe" not in response.text


async def test_a_bad_vat_rate_is_a_sentence_not_a_500(api: Api) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    response = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf, "vat_rate": "lots"},
    )
    assert response.status_code == 422
    assert "lots" in response.text


async def test_rejecting_needs_a_reason_and_records_it(api: Api) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    url = f"{APP}/review/{proposed['proposalId']}/reject"
    empty = await api.client.post(url, data={"_csrf_token": csrf, "reason": ""})
    assert empty.status_code == 422
    done = await api.client.post(
        url, data={"_csrf_token": csrf, "reason": "wrong company"}, follow_redirects=False
    )
    assert done.status_code == 303
    state = (
        await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    ).json()
    assert state["status"] == "REJECTED" and state["rejectionReason"] == "wrong company"


@pytest.mark.parametrize(
    "path",
    [
        "/reports",
        "/reports/trial-balance",
        "/reports/general-ledger?account=1920",
        "/reports/vat?year=2026&term=6",
        "/reports/income-statement",
        "/reports/balance-sheet",
        "/reports/spending",
    ],
)
async def test_every_report_page_renders(api: Api, path: str) -> None:
    await login(api, "vera", "viewer")
    response = await api.client.get(APP + path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "cdn" not in response.text.lower()


async def test_the_trial_balance_page_shows_opening_and_closing_balances(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    for date in ("2025-03-01", "2026-03-01"):
        entry = {
            "date": date,
            "description": "Husleie",
            "lines": [
                {"account": "6300", "debit": "1000.00"},
                {"account": "1920", "credit": "1000.00"},
            ],
        }
        posted = await api.client.post(f"{API}/journal-entries", json=entry, headers=accountant)
        assert posted.status_code == 201, posted.text
    await login(api, "vera", "viewer")
    year = await api.client.get(f"{APP}/reports/trial-balance?start=2026-01-01&end=2026-12-31")
    assert year.status_code == 200
    assert "Inngående saldo" in year.text and "Utgående saldo" in year.text
    assert "Overført resultat" not in year.text  # within one year nothing is carried
    across = await api.client.get(f"{APP}/reports/trial-balance?start=2025-06-01&end=2026-12-31")
    assert "Overført resultat" in across.text
    row = re.search(r'<a href="[^"]*account=2050[&"][^>]*>2050</a>.*?</tr>', across.text, re.S)
    assert row is not None  # the earlier year's result appears in equity


async def test_a_report_csv_is_the_apis_csv(api: Api) -> None:
    await login(api, "vera", "viewer")
    for name in ("trial-balance", "income-statement", "balance-sheet"):
        page = await api.client.get(f"{APP}/reports/{name}?format=csv")
        rest = await api.client.get(f"{API}/reports/{name}?format=csv", headers=api.viewer)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/csv")
        assert "attachment" in page.headers["content-disposition"]
        assert page.content == rest.content


async def test_the_page_speaks_norwegian_by_default_and_english_when_asked(api: Api) -> None:
    await login(api, "vera", "viewer")
    norwegian = await api.client.get(f"{APP}/reports")
    assert "Saldobalanse" in norwegian.text and 'lang="nb"' in norwegian.text
    english = await api.client.get(f"{APP}/reports", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Trial balance" in english.text
    chosen = await api.client.get(f"{APP}/reports?lang=en")
    assert "Trial balance" in chosen.text
    assert "bk_lang=en" in chosen.headers["set-cookie"]


async def test_the_login_form_never_redirects_off_site(api: Api) -> None:
    page = await api.client.get(f"{APP}/login?next=https://evil.example/")
    assert f'name="next" value="{APP}/review"' in page.text
    token = mint(api.container, "kari", "reviewer")
    done = await api.client.post(
        f"{APP}/login",
        data={"token": token, "_csrf_token": _csrf(page.text), "next": "//evil.example/app/"},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"{APP}/review"


async def test_the_api_still_wants_a_bearer_token_with_a_session_cookie(api: Api) -> None:
    await login(api, "kari", "reviewer")
    response = await api.client.get(f"{API}/proposals")
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/review", "/static/app.css", "/static/app.js"])
async def test_pages_and_their_files_name_their_charset_once(api: Api, path: str) -> None:
    await login(api, "vera", "viewer")
    response = await api.client.get(APP + path)
    assert response.status_code == 200
    assert media_type_parameters(response.headers["content-type"]) == ["charset"]


@pytest.mark.parametrize(
    "path",
    [
        "/reports/trial-balance?start=2026-12-01&end=2026-01-01",
        "/reports/trial-balance?start=yesterday",
        "/reports/general-ledger?account=1920&cursor=garbage",
        "/reports/vat?year=abc&term=9",
        "/reports/balance-sheet?at=31.12.2026",
        "/review/not-a-uuid",
        "/review?status=NOPE&after=-5",
        f"/review/{'0' * 8}-0000-0000-0000-{'0' * 12}",
        "/files/not-a-hash",
        "/static/..%2Fsession.py",
        "/static/app.py",
        "/reports/spending?from=2026-12-01&to=2026-01-01",
        "/reports/spending?from=2020-01-01&to=2026-11-01",
        "/reports/spending?from=yesterday&to=31.12.2026&groupBy=nope",
        "/reports/spending?groupBy=%00&format=xml",
    ],
)
async def test_bad_input_is_a_page_never_a_500(api: Api, path: str) -> None:
    await login(api, "vera", "viewer")
    response = await api.client.get(APP + path)
    assert response.status_code < 500, response.text
    if "no route for" not in response.text:  # a URL of no page at all: the app's 404 problem
        assert response.headers["content-type"].startswith("text/html"), response.text
    assert "Traceback" not in response.text


async def test_the_stored_document_is_shown_beside_the_proposal(api: Api) -> None:
    pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    uploaded = await api.client.post(
        f"{API}/files?filename=faktura.pdf",
        content=pdf,
        headers={**api.agent, "Content-Type": "application/pdf"},
    )
    sha = uploaded.json()["sha256"]
    proposed = await api.propose("ReceiptAttachmentProposed", receipt(documentHash=sha))
    await login(api, "kari", "reviewer")
    detail = await api.client.get(f"{APP}/review/{proposed['proposalId']}")
    assert f'<iframe src="/app/files/{sha}"' in detail.text
    assert "ReceiptAttachmentProposed" in detail.text  # the history
    assert 'class="reasons"' in detail.text  # the confidence reasons
    shown = await api.client.get(f"{APP}/files/{sha}")
    assert shown.status_code == 200 and shown.content == pdf
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'self'" in shown.headers["content-security-policy"]
    await login(api, "fred", "reviewer", tenant="globex")
    assert (await api.client.get(f"{APP}/files/{sha}")).status_code == 404


async def test_the_reasons_are_said_in_the_page_s_language(api: Api) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    await login(api, "kari", "reviewer")
    norsk = await api.client.get(f"{APP}/review/{proposed['proposalId']}?lang=nb")
    assert "intet godkjent mønster for leverandøren" in norsk.text
    assert "no approved pattern for this merchant" not in norsk.text
    english = await api.client.get(f"{APP}/review/{proposed['proposalId']}?lang=en")
    assert "no approved pattern for this merchant" in english.text


# --- the spending page (GET /reports/costs as a page, issue 11/15) ---------------------------

NOV = dt.date(2026, 11, 1)  # the fixed clock says 2026-11-20 09:00 UTC


@dataclass
class CostSource:
    """The UsageSource port answering from a list (a provider)."""

    name: str
    records: list[CostRecord] = field(default_factory=list)

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        return [r for r in self.records if start <= r.day <= end]


class Rates:
    """NOK per unit: USD 10, EUR 11.50 every day."""

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        rate = {"NOK": Decimal(1), "USD": Decimal(10), "EUR": Decimal("11.50")}[currency]
        return ExchangeRate(currency=currency, date=day, rate=rate)


def cost(
    source: str, day: dt.date, amount: str, currency: str = "USD", model: str = "m1", **kw: Any
) -> CostRecord:
    return CostRecord(
        source=source, day=day, service="api", model=model, currency=currency,
        amount=Decimal(amount), **kw,
    )  # fmt: skip


async def seed_costs(api: Api, tenant: str, *sources: CostSource) -> None:
    """Record cost snapshots the way a pull does: the spending service on the app's store."""
    uow = await resolve(api.container.uow_factory)
    service = SpendingService(uow, api.clock, UuidV7Ids(), RoleAuthorizer(), Rates(), sources)
    days = [r.day for s in sources for r in s.records]
    result = await service.pull(tenant, min(days), max(days))
    assert result.failed == {} and result.recorded == len(days)


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of the table `table_id`."""
    table = html.split(f'<table id="{table_id}">', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    ]


@pytest.fixture
async def costs(api: Api) -> Api:
    await seed_costs(
        api,
        "acme",
        CostSource(
            "anthropic",
            [
                cost("anthropic", NOV + dt.timedelta(days=2), "1.25", input_tokens=1000),
                cost("anthropic", NOV + dt.timedelta(days=17), "120.40", model="m2"),
                cost("anthropic", dt.date(2026, 10, 25), "5.00"),  # last month
            ],
        ),
        CostSource(
            "cloudflare",
            [cost("cloudflare", NOV + dt.timedelta(days=9), "2.10", "EUR", model="workers")],
        ),
    )
    await seed_costs(api, "globex", CostSource("secretsource", [cost("secretsource", NOV, "9.99")]))
    return api


async def test_the_spending_page_is_the_cost_report_in_source_currency_and_nok(
    costs: Api,
) -> None:
    api = costs
    await login(api, "vera", "viewer")
    page = await api.client.get(f"{APP}/reports/spending")
    assert page.status_code == 200, page.text
    # Default: this month up to today (Oslo), as the API's default.
    assert 'name="from" value="2026-11-01"' in page.text
    assert 'name="to" value="2026-11-20"' in page.text
    rest = (await api.client.get(f"{API}/reports/costs", headers=api.viewer)).json()
    shown = _cells(page.text, "costs")
    assert [row[:4] for row in shown] == [
        [r["group"], r["currency"], i18n.money(r["amount"], "nb"), i18n.money(r["amountNok"], "nb")]
        for r in rest["rows"]
    ]
    assert [r[0] for r in shown] == ["anthropic", "cloudflare"]  # October's 5.00 is not in it
    assert shown[0][2:4] == ["121,65", "1\xa0216,50"]
    total = page.text.split('id="total-nok"', 1)[1].split("</tr>", 1)[0]
    assert i18n.money(rest["totalNok"], "nb") in total and rest["totalNok"] == "1240.65"
    for line in rest["totals"]:  # per currency
        assert f"{line['currency']}</th>" in page.text
        assert i18n.money(line["amount"], "nb") in page.text
    assert "secretsource" not in page.text  # another tenant's costs
    # The chart: the 30 days up to `to`, per source, so October's figure is in it.
    daily = page.text.split('<figure class="card" id="daily">', 1)[1]
    assert '<svg class="chart daily"' in daily
    # Days and months as Norwegians read them, not ISO (which the form's fields keep).
    assert "22.10.2026 – 20.11.2026" in daily
    assert "01.11.2026 – 20.11.2026 (UTC-dager)" in page.text
    assert "<title>anthropic 25. okt.: 50,00</title>" in daily
    assert "<title>cloudflare 10. nov.: 24,15</title>" in daily
    assert daily.count('class="series s') == 4 + 2  # a column part per figure, a legend each


async def test_the_spending_page_groups_as_asked_and_speaks_english(costs: Api) -> None:
    api = costs
    await login(api, "vera", "viewer")
    for group_by in ("service", "model", "day"):
        params = {"from": "2026-10-01", "to": "2026-11-30", "groupBy": group_by}
        page = await api.client.get(f"{APP}/reports/spending", params={**params, "lang": "en"})
        assert page.status_code == 200, page.text
        assert f'<option value="{group_by}" selected>' in page.text
        rest = await api.client.get(f"{API}/reports/costs", params=params, headers=api.viewer)
        expected = [
            [r["group"], r["currency"], i18n.money(r["amount"], "en"),
             i18n.money(r["amountNok"], "en")]
            for r in rest.json()["rows"]
        ]  # fmt: skip
        assert [row[:4] for row in _cells(page.text, "costs")] == expected
        assert "Total in NOK" in page.text and "1,290.65" in page.text
    by_model = await api.client.get(f"{APP}/reports/spending?groupBy=model&from=2026-11-01&lang=en")
    assert [r[0] for r in _cells(by_model.text, "costs")] == ["m1", "m2", "workers"]
    assert "<th>Model</th>" in by_model.text


async def test_the_spending_csv_is_the_apis_csv_byte_for_byte(costs: Api) -> None:
    api = costs
    await login(api, "vera", "viewer")
    for params in (
        {},
        {"groupBy": "day", "from": "2026-10-20", "to": "2026-11-19"},
        {"groupBy": "service", "from": "2026-11-03"},
        {"groupBy": "model", "to": "2026-11-05"},
    ):
        page = await api.client.get(
            f"{APP}/reports/spending", params={**params, "format": "csv", "lang": "en"}
        )
        rest = await api.client.get(
            f"{API}/reports/costs", params={**params, "format": "csv"}, headers=api.viewer
        )
        assert page.status_code == rest.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/csv")
        assert page.headers["content-disposition"] == rest.headers["content-disposition"]
        assert page.content == rest.content
        assert page.content.startswith((params.get("groupBy") or "source").encode() + b",")
    # The page's download link is that CSV, with the page's own choices.
    shown = await api.client.get(f"{APP}/reports/spending?groupBy=day&from=2026-11-02")
    link = re.search(r'<a class="button" href="([^"]+)" download>', shown.text)
    assert link is not None
    download = await api.client.get(link.group(1).replace("&amp;", "&"))
    rest = await api.client.get(
        f"{API}/reports/costs?groupBy=day&from=2026-11-02&format=csv", headers=api.viewer
    )
    assert download.content == rest.content


async def test_the_spending_page_shows_budget_use_where_a_budget_is_set(costs: Api) -> None:
    api = costs
    for source, monthly in (("anthropic", "1000.00"), ("cloudflare", "20.00")):
        set_budget = await api.client.put(
            f"{API}/spending/budgets",
            json={"source": source, "monthlyNok": monthly},
            headers=api.headers("ada", "admin"),
        )
        assert set_budget.status_code == 200, set_budget.text
    await login(api, "vera", "viewer")
    page = await api.client.get(f"{APP}/reports/spending")
    budgets = page.text.split('id="budgets"', 1)[1].split("</section>", 1)[0]
    assert "Budsjett for november 2026" in budgets
    assert "til og med 20.11.2026" in budgets
    rows = {r[0]: r for r in _cells(budgets.replace("<table>", '<table id="b">'), "b")}
    # anthropic: (1.25 + 120.40) USD × 10 = 1216.50 NOK of 1000: over; cloudflare 24.15 of 20.
    # The month-end forecast: the 19 whole days' rate over 30 days (ADR 0031 addendum).
    assert rows["anthropic"][1:] == [
        "1\xa0216,50",
        "1\xa0000,00",
        i18n.percent(Decimal("121.7"), "nb"),
        "1\xa0920,79",
    ]
    assert rows["cloudflare"][1:] == [
        "24,15",
        "20,00",
        i18n.percent(Decimal("120.8"), "nb"),
        "38,13",
    ]
    assert budgets.count('class="num over"') == 2
    assert budgets.count('class="num forecast over"') == 2
    # Budget use is of the month of `to`, up to `to`: on 5 November only the 1.25 USD.
    early = await api.client.get(f"{APP}/reports/spending?to=2026-11-05&lang=en")
    budgets = early.text.split('id="budgets"', 1)[1].split("</section>", 1)[0]
    assert "Budget for November 2026" in budgets
    rows = {r[0]: r for r in _cells(budgets.replace("<table>", '<table id="b">'), "b")}
    assert rows["anthropic"][1:] == [
        "12.50",
        "1,000.00",
        i18n.percent(Decimal("1.3"), "en"),
        "93.75",  # 12.50 in the 4 whole days before the 5th, over 30
    ]
    assert rows["cloudflare"][1] == "0.00"
    assert "over" not in budgets


async def test_a_role_that_may_not_read_costs_gets_the_refusal_page(costs: Api) -> None:
    api = costs
    rest = await api.client.get(f"{API}/reports/costs", headers=api.headers("ivar", "auditor"))
    assert rest.status_code == 403
    # Logged in through the form (the review queue, where `login` lands, refuses it too).
    api.client.cookies.clear()
    form = await api.client.get(f"{APP}/login")
    done = await api.client.post(
        f"{APP}/login",
        data={"token": mint(api.container, "ivar", "auditor"), "_csrf_token": _csrf(form.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    for query in ("", "?format=csv", "?groupBy=model&from=2026-11-01"):
        page = await api.client.get(f"{APP}/reports/spending{query}")
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in page.text
        assert "anthropic" not in page.text and "1\xa0216" not in page.text
    # Another tenant's reader sees its own costs only.
    await login(api, "fred", "viewer", tenant="globex")
    foreign = await api.client.get(f"{APP}/reports/spending")
    assert [r[0] for r in _cells(foreign.text, "costs")] == ["secretsource"]
    assert "anthropic" not in foreign.text and "cloudflare" not in foreign.text


async def _sell(
    api: Api, date: str, base: str, vat: str, *, code: str = "3", description: str = "Salg"
) -> None:
    """A sale booked by an accountant's journal entry: the customer (1500) owes base + VAT,
    3000 takes the base and 2700 the VAT, both under VAT code `code`."""
    gross = str(Decimal(base) + Decimal(vat))
    sale = {
        "date": date,
        "description": description,
        "lines": [
            {"account": "1500", "debit": gross},
            {"account": "3000", "credit": base, "vatCode": code, "vatPart": "base"},
            {"account": "2700", "credit": vat, "vatCode": code, "vatPart": "tax"},
        ],
    }
    posted = await api.client.post(
        f"{API}/journal-entries", json=sale, headers=api.headers("anne", "accountant")
    )
    assert posted.status_code == 201, posted.text


async def test_the_pages_say_dates_scores_and_vat_directions_as_people_in_norway_read_them(
    api: Api,
) -> None:
    """On the Norwegian page a date is 20.11.2026 (not 2026-11-20), a score 0,95 (not 0.95)
    and the VAT report's direction "Inngående"/"Utgående" (not "input"/"output")."""
    await _sell(api, "2026-11-30", "1000", "250")
    proposed = await api.propose("ReceiptAttachmentProposed", receipt(date="2026-11-18"))
    await login(api, "kari", "reviewer")

    vat = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6")).text
    assert "Utgående" in vat and ">output<" not in vat
    assert "01.11.2026 – 31.12.2026" in vat and "10.02.2027" in vat

    queue = (await api.client.get(f"{APP}/review")).text
    score = f"{proposed['confidence']['score']:.2f}"
    assert "18.11.2026" in queue and "2026-11-18" not in queue.replace('"2026-11-18"', "")
    assert score.replace(".", ",") in queue and f" {score}<" not in queue
    detail = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
    assert "18.11.2026" in detail

    english = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6&lang=en")).text
    assert "output" in english.lower()


async def test_a_proposals_fields_are_named_and_shown_as_people_read_them(api: Api) -> None:
    proposed = await api.propose(
        "InvoiceRegistrationProposed",
        {
            "supplier": "Lysaker Renhold AS",
            "amount": "2499.99",
            "date": "2026-12-03",
            "dueDate": "2026-12-17",
            "vatRate": "25",
            "vatAmount": "500.00",
            "accountCode": "6300",
            "invoiceNumber": "2026-131",
        },
    )
    await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
    for shown in ("Mva-beløp", "500,00", "Forfallsdato", "17.12.2026", "Fakturanummer"):
        assert shown in page, shown
    for raw in ("vatAmount", "dueDate", "invoiceNumber", "500.00", "25.00"):
        assert f">{raw}<" not in page, raw


async def test_an_account_the_chart_does_not_know_is_refused_in_the_pages_language(
    api: Api,
) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt(accountCode="6540"))
    csrf = await login(api, "kari", "reviewer")
    refused = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf, "account_code": "6360", "vat_rate": "25", "comment": ""},
        follow_redirects=False,
    )
    assert refused.status_code == 422, refused.text
    assert "kontoen 6360 finnes ikke i regnskapets kontoplan" in refused.text
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


async def test_a_foreign_currency_receipt_is_approved_on_the_page_with_its_nok_amount(
    api: Api,
) -> None:
    """ADR 0051: without an exchange rate or a bank payment in NOK, the page asks for the
    amount in NOK and refuses the approval, in its language, until it is given."""
    usd = receipt(currency="USD", amount="41.00", vatRate="0", folioEventId="ev-not-listed")
    proposed = await api.propose("ReceiptAttachmentProposed", usd)
    assert proposed["decision"]["rule"] == "nok-amount-missing"
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
    assert 'name="nok_amount"' in page and "Beløp i NOK" in page
    assert "skriv beløpet som ble betalt i NOK" in page
    refused = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf, "account_code": "6540", "vat_rate": "0", "comment": ""},
        follow_redirects=False,
    )
    assert refused.status_code == 422, refused.text
    assert "bilaget i USD har ikke noe beløp i NOK" in refused.text
    approved = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf, "account_code": "6540", "vat_rate": "0", "nok_amount": "452,37"},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "APPROVED"
    assert state.json()["corrections"] == {"nokAmount": "452.37"}
    nok = await api.propose("ReceiptAttachmentProposed", receipt(accountCode="6540"))
    assert (
        'name="nok_amount"' not in (await api.client.get(f"{APP}/review/{nok['proposalId']}")).text
    )


async def test_people_are_shown_by_name_and_the_record_keeps_the_principal(api: Api) -> None:
    """The signed-in reviewer's `name` claim is what the page shows for her (header,
    decision, history); the event and the API keep `human:kari`."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt(accountCode="6540"))
    api.client.cookies.clear()
    page = await api.client.get(f"{APP}/login")
    token = api.container.token_issuer().mint(
        "kari", "acme", ["reviewer"], dt.timedelta(hours=1), name="Kari Nordmann"
    )
    await api.client.post(
        f"{APP}/login",
        data={"token": token, "_csrf_token": _csrf(page.text), "next": f"{APP}/review"},
        follow_redirects=False,
    )
    queue = await api.client.get(f"{APP}/review")
    assert "Innlogget som Kari Nordmann" in queue.text and "human:kari" not in queue.text
    approved = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": _csrf(queue.text)},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    detail = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
    assert "Avgjort av Kari Nordmann" in detail
    assert '<td data-label="Av" title="human:kari">Kari Nordmann</td>' in detail
    state = (
        await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    ).json()
    assert state["decidedBy"] == "human:kari"


async def test_a_name_learnt_in_one_tenant_is_not_shown_in_another(api: Api) -> None:
    """Learnt names were kept by subject alone: a user of another tenant with the same
    subject ("kari") named herself, and acme's pages showed acme's kari by that name."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt(accountCode="6540"))
    csrf = await login(api, "kari", "reviewer")
    approved = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    api.client.cookies.clear()
    page = await api.client.get(f"{APP}/login")
    token = api.container.token_issuer().mint(
        "kari", "globex", ["reviewer"], dt.timedelta(hours=1), name="Mallory Globex"
    )
    signed_in = await api.client.post(
        f"{APP}/login",
        data={"token": token, "_csrf_token": _csrf(page.text), "next": f"{APP}/review"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    assert "Mallory Globex" in (await api.client.get(f"{APP}/review")).text
    await login(api, "revisor", "viewer")
    detail = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
    assert "Avgjort av kari" in detail
    assert "Mallory" not in detail


async def test_the_readers_warnings_are_shown_beside_the_proposal(api: Api) -> None:
    """What the reader doubted (here: a total with no VAT beside it, and a tip the VAT is
    not on) is what the reviewer must weigh: shown on the page, in its language."""
    from tests.unseen_documents import pdf

    document = pdf(
        [
            "Kafé Solsiden",
            "Dato 18.11.2026",
            ("Lunsj", "180,00"),
            ("Totalt", "kr 180,00"),
        ]
    )
    uploaded = await api.client.post(
        f"{API}/documents",
        files={"file": ("kvittering.pdf", document, "application/pdf")},
        headers=api.agent,
    )
    assert uploaded.status_code == 201, uploaded.text
    warnings = uploaded.json()["warnings"]
    assert "no VAT" in warnings
    await login(api, "kari", "reviewer")
    proposal = uploaded.json()["proposal"]["id"]
    norsk = await api.client.get(f"{APP}/review/{proposal}?lang=nb")
    assert 'id="warnings"' in norsk.text
    assert "fant ikke mva" in norsk.text
    english = await api.client.get(f"{APP}/review/{proposal}?lang=en")
    assert "no VAT" in english.text.split('id="warnings"', 1)[1]


@pytest.mark.parametrize("written", ["1 234,50", "1.234,50", "1234.50", "1,234.50", "1234,50 kr"])
async def test_the_page_reads_a_number_however_a_person_writes_it(api: Api, written: str) -> None:
    """One parser for written numbers (domain.numerals.parse_written, ADR 0049 round
    three): each spelling of 1 234,50 is the same NOK amount, as the API's 1234.50."""
    usd = receipt(currency="USD", amount="41.00", vatRate="0", folioEventId="ev-not-listed")
    proposed = await api.propose("ReceiptAttachmentProposed", usd)
    csrf = await login(api, "kari", "reviewer")
    approved = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf, "vat_rate": "0 %", "nok_amount": written},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["corrections"] == {"nokAmount": "1234.50"}


@pytest.mark.parametrize(
    ("field", "written"),
    [
        ("nok_amount", "1e3"),
        ("nok_amount", "1_000"),
        ("nok_amount", "1.234"),  # a thousand, or three decimals?
        ("nok_amount", "١٠٠٠"),
        ("vat_rate", "+25"),
        ("vat_rate", "2.5e1"),
    ],
)
async def test_a_number_the_page_cannot_read_is_a_form_error_and_decides_nothing(
    api: Api, field: str, written: str
) -> None:
    usd = receipt(currency="USD", amount="41.00", vatRate="0", folioEventId="ev-not-listed")
    proposed = await api.propose("ReceiptAttachmentProposed", usd)
    csrf = await login(api, "kari", "reviewer")
    form = {"_csrf_token": csrf, "vat_rate": "0", "nok_amount": "452,37", field: written}
    refused = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve", data=form, follow_redirects=False
    )
    assert refused.status_code == 422, refused.text
    assert "er ikke et tall" in refused.text and "1 234,50" in refused.text
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


async def test_a_reason_or_comment_too_long_is_refused_never_cut_short(api: Api) -> None:
    """The domain keeps at most 2000 characters of a reason or comment and refuses a
    longer one (as the API does): the page must not cut what the reviewer wrote to fit
    and record the first 2000 characters as if they had written only those."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    url = f"{APP}/review/{proposed['proposalId']}"
    long = "word " * 500 + "the end that matters"
    rejected = await api.client.post(
        f"{url}/reject", data={"_csrf_token": csrf, "reason": long}, follow_redirects=False
    )
    assert rejected.status_code == 422, rejected.text
    assert "2000" in rejected.text
    approved = await api.client.post(
        f"{url}/approve", data={"_csrf_token": csrf, "comment": long}, follow_redirects=False
    )
    assert approved.status_code == 422, approved.text
    assert "the end that matters" in approved.text  # what was typed is shown again, whole
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


@pytest.mark.parametrize("done", ["approved", "rejected"])
async def test_a_decision_notice_is_shown_only_when_the_record_holds_that_decision(
    api: Api, done: str
) -> None:
    """`?done=` is in the URL the page redirects to after a decision; the same URL from a
    link, a bookmark or the back button must not tell a reviewer that a pending
    proposal was approved or rejected."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    await login(api, "kari", "reviewer")
    page = await api.client.get(f"{APP}/review/{proposed['proposalId']}?done={done}")
    assert page.status_code == 200
    assert 'class="alert ok"' not in page.text
    assert i18n.text(f"{done}_msg", "nb", status="x").split(".")[0] not in page.text


@pytest.mark.parametrize(
    ("field", "written", "said"),
    [
        ("vat_rate", "250", "250 er ikke en norsk mva-sats"),
        ("date", "01.01.1999", "datoen 01.01.1999 er utenfor 01.01.2000–31.12.2100"),
        ("vat_amount", "500", "mva-beløpet må være mellom 0 og bruttobeløpet"),
        ("merchant_name", "x" * 300, "leverandørnavnet er lengre enn 200 tegn"),
        ("comment", "c" * 2001, "kommentaren kan ha høyst 2000 tegn"),
    ],
)
async def test_a_correction_the_domain_refuses_is_said_in_norwegian_with_its_reason(
    api: Api, field: str, written: str, said: str
) -> None:
    """The Norwegian page (the default) named only "the correction cannot be used on this
    proposal" where the English page says which value is wrong and why: the reviewer
    must know what to change."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    refused = await api.client.post(
        f"{APP}/review/{proposed['proposalId']}/approve",
        data={"_csrf_token": csrf, field: written},
    )
    assert refused.status_code == 422, refused.text
    assert said in refused.text
    assert "kan ikke brukes på dette forslaget" not in refused.text


async def test_a_refusal_page_says_who_is_signed_in_and_lets_them_log_out(api: Api) -> None:
    """Someone signed in to one tenant who follows a link to another's proposal meets a
    404; the page must say which tenant they are in and offer the logout (to sign in to
    the other), as every other page does, not leave them with no way out."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    await login(api, "fred", "reviewer", tenant="globex")
    missing = await api.client.get(f"{APP}/review/{proposed['proposalId']}")
    assert missing.status_code == 404
    assert "globex" in missing.text
    assert 'action="/app/logout"' in missing.text
    out = await api.client.post(
        f"{APP}/logout", data={"_csrf_token": _csrf(missing.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert any(c.startswith("bk_session=") for c in out.headers.get_list("set-cookie"))


async def test_a_refusal_page_says_why_in_the_pages_language(api: Api) -> None:
    """The error page showed the error's English text ("proposal … not found", "human:ivar
    may not reports:read in tenant acme") on a Norwegian page; the refusal on the
    proposal page already says it in the page's words (explain_error)."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    await login(api, "fred", "reviewer", tenant="globex")
    missing = await api.client.get(f"{APP}/review/{proposed['proposalId']}")
    assert missing.status_code == 404
    assert "fant det ikke" in missing.text and "not found" not in missing.text
    api.client.cookies.clear()
    form = await api.client.get(f"{APP}/login")
    await api.client.post(
        f"{APP}/login",
        data={"token": mint(api.container, "ivar", "nobody"), "_csrf_token": _csrf(form.text)},
    )
    refused = await api.client.get(f"{APP}/reports/trial-balance")
    assert refused.status_code == 403
    assert "du har ikke tilgang" in refused.text and "may not" not in refused.text
    english = await api.client.get(f"{APP}/reports/trial-balance?lang=en")
    assert english.status_code == 403 and "Norsk" in english.text


async def test_the_general_ledger_page_shows_an_entry_texts_day_as_norwegians_read_it(
    api: Api,
) -> None:
    """A receipt's entry is named at booking "Adobe 2026-12-04" (domain/ledger.py); the
    Norwegian page showed the ISO day in the text beside "04.12.2026" in the date column.
    Shown as "Adobe 04.12.2026"; stored, in the API's JSON and in English as it was."""
    await _sell(api, "2026-12-04", "100.00", "25.00", description="Adobe 2026-12-04")
    await login(api, "vera", "viewer")
    query = "account=1500&start=2026-12-01&end=2026-12-31"
    page = await api.client.get(f"{APP}/reports/general-ledger?{query}")
    assert page.status_code == 200, page.text
    assert "Adobe 04.12.2026" in page.text and "Adobe 2026-12-04" not in page.text
    english = await api.client.get(f"{APP}/reports/general-ledger?{query}&lang=en")
    assert "Adobe 2026-12-04" in english.text
    rest = await api.client.get(f"{API}/reports/general-ledger?{query}", headers=api.viewer)
    assert "Adobe 2026-12-04" in rest.text


async def test_an_account_of_the_trial_balance_opens_its_ledger_for_the_same_period(
    api: Api,
) -> None:
    """The trial balance of a period links each account to its general ledger; the link
    dropped the period, so the ledger opened on every year and its lines did not add up
    to the row the reviewer clicked."""
    entry = {
        "date": "2026-03-01",
        "description": "Husleie",
        "lines": [
            {"account": "6300", "debit": "1000.00"},
            {"account": "1920", "credit": "1000.00"},
        ],
    }
    posted = await api.client.post(
        f"{API}/journal-entries", json=entry, headers=api.headers("anna", "accountant")
    )
    assert posted.status_code == 201, posted.text
    await login(api, "vera", "viewer")
    page = await api.client.get(f"{APP}/reports/trial-balance?start=2026-01-01&end=2026-06-30")
    link = re.search(r'<a href="([^"]*account=6300[^"]*)">6300</a>', page.text)
    assert link is not None, page.text
    href = link.group(1).replace("&amp;", "&")
    assert "start=2026-01-01" in href and "end=2026-06-30" in href
    ledger = await api.client.get(href)
    assert ledger.status_code == 200
    assert 'name="start" value="2026-01-01"' in ledger.text


async def test_an_approval_sent_twice_is_shown_as_done_and_another_one_is_refused(
    api: Api,
) -> None:
    """A double click (or a reload that posts again) sends the same approval twice: the
    second answer was the refusal "no longer awaiting review", the last page the browser
    shows, so the reviewer believed the approval had failed. The same approval by the
    same person is answered as done; a different one is still refused."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    url = f"{APP}/review/{proposed['proposalId']}/approve"
    form = {"_csrf_token": csrf, "account_code": "6551", "comment": "ok"}
    first = await api.client.post(url, data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    again = await api.client.post(url, data=form, follow_redirects=False)
    assert again.status_code == 303, again.text
    assert again.headers["location"] == first.headers["location"]
    other = await api.client.post(
        url, data={**form, "account_code": "6540"}, follow_redirects=False
    )
    assert other.status_code == 409
    await login(api, "rita", "reviewer")
    page = await api.client.get(url.removesuffix("/approve"))
    someone = await api.client.post(url, data={**form, "_csrf_token": _csrf(page.text)})
    assert someone.status_code == 409  # someone else's stale form is told it was decided
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["corrections"] == {"accountCode": "6551"}


@pytest.mark.parametrize(
    "path",
    [
        "/reports/trial-balance?start=2026-02-30&end=2026-12-31",
        "/reports/general-ledger?account=1920&end=2026-13-01",
        "/reports/income-statement?start=yesterday",
        "/reports/balance-sheet?at=31.12.2026x",
        "/reports/spending?from=2026-11-01&to=2026-11-31",
        "/reports/trial-balance?start=2026-02-30&format=csv",
    ],
)
async def test_a_date_the_report_cannot_read_is_refused_not_dropped(api: Api, path: str) -> None:
    """A report page read an unreadable date as no date and showed (or downloaded) the
    report of every year under the period the reviewer typed, where the API refuses it;
    it is a 422 naming the date."""
    await login(api, "vera", "viewer")
    response = await api.client.get(APP + path)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "er ikke en dato" in response.text


async def test_a_rejection_sent_twice_is_shown_as_done_and_another_one_is_refused(
    api: Api,
) -> None:
    """As an approval sent twice: the second POST of the same rejection by the same person
    answers as the first did; another reason is still refused."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    url = f"{APP}/review/{proposed['proposalId']}/reject"
    form = {"_csrf_token": csrf, "reason": "feil firma – Ærlig"}
    first = await api.client.post(url, data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    again = await api.client.post(url, data=form, follow_redirects=False)
    assert again.status_code == 303, again.text
    assert again.headers["location"] == first.headers["location"]
    other = await api.client.post(url, data={**form, "reason": "annen grunn"})
    assert other.status_code == 409


def _back(html: str) -> tuple[str, str]:
    """The error page's link: (href, words)."""
    found = re.search(r'<a href="([^"]*)" id="back">([^<]*)</a>', html)
    assert found, html[-800:]
    return found.group(1).replace("&amp;", "&"), found.group(2)


async def test_a_form_action_opened_as_a_page_is_a_405_page_that_leads_to_the_form(
    api: Api,
) -> None:
    """Approve, reject and logout take only POST: opened in the browser (a bookmark, the
    history, a pasted address) they answered the API's problem+json. Now a 405 HTML page
    with `Allow`, saying so, whose link leads to the page the form is on; the API's own
    POST-only routes keep problem+json."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    await login(api, "kari", "reviewer")
    proposal = f"{APP}/review/{proposed['proposalId']}"
    for action, form_page in (
        (f"{proposal}/approve", proposal),
        (f"{proposal}/reject", proposal),
        (f"{APP}/logout", f"{APP}/review"),
    ):
        response = await api.client.get(action)
        assert response.status_code == 405, action
        assert response.headers["content-type"].startswith("text/html")
        assert "POST" in response.headers["allow"]
        assert "handlingen til et skjema" in response.text
        assert _back(response.text)[0] == form_page
        assert "default-src 'self'" in response.headers["content-security-policy"]
    # A page sent something it does not take is not called a form's action.
    posted = await api.client.post(f"{APP}/review", data={"status": "all"})
    assert posted.status_code == 405 and "GET" in posted.headers["allow"]
    assert "Denne siden tar ikke imot POST" in posted.text
    rest = await api.client.get(f"{API}/events/{proposed['proposalId']}/approve")
    assert rest.status_code == 405
    assert rest.headers["content-type"].startswith("application/problem+json")
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


@pytest.mark.parametrize(
    ("path", "back"),
    [
        ("/review/not-a-uuid", "/review"),
        ("/review/01a25000-0000-7000-8000-000000000000", "/review"),
        ("/review/01a25000-0000-7000-8000-000000000000/approve/x", "/review"),
        ("/reports/no-such-report", "/reports"),
        ("/reports/trial-balance/2026", "/reports/trial-balance"),
        ("/no-such-page", "/review"),
    ],
)
async def test_an_address_that_names_no_page_is_a_404_page(api: Api, path: str, back: str) -> None:
    """A path value the pages do not know (a report, an id that is none) was the API's
    JSON 404 (no route matched); now the Not found page, whose link is the nearest page
    above that exists, never one naming the id that was not found."""
    await login(api, "kari", "reviewer")
    response = await api.client.get(APP + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text
    assert _back(response.text)[0] == APP + back
    rest = await api.client.get(f"{API}/reports/no-such-report", headers=api.viewer)
    assert rest.status_code == 404
    assert rest.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("/reports/trial-balance?start=2026-01-01&start=2026-02-01", "start"),
        ("/reports/general-ledger?account=1920&account=6300", "account"),
        ("/reports/vat?year=2026&term=1&year=2025", "year"),
        ("/reports/income-statement?end=2026-12-31&end=2025-12-31", "end"),
        ("/reports/balance-sheet?at=2026-01-01&at=2026-06-30", "at"),
        ("/reports/spending?from=2026-01-01&from=2026-02-01", "from"),
        ("/reports/spending?groupBy=day&groupBy=model", "groupBy"),
        ("/reports/trial-balance?format=csv&format=html", "format"),
        ("/review?status=PROPOSED&status=REJECTED", "status"),
        ("/review?lang=en&lang=nb", "lang"),
    ],
)
async def test_a_parameter_given_twice_is_a_400_page_naming_it(
    api: Api, query: str, name: str
) -> None:
    """The pages read the first of a repeated parameter without a word (`?year=2026&
    year=2025` showed 2026's VAT); the API answers 400 for it (ADR 0007 addendum), and
    so do the pages now, naming it, with a link to the same page without the query."""
    await login(api, "vera", "viewer")
    response = await api.client.get(APP + query)
    assert response.status_code == 400, response.text[-500:]
    assert response.headers["content-type"].startswith("text/html")
    assert f"«{name}» er gitt mer enn én gang" in response.text or (
        f"“{name}” is given more than once" in response.text
    )
    assert _back(response.text)[0] == APP + query.split("?")[0]


async def test_a_parameter_the_page_does_not_read_may_come_twice(api: Api) -> None:
    """As on the API, a parameter the page does not have is ignored, repeated or not."""
    await login(api, "vera", "viewer")
    response = await api.client.get(f"{APP}/reports/trial-balance?utm=a&utm=b&year=1&year=2")
    assert response.status_code == 200


async def test_the_error_page_link_never_leads_back_to_the_page_that_failed(api: Api) -> None:
    """Its link was always the list of proposals, so a list that refused (a role that may
    not read proposals: where the login lands) linked to itself. It leads to the page the
    person came from when that is another of ours on this host, else upwards, else the
    reports."""
    api.client.cookies.clear()
    form = await api.client.get(f"{APP}/login")
    await api.client.post(
        f"{APP}/login",
        data={"token": mint(api.container, "ivar", "auditor"), "_csrf_token": _csrf(form.text)},
    )
    refused = await api.client.get(f"{APP}/review")
    assert refused.status_code == 403
    assert _back(refused.text) == (f"{APP}/reports", "Til rapportene")
    # The page it came from (same host), not when it is the failing page or another host's.
    host = str(api.client.base_url).rstrip("/")
    came = await api.client.get(
        f"{APP}/review", headers={"referer": f"{host}{APP}/reports/vat?year=2026"}
    )
    assert _back(came.text) == (f"{APP}/reports/vat?year=2026", "Tilbake til forrige side")
    for referer in (f"{host}{APP}/review", f"https://evil.example{APP}/reports/vat"):
        again = await api.client.get(f"{APP}/review", headers={"referer": referer})
        assert _back(again.text)[0] == f"{APP}/reports", referer
    for query in ("", "?start=2026-01-01"):  # refused whatever the period: up, not again
        report = await api.client.get(f"{APP}/reports/trial-balance{query}")
        assert report.status_code == 403
        assert _back(report.text) == (f"{APP}/reports", "Til rapportene")


async def test_the_language_link_of_a_refused_approval_opens_the_proposal(api: Api) -> None:
    """A refused approval is shown at the form's action; its language link was that
    address with ?lang=, a GET the action does not take (405)."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    proposal = f"{APP}/review/{proposed['proposalId']}"
    refused = await api.client.post(
        f"{proposal}/approve", data={"_csrf_token": csrf, "vat_rate": "lots"}
    )
    assert refused.status_code == 422
    link = re.search(r'<a class="lang" href="([^"]+)"', refused.text)
    assert link is not None and link.group(1).replace("&amp;", "&") == f"{proposal}?lang=en"
    english = await api.client.get(link.group(1).replace("&amp;", "&"))
    assert english.status_code == 200 and "Approve" in english.text


@pytest.mark.parametrize(
    "query",
    [
        "/reports/spending?to=0001-01-01",
        "/reports/spending?from=0001-01-01&to=0001-01-02",
        "/reports/balance-sheet?at=0001-01-01",
        "/reports/trial-balance?end=2201-01-01",
        "/reports/income-statement?start=1899-12-31",
    ],
)
async def test_a_date_outside_the_window_is_a_422_page(api: Api, query: str) -> None:
    """A date the API holds to 1900–2200 (ADR 0021) reached the reports from the page: the
    day before 0001-01-01 is no date, and the spending page and the balance sheet answered
    the app's JSON 500."""
    await login(api, "vera", "viewer")
    response = await api.client.get(APP + query)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "ligger utenfor 01.01.1900–31.12.2200" in response.text


@pytest.mark.parametrize(
    ("query", "said"),
    [
        (
            "/reports/trial-balance?start=2026-02-01&end=2026-01-01",
            "perioden starter (01.02.2026) etter at den slutter (01.01.2026)",
        ),
        (
            "/reports/general-ledger?account=1920&start=2026-02-01&end=2026-01-01",
            "perioden starter (01.02.2026) etter at den slutter (01.01.2026)",
        ),
        ("/reports/general-ledger?account=1920&cursor=garbage", "lenken til neste side"),
        ("/reports/spending?from=2026-02-01&to=2026-01-01", "fra-datoen er etter til-datoen"),
        ("/reports/spending?from=2024-01-01&to=2026-01-01", "høyst 400 dager"),
    ],
)
async def test_a_reports_refusal_is_said_as_a_report_refusal(
    api: Api, query: str, said: str
) -> None:
    """A period backwards, a range too long or a cursor not handed out were said as
    "forslaget ble stoppet av en kontroll hos oss" (a proposal stopped by a check): no
    words of the catalogue knew them, so the page fell back to a proposal's failure."""
    await login(api, "vera", "viewer")
    response = await api.client.get(APP + query)
    assert response.status_code == 422
    assert said in response.text
    assert "forslaget" not in response.text


@pytest.mark.parametrize(
    ("token", "lang", "said"),
    [
        ("not-a-jwt", "nb", "tilgangsnøkkelen er ikke en gyldig nøkkel"),
        ("x" * 20_000, "nb", "tilgangsnøkkelen er tom eller for lang"),
        ("not-a-jwt", "en", "the token is malformed"),
    ],
)
async def test_a_refused_login_says_why_in_the_pages_language(
    api: Api, token: str, lang: str, said: str
) -> None:
    """The login form showed the verifier's English ("Innloggingen feilet: the token is
    malformed") on a Norwegian page."""
    page = await api.client.get(f"{APP}/login?lang={lang}")
    response = await api.client.post(
        f"{APP}/login", data={"token": token, "_csrf_token": _csrf(page.text)}
    )
    assert response.status_code == 401
    assert said in response.text


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("nb", "tilgangsnøkkelen gjelder lenger enn tjenesten godtar (høyst 24 timer)"),
        ("en", "the token lives longer than this service accepts (at most 24 h)"),
    ],
)
async def test_a_token_living_too_long_does_not_log_in(api: Api, lang: str, said: str) -> None:
    """The session holds the API's tokens and verifies them alike (ADR 0013 addendum): a
    token minted for a year is refused at the login form, no cookie, said in words."""
    token = mint(api.container, "kari", "reviewer", ttl=dt.timedelta(days=365))
    page = await api.client.get(f"{APP}/login?lang={lang}")
    response = await api.client.post(
        f"{APP}/login", data={"token": token, "_csrf_token": _csrf(page.text)}
    )
    assert response.status_code == 401
    assert "bk_session" not in response.headers.get("set-cookie", "")
    assert said in response.text
    assert token not in response.text


async def test_the_language_link_of_a_refused_login_keeps_where_it_leads(api: Api) -> None:
    """A refused login is shown at POST /app/login; its language link dropped `next`, so
    the login after switching language landed on the list, not the page asked for."""
    wanted = f"{APP}/reports/vat?year=2026&term=1"
    page = await api.client.get(f"{APP}/login?next={quote(wanted, safe='')}")
    refused = await api.client.post(
        f"{APP}/login", data={"token": "nope", "_csrf_token": _csrf(page.text), "next": wanted}
    )
    assert refused.status_code == 401
    link = re.search(r'<a class="lang" href="([^"]+)"', refused.text)
    assert link is not None
    english = await api.client.get(link.group(1).replace("&amp;", "&"))
    assert f'name="next" value="{wanted.replace("&", "&amp;")}"' in english.text
    assert "Log in" in english.text


async def test_a_form_sent_after_the_session_ended_logs_in_back_to_the_form(api: Api) -> None:
    """A decision posted after the session expired sent the login to the list, away from
    the proposal the reviewer was deciding; it now leads back to the proposal's page."""
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    csrf = await login(api, "kari", "reviewer")
    proposal = f"{APP}/review/{proposed['proposalId']}"
    api.client.cookies.delete("bk_session", path="/app")
    for headers in ({}, {"referer": f"{str(api.client.base_url).rstrip('/')}{proposal}"}):
        sent = await api.client.post(
            f"{proposal}/approve",
            data={"_csrf_token": csrf, "comment": "ok"},
            headers=headers,
            follow_redirects=False,
        )
        assert sent.status_code == 303
        assert sent.headers["location"].startswith(f"{APP}/login?next={quote(proposal, safe='')}")
    state = await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


async def test_a_note_written_in_a_documents_thread_is_shown_with_the_proposal(api: Api) -> None:
    """A correction written in a document's Discord thread ("feil, det skal være konto
    6540") reached the reviewer in Discord only: the page and the audit trail lost it."""
    import uuid

    from bookkeeper.application.ports import Principal

    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal = proposed["streamId"]
    conversation = await resolve(api.container.conversation)
    writer = Principal(subject="discord:55", tenant_id="acme", roles=frozenset({"agent"}))
    await conversation.note(
        writer,
        uuid.UUID(proposal),
        "feil, det skal være konto 6540 <b>ikke</b> 5990",
        source="discord",
        channel_id="discord:4242",
    )
    await login(api, "kari", "reviewer")
    page = await api.client.get(f"{APP}/review/{proposal}?lang=nb")
    notes = page.text.split('id="notes"', 1)[1].split("</ul>", 1)[0]
    assert "«feil, det skal være konto 6540 &lt;b&gt;ikke&lt;/b&gt; 5990»" in notes
    assert "Merknad" in page.text  # in the history too, by its name
    # The audit trail: in the proposal's correlation, the writer as actor.
    trail = await api.client.get(
        f"{API}/events", params={"correlationId": proposed["correlationId"]}, headers=api.agent
    )
    [noted] = [e for e in trail.json()["items"] if e["type"] == "ProposalNoted"]
    assert noted["actor"] == "human:discord:55"
    assert noted["data"]["proposalId"] == proposal and noted["data"]["channel"] == "discord"


@pytest.mark.parametrize(
    ("now", "length", "heading", "due"),
    [
        # 00:30 on 1 January in Oslo is still 31 December in UTC: the term to report is
        # last year's sixth (due 10 February), not the empty first term of the new year.
        (dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), "bimonthly", "2026-6", "10.02.2027"),
        # The day after that return's due date (00:30 on 11 February in Oslo): the term
        # the company is in.
        (dt.datetime(2027, 2, 10, 23, 30, tzinfo=dt.UTC), "bimonthly", "2027-1", "12.04.2027"),
        # A yearly company: last year's return until its due date (10 March), then the year.
        (dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), "yearly", "2026 (årstermin)",
         "10.03.2027"),
        (dt.datetime(2027, 3, 10, 23, 30, tzinfo=dt.UTC), "yearly", "2027 (årstermin)",
         "10.03.2028"),
    ],
)  # fmt: skip
async def test_the_vat_page_opens_on_the_term_to_report_as_oslo_and_the_company_count_it(
    api: Api, now: dt.datetime, length: str, heading: str, due: str
) -> None:
    """The page's default term came from the server's wall clock and the bi-monthly
    calendar whatever the company's term: not the application's clock (so never what a
    reviewer at 00:30 on 1 January in Oslo needs), and a yearly company got a term picker
    of six terms its report does not have."""
    saved = await api.client.put(
        f"{API}/rules/review-rules", json={"vatTerm": length}, headers=api.headers("ada", "admin")
    )
    assert saved.status_code == 200, saved.text
    api.clock.current = now
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/vat")).text
    title = page.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert heading in title, title
    assert f"{i18n.text('due', 'nb')} {due}" in page
    assert ('<select name="term">' in page) == (length == "bimonthly")
    # A term asked for is still the one shown.
    asked = (await api.client.get(f"{APP}/reports/vat?year=2025&term=3")).text
    assert ("2025-3" if length == "bimonthly" else "2025 (årstermin)") in asked


async def test_a_form_opened_before_another_persons_plain_first_approval_still_approves(
    api: Api,
) -> None:
    """The stale-form check (test_web_browser: a proposal another person changed) refuses
    only a form whose values are no longer the proposal's: after a first approval that
    changed nothing, the page's approval is the second one, not a refusal."""
    from bookkeeper.domain.review import ReviewRules
    from tests.http_helpers import TENANT

    api.database.factory.db.rules[TENANT] = ReviewRules(two_approvers_above=Decimal("100"))
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal = proposed["proposalId"]
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal}")).text
    seen = re.search(r'name="seen" value="(\d+)"', page)
    assert seen, page
    shown = dict(re.findall(r'<input name="([a-z_]+)" id="fix-[a-z_]+" value="([^"]*)"', page))
    assert shown["account_code"] == "6540"
    endorsed = await api.approve(proposal, None, api.headers("ola", "reviewer"))
    assert endorsed.status_code == 200, endorsed.text
    approved = await api.client.post(
        f"{APP}/review/{proposal}/approve",
        data={"_csrf_token": csrf, "seen": seen.group(1), **shown, "comment": ""},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    state = (await api.client.get(f"{API}/proposals/{proposal}", headers=api.viewer)).json()
    assert (state["status"], state["endorsedBy"], state["decidedBy"]) == (
        "APPROVED",
        "human:ola",
        "human:kari",
    )


async def test_a_rejection_sent_from_a_page_drawn_before_another_persons_change_is_refused(
    api: Api,
) -> None:
    """The approve form was stale-checked (409 when someone else changed the proposal
    after the page was drawn) but the reject form was not: Kari's rejection decided on a
    proposal Ola had meanwhile approved with a correction she never saw. Now it comes
    back 409 with the proposal as it is, her reason kept, and saying who changed it; sent
    again from that page, it rejects."""
    from bookkeeper.domain.review import ReviewRules
    from tests.http_helpers import TENANT

    api.database.factory.db.rules[TENANT] = ReviewRules(two_approvers_above=Decimal("100"))
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal = proposed["proposalId"]
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal}")).text
    reject_form = page.split('id="reject-form"', 1)[1].split("</form>", 1)[0]
    seen = re.search(r'name="seen" value="(\d+)"', reject_form)
    assert seen, reject_form
    endorsed = await api.approve(
        proposal, {"corrections": {"accountCode": "6810"}}, api.headers("ola", "reviewer")
    )
    assert endorsed.status_code == 200, endorsed.text
    form = {"_csrf_token": csrf, "seen": seen.group(1), "reason": "Privat kjøp"}
    refused = await api.client.post(
        f"{APP}/review/{proposal}/reject", data=form, follow_redirects=False
    )
    assert refused.status_code == 409, refused.text
    assert "endret forslaget etter at du åpnet det" in refused.text
    assert 'value="Privat kjøp"' in refused.text  # the reason is kept
    state = (await api.client.get(f"{API}/proposals/{proposal}", headers=api.viewer)).json()
    assert (state["status"], state["accountCode"]) == ("PROPOSED", "6810")
    fresh = re.search(r'name="seen" value="(\d+)"', refused.text.split('id="reject-form"', 1)[1])
    assert fresh and int(fresh.group(1)) > int(seen.group(1))
    again = await api.client.post(
        f"{APP}/review/{proposal}/reject",
        data={**form, "seen": fresh.group(1)},
        follow_redirects=False,
    )
    assert again.status_code == 303, again.text
    state = (await api.client.get(f"{API}/proposals/{proposal}", headers=api.viewer)).json()
    assert (state["status"], state["decidedBy"]) == ("REJECTED", "human:kari")
    # The same rejection sent twice (a double click) still answers as the first did.
    twice = await api.client.post(
        f"{APP}/review/{proposal}/reject",
        data={**form, "seen": fresh.group(1)},
        follow_redirects=False,
    )
    assert twice.status_code == 303, twice.text


async def test_the_vat_page_says_a_rate_with_a_decimal_comma(api: Api) -> None:
    """A sale of raw fish (code 32, 11.11 %): the Norwegian VAT page said "11.11" beside
    amounts written "1 000,00" — a rate is written as the proposal page writes it."""
    await _sell(api, "2026-11-30", "1000.00", "111.10", code="32", description="Salg av råfisk")
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6")).text
    row = page.split('data-label="Mva-kode">32<', 1)[1].split("</tr>", 1)[0]
    assert ">11,11<" in row and "11.11" not in row, row
    english = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6&lang=en")).text
    assert ">11.11<" in english


async def test_an_empty_vat_term_says_its_return_is_still_due(api: Api) -> None:
    """norway.md: a return is due even with nothing to report. The page of an empty term
    said only "no postings", as if there were nothing to do."""
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/vat?year=2027&term=1")).text
    note = page.split('id="nil-return">', 1)[1].split("</p>", 1)[0]
    assert "skal likevel leveres innen 12.04.2027" in note, note
    english = (await api.client.get(f"{APP}/reports/vat?year=2027&term=1&lang=en")).text
    assert "still due by 2027-04-12" in english


async def test_a_vat_line_off_its_basis_times_rate_is_flagged_before_filing(api: Api) -> None:
    """Skatteetaten's rule R019: a return line's VAT must be its basis × rate; a return
    with a line more than rounding off is marked as deviating. The report summed what was
    booked and said nothing: one sale of four booked at 15 % under code 3 made the line
    ten kroner off, unseen until the return was filed."""
    sales = [("1000.00", "250.00"), ("99.99", "25.00"), ("100.00", "15.00"), ("400.00", "100.00")]
    for number, (base, vat) in enumerate(sales):
        await _sell(api, f"2026-11-{number + 2:02d}", base, vat)
    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 6}, headers=api.viewer
    )
    [line] = report.json()["lines"]
    assert (line["vatCode"], line["base"], line["vat"]) == ("3", "1599.99", "390.00")
    assert line["deviation"] == "-10.00"  # 1 599,99 × 25 % = 400,00
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6")).text
    alert = page.split('id="vat-deviation">', 1)[1].split("</p>", 1)[0]
    assert f"kode 3 ({i18n.money('-10.00', 'nb')})" in alert, alert
    assert 'class="deviation"' in page


async def test_a_vat_line_off_its_basis_times_rate_is_flagged_in_the_csv(api: Api) -> None:
    """The JSON and the page flagged R019's deviation; the CSV had no column for it."""
    await _sell(api, "2026-11-02", "1000.00", "250.00")
    await _sell(api, "2026-11-03", "100.00", "15.00")  # 15 % booked under code 3
    await _sell(api, "2026-11-04", "2000.00", "500.00", code="31")  # 25 % under 31: +200
    sent = await api.client.get(
        f"{API}/reports/vat",
        params={"year": 2026, "term": 6, "format": "csv"},
        headers=api.viewer,
    )
    reader = csv_module.DictReader(io.StringIO(sent.text))
    by_code = {row["vatCode"]: row for row in reader}
    header = list(reader.fieldnames or ())
    assert by_code["3"]["deviation"] == "-10.00"  # 1 100 × 25 % = 275, booked 265
    assert by_code["31"]["deviation"] == "200.00"  # 2 000 × 15 % = 300, booked 500
    assert by_code["payable"]["deviation"] == ""
    assert header[:8] == ["vatCode", "rate", "direction", "base", "vat", "side", "inReturn", "note"]


async def _credit_note(api: Api, date: str, base: str, vat: str) -> None:
    """A credit note of a sale (of this term or an earlier one) under code 3: 3000 and
    2700 debited, the customer (1500) owes the gross less."""
    gross = str(Decimal(base) + Decimal(vat))
    entry = {
        "date": date,
        "description": "Kreditnota",
        "lines": [
            {"account": "3000", "debit": base, "vatCode": "3", "vatPart": "base"},
            {"account": "2700", "debit": vat, "vatCode": "3", "vatPart": "tax"},
            {"account": "1500", "credit": gross},
        ],
    }
    posted = await api.client.post(
        f"{API}/journal-entries", json=entry, headers=api.headers("anne", "accountant")
    )
    assert posted.status_code == 201, posted.text


async def _buy(api: Api, date: str, base: str, vat: str, *, code: str = "1") -> None:
    """A purchase booked by journal entry: 6300 the cost and 2710 the VAT under `code`,
    2400 owes the whole; a negative base and VAT is the supplier's credit note."""
    gross = Decimal(base) + Decimal(vat)

    def side(account: str, amount: Decimal, **extra: str) -> dict[str, str]:
        key = "debit" if amount >= 0 else "credit"
        return {"account": account, key: str(abs(amount)), **extra}

    entry = {
        "date": date,
        "description": "Kjøp",
        "lines": [
            side("6300", Decimal(base), vatCode=code, vatPart="base"),
            side("2710", Decimal(vat), vatCode=code, vatPart="tax"),
            side("2400", -gross),
        ],
    }
    posted = await api.client.post(
        f"{API}/journal-entries", json=entry, headers=api.headers("anne", "accountant")
    )
    assert posted.status_code == 201, posted.text


async def test_a_term_of_credit_notes_says_the_return_needs_a_remark(api: Api) -> None:
    """Skatteetaten's rules R020 / R021: a line of the sign opposite to its kind (a sale's
    basis below zero, input VAT that pays back) must carry a remark (merknad) in the
    return, else it is marked as deviating. A term where a credit note correcting an
    earlier term's sale outweighs the term's sales, and a supplier's credit note its
    purchases, said nothing of it: not in the JSON, the page or the CSV."""
    await _sell(api, "2026-11-02", "200.00", "50.00")
    await _credit_note(api, "2026-11-03", "1000.00", "250.00")
    await _buy(api, "2026-11-04", "100.00", "25.00")
    await _buy(api, "2026-11-05", "-400.00", "-100.00")
    await _sell(api, "2026-11-06", "300.00", "36.00", code="33")  # an ordinary line
    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 6}, headers=api.viewer
    )
    body = report.json()
    remarks = {line["vatCode"]: line["remark"] for line in body["lines"]}
    assert remarks == {"1": "R021", "3": "R020", "33": None}, body["lines"]
    assert "merknad" in body["remarkNote"] and "code 3 (R020)" in body["remarkNote"]
    assert "code 1 (R021)" in body["remarkNote"]
    csv = await api.client.get(
        f"{API}/reports/vat",
        params={"year": 2026, "term": 6, "format": "csv"},
        headers=api.viewer,
    )
    by_code = {row["vatCode"]: row for row in csv_module.DictReader(io.StringIO(csv.text))}
    assert (by_code["3"]["remark"], by_code["1"]["remark"], by_code["33"]["remark"]) == (
        "R020",
        "R021",
        "",
    )
    assert "merknad" in by_code["remark"]["note"]
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6")).text
    alert = page.split('id="vat-remark">', 1)[1].split("</p>", 1)[0]
    assert "merknad" in alert and "kode 3 (R020)" in alert and "kode 1 (R021)" in alert, alert
    assert "kode 33" not in alert
    assert 'class="remark"' in page


async def test_an_ordinary_term_needs_no_remark(api: Api) -> None:
    """A term whose sales and purchases keep their signs, a credit note included."""
    await _sell(api, "2026-11-02", "1000.00", "250.00")
    await _credit_note(api, "2026-11-03", "400.00", "100.00")
    await _buy(api, "2026-11-04", "100.00", "25.00")
    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 6}, headers=api.viewer
    )
    body = report.json()
    assert [line["remark"] for line in body["lines"]] == [None, None]
    assert body["remarkNote"] is None
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6")).text
    assert 'id="vat-remark"' not in page


async def test_a_vat_line_within_rounding_is_not_flagged(api: Api) -> None:
    """Each document's VAT rounded to øre: a term's line may lie øre off basis × rate."""
    for day in range(1, 11):
        await _sell(api, f"2026-11-{day:02d}", "0.02", "0.01")
    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 6}, headers=api.viewer
    )
    [line] = report.json()["lines"]
    assert (line["base"], line["vat"], line["deviation"]) == ("0.20", "0.10", None)


async def test_a_first_of_two_approvals_is_confirmed_and_a_double_click_answers_as_it(
    api: Api,
) -> None:
    """Two approvals required: the page after Kari's approval said nothing (it looked as if
    nothing had happened), and the same form sent twice (a double click) answered the
    second time "Ikke utført: du har allerede godkjent dette" — the page the browser shows
    said her approval failed, though it was recorded."""
    from bookkeeper.domain.review import ReviewRules
    from tests.http_helpers import TENANT

    api.database.factory.db.rules[TENANT] = ReviewRules(two_approvers_above=Decimal("100"))
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal = proposed["proposalId"]
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal}")).text
    seen = re.search(r'name="seen" value="(\d+)"', page)
    assert seen, page
    form = {"_csrf_token": csrf, "seen": seen.group(1), "account_code": "6810", "comment": "ok"}
    for _ in range(2):
        sent = await api.client.post(
            f"{APP}/review/{proposal}/approve", data=form, follow_redirects=False
        )
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"{APP}/review/{proposal}?done=approved"
    shown = (await api.client.get(f"{APP}/review/{proposal}?done=approved")).text
    notice = shown.split('role="status">', 1)[1].split("</p>", 1)[0]
    assert "første av to" in notice, notice
    state = (await api.client.get(f"{API}/proposals/{proposal}", headers=api.viewer)).json()
    assert (state["status"], state["endorsedBy"], state["accountCode"]) == (
        "PROPOSED",
        "human:kari",
        "6810",
    )
    # Another value in the second form is still refused, and says why.
    other = await api.client.post(
        f"{APP}/review/{proposal}/approve",
        data={**form, "account_code": "6540"},
        follow_redirects=False,
    )
    assert other.status_code == 403, other.text
    assert "annen godkjenner" in other.text


async def test_a_term_across_the_change_to_summer_time_holds_exactly_its_days(api: Api) -> None:
    """March–April 2026 has 29 March, the day clocks go forward: the term is its calendar
    days, the sale on its first and last day in it and 1 May's in the next (checked; it
    held before)."""
    for day in ("2026-03-01", "2026-03-29", "2026-04-30", "2026-05-01"):
        await _sell(api, day, "100.00", "25.00")
    for term, base in ((2, "300.00"), (3, "100.00")):
        report = await api.client.get(
            f"{API}/reports/vat", params={"year": 2026, "term": term}, headers=api.viewer
        )
        [line] = report.json()["lines"]
        assert (line["base"], line["deviation"]) == (base, None)
    # At 00:30 on 1 May in Oslo (22:30 UTC on 30 April, summer time) the page opens on
    # March–April, the term whose return is due next (10 June).
    api.clock.current = dt.datetime(2026, 4, 30, 22, 30, tzinfo=dt.UTC)
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/vat")).text
    assert "2026-2" in page.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert "01.03.2026 – 30.04.2026" in page and "10.06.2026" in page


async def test_the_history_shows_what_each_person_wrote_when_deciding(api: Api) -> None:
    """A reviewer's comment on an approval (and on the first of two approvals) was recorded
    in its event but shown nowhere on the page: the second approver could not read why the
    first one changed the account, and nobody could read it after. Each decision in the
    history now carries the words its person wrote (a comment, a rejection's reason)."""
    from bookkeeper.domain.review import ReviewRules
    from tests.http_helpers import TENANT

    assert api.database is not None
    api.database.factory.db.rules[TENANT] = ReviewRules(two_approvers_above=Decimal("100"))
    proposed = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal = proposed["proposalId"]
    first = {
        "corrections": {"accountCode": "6810"},
        "comment": "Lisensen til Per, 6810 & ikke 6540",
    }
    endorsed = await api.approve(proposal, first, api.headers("ola", "reviewer"))
    assert endorsed.status_code == 200, endorsed.text
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal}")).text
    history = page.split('id="hist-h"', 1)[1]
    assert "Merknad" in history
    assert "Lisensen til Per, 6810 &amp; ikke 6540" in history  # escaped, as written
    seen = re.search(r'name="seen" value="(\d+)"', page)
    assert seen, page
    shown = dict(re.findall(r'<input name="([a-z_]+)" id="fix-[a-z_]+" value="([^"]*)"', page))
    approved = await api.client.post(
        f"{APP}/review/{proposal}/approve",
        data={"_csrf_token": csrf, "seen": seen.group(1), **shown, "comment": "Enig med Ola"},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    history = (await api.client.get(f"{APP}/review/{proposal}")).text.split('id="hist-h"', 1)[1]
    assert "Lisensen til Per" in history and "Enig med Ola" in history
    english = await api.client.get(f"{APP}/review/{proposal}?lang=en")
    assert "Note" in english.text.split('id="hist-h"', 1)[1]
    # A rejection's reason is in its row too.
    other = (await api.propose("ReceiptAttachmentProposed", receipt(amount="99.00")))["proposalId"]
    refused = await api.reject(other, {"reason": "Privat kjøp"}, api.headers("ola", "reviewer"))
    assert refused.status_code == 200, refused.text
    page = (await api.client.get(f"{APP}/review/{other}?lang=nb")).text
    history = page.split('id="hist-h"', 1)[1]
    row = history.split("Privat kjøp", 1)[0].rsplit("<tr>", 1)[1]
    assert "avvist" in row.lower(), row


async def test_the_general_ledgers_csv_download_holds_every_line_not_one_page(api: Api) -> None:
    """ "Last ned CSV" on the general ledger page gave the API's one page (50 lines) with the
    next cursor in a header no browser shows: an account with more lines was cut short
    without a word. The page's download is the whole account for the period (the same
    columns), from whatever page the link was on; the page itself still pages."""
    for day in range(1, 58):
        await _sell(api, f"2026-10-{(day - 1) % 28 + 1:02d}", f"{4 * day}.00", f"{day}.00")
    await login(api, "vera", "viewer")
    page = (await api.client.get(f"{APP}/reports/general-ledger?account=1500")).text
    assert "cursor=" in page  # the page shows 50 lines and a link to the next
    csv_link = re.search(r'href="([^"]*format=csv[^"]*)"', page)
    assert csv_link, page
    for link in (csv_link.group(1).replace("&amp;", "&"), None):
        if link is None:  # the link on the second page
            second = re.search(r'href="([^"]*cursor=[^"]*)"', page)
            assert second, page
            follow = (await api.client.get(second.group(1).replace("&amp;", "&"))).text
            found = re.search(r'href="([^"]*format=csv[^"]*)"', follow)
            assert found and "cursor=" in found.group(1), follow
            link = found.group(1).replace("&amp;", "&")
        download = await api.client.get(link)
        assert download.status_code == 200, download.text
        assert "next-cursor" not in download.headers
        rows = download.text.strip().splitlines()
        assert rows[0].startswith("date,entryId,lineNo,description,debit,credit,balance")
        assert rows[1].split(",")[3] == "opening balance"
        lines = rows[2:]
        assert len(lines) == 57, len(lines)
        owed = 5 * 57 * 58 // 2  # each sale's gross is 5 × its day number
        assert sum(Decimal(r.split(",")[4]) for r in lines) == Decimal(owed)
        assert lines[-1].split(",")[6] == f"{owed}.00"  # the running balance at the end
