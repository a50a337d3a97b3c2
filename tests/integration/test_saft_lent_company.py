"""Wired end to end: with the process-wide BOOKKEEPER_FIKEN_* (a loopback fake whose
company is "Fiken Demo AS") and no credentials of its own, a second tenant's SAF-T file
named the environment's company in its header. It is the environment's company while the
log holds one tenant; once another shares it, a tenant without its own credentials is
given no company's identity (503 company-unknown, as with no company at all)."""

from __future__ import annotations

from pathlib import Path

import msgspec
from dependency_injector import providers

from bookkeeper.settings import Settings
from tests.fakes.fiken import FakeFiken
from tests.fakes.server import serve_in_thread
from tests.http_helpers import API, Api, running_api, sqlite_container

TOKEN = "fiken-environment-token-5c1d"
PERIOD = {"from": "2026-01-01", "to": "2026-12-31"}


async def _post_entry(api: Api, tenant: str) -> None:
    entry = {
        "date": "2026-03-01",
        "description": "Husleie",
        "lines": [
            {"account": "6300", "debit": "1000.00"},
            {"account": "1920", "credit": "1000.00"},
        ],
    }
    response = await api.client.post(
        f"{API}/journal-entries",
        json=entry,
        headers=api.headers("al", "accountant", tenant=tenant),
    )
    assert response.status_code == 201, response.text


async def test_the_environments_company_is_not_lent_to_another_tenant(
    tmp_path: Path, sqlite_url: str
) -> None:
    fiken = FakeFiken(token=TOKEN, company="acme-as")
    with serve_in_thread(fiken.app) as root:
        settings = msgspec.structs.replace(
            Settings.for_data_dir(tmp_path, database_url=sqlite_url, executor_enabled=False),
            fiken_token=TOKEN,
            fiken_company="acme-as",
            fiken_base_url=f"{root}/api/v2",
        )
        container = sqlite_container(tmp_path)
        container.settings.override(providers.Object(settings))
        async with running_api(tmp_path, container=container) as api:
            await _post_entry(api, "acme")
            acme = await api.client.get(
                f"{API}/exports/saf-t",
                params=PERIOD,
                headers=api.headers("al", "accountant", tenant="acme"),
            )
            assert acme.status_code == 200, acme.text
            assert "<Name>Fiken Demo AS</Name>" in acme.text  # the one tenant's company

            await _post_entry(api, "globex")
            globex = await api.client.get(
                f"{API}/exports/saf-t",
                params=PERIOD,
                headers=api.headers("gus", "accountant", tenant="globex"),
            )
            assert globex.status_code == 503, globex.text[:500]
            assert globex.json()["code"] == "company-unknown"
            assert "own Fiken credentials" in globex.json()["detail"]
            assert "Fiken Demo AS" not in globex.text
