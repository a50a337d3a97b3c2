"""A company registered for VAT from 1 March (ADR 0064, addendum) over HTTP on SQLite and
PostgreSQL: an admin sets `vatRegisteredFrom`, GET shows it, a date that is no date is
refused, and the VAT report of January–February has no return (no due date, a note saying
why, what was booked shown apart) while March–April's is due as always."""

from __future__ import annotations

from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api
from tests.integration.test_web_pages import APP, login
from tests.integration.test_yearly_vat_term_http import _sale


async def test_no_vat_return_for_a_term_before_the_registration(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, _ = fiken_world
    admin = api.headers("ada", "admin")
    accountant = api.headers("anna", "accountant")
    for bad in ("01.03.2026", "2026-02-30", 20260301):
        refused = await api.client.put(
            f"{API}/rules/review-rules", json={"vatRegisteredFrom": bad}, headers=admin
        )
        assert refused.status_code in (400, 422), (bad, refused.text)
    saved = await api.client.put(
        f"{API}/rules/review-rules", json={"vatRegisteredFrom": "2026-03-01"}, headers=admin
    )
    assert saved.status_code == 200, saved.text
    shown = (await api.client.get(f"{API}/rules/review-rules", headers=admin)).json()
    assert (shown["vatRegisteredFrom"], shown["vatRegistered"]) == ("2026-03-01", True)

    for day in ("2026-02-03", "2026-03-02"):
        posted = await api.client.post(
            f"{API}/journal-entries", json=_sale(day), headers=accountant
        )
        assert posted.status_code == 201, posted.text

    before = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 1}, headers=api.viewer
    )
    assert before.status_code == 200, before.text
    body = before.json()
    assert (body["dueDate"], body["vatRegistered"], body["payable"]) == (None, False, "0.00")
    assert body["note"] == (
        "the company is VAT-registered from 2026-03-01: it files no VAT return (mva-melding) "
        "for a term that ended before then"
    )
    assert [line["vatCode"] for line in body["notInReturn"]] == ["3"]  # shown, not counted

    after = (
        await api.client.get(
            f"{API}/reports/vat", params={"year": 2026, "term": 2}, headers=api.viewer
        )
    ).json()
    assert (after["dueDate"], after["vatRegistered"], after["payable"]) == (
        "2026-06-10",
        True,
        "250.00",
    )
    assert after["note"] is None

    await login(api, "kari", "reviewer")
    page = (await api.client.get(f"{APP}/reports/vat?year=2026&term=1")).text
    assert "mva-registrert fra 01.03.2026" in page and "ikke mva-registrert" not in page

    cleared = await api.client.put(
        f"{API}/rules/review-rules", json={"vatRegisteredFrom": None}, headers=admin
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["vatRegisteredFrom"] is None
    again = (
        await api.client.get(
            f"{API}/reports/vat", params={"year": 2026, "term": 1}, headers=api.viewer
        )
    ).json()
    assert (again["dueDate"], again["payable"]) == ("2026-04-10", "250.00")
