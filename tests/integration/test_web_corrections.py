"""The review page's correction form, through HTTP (webfix): a document whose amount or date
the reader could not read is approved on the page with the reviewer's values, typed as
people in Norway type them; the pipeline's own warnings and the confidence reasons are
shown in Norwegian words. The browser walk of the same form is in test_web_browser.py."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import API, Api, running_api
from tests.integration.test_web_pages import APP, login
from tests.unseen_documents import pdf


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def _upload(api: Api, rows: list[Any]) -> dict[str, Any]:
    uploaded = await api.client.post(
        f"{API}/documents",
        files={"file": ("bilag.pdf", pdf(rows), "application/pdf")},
        headers=api.agent,
    )
    assert uploaded.status_code == 201, uploaded.text
    body: dict[str, Any] = uploaded.json()
    return body


def _input(page: str, name: str) -> str:
    """The <input> tag of the approve form's field `name` (its attributes, unescaped)."""
    found = re.search(rf'<input name="{name}"[^>]*>', page, flags=re.S)
    assert found, f"no {name} field"
    return html.unescape(found.group(0))


def _value(page: str, name: str) -> str:
    found = re.search(r'value="([^"]*)"', _input(page, name))
    return found.group(1) if found else ""


async def _state(api: Api, proposal: str) -> dict[str, Any]:
    response = await api.client.get(f"{API}/proposals/{proposal}", headers=api.viewer)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def test_an_unread_amount_is_given_on_the_page_and_a_bad_one_loses_nothing(
    api: Api,
) -> None:
    uploaded = await _upload(
        api, ["Kafé Solsiden", "Dato 18.11.2026", "Takk for besøket!", "Velkommen igjen"]
    )
    proposal = uploaded["proposal"]["id"]
    assert any("no amount" in w for w in uploaded["warnings"]), uploaded["warnings"]
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal}?lang=nb")).text
    # The fields a correction may change are offered, the unread one empty and required.
    for name in ("amount", "date", "account_code", "vat_rate"):
        assert f'name="{name}"' in page, name
    assert 'name="merchant_name"' in page or 'name="supplier"' in page
    assert "required" in _input(page, "amount") and _value(page, "amount") == ""
    assert "kunne ikke leses" in page
    assert _value(page, "date") == "18.11.2026"  # a read date, as people read it

    # Approving without the amount is refused by the rule, on the page.
    missing = await api.client.post(
        f"{APP}/review/{proposal}/approve", data={"_csrf_token": csrf, "comment": "sjekket"}
    )
    assert missing.status_code == 422
    assert "beløpet kunne ikke leses fra dokumentet" in html.unescape(missing.text)
    assert 'value="sjekket"' in missing.text
    assert (await _state(api, proposal))["status"] == "PROPOSED"
    # Nor is a credit's amount a purchase's: said in Norwegian, the proposal unchanged.
    negative = await api.client.post(
        f"{APP}/review/{proposal}/approve", data={"_csrf_token": csrf, "amount": "-180,20"}
    )
    assert negative.status_code == 422
    assert "beløpet må være større enn null" in html.unescape(negative.text)
    assert _value(negative.text, "amount") == "-180,20"

    # A number that is not one: a Norwegian sentence naming the field, and what was typed
    # (here and in the other fields) is still in the form.
    url = f"{APP}/review/{proposal}/approve"
    bad = await api.client.post(
        url,
        data={
            "_csrf_token": csrf,
            "amount": "12O,50",
            "date": "19.11.2026",
            "comment": "kvittering",
        },
    )
    assert bad.status_code == 422
    text = html.unescape(bad.text)
    assert "Beløp: «12O,50» er ikke et tall" in text
    assert _value(bad.text, "amount") == "12O,50"
    assert 'aria-invalid="true"' in _input(bad.text, "amount")
    assert _value(bad.text, "date") == "19.11.2026"
    assert 'value="kvittering"' in bad.text
    assert (await _state(api, proposal))["status"] == "PROPOSED"

    # A day that does not exist is no date.
    no_day = await api.client.post(
        url, data={"_csrf_token": csrf, "amount": "120,50", "date": "31.02.2026"}
    )
    assert no_day.status_code == 422
    assert "«31.02.2026» er ikke en dato" in html.unescape(no_day.text)

    done = await api.client.post(
        url,
        data={"_csrf_token": csrf, "amount": "1 234,50 kr", "date": "19.11.2026", "comment": "ok"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    state = await _state(api, proposal)
    assert state["status"] in ("APPROVED", "EXECUTED"), state
    corrections = state["corrections"]
    assert corrections["amount"] == "1234.50"
    assert corrections["date"] == "2026-11-19"
    assert "vatRate" not in corrections and "accountCode" not in corrections  # left as shown


async def test_an_unread_date_is_given_in_iso_or_norwegian(api: Api) -> None:
    uploaded = await _upload(api, ["Kafé Solsiden", ("Lunsj", "180,00"), ("Totalt", "kr 180,00")])
    proposal = uploaded["proposal"]["id"]
    csrf = await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal}")).text
    if "required" not in _input(page, "date"):
        pytest.skip("the reader found a date in this document")
    assert _value(page, "amount") == "180,00"
    done = await api.client.post(
        f"{APP}/review/{proposal}/approve",
        data={"_csrf_token": csrf, "amount": "180,00", "date": "2026-11-17"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    corrections = (await _state(api, proposal))["corrections"]
    assert corrections == {"date": "2026-11-17"}  # the amount as shown is no correction


async def test_the_pipelines_own_warnings_and_the_reasons_are_in_norwegian(api: Api) -> None:
    """ "No VAT rate read; 25 % assumed" is the pipeline's, not the reader's: recorded with
    the proposal (its metadata) and shown with the reader's warnings; the confidence
    reasons and the history in Norwegian words."""
    uploaded = await _upload(
        api, ["Kafé Solsiden", "Dato 18.11.2026", ("Lunsj", "180,00"), ("Totalt", "kr 180,00")]
    )
    proposal = uploaded["proposal"]["id"]
    assert "no VAT rate read; 25 % assumed" in uploaded["warnings"]
    events = (await api.client.get(f"{API}/events/{proposal}", headers=api.viewer)).json()
    assert "no VAT rate read; 25 % assumed" in events["metadata"]["warnings"]
    await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal}?lang=nb")).text
    warnings = html.unescape(page.split('id="warnings"', 1)[1].split("</ul>", 1)[0])
    assert "ingen mva-sats lest; 25 % antatt" in warnings
    reasons = html.unescape(page.split('class="reasons"', 1)[1].split("</ul>", 1)[0])
    for english in ("<strong>completeness</strong>", "<strong>pattern</strong>", "(0.", "(-0."):
        assert english not in reasons, english
    assert "poeng)" in reasons
    history = page.split('id="hist-h"', 1)[1]
    assert ">DocumentExtracted<" not in history and "Dokumentet lest" in history
    assert ": foreslått" in history
    assert "Kategori</dt><dd>other" not in page
    english = (await api.client.get(f"{APP}/review/{proposal}?lang=en")).text
    assert "no VAT rate read; 25 % assumed" in html.unescape(english)
    assert "points)" in english
