"""Helpers for the HTTP and CLI tests: the app on in-memory storage, tokens, payloads.

The app is built by the real `create_app` from the real container; only providers are
overridden (the test seam): `database` by an in-memory stand-in, `clock` by a fixed
clock, `settings` by settings in a temporary directory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from dependency_injector import providers
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bookkeeper.adapters.memory import MemoryDatabase as MemoryDatabaseState
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.ports import AfterCommit, UnitOfWorkFactory
from bookkeeper.container import Container
from bookkeeper.entrypoints.http.app import create_app
from bookkeeper.settings import Settings
from tests.polling import polls
from tests.unit.conftest import FixedClock

if TYPE_CHECKING:
    from tests.fakes.fiken import FakeFiken

API = "/api/book-keeper/v1"
TENANT = "acme"


class MemoryDatabase:
    """Stands in for SqlDatabase: same surface, in-memory units of work."""

    dialect = "memory"

    def __init__(self) -> None:
        self.memory = MemoryDatabaseState()
        self.factory = MemoryUnitOfWorkFactory(self.memory)
        self.healthy = True
        self.migrations = 0
        self.disposed = False

    def uow_factory(self, after_commit: AfterCommit | None = None) -> UnitOfWorkFactory:
        """Units of work on the shared in-memory state, handing over to `after_commit`."""
        self.factory = MemoryUnitOfWorkFactory(self.memory, after_commit=after_commit)
        return self.factory

    async def migrate(self) -> None:
        self.migrations += 1

    async def check_schema(self) -> None:
        """In memory there is no schema to be behind."""

    async def ping(self) -> None:
        if not self.healthy:
            raise ConnectionError("database is down")

    async def dispose(self) -> None:
        self.disposed = True


def memory_container(
    data_dir: Path,
    *,
    clock: FixedClock | None = None,
    database: Any | None = None,
    database_url: str = "memory://",
    executor: bool = False,
) -> Container:
    """The real container, on in-memory storage, with its key under `data_dir`; the
    executor runs only when asked (most tests look at approved proposals as they are)."""
    container = Container()
    container.settings.override(
        providers.Object(Settings.for_data_dir(data_dir, executor_enabled=executor))
    )
    container.clock.override(providers.Object(clock or FixedClock()))
    container.database.override(providers.Object(database or MemoryDatabase()))
    container.redacted_database_url.override(providers.Object(database_url))
    return container


def sqlite_container(
    data_dir: Path, database_url: str | None = None, *, executor: bool = False
) -> Container:
    """The production container; only settings (a temporary data dir, the executor off
    unless asked) and the clock fixed."""
    overrides: dict[str, object] = {"executor_enabled": executor}
    if database_url:
        overrides["database_url"] = database_url
    container = Container()
    container.settings.override(providers.Object(Settings.for_data_dir(data_dir, **overrides)))
    container.clock.override(providers.Object(FixedClock()))
    return container


def mint(
    container: Container,
    subject: str,
    *roles: str,
    tenant: str = TENANT,
    ttl: dt.timedelta = dt.timedelta(hours=1),
) -> str:
    token: str = container.token_issuer().mint(subject, tenant, roles, ttl)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    """A port that was free a moment ago; another process may take it before the server
    binds it. Start a server on port 0 and read its port back (`announced_port`) where
    it logs it; else retry when it could not bind (`address_in_use`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: uvicorn's line once it listens, with the port it bound (also for port 0); the lean
#: supervisor of `serve --workers N` writes the same line (supervisor.bind).
_LISTENING = re.compile(r"Uvicorn running on \S+:(\d+) ")


def announced_port(log: str) -> int | None:
    """The port a server started with `--port 0` bound, from its log; None before it
    listens. (granian logs the port it was given, 0: use `free_port` with it.)"""
    found = _LISTENING.search(log)
    return int(found.group(1)) if found else None


def address_in_use(log: str) -> bool:
    """Whether a server's log says it could not bind its port (uvicorn and granian)."""
    return "address already in use" in log.lower()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections while the block runs: bound, so that no
    other process can take it, and not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        port: int = held.getsockname()[1]
        yield port


# --- payloads ---------------------------------------------------------------------------


def receipt(**changes: Any) -> dict[str, Any]:
    """A complete, consistent receipt of Adobe (story 1)."""
    data: dict[str, Any] = {
        "merchantName": "Adobe Systems Software Ireland Ltd",
        "amount": "199.00",
        "date": "2026-11-20",
        "vatRate": "25",
        "vatAmount": "39.80",
        "accountCode": "6540",
        "folioEventId": "ev-123",
        "documentNumber": "R-1",
        "merchantOrgNumber": "923609016",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def pattern(merchant: str = "Adobe", account: str = "6540", vat_rate: str = "25") -> dict[str, Any]:
    return {"merchant": merchant, "accountCode": account, "vatRate": vat_rate}


def invoice(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "supplier": "Telenor Norge AS",
        "amount": "1250.00",
        "date": "2026-11-01",
        "dueDate": "2026-11-15",
        "vatRate": "25",
        "accountCode": "6900",
        "invoiceNumber": "F-1001",
    }
    data.update(changes)
    return data


def expense(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "employee": "Ola Nordmann",
        "merchantName": "Ruter",
        "category": "travel",
        "amount": "448.00",
        "date": "2026-11-12",
        "vatRate": "12",
        "accountCode": "7140",
    }
    data.update(changes)
    return data


def vat_lines(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """A VAT report's lines as the tests compare them: code, rate, direction, base, VAT."""
    return [
        (ln["vatCode"], ln["rate"], ln["direction"], ln["base"], ln["vat"])
        for ln in report["lines"]
    ]


def submission(type_: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": type_, "data": data, **fields}


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status (and code, when given), with every
    member the API promises; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    if code is not None:
        assert body["code"] == code
    return body


def media_type_parameters(content_type: str) -> list[str]:
    """The parameter names of a Content-Type value, in order (lower case), after checking
    that none is repeated, as strict parsers do: Go's mime.ParseMediaType, which Prometheus
    3 reads a scrape's Content-Type with, refuses "text/plain; charset=utf-8; charset=utf-8"
    ("duplicate parameter name") and fails the scrape."""
    names = [part.split("=", 1)[0].strip().lower() for part in content_type.split(";")[1:]]
    assert len(names) == len(set(names)), f"a parameter is repeated in {content_type!r}"
    return names


def problem_fields(body: dict[str, Any]) -> set[str]:
    return {str(e.get("field")) for e in body.get("errors") or ()}


def operation_ids(schema: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    methods: Iterable[str] = ("get", "post", "put", "patch", "delete")
    return {
        (method.upper(), path): operation.get("operationId")
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in methods
    }


# --- a running app ----------------------------------------------------------------------


class Api:
    """The app under test with a client, and ways to act as different principals."""

    def __init__(
        self,
        container: Container,
        client: AsyncTestClient[Litestar] | httpx.AsyncClient,
        clock: FixedClock,
        database: MemoryDatabase | None,
    ) -> None:
        self.container = container
        self.client = client
        self.clock = clock
        self.database = database

    def headers(self, subject: str, *roles: str, tenant: str = TENANT) -> dict[str, str]:
        return bearer(mint(self.container, subject, *roles, tenant=tenant))

    @property
    def agent(self) -> dict[str, str]:
        return self.headers("book-e", "agent")

    @property
    def reviewer(self) -> dict[str, str]:
        return self.headers("kari", "reviewer")

    @property
    def viewer(self) -> dict[str, str]:
        return self.headers("vera", "viewer")

    @property
    def foreigner(self) -> dict[str, str]:
        """A reviewer and agent of another tenant."""
        return self.headers("fred", "reviewer", "agent", tenant="globex")

    async def submit(
        self,
        type_: str,
        data: dict[str, Any],
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        return await self.client.post(
            f"{API}/events",
            json=submission(type_, data, **fields),
            headers=headers if headers is not None else self.agent,
        )

    async def events(self) -> list[dict[str, Any]]:
        """The tenant's events as a viewer lists them (GET /events, first page)."""
        listed = await self.client.get(f"{API}/events", headers=self.viewer)
        assert listed.status_code == 200, listed.text
        items: list[dict[str, Any]] = listed.json()["items"]
        return items

    async def executed(self, proposal_id: str) -> dict[str, Any]:
        """The proposal once the app's own executor has carried it out (polled as a
        viewer); fails if it ends FAILED instead. With the app's executor off (the
        default of `sqlite_container` and `memory_container`), one pass of the container's
        executor is run here first."""
        if not self.container.settings().executor_enabled:
            from bookkeeper.container import resolve

            await (await resolve(self.container.executor)).run_once()
        for _ in polls():
            done = await self.client.get(f"{API}/proposals/{proposal_id}", headers=self.viewer)
            if done.json()["status"] in ("EXECUTED", "FAILED"):
                break
            await asyncio.sleep(0.2)
        view: dict[str, Any] = done.json()
        assert view["status"] == "EXECUTED", view
        return view

    async def vat_report(self, year: int, term: int) -> dict[str, Any]:
        """The VAT report of a term as a viewer reads it (GET /reports/vat)."""
        report = await self.client.get(
            f"{API}/reports/vat", params={"year": year, "term": term}, headers=self.viewer
        )
        assert report.status_code == 200, report.text
        body: dict[str, Any] = report.json()
        return body

    async def propose(self, type_: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Submit as the agent and return the 201 body."""
        response = await self.submit(type_, data, **fields)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def approve(
        self, proposal_id: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"{API}/events/{proposal_id}/approve",
            json=body,
            headers=headers if headers is not None else self.reviewer,
        )

    async def reject(
        self, proposal_id: str, body: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"{API}/events/{proposal_id}/reject",
            json=body,
            headers=headers if headers is not None else self.reviewer,
        )

    async def learn_adobe(self) -> None:
        """Story 1's premise: a reviewer approved the pattern Adobe → 6540 at 25 %."""
        suggested = await self.propose("PatternSuggested", pattern())
        approved = await self.approve(suggested["proposalId"])
        assert approved.status_code == 200, approved.text


@asynccontextmanager
async def running_api(
    data_dir: Path, *, database: MemoryDatabase | None = None, container: Container | None = None
) -> AsyncIterator[Api]:
    """Start the app (lifespan included) on in-memory storage, or on `container`."""
    clock = FixedClock()
    if container is None:
        database = database or MemoryDatabase()
        container = memory_container(data_dir, clock=clock, database=database)
    app = create_app(container)
    async with AsyncTestClient(app) as client:
        yield Api(container, client, clock, database)


@contextmanager
def serving(container: Container) -> Iterator[str]:
    """The whole app of `container` on 127.0.0.1:<free port> in a thread with its own event
    loop, lifespan included; its base URL."""
    from tests.fakes.server import serve_in_thread

    with serve_in_thread(create_app(container), lifespan=True, start_timeout=30) as base:
        yield base


@asynccontextmanager
async def served_api(data_dir: Path, *, container: Container | None = None) -> AsyncIterator[Api]:
    """`running_api`, but served by uvicorn on a loopback socket (its own thread and event
    loop, lifespan included) and reached by a plain httpx client: requests sent together
    (`asyncio.gather`) are in the app at the same time. Litestar's AsyncTestClient runs
    each request to its end through its portal before the next starts, so a race tested
    through it never races."""
    clock = FixedClock()
    database = None
    if container is None:
        database = MemoryDatabase()
        container = memory_container(data_dir, clock=clock, database=database)
    with serving(container) as base:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            yield Api(container, client, clock, database)


async def raw_asgi(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> httpx.Response:
    """One request straight through ASGI with its headers exactly as given (the test client
    folds repeated ones into one comma-joined value, as a server does not)."""
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return httpx.Response(start["status"], headers=start["headers"], content=content)


@asynccontextmanager
async def api_with_fiken(
    tmp_path: Path,
    database_url: str | None,
    token: str,
    company: str,
    **settings: object,
) -> AsyncIterator[tuple[Api, FakeFiken]]:
    """The app with its own executor on, booking in the loopback Fiken fake (the real client
    and adapter over HTTP), on SQLite (`database_url` None) or the database named; yields
    the API and the fake. Fiken's client lives on the app's event loop. `settings`
    override more (`executor_enabled=False`: the test runs the passes itself)."""
    from tests.fakes.fiken import API_PREFIX, FakeFiken
    from tests.fakes.server import serve_in_thread

    fiken = FakeFiken(token=token, company=company)
    with serve_in_thread(fiken.app) as root:
        overrides: dict[str, object] = {
            "executor_enabled": True,
            "executor_interval_seconds": 1,
            "fiken_token": token,
            "fiken_company": company,
            "fiken_base_url": f"{root}{API_PREFIX}",
            **settings,
        }
        if database_url:
            overrides["database_url"] = database_url
        container = sqlite_container(tmp_path, database_url)
        container.settings.override(providers.Object(Settings.for_data_dir(tmp_path, **overrides)))
        async with running_api(tmp_path, container=container) as api:
            yield api, fiken
