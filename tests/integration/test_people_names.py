"""Learnt names outlive the process (ADR 0017 addendum): what a person is called, learnt
from a sign-in's name claim or a Discord display name, is kept in `people_names`
(migration 0025), so a restart or another replica shows the name too, not the login."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.people import SqlNameStore
from bookkeeper.application.people import People
from tests.http_helpers import receipt, running_api
from tests.integration.test_tenant_route_walk import _container
from tests.integration.test_web_pages import APP, _csrf, login

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


async def test_a_name_learnt_before_a_restart_is_still_shown(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Signed in with her name claim, kari approved; after a restart (a fresh process on
    the same database, as another replica is) the page said "Avgjort av kari"."""
    async with running_api(tmp_path, container=_container(tmp_path, sqlite_url)) as api:
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
        approved = await api.client.post(
            f"{APP}/review/{proposed['proposalId']}/approve",
            data={"_csrf_token": _csrf(queue.text)},
            follow_redirects=False,
        )
        assert approved.status_code == 303, approved.text
    async with running_api(tmp_path, container=_container(tmp_path, sqlite_url)) as again:
        await login(again, "revisor", "viewer")
        detail = (await again.client.get(f"{APP}/review/{proposed['proposalId']}")).text
        assert "Avgjort av Kari Nordmann" in detail


async def test_names_are_kept_per_tenant_and_the_latest_wins(sql_database: SqlDatabase) -> None:
    store = SqlNameStore(sql_database)
    await store.save("acme", "kari", "Kari", T0)
    await store.save("acme", "kari", "Kari Nordmann", T0 + dt.timedelta(minutes=1))
    await store.save("globex", "kari", "Mallory", T0)
    await store.save("acme", "ola", "Ola", T0 - dt.timedelta(days=1))
    assert await store.recent(10) == [
        ("acme", "kari", "Kari Nordmann"),
        ("globex", "kari", "Mallory"),
        ("acme", "ola", "Ola"),
    ]
    assert await store.recent(1) == [("acme", "kari", "Kari Nordmann")]


async def test_another_process_learns_what_one_learnt(sql_database: SqlDatabase) -> None:
    one = People(store=SqlNameStore(sql_database), now=lambda: T0)
    other = People(store=SqlNameStore(sql_database), now=lambda: T0)
    await other.sync()  # nothing yet
    one.learn("acme", "kari", "Kari Nordmann")
    await one.sync()
    assert other.name("human:kari", tenant="acme") == "kari"  # not read again yet
    other.forget_refresh()
    await other.sync()
    assert other.name("human:kari", tenant="acme") == "Kari Nordmann"
    assert other.name("human:kari", tenant="globex") == "kari"
