"""POST /events: a supplied `id` and an Idempotency-Key, alone and together, on SQLite and
PostgreSQL (ADR 0001 and ADR 0013 addenda of helper authhard).

- A supplied `id` is the submission's identity in the caller's tenant: the event's id is
  derived from it and the tenant; an event recorded under the raw id before that (as the
  application's own callers still record theirs) is found by a retry, in its tenant only.
- With an `id` and a key together the key decides: the same key with the same `id` and
  body replays, with another body or another `id` (or none) it is 409, and nothing new is
  recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import PatternSuggestionData
from tests.http_helpers import API, TENANT, Api, assert_problem, pattern, running_api
from tests.integration.test_tenant_route_walk import _container


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    async with running_api(tmp_path, container=_container(tmp_path, url)) as running:
        yield running


async def _post(
    api: Api, body: dict[str, Any], key: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = dict(headers or api.agent)
    if key is not None:
        sent["Idempotency-Key"] = key
    return await api.client.post(f"{API}/events", json=body, headers=sent)


async def _count(api: Api) -> int:
    listed = await api.client.get(f"{API}/events", headers=api.agent)
    assert listed.status_code == 200, listed.text
    return len(listed.json()["items"])


def _pattern(merchant: str = "Adobe", **fields: Any) -> dict[str, Any]:
    return {"type": "PatternSuggested", "data": pattern(merchant), **fields}


async def test_the_same_key_with_the_same_id_and_body_replays(api: Api) -> None:
    body = _pattern(id=str(uuid.uuid4()))
    first = await _post(api, body, key="k-1")
    again = await _post(api, body, key="k-1")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await _count(api) == 1


async def test_the_same_key_with_another_id_or_body_is_409_and_records_nothing(api: Api) -> None:
    """A client that makes a fresh id per attempt but keeps its key: the key is looked up
    (before, the new id made a second event). Its first answer stays its answer."""
    body = _pattern(id=str(uuid.uuid4()))
    first = await _post(api, body, key="k-1")
    assert first.status_code == 201, first.text
    for retry in (
        _pattern(id=str(uuid.uuid4())),  # a fresh id
        _pattern(),  # no id
        _pattern("Kiwi", id=body["id"]),  # another body
    ):
        assert_problem(await _post(api, retry, key="k-1"), 409, "idempotency-conflict")
    assert await _count(api) == 1
    replay = await _post(api, body, key="k-1")
    assert replay.json() == first.json()
    # A key used without an id is another request when an id comes with it later.
    plain = await _post(api, _pattern("Telenor"), key="k-2")
    assert plain.status_code == 201, plain.text
    with_id = _pattern("Telenor", id=str(uuid.uuid4()))
    assert_problem(await _post(api, with_id, key="k-2"), 409, "idempotency-conflict")
    assert await _count(api) == 2


async def test_keys_stay_per_caller_and_ids_per_tenant(api: Api) -> None:
    """The same key and id from another tenant's caller is that tenant's own submission."""
    body = _pattern(id=str(uuid.uuid4()))
    mine = await _post(api, body, key="k-1")
    theirs = await _post(api, body, key="k-1", headers=api.foreigner)
    assert mine.status_code == theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["eventId"] != theirs.json()["eventId"]
    alone = await _post(api, body, headers=api.foreigner)  # the id alone: its own identity
    assert alone.status_code == 201 and "idempotent-replayed" not in alone.headers
    assert alone.json()["eventId"] not in (mine.json()["eventId"], theirs.json()["eventId"])


async def test_an_event_recorded_under_the_raw_id_is_found_by_its_retry(api: Api) -> None:
    """Before the ADR 0013 addendum a supplied id was the event's id: a retry of such a
    request replays it (its tenant only) instead of booking it a second time."""
    raw = uuid.uuid4()
    agent = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))
    # Written as the application's own callers write theirs (the event's id as given),
    # by a second process on the same database (the app's runs on its own event loop).
    writer = _container(api.container.settings().data_dir, api.container.settings().database_url)
    try:
        # The container's providers are async (the database is an async resource).
        handlers = await cast("Awaitable[Handlers]", writer.handlers())
        recorded = await handlers.submit(
            SubmitEvent(
                principal=agent,
                type="PatternSuggested",
                data=PatternSuggestionData(
                    merchant="Adobe", account_code="6540", vat_rate=Decimal(25)
                ),
                event_id=raw,
            )
        )
    finally:
        await (await cast("Awaitable[SqlDatabase]", writer.database())).dispose()
    assert recorded.event_id == raw
    retry = await _post(api, _pattern(id=str(raw)))
    assert retry.status_code == 201, retry.text
    assert retry.json()["eventId"] == str(raw)
    assert retry.headers["idempotent-replayed"] == "true"
    assert_problem(await _post(api, _pattern("Kiwi", id=str(raw))), 409, "idempotency-conflict")
    # Another tenant's retry of the same id is its own, new submission.
    theirs = await _post(api, _pattern(id=str(raw)), headers=api.foreigner)
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["eventId"] != str(raw)
    assert await _count(api) == 1
