"""The web page under /app, through HTTP (the browser tests are in test_web_browser.py):
login by pasted token, session cookie and CSRF, the review queue and decisions through the
same commands and rules as REST, the reports and their CSV, both languages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_helpers import API, Api, mint, receipt, running_api

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
        data={"_csrf_token": csrf, "account_code": "6550", "vat_rate": "25", "comment": "ok"},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    state = (
        await api.client.get(f"{API}/proposals/{proposed['proposalId']}", headers=api.viewer)
    ).json()
    assert state["status"] == "APPROVED"
    assert state["decidedBy"] == "human:kari"
    assert state["corrections"] == {"accountCode": "6550"}


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
