"""Issue 14 on SQLite and PostgreSQL, over HTTP and from the command line: a tenant's own
credentials are stored encrypted (never in plaintext in the database file), shown back as
metadata only (never the secret, in no answer and no log line), and changed by admins of
that tenant only."""

from __future__ import annotations

import io
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from cryptography.fernet import Fernet
from dependency_injector import providers

from bookkeeper.adapters.credentials.fernet import FernetBox
from bookkeeper.adapters.memory import MemoryEventStore
from bookkeeper.adapters.sql.event_store import SqlEventStore
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.credentials import (
    CredentialsService,
    CredentialsUnreadable,
    StoredCredentials,
    fingerprint,
)
from bookkeeper.application.ports import (
    CredentialsStore,
    Principal,
    RecordedEvent,
    UnitOfWorkFactory,
)
from bookkeeper.domain.events import CredentialsReencryptedData
from bookkeeper.entrypoints.cli.main import main
from bookkeeper.settings import Settings
from tests.fakes.fiken import FakeFiken
from tests.fakes.server import serve_in_thread
from tests.http_helpers import API, FixedClock, running_api, sqlite_container

SECRET = "fiken-token-must-never-show-4f2a9c"
NEW_SECRET = "fiken-token-the-second-one-77d1e0"
KEY = Fernet.generate_key().decode()
T = TypeVar("T")


def row(tenant: str, provider: str, ciphertext: str, secret: str = SECRET) -> StoredCredentials:
    return StoredCredentials(
        tenant_id=tenant,
        provider=provider,
        company="acme-as" if provider == "fiken" else None,
        base_url=None,
        ciphertext=ciphertext,
        fingerprint=fingerprint(secret),
        set_by="human:ada",
        set_at=FixedClock().now(),
    )


async def test_the_store_keeps_versions_revisions_and_rewraps(
    uow_factory: UnitOfWorkFactory,
) -> None:
    box = FernetBox([KEY])

    async def run(work: Callable[[CredentialsStore], Awaitable[T]], commit: bool = True) -> T:
        async with uow_factory() as uow:
            result = await work(uow.credentials)
            if commit:
                await uow.commit()
            return result

    start = await run(lambda s: s.revision())
    assert await run(lambda s: s.get("acme", "fiken")) is None
    assert await run(lambda s: s.tenant_count()) == 0
    first = await run(lambda s: s.put(row("acme", "fiken", box.encrypt(SECRET))))
    assert first.version == 1
    second = await run(lambda s: s.put(row("acme", "fiken", box.encrypt(NEW_SECRET), NEW_SECRET)))
    assert second.version == 2
    await run(lambda s: s.put(row("acme", "folio", box.encrypt(SECRET))))
    await run(lambda s: s.put(row("globex", "folio", box.encrypt(SECRET))))
    stored = await run(lambda s: s.get("acme", "fiken"))
    assert stored is not None and stored.version == 2 and stored.set_at == FixedClock().now()
    assert box.decrypt(stored.ciphertext) == NEW_SECRET
    assert stored.fingerprint == fingerprint(NEW_SECRET)
    assert [(s.tenant_id, s.provider) for s in await run(lambda s: s.listing("acme"))] == [
        ("acme", "fiken"),
        ("acme", "folio"),
    ]
    assert len(await run(lambda s: s.listing())) == 3
    assert await run(lambda s: s.tenant_count()) == 2
    assert await run(lambda s: s.revision()) == start + 4
    rotated = FernetBox([Fernet.generate_key().decode(), KEY])
    rewrapped = await run(lambda s: s.rewrap(rotated.rotate))
    assert [(r.tenant_id, r.provider, r.version) for r in rewrapped] == [
        ("acme", "fiken", 2),
        ("acme", "folio", 1),
        ("globex", "folio", 1),
    ]
    after = await run(lambda s: s.get("acme", "fiken"))
    assert after is not None and after.version == 2 and after.ciphertext != stored.ciphertext
    assert rotated.decrypt(after.ciphertext) == NEW_SECRET
    assert await run(lambda s: s.remove("acme", "fiken")) is True
    # A removal that finds nothing is not committed (the service raises NotFound).
    assert await run(lambda s: s.remove("acme", "fiken"), commit=False) is False
    assert await run(lambda s: s.get("acme", "fiken")) is None
    assert await run(lambda s: s.revision()) == start + 6  # the rewrap and the removal
    # Uncommitted: another unit sees nothing of it.
    await run(lambda s: s.put(row("initech", "folio", box.encrypt(SECRET))), commit=False)
    assert await run(lambda s: s.get("initech", "folio")) is None
    assert await run(lambda s: s.revision()) == start + 6


