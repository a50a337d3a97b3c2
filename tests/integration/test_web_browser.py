"""The web page end to end in headless Chromium (Debian's `chromium`, driven by Playwright).

The real app — embedded SQLite, sandbox books and bank, the executor running — serves on a
loopback port; an agent proposes over REST, and a reviewer in the browser logs in with a
pasted token, sees the proposal beside its document, approves it, watches it executed,
and downloads the trial balance as CSV; on a desktop and on a phone-sized screen, by mouse
and by keyboard. Skipped when Chromium or Playwright is missing, except under CI=true
(.ci/run installs chromium), where that fails.

BOOKKEEPER_WEB_SCREENSHOTS=<dir> also saves the screenshots the README shows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from dependency_injector import providers

from bookkeeper.settings import Settings
from tests.fakes.oidc import running_fake_issuer
from tests.http_helpers import API, mint, serving, sqlite_container
from tests.polling import polls

CHROMIUM = os.environ.get("BOOKKEEPER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = os.environ.get("BOOKKEEPER_WEB_SCREENSHOTS")

#: One Chromium for the module (its launch was a second or more of every test's setup):
#: the tests run in the module's event loop, where it was launched, and each test opens a
#: browser context of its own (cookies, storage, viewport, locale: nothing carries over).
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.long]


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"chromium is not installed at {CHROMIUM}"
    return None


@pytest.fixture(scope="module", autouse=True)
def _browser_available() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests are mandatory)")
    pytest.skip(reason)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The embedded default with the executor: (base URL, container)."""
    container = sqlite_container(tmp_path, executor=True)
    with serving(container) as base:
        yield base, container


