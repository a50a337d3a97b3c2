"""Issue 14: per-tenant credentials — the Fernet box, the service, the per-tenant resolver.

In memory: the credentials service over MemoryCredentialsStore and the in-memory log, and
the resolver with client and target factories that only record what they were built with.
The loopback Fiken (two tenants, one answering 429) is tests/integration/
test_tenant_credentials_isolation.py; SQL and HTTP are test_tenant_credentials_sql.py.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest
from cryptography.fernet import Fernet

from bookkeeper.adapters.credentials import MemoryCredentialsStore
from bookkeeper.adapters.credentials.fernet import FernetBox, InvalidCredentialsKey, secret_box
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.adapters.tenant_backends import TenantBackends
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.credentials import (
    CredentialsKeyMissing,
    CredentialsService,
    CredentialsUnreadable,
    InvalidCredentials,
    ResolvedCredentials,
    fingerprint,
)
from bookkeeper.application.errors import Forbidden, NotFound
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import CredentialsRemovedData, CredentialsSetData
from tests.unit.conftest import FixedClock

SECRET = "fiken-personal-token-0123456789abcdef"
OTHER_SECRET = "fiken-personal-token-fedcba9876543210"
KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def admin(tenant: str = "acme", subject: str = "ada") -> Principal:
    return Principal(subject=subject, tenant_id=tenant, roles=frozenset({"admin"}))


class World:
    """A credentials service on an in-memory database (`uow`: shared with another World,
    as two replicas share one database)."""

    def __init__(self, keys: str | None = KEY, uow: MemoryUnitOfWorkFactory | None = None) -> None:
        self.uow = uow or MemoryUnitOfWorkFactory()
        #: The committed rows (what another unit of work sees).
        self.store = MemoryCredentialsStore(self.uow.db.credentials)
        self.clock = FixedClock()
        self.service = CredentialsService(
            secret_box(keys), self.uow, self.clock, UuidV7Ids(), RoleAuthorizer()
        )

    async def events(self) -> list[Any]:
        async with self.uow() as uow:
            return await uow.events.read_all(limit=1000)


# --- the box ------------------------------------------------------------------------------


def test_the_box_encrypts_with_the_first_key_and_decrypts_with_any() -> None:
    old = FernetBox([KEY])
    stored = old.encrypt(SECRET)
    assert SECRET not in stored
    assert old.decrypt(stored) == SECRET
    both = FernetBox([NEW_KEY, KEY])
    assert both.decrypt(stored) == SECRET
    rotated = both.rotate(stored)
    assert FernetBox([NEW_KEY]).decrypt(rotated) == SECRET
    with pytest.raises(CredentialsUnreadable):
        FernetBox([NEW_KEY]).decrypt(stored)


def test_a_bad_key_is_refused_without_quoting_it() -> None:
    with pytest.raises(InvalidCredentialsKey) as refused:
        secret_box(f"{KEY}, not-a-key-at-all")
    assert "key 2" in str(refused.value)
    assert "not-a-key-at-all" not in str(refused.value)
    assert secret_box(None) is None
    assert secret_box(" , ") is None


# --- the service --------------------------------------------------------------------------


async def test_set_stores_only_ciphertext_and_records_an_event_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    caplog.set_level(logging.DEBUG)
    info = await world.service.set(admin(), "acme", "Fiken", SECRET, company="acme-as")
    assert (info.provider, info.company, info.version) == ("fiken", "acme-as", 1)
    assert info.fingerprint == fingerprint(SECRET) and info.set_by == "human:ada"
    assert info.set_at == world.clock.now()
    row = world.store.rows[("acme", "fiken")]
    assert SECRET not in msgspec.json.encode(row).decode()
    assert SECRET not in repr(info) and SECRET not in msgspec.json.encode(info).decode()
    (event,) = await world.events()
    assert event.type == "CredentialsSet" and event.tenant_id == "acme"
    assert event.data == CredentialsSetData(
        provider="fiken", fingerprint=info.fingerprint, company="acme-as"
    )
    assert SECRET not in msgspec.json.encode(event.data).decode()
    assert SECRET not in caplog.text
    resolved = await world.service.resolve("acme", "fiken")
    assert resolved is not None and resolved.token == SECRET
    assert SECRET not in repr(resolved)


async def test_without_a_key_nothing_is_stored() -> None:
    world = World(keys=None)
    with pytest.raises(CredentialsKeyMissing) as refused:
        await world.service.set(admin(), "acme", "folio", SECRET)
    assert "BOOKKEEPER_CREDENTIALS_KEY" in refused.value.message
    assert world.store.rows == {} and await world.events() == []
    with pytest.raises(CredentialsKeyMissing):
        await world.service.rotate_key("human:operator")


@pytest.mark.parametrize(
    ("provider", "secret", "company", "base_url"),
    [
        ("dropbox", SECRET, None, None),
        ("fiken", SECRET, None, None),  # Fiken needs the company slug
        ("fiken", SECRET, "has blanks", None),
        # A dot segment: "/companies/../purchases" is Fiken's "/purchases" (httpx resolves
        # it), so the slug walked the service out of the company's part of the API.
        ("fiken", SECRET, "..", None),
        ("fiken", SECRET, ".", None),
        ("folio", "", None, None),
        ("folio", "two\nlines", None, None),
        ("folio", SECRET, None, "ftp://files.example"),
    ],
)
async def test_bad_input_is_refused_and_loses_nothing(
    provider: str, secret: str, company: str | None, base_url: str | None
) -> None:
    world = World()
    await world.service.set(admin(), "acme", "folio", OTHER_SECRET)
    before = dict(world.store.rows)
    with pytest.raises(InvalidCredentials) as refused:
        await world.service.set(
            admin(), "acme", provider, secret, company=company, base_url=base_url
        )
    assert secret.strip() == "" or secret not in refused.value.message
    assert world.store.rows == before
    assert len(await world.events()) == 1


@pytest.mark.parametrize(
    "base_url",
    [
        "https://ola:hunter2@api.fiken.no/api/v2",
        "https://api.fiken.no/api/v2?access_token=hunter2",
        "https://api.fiken.no/api/v2#hunter2",
        "https:///api/v2",
    ],
)
async def test_a_base_url_carrying_a_secret_is_refused_without_quoting_it(base_url: str) -> None:
    """The base URL is stored in the clear, recorded in the CredentialsSet event of the
    log that is never deleted, and printed by `credentials show`: a password in its
    user-info, a token in its query (or a URL without a host) was all three."""
    world = World()
    with pytest.raises(InvalidCredentials) as refused:
        await world.service.set(admin(), "acme", "fiken", SECRET, company="x", base_url=base_url)
    assert "hunter2" not in refused.value.message
    assert world.store.rows == {}
    assert await world.events() == []


async def test_only_an_admin_of_the_tenant_itself_manages_its_credentials() -> None:
    world = World()
    await world.service.set(admin(), "acme", "folio", SECRET)
    viewer = Principal(subject="vera", tenant_id="acme", roles=frozenset({"accountant"}))
    with pytest.raises(Forbidden):
        await world.service.show(viewer, "acme")
    # Another tenant's admin: not found, the same as for a tenant that exists nowhere.
    for tenant in ("acme", "no-such-tenant"):
        with pytest.raises(NotFound) as hidden:
            await world.service.info(admin("globex"), tenant, "folio")
        assert hidden.value.message == "no credentials here"
        with pytest.raises(NotFound):
            await world.service.set(admin("globex"), tenant, "folio", OTHER_SECRET)
        with pytest.raises(NotFound):
            await world.service.remove(admin("globex"), tenant, "folio")
    assert [s.fingerprint for s in await world.service.show(admin(), "acme")] == [
        fingerprint(SECRET)
    ]


async def test_replacing_bumps_the_version_and_removing_records_it() -> None:
    world = World()
    await world.service.set(admin(), "acme", "fiken", SECRET, company="acme-as")
    world.clock.advance(minutes=5)
    again = await world.service.set(
        admin(subject="bo"), "acme", "fiken", OTHER_SECRET, company="acme-as"
    )
    assert (again.version, again.set_by, again.fingerprint) == (
        2,
        "human:bo",
        fingerprint(OTHER_SECRET),
    )
    changed: list[str] = []
    world.service.on_change(changed.append)
    await world.service.remove(admin(), "acme", "fiken")
    assert changed == ["acme"]
    assert await world.service.resolve("acme", "fiken") is None
    with pytest.raises(NotFound):
        await world.service.remove(admin(), "acme", "fiken")
    assert [e.data for e in await world.events()][-1] == CredentialsRemovedData(provider="fiken")


async def test_rotate_key_re_encrypts_every_secret_with_the_first_key() -> None:
    old = World(keys=KEY)
    store = old.uow
    await old.service.set(admin(), "acme", "fiken", SECRET, company="acme-as")
    await old.service.set(admin("globex"), "globex", "folio", OTHER_SECRET)
    rotating = World(keys=f"{NEW_KEY},{KEY}", uow=store)
    assert await rotating.service.rotate_key("human:operator") == 2
    new_only = World(keys=NEW_KEY, uow=store)
    acme = await new_only.service.resolve("acme", "fiken")
    globex = await new_only.service.resolve("globex", "folio")
    assert acme is not None and acme.token == SECRET and acme.version == 1
    assert globex is not None and globex.token == OTHER_SECRET
    # The old key alone no longer opens them.
    with pytest.raises(CredentialsUnreadable):
        await old.service.resolve("acme", "fiken")


# --- the resolver -------------------------------------------------------------------------


class Built:
    """What the resolver built: clients by (base URL, token), targets on them."""

    def __init__(self) -> None:
        self.clients: list[tuple[str, str]] = []
        self.closed = 0

    def client(self, base_url: str, token: str) -> Any:
        built = self

        class Client:
            def __init__(self) -> None:
                self.base_url, self.token = base_url, token

            async def aclose(self) -> None:
                built.closed += 1

        self.clients.append((base_url, token))
        return Client()

    @staticmethod
    def target(client: Any, credentials: ResolvedCredentials) -> Any:
        class Target:
            name = credentials.provider

            def __init__(self) -> None:
                self.client, self.company = client, credentials.company

            async def company_of(self) -> tuple[str, str | None, str]:
                return client.token, credentials.company, client.base_url

        return Target()


class Default:
    name = "sandbox"

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    async def company_of(self) -> tuple[str, str | None, str]:
        return "sandbox", self.tenant, "local"


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def resolver(service: CredentialsService, built: Built, clock: Ticks) -> TenantBackends:
    backends = TenantBackends(
        service,
        Default,
        Default,
        fiken_base_url="https://api.fiken.no/api/v2",
        folio_base_url="https://api.folio.no/v2",
        recheck_seconds=5.0,
        clock=clock,
        fiken_client=built.client,
        folio_client=built.client,
        fiken_books=built.target,
        folio_bank=built.target,
    )
    service.on_change(backends.invalidate)
    return backends


async def test_a_tenant_gets_its_own_books_else_the_default() -> None:
    world, built, ticks = World(), Built(), Ticks()
    backends = resolver(world.service, built, ticks)
    await world.service.set(admin(), "acme", "fiken", SECRET, company="acme-as")
    acme: Any = backends.books("acme")
    assert await acme.company_of() == (SECRET, "acme-as", "https://api.fiken.no/api/v2")
    assert acme.name == "fiken"
    globex: Any = backends.books("globex")
    assert globex.name == "sandbox"  # before any call: the default's name
    assert await globex.company_of() == ("sandbox", "globex", "local")
    bank: Any = backends.bank("acme")
    assert await bank.company_of() == ("sandbox", "acme", "local")
    assert backends.own == {("acme", "fiken")}
    assert await backends.tenant_count() == 1 and backends.key_configured


async def test_tenants_whose_credentials_name_one_fiken_company_share_its_key() -> None:
    """ADR 0047: the supplier lock is keyed by the company a tenant's books go to; through
    the resolving proxy the key is the resolved books' (a method: an attribute of the proxy
    would be a fresh function each time)."""
    world, built, ticks = World(), Built(), Ticks()
    backends = TenantBackends(
        world.service,
        Default,
        Default,
        fiken_base_url="https://api.fiken.no/api/v2",
        folio_base_url="https://api.folio.no/v2",
        recheck_seconds=5.0,
        clock=ticks,
        fiken_client=built.client,
        folio_client=built.client,
    )
    await world.service.set(admin(), "acme", "fiken", SECRET, company="holding-as")
    await world.service.set(admin("globex"), "globex", "fiken", OTHER_SECRET, company="holding-as")
    await world.service.set(admin("initech"), "initech", "fiken", SECRET, company="i-as")
    keys = [await backends.books(t).company_key() for t in ("acme", "globex", "initech")]
    assert keys == ["fiken:holding-as", "fiken:holding-as", "fiken:i-as"]
    await backends.aclose()


async def test_one_client_per_token_and_a_change_applies_at_once_in_this_process() -> None:
    world, built, ticks = World(), Built(), Ticks()
    backends = resolver(world.service, built, ticks)
    await world.service.set(admin(), "acme", "fiken", SECRET, company="acme-as")
    await world.service.set(admin("globex"), "globex", "fiken", SECRET, company="globex-as")
    await world.service.set(admin("initech"), "initech", "fiken", OTHER_SECRET, company="i-as")
    for tenant in ("acme", "globex", "initech", "acme"):
        await backends.books_for(tenant)
    # Two tenants sharing a token share its client (one request at a time per token).
    assert sorted(token for _, token in built.clients) == sorted([SECRET, OTHER_SECRET])
    first = await backends.books_for("acme")
    assert await backends.books_for("acme") is first  # cached
    await world.service.set(admin(), "acme", "fiken", OTHER_SECRET, company="acme-as")
    moved: Any = await backends.books_for("acme")
    assert moved is not first and moved.client.token == OTHER_SECRET
    assert len(built.clients) == 2  # initech's client, reused
    await world.service.remove(admin(), "acme", "fiken")
    assert isinstance(await backends.books_for("acme"), Default)
    await backends.aclose()
    assert built.closed == 2


async def test_another_replicas_change_is_seen_within_the_recheck_interval() -> None:
    here = World()
    there = World(uow=here.uow)
    built, ticks = Built(), Ticks()
    backends = resolver(here.service, built, ticks)
    await there.service.set(admin(), "acme", "folio", SECRET)
    before: Any = await backends.bank_for("acme")
    assert (await before.company_of())[0] == SECRET
    await there.service.set(admin(), "acme", "folio", OTHER_SECRET)  # the other replica
    ticks.now += 1.0
    assert await backends.bank_for("acme") is before  # not yet checked again
    ticks.now += 5.0
    after: Any = await backends.bank_for("acme")
    assert (await after.company_of())[0] == OTHER_SECRET
    await there.service.remove(admin(), "acme", "folio")
    ticks.now += 5.0
    assert isinstance(await backends.bank_for("acme"), Default)


async def test_import_and_resolver_take_the_same_choice_of_credentials() -> None:
    """ADR 0044 §3: whose Fiken a tenant uses is decided in one place
    (`chosen_credentials`): its own, else the environment's; `import fiken` asks it too."""
    from bookkeeper.adapters.fiken.history import TenantBooksImport
    from bookkeeper.adapters.tenant_backends import chosen_credentials
    from bookkeeper.application.books_import import BooksNotConfigured

    world = World()
    await world.service.set(admin(), "acme", "fiken", SECRET, company="acme-as")
    environment = ResolvedCredentials(
        tenant_id="*",
        provider="fiken",
        token=OTHER_SECRET,
        company="env-as",
        base_url=None,
        version=0,
    )
    own = await chosen_credentials(world.service, "acme", "fiken", environment)
    assert own is not None and (own.token, own.company) == (SECRET, "acme-as")
    assert await chosen_credentials(world.service, "globex", "fiken", environment) is environment
    assert await chosen_credentials(world.service, "globex", "fiken") is None

    tokens: list[str] = []

    class Ran:
        def __init__(self, history: Any) -> None:
            self.history = history

        async def run(self, tenant_id: str) -> str:
            return str(self.history._base)

    def importer(token: str | None, company: str | None) -> TenantBooksImport:
        return TenantBooksImport(
            Ran,
            credentials=world.service,
            base_url="http://127.0.0.1:9/api/v2",
            token=token,
            company=company,
            gates=lambda token: tokens.append(token),
        )

    with_env = importer(OTHER_SECRET, "env-as")
    assert await with_env.run("acme") == "/companies/acme-as"
    assert await with_env.run("globex") == "/companies/env-as"
    assert tokens == [SECRET, OTHER_SECRET]
    with pytest.raises(BooksNotConfigured):
        await importer(None, None).run("globex")
    assert await importer(None, None).run("acme") == "/companies/acme-as"