class AuditFails(Exception):
    """The audit event's append fails (a full disk, a lost connection, a bug)."""


def _failing_appends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event append fails — after the credentials row was written in the same unit."""

    async def fail(*args: object, **kwargs: object) -> None:
        raise AuditFails("the log refused the event")

    monkeypatch.setattr(SqlEventStore, "append", fail)
    monkeypatch.setattr(MemoryEventStore, "append", fail)


def _service(uow_factory: UnitOfWorkFactory, keys: list[str]) -> CredentialsService:
    return CredentialsService(
        FernetBox(keys), uow_factory, FixedClock(), UuidV7Ids(), RoleAuthorizer()
    )


async def _log(uow_factory: UnitOfWorkFactory) -> list[RecordedEvent]:
    async with uow_factory() as uow:
        return await uow.events.read_all(limit=1000)


async def test_a_change_and_its_audit_event_are_committed_together_or_not_at_all(
    uow_factory: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0044 §1: the row and its CredentialsSet / CredentialsRemoved are one transaction.
    A failure between them leaves neither (set), or the row as it was (remove)."""
    service = _service(uow_factory, [KEY])
    ada = Principal(subject="ada", tenant_id="acme", roles=frozenset({"admin"}))
    revision = await service.revision()
    with monkeypatch.context() as patched:
        _failing_appends(patched)
        with pytest.raises(AuditFails):
            await service.set(ada, "acme", "fiken", SECRET, company="acme-as")
    assert await service.resolve("acme", "fiken") is None
    assert await service.revision() == revision and await _log(uow_factory) == []
    await service.set(ada, "acme", "fiken", SECRET, company="acme-as")
    (set_event,) = await _log(uow_factory)
    assert set_event.type == "CredentialsSet"
    with monkeypatch.context() as patched:
        _failing_appends(patched)
        with pytest.raises(AuditFails):
            await service.remove(ada, "acme", "fiken")
        with pytest.raises(AuditFails):
            await service.set(ada, "acme", "fiken", NEW_SECRET, company="acme-as")
    kept = await service.resolve("acme", "fiken")
    assert kept is not None and kept.token == SECRET and kept.version == 1
    assert [e.type for e in await _log(uow_factory)] == ["CredentialsSet"]
    await service.remove(ada, "acme", "fiken")
    assert await service.resolve("acme", "fiken") is None
    assert [e.type for e in await _log(uow_factory)] == ["CredentialsSet", "CredentialsRemoved"]