def _png() -> bytes:
    """A small receipt picture (PNG) with some text on it."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (360, 480), "white")
    draw = ImageDraw.Draw(image)
    lines = ["KVITTERING", "Rema 1000 Grünerløkka", "2026-11-18", "", "Kaffe og frukt", "",
             "SUM NOK 180,20", "Herav mva 25 %"]  # fmt: skip
    for number, line in enumerate(lines):
        draw.text((30, 40 + number * 40), line, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def _propose_receipt(base: str, container: Any, content: bytes) -> str:
    """As the agent: upload a receipt for a bank event that lacks one and propose it."""
    agent = {"Authorization": f"Bearer {mint(container, 'book-e', 'agent')}"}
    today = container.clock().now().date()
    window = {"from": (today - dt.timedelta(days=60)).isoformat(), "to": today.isoformat()}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        missing = await client.get(f"{API}/bank/missing-receipts", params=window, headers=agent)
        assert missing.status_code == 200, missing.text
        events = missing.json()["transactions"]
        event = events[0]
        uploaded = await client.post(
            f"{API}/files?filename=kvittering.png",
            content=content,
            headers={**agent, "Content-Type": "image/png"},
        )
        assert uploaded.status_code == 201, uploaded.text
        proposed = await client.post(
            f"{API}/events",
            headers=agent,
            json={
                "type": "ReceiptAttachmentProposed",
                "data": {
                    "merchantName": event.get("merchantName") or event["description"],
                    "amount": str(Decimal(event["amount"]).copy_abs()),
                    "date": event["date"],
                    "vatRate": "25",
                    "accountCode": "6800",
                    "folioEventId": event["eventId"],
                    "documentHash": uploaded.json()["sha256"],
                },
            },
        )
        assert proposed.status_code == 201, proposed.text
        proposal_id: str = proposed.json()["proposalId"]
        return proposal_id


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    # `launch` gives the browser a fresh temporary profile (user-data-dir) of its own and
    # removes it at close; Playwright refuses a --user-data-dir argument here.
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _login(page: Any, base: str, token: str) -> None:
    await page.goto(f"{base}/app/review")
    assert "/app/login" in page.url
    await page.fill("#token", token)
    await page.click("form[action='/app/login'] button[type=submit]")
    await page.wait_for_url(f"{base}/app/review")


async def _until_executed(page: Any) -> str:
    """Reload the proposal page until its status badge says it was carried out."""
    text = ""
    for _ in polls():
        text = (await page.inner_text("#status")).strip()
        if text in ("Utført", "Executed", "Feilet", "Failed"):
            return text
        await asyncio.sleep(0.1)
        await page.reload()
    return text


async def _shot(page: Any, name: str) -> None:
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


async def test_a_reviewer_approves_in_the_browser_and_downloads_the_csv(
    server: tuple[str, Any], browser: Any
) -> None:
    base, container = server
    proposal_id = await _propose_receipt(base, container, _png())
    context = await browser.new_context(
        accept_downloads=True, locale="nb-NO", viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    await _login(page, base, mint(container, "kari", "reviewer"))

    row = page.locator(f"a[href='/app/review/{proposal_id}']")
    assert await row.count() == 1
    await _shot(page, "web-queue.png")
    await row.click()
    await page.wait_for_url(f"{base}/app/review/{proposal_id}")
    image = page.locator(".document img")
    assert await image.count() == 1
    assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert await page.locator(".reasons li").count() >= 1
    await _shot(page, "web-proposal.png")

    await page.click("#approve-form button[type=submit]")
    await page.wait_for_url(f"{base}/app/review/{proposal_id}?done=approved")
    assert await _until_executed(page) == "Utført"
    assert "folioAttachmentId" in await page.inner_text(".facts")

    await page.goto(f"{base}/app/reports/trial-balance")
    assert "6800" in await page.inner_text("table")
    assert await page.locator("svg.chart rect").count() >= 3
    await _shot(page, "web-trial-balance.png")
    async with page.expect_download() as waiting:
        await page.click("a[download]")
    download = await waiting.value
    assert download.suggested_filename == "trial-balance.csv"
    content = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    header, *rows = content.splitlines()
    assert header == "account,name,opening,debit,credit,balance,carried,closing"
    accounts = {r.split(",")[0] for r in rows}
    assert {"6800", "2710", "1920", "total"} <= accounts

    await page.goto(f"{base}/app/reports/income-statement?lang=en")
    assert "Income statement" in await page.inner_text("h1")
    await _shot(page, "web-income-statement.png")
    await context.close()


async def test_on_a_phone_by_keyboard_in_english(server: tuple[str, Any], browser: Any) -> None:
    base, container = server
    proposal_id = await _propose_receipt(base, container, _png())
    context = await browser.new_context(
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en-GB,en;q=0.9"},
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = await context.new_page()
    await _login(page, base, mint(container, "kari", "reviewer"))
    assert "Proposals waiting" in await page.inner_text("h1")
    fits = "document.documentElement.scrollWidth <= window.innerWidth + 1"
    assert await page.evaluate(fits)
    await _shot(page, "web-phone-queue.png")

    # Keyboard only: j focuses the first proposal, Enter opens it, a focuses Approve.
    await page.keyboard.press("j")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/app/review/{proposal_id}")
    assert await page.evaluate(fits)
    await page.keyboard.press("a")
    focused = await page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Approve"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/app/review/{proposal_id}?done=approved")
    assert await _until_executed(page) == "Executed"
    await _shot(page, "web-phone-proposal.png")

    await page.goto(f"{base}/app/reports/balance-sheet")
    assert await page.evaluate(fits)
    assert "Balance sheet" in await page.inner_text("h1")

    # Spending: costs recorded as a pull does (into the same SQLite file), shown as cards.
    await _seed_costs(container.settings().database_url)
    await page.goto(f"{base}/app/reports/spending")
    assert "Spending" in await page.inner_text("h1")
    assert await page.evaluate(fits)
    assert "anthropic" in await page.inner_text("#costs")
    assert await page.locator("svg.chart.daily rect.series").count() == 2 + 1  # + legend
    await _shot(page, "web-phone-spending.png")
    await context.close()


async def test_a_proposal_another_person_changed_while_the_page_was_open(
    server: tuple[str, Any], browser: Any
) -> None:
    """Two approvers are required; Ola gives the first approval over REST, moving the
    account, while Kari has the proposal open. Her stale form carried the old account: the
    approval was refused as a correction of an endorsed proposal and the page came back
    with her stale values, so "approve it as it is" could never succeed (and had she
    typed the new account, she would never have been told why). Now the form carries the
    proposal's position it was drawn at; the page says who changed it and shows it as it
    is; her next approval is the second one, of what Ola endorsed — nothing lost, nothing
    approved twice."""
    base, container = server
    admin = {"Authorization": f"Bearer {mint(container, 'ada', 'admin')}"}
    ola = {"Authorization": f"Bearer {mint(container, 'ola', 'reviewer')}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        saved = await client.put(
            f"{API}/rules/review-rules", json={"twoApproversAbove": "0.01"}, headers=admin
        )
        assert saved.status_code == 200, saved.text
        proposal_id = await _propose_receipt(base, container, _png())
        context = await browser.new_context(locale="nb-NO")
        page = await context.new_page()
        await _login(page, base, mint(container, "kari", "reviewer"))
        await page.goto(f"{base}/app/review/{proposal_id}")
        assert await page.input_value("#fix-account_code") == "6800"
        await page.fill("input[name=comment]", "sjekket mot kvitteringen")

        endorsed = await client.post(
            f"{API}/events/{proposal_id}/approve",
            json={"corrections": {"accountCode": "6810"}},
            headers=ola,
        )
        assert endorsed.status_code == 200, endorsed.text

        # By keyboard: from the comment, Tab reaches Approve, Enter sends the stale form.
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.textContent.trim()") == "Godkjenn"
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/app/review/{proposal_id}/approve")
        alert = await page.inner_text("[role=alert]")
        assert "ola endret forslaget etter at du åpnet det" in alert, alert
        assert (await page.inner_text("#status")).strip() == "Venter"
        assert await page.input_value("#fix-account_code") == "6810"
        assert await page.input_value("input[name=comment]") == "sjekket mot kvitteringen"

        await page.click("#approve-form button[type=submit]")
        await page.wait_for_url(f"{base}/app/review/{proposal_id}?done=approved")
        state = (await client.get(f"{API}/proposals/{proposal_id}", headers=ola)).json()
        assert (state["accountCode"], state["endorsedBy"], state["decidedBy"]) == (
            "6810",
            "human:ola",
            "human:kari",
        )
        events = await client.get(
            f"{API}/events", params={"streamId": proposal_id, "limit": 100}, headers=ola
        )
        steps = [e["type"] for e in events.json()["items"]]
        assert steps.count("ReceiptAttachmentEndorsed") == 1, steps
        assert steps.count("ReceiptAttachmentApproved") == 1, steps
        await context.close()


async def test_a_long_supplier_name_stays_on_a_phones_screen(
    server: tuple[str, Any], browser: Any
) -> None:
    """A supplier name of one long word (a name read off a receipt without its spaces)
    pushed the proposal's heading, and with it the page, eight times a phone's width: the
    buttons to decide it were off the screen."""
    base, container = server
    agent = {"Authorization": f"Bearer {mint(container, 'book-e', 'agent')}"}
    name = "Aksjeselskapet" + "Ø" * 150
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        proposed = await client.post(
            f"{API}/events",
            headers=agent,
            json={
                "type": "ReceiptAttachmentProposed",
                "data": {"merchantName": name, "amount": "1234567.50", "date": "2026-11-18",
                         "vatRate": "25", "accountCode": "6800", "folioEventId": "ev-long"},
            },
        )  # fmt: skip
        assert proposed.status_code == 201, proposed.text
    proposal_id = proposed.json()["proposalId"]
    context = await browser.new_context(locale="nb-NO", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await _login(page, base, mint(container, "kari", "reviewer"))
    fits = "document.documentElement.scrollWidth <= window.innerWidth + 1"
    assert await page.evaluate(fits)
    await page.goto(f"{base}/app/review/{proposal_id}")
    assert name in await page.inner_text("h1")
    assert await page.evaluate(fits), await page.evaluate("document.documentElement.scrollWidth")
    assert "1 234 567,50" in (await page.inner_text(".facts")).replace("\u00a0", " ")
    await context.close()


async def test_a_reviewer_gives_the_amount_the_reader_could_not_read(
    server: tuple[str, Any], browser: Any
) -> None:
    """A receipt without a readable total is proposed with a stand-in amount that cannot be
    approved as it is: in the browser the reviewer types the amount and the date as people
    in Norway write them, sees a mistyped one refused in Norwegian with what was typed
    kept, and then the corrected proposal."""
    from tests.unseen_documents import pdf

    base, container = server
    agent = {"Authorization": f"Bearer {mint(container, 'book-e', 'agent')}"}
    document = pdf(["Kafé Solsiden", "Dato 18.11.2026", "Takk for besøket!"])
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        uploaded = await client.post(
            f"{API}/documents",
            files={"file": ("bilag.pdf", document, "application/pdf")},
            headers=agent,
        )
    assert uploaded.status_code == 201, uploaded.text
    proposal_id = uploaded.json()["proposal"]["id"]
    context = await browser.new_context(locale="nb-NO", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await _login(page, base, mint(container, "kari", "reviewer"))
    await page.goto(f"{base}/app/review/{proposal_id}")
    amount = page.locator("#approve-form input[name=amount]")
    assert await amount.get_attribute("required") is not None
    assert await amount.input_value() == ""
    assert await page.locator("#approve-form input[name=date]").input_value() == "18.11.2026"

    # A letter O for a zero: refused on the page, in Norwegian, nothing typed lost.
    await amount.fill("1 234,5O")
    await page.fill("#approve-form input[name=date]", "19.11.2026")
    await page.fill("#approve-form input[name=comment]", "kvittering fra lunsj")
    await page.click("#approve-form button[type=submit]")
    alert = await page.inner_text("[role=alert]")
    assert "Beløp: «1 234,5O» er ikke et tall" in alert
    assert await amount.input_value() == "1 234,5O"
    assert await page.locator("#approve-form input[name=date]").input_value() == "19.11.2026"
    assert await page.locator("#approve-form input[name=comment]").input_value() == (
        "kvittering fra lunsj"
    )
    await _shot(page, "web-correction-refused.png")

    await amount.fill("1 234,50")
    await page.click("#approve-form button[type=submit]")
    await page.wait_for_url(f"{base}/app/review/{proposal_id}?done=approved")
    facts = (await page.inner_text(".facts")).replace("\u00a0", " ").replace("\u202f", " ")
    assert "→ Beløp" in facts and "1 234,50" in facts
    assert "→ Dato" in facts and "19.11.2026" in facts
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        state = await client.get(
            f"{API}/proposals/{proposal_id}",
            headers={"Authorization": f"Bearer {mint(container, 'vera', 'viewer')}"},
        )
    corrections = state.json()["corrections"]
    assert corrections["amount"] == "1234.50" and corrections["date"] == "2026-11-19"
    await context.close()


async def test_an_error_page_leads_somewhere_useful(server: tuple[str, Any], browser: Any) -> None:
    """What a person sees when a page refuses: an HTML page in Norwegian (never the API's
    JSON) whose link leads on, never back to the page that refused. A role that may not
    read proposals lands on the refusing list after logging in; its link went to the list
    again. A form's address opened as a page (405), an address naming no page (404) and a
    parameter given twice (400) each get a page whose link leads to the form, upwards or
    back; the language link of a refused approval opens the proposal, not the action."""
    base, container = server
    proposal_id = await _propose_receipt(base, container, _png())
    context = await browser.new_context(locale="nb-NO", viewport={"width": 1280, "height": 900})
    page = await context.new_page()

    async def refusal() -> str:
        assert "text/html" in (await page.evaluate("document.contentType"))
        assert await page.locator("h1").inner_text() == "Noe gikk galt"
        return await page.inner_text("[role=alert]")

    await page.goto(f"{base}/app/review")
    await page.fill("#token", mint(container, "ivar", "auditor"))
    await page.click("form[action='/app/login'] button[type=submit]")
    await page.wait_for_url(f"{base}/app/review")
    assert "ikke tilgang" in await refusal()
    await page.click("#back")
    await page.wait_for_url(f"{base}/app/reports")
    assert await page.locator("h1").inner_text() == "Rapporter"
    await page.click("form[action='/app/logout'] button[type=submit]")

    await _login(page, base, mint(container, "kari", "reviewer"))
    answer = await page.goto(f"{base}/app/review/{proposal_id}/approve")
    assert answer is not None and answer.status == 405
    assert "handlingen til et skjema" in await refusal()
    await page.click("#back")
    await page.wait_for_url(f"{base}/app/review/{proposal_id}")
    assert await page.locator("#approve-form").count() == 1

    answer = await page.goto(f"{base}/app/reports/no-such-report")
    assert answer is not None and answer.status == 404
    assert "Siden finnes ikke" in await refusal()
    await page.click("#back")
    await page.wait_for_url(f"{base}/app/reports")

    shown = f"{base}/app/reports/vat?year=2026&term=1"
    await page.goto(shown)
    answer = await page.goto(f"{shown}&year=2025", referer=shown)
    assert answer is not None and answer.status == 400
    assert "«year» er gitt mer enn én gang" in await refusal()
    assert await page.inner_text("#back") == "Tilbake til forrige side"
    await page.click("#back")
    await page.wait_for_url(shown)

    # A refused approval is shown at the action's address; English opens the proposal.
    await page.goto(f"{base}/app/review/{proposal_id}")
    await page.fill("#approve-form input[name=vat_rate]", "mye")
    await page.click("#approve-form button[type=submit]")
    assert "«mye»" in await page.inner_text("[role=alert]")
    await page.click("a.lang")
    await page.wait_for_url(f"{base}/app/review/{proposal_id}?lang=en")
    assert await page.locator("#approve-form button[type=submit]").inner_text() == "Approve"
    await context.close()


async def _seed_costs(database_url: str) -> None:
    """Two days of Anthropic costs (USD, 10 NOK/USD) for acme, through SpendingService."""
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.system import UuidV7Ids
    from bookkeeper.application.authorization import RoleAuthorizer
    from bookkeeper.application.spending import CostRecord, ExchangeRate, SpendingService
    from tests.unit.conftest import FixedClock

    days = [dt.date(2026, 11, 3), dt.date(2026, 11, 18)]
    records = [
        CostRecord(source="anthropic", day=d, service="api", model="m1", currency="USD",
                   amount=Decimal("12.34"))
        for d in days
    ]  # fmt: skip

    class Source:
        name = "anthropic"

        async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
            return records

    class Rates:
        async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
            return ExchangeRate(currency=currency, date=day, rate=Decimal(10))

    database = SqlDatabase(database_url, pool_size=1, max_overflow=0)
    try:
        service = SpendingService(
            database.uow_factory(), FixedClock(), UuidV7Ids(), RoleAuthorizer(), Rates(),
            [Source()],
        )  # fmt: skip
        assert (await service.pull("acme", days[0], days[-1])).recorded == 2
    finally:
        await database.dispose()


async def test_a_person_logs_in_at_the_identity_provider(tmp_path: Path, browser: Any) -> None:
    async with running_fake_issuer() as fake:
        fake.add_key("RS256")
        container = sqlite_container(tmp_path)
        container.settings.override(
            providers.Object(
                Settings.for_data_dir(
                    tmp_path,
                    executor_enabled=False,
                    oidc_issuer=fake.issuer,
                    oidc_client_id=fake.client_id,
                )
            )
        )
        with serving(container) as base:
            context = await browser.new_context(locale="en-GB")
            page = await context.new_page()
            await page.goto(f"{base}/app/reports?lang=en")
            assert "/app/login" in page.url
            await page.click("text=Log in with your company account")
            await page.wait_for_url(f"{base}/app/reports?lang=en")  # back where it started
            assert "Signed in as kari (acme)" in await page.inner_text("header")
            assert fake.token_requests == 1
            cookies = {c["name"]: c for c in await context.cookies()}
            assert cookies["bk_session"]["httpOnly"] is True
            assert cookies["bk_session"]["sameSite"] == "Lax"
            await page.click("text=Log out")
            await page.wait_for_url(f"{base}/app/login")
            await page.goto(f"{base}/app/reports")
            assert "/app/login" in page.url
            await context.close()