async def test_rotating_the_key_records_one_event_per_tenant_in_the_same_transaction(
    uow_factory: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0044 §2: `rotate-key` records CredentialsReencrypted in each tenant's log (who,
    when, which providers and their fingerprints; never a secret) with the re-encryption:
    when the events cannot be recorded, nothing is re-encrypted."""
    old = _service(uow_factory, [KEY])
    for tenant, provider, secret in (
        ("acme", "fiken", SECRET),
        ("acme", "folio", NEW_SECRET),
        ("globex", "folio", SECRET),
    ):
        admin = Principal(subject="ada", tenant_id=tenant, roles=frozenset({"admin"}))
        company = f"{tenant}-as" if provider == "fiken" else None
        await old.set(admin, tenant, provider, secret, company=company)
    new_key = Fernet.generate_key().decode()
    rotating = _service(uow_factory, [new_key, KEY])
    with monkeypatch.context() as patched:
        _failing_appends(patched)
        with pytest.raises(AuditFails):
            await rotating.rotate_key("human:operator")
    # Nothing was re-encrypted: the new key alone opens none of them yet.
    with pytest.raises(CredentialsUnreadable):
        await _service(uow_factory, [new_key]).resolve("acme", "fiken")
    assert await rotating.rotate_key("human:operator") == 3
    new_only = _service(uow_factory, [new_key])
    acme = await new_only.resolve("acme", "fiken")
    assert acme is not None and acme.token == SECRET and acme.version == 1
    recorded = [e for e in await _log(uow_factory) if e.type == "CredentialsReencrypted"]
    assert [(e.tenant_id, e.actor, e.data) for e in recorded] == [
        (
            "acme",
            "human:operator",
            CredentialsReencryptedData(
                providers=("fiken", "folio"),
                fingerprints=(fingerprint(SECRET), fingerprint(NEW_SECRET)),
            ),
        ),
        (
            "globex",
            "human:operator",
            CredentialsReencryptedData(providers=("folio",), fingerprints=(fingerprint(SECRET),)),
        ),
    ]
    assert all(e.created_at == FixedClock().now() for e in recorded)
    encoded = msgspec.json.encode([e.data for e in recorded]).decode()
    assert SECRET not in encoded and NEW_SECRET not in encoded


def _settings(data_dir: Path, sqlite_url: str, key: str | None) -> Settings:
    return Settings.for_data_dir(
        data_dir, database_url=sqlite_url, executor_enabled=False, credentials_key=key
    )


def _database_bytes(sqlite_path: Path) -> bytes:
    with sqlite3.connect(sqlite_path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return b"".join(p.read_bytes() for p in sqlite_path.parent.glob(sqlite_path.name + "*"))


async def test_over_http_the_secret_never_comes_back(
    tmp_path: Path, sqlite_url: str, sqlite_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    container = sqlite_container(tmp_path)
    container.settings.override(providers.Object(_settings(tmp_path, sqlite_url, KEY)))
    url = f"{API}/tenants/acme/credentials/fiken"
    answers: list[str] = []
    async with running_api(tmp_path, container=container) as api:
        admin = api.headers("ada", "admin")
        refused = await api.client.put(url, json={"token": SECRET}, headers=admin)
        assert refused.status_code == 422, refused.text  # Fiken needs the company slug
        assert refused.json()["code"] == "invalid-credentials"
        accountant = await api.client.put(
            url,
            json={"token": SECRET, "company": "acme-as"},
            headers=api.headers("al", "accountant"),
        )
        assert accountant.status_code == 403
        # The base URL is the operator's (CLI) only: over HTTP it is an unknown field.
        elsewhere = await api.client.put(
            url,
            json={"token": SECRET, "company": "acme-as", "baseUrl": "http://10.0.0.1/api/v2"},
            headers=admin,
        )
        assert elsewhere.status_code == 400, elsewhere.text
        put = await api.client.put(url, json={"token": SECRET, "company": "acme-as"}, headers=admin)
        assert put.status_code == 200, put.text
        body = put.json()
        assert body == {
            "tenant": "acme",
            "provider": "fiken",
            "company": "acme-as",
            "baseUrl": None,
            "fingerprint": fingerprint(SECRET),
            "setBy": "human:ada",
            "setAt": "2026-11-20T09:00:00Z",
            "version": 1,
        }
        got = await api.client.get(url, headers=admin)
        assert got.status_code == 200 and got.json() == body
        health = await api.client.get("/health")
        assert health.json()["tenantBackends"] == {
            "perTenant": "on",
            "canStore": True,
            "tenants": 1,
        }
        events = await api.client.get(
            f"{API}/events", params={"limit": 100}, headers=api.headers("vi", "viewer")
        )
        set_events = [e for e in events.json()["items"] if e["type"] == "CredentialsSet"]
        assert len(set_events) == 1 and set_events[0]["actor"] == "human:ada"
        removed = await api.client.delete(url, headers=admin)
        assert removed.status_code == 204
        gone = await api.client.get(url, headers=admin)
        assert gone.status_code == 404
        answers += [put.text, got.text, health.text, events.text, gone.text, refused.text]
        answers.append(elsewhere.text)
    for text in answers:
        assert SECRET not in text
    assert SECRET not in caplog.text
    assert SECRET.encode() not in _database_bytes(sqlite_path)


async def test_without_a_key_a_put_is_refused_with_a_clear_problem(
    tmp_path: Path, sqlite_url: str
) -> None:
    container = sqlite_container(tmp_path)
    container.settings.override(providers.Object(_settings(tmp_path, sqlite_url, None)))
    async with running_api(tmp_path, container=container) as api:
        admin = api.headers("ada", "admin")
        url = f"{API}/tenants/acme/credentials/folio"
        refused = await api.client.put(url, json={"token": SECRET}, headers=admin)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "credentials-key-missing"
        assert "BOOKKEEPER_CREDENTIALS_KEY" in refused.json()["detail"]
        assert (await api.client.get(url, headers=admin)).status_code == 404


def test_the_cli_reads_the_token_from_stdin_and_rotates_the_key(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOOKKEEPER_CREDENTIALS_KEY", KEY)
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    assert main(["credentials", "set", "--tenant", "acme", "fiken", "--company", "acme-as"]) == 0
    out = capsys.readouterr().out
    assert "fiken credentials of acme stored encrypted, company acme-as" in out
    assert SECRET not in out
    assert main(["credentials", "show", "--tenant", "acme"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[1].split("\t")[:5] == ["fiken", "acme-as", "-", fingerprint(SECRET), "human:cli"]
    # Rotation: a new key first, the old one after it; then the old one can go.
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("BOOKKEEPER_CREDENTIALS_KEY", f"{new_key},{KEY}")
    assert main(["credentials", "rotate-key", "--user", "olga"]) == 0
    assert capsys.readouterr().out == "1 secret(s) re-encrypted with the first key\n"
    database = data_dir / "bookkeeper.db"
    with sqlite3.connect(database) as connection:
        (ciphertext,) = connection.execute("SELECT ciphertext FROM tenant_credentials").fetchone()
        recorded = connection.execute(
            "SELECT tenant_id, actor FROM events WHERE type = 'CredentialsReencrypted'"
        ).fetchall()
    connection.close()
    assert recorded == [("acme", "human:olga")]
    assert FernetBox([new_key]).decrypt(ciphertext) == SECRET
    assert SECRET.encode() not in _database_bytes(database)
    monkeypatch.setenv("BOOKKEEPER_CREDENTIALS_KEY", new_key)
    assert main(["credentials", "remove", "--tenant", "acme", "fiken"]) == 0
    assert capsys.readouterr().out == "fiken credentials of acme removed\n"
    assert main(["credentials", "remove", "--tenant", "acme", "fiken"]) == 1
    # No key: setting is refused, nothing stored.
    monkeypatch.delenv("BOOKKEEPER_CREDENTIALS_KEY")
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    assert main(["credentials", "set", "--tenant", "acme", "folio"]) == 1
    captured = capsys.readouterr()
    assert "BOOKKEEPER_CREDENTIALS_KEY is not set" in captured.err
    assert SECRET not in captured.out + captured.err
    # The token is never an argument.
    with pytest.raises(SystemExit):
        main(["credentials", "set", "--tenant", "acme", "folio", "--token", SECRET])


async def test_the_app_resolves_each_tenants_books_through_the_container(
    tmp_path: Path, sqlite_url: str, sqlite_path: Path
) -> None:
    """Wired end to end: acme's own Fiken credentials (a loopback fake at the environment's
    Fiken base URL) answer acme's book questions with acme's token; globex, without
    credentials of its own, keeps the sandbox. A row rewritten by another process with a
    key this one lacks is noticed through the revision counter: acme's books answer 503
    `credentials-unreadable` — never another company's books, never a 500."""
    fiken = FakeFiken(token=SECRET, company="acme-as")
    with serve_in_thread(fiken.app) as root:
        settings = msgspec.structs.replace(
            _settings(tmp_path, sqlite_url, KEY),
            fiken_base_url=f"{root}/api/v2",
            credentials_recheck_seconds=0,
        )
        container = sqlite_container(tmp_path)
        container.settings.override(providers.Object(settings))
        async with running_api(tmp_path, container=container) as api:
            put = await api.client.put(
                f"{API}/tenants/acme/credentials/fiken",
                json={"token": SECRET, "company": "acme-as"},
                headers=api.headers("ada", "admin"),
            )
            assert put.status_code == 200, put.text
            url = f"{API}/books/supplier-invoices"
            acme = await api.client.get(url, headers=api.headers("al", "accountant"))
            assert acme.status_code == 200, acme.text
            assert acme.json()["backend"] == "fiken"
            assert fiken.requests and all(r.authorized for r in fiken.requests)
            globex = await api.client.get(
                url, headers=api.headers("gus", "accountant", tenant="globex")
            )
            assert globex.status_code == 200 and globex.json()["backend"] == "sandbox"
            seen = len(fiken.requests)
            # Another process rewrites the row with another key.
            other_key = FernetBox([Fernet.generate_key().decode()])
            with sqlite3.connect(sqlite_path) as connection:
                connection.execute(
                    "UPDATE tenant_credentials SET ciphertext = ?, version = version + 1",
                    (other_key.encrypt(NEW_SECRET),),
                )
                connection.execute("UPDATE credentials_revision SET revision = revision + 1")
            connection.close()
            broken = await api.client.get(url, headers=api.headers("al", "accountant"))
            assert broken.status_code == 503, broken.text
            assert broken.json()["code"] == "credentials-unreadable"
            assert len(fiken.requests) == seen
            assert NEW_SECRET not in broken.text and SECRET not in broken.text
