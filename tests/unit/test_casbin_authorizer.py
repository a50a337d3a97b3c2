"""The Casbin authorizer on the in-memory store: defaults, exact matching, tenants as
domains, deny rows, reload interval and decision cache, and the policy admin's checks."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from bookkeeper.adapters.auth.casbin_authorizer import (
    ALLOW,
    ANY_TENANT,
    DENY,
    CasbinAuthorizer,
    MemoryPolicyStore,
    PolicyAdmin,
    PolicyError,
    Rule,
    default_rules,
)
from bookkeeper.application.authorization import ACTIONS, DEFAULT_GRANTS, ROLES
from bookkeeper.application.errors import Forbidden
from bookkeeper.application.ports import Principal

MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0006_policies.py"


def _migration(path: Path = MIGRATION) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def who(*roles: str, tenant: str = "acme", subject: str = "kari") -> Principal:
    return Principal(subject=subject, tenant_id=tenant, roles=frozenset(roles))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def setup(reload_seconds: float = 0) -> tuple[CasbinAuthorizer, PolicyAdmin, Clock]:
    store = MemoryPolicyStore()
    clock = Clock()
    return (
        CasbinAuthorizer(store, reload_seconds=reload_seconds, clock=clock),
        PolicyAdmin(store),
        clock,
    )


def test_the_migration_seeds_exactly_the_default_grants() -> None:
    seeded = {role: set(actions) for role, actions in _migration().DEFAULTS.items()}
    # Migration 0008 adds exports:read for the roles that may export the whole ledger.
    for role in _migration(MIGRATION.with_name("0008_saft_export.py")).EXPORT_ROLES:
        seeded[role].add("exports:read")
    # Migration 0010 adds bus:ingest for the principals that book external events.
    for role in _migration(MIGRATION.with_name("0010_bus_ingest.py")).BUS_ROLES:
        seeded[role].add("bus:ingest")
    # Migration 0012 adds checks:run for the scheduler's role and admins.
    for role in _migration(MIGRATION.with_name("0012_checks.py")).CHECK_ROLES:
        seeded[role].add("checks:run")
    # Migration 0016 adds the rules' actions and the compliance context's own role.
    for role, obj, act in _migration(MIGRATION.with_name("0016_rules_as_data.py")).GRANTS:
        seeded.setdefault(role, set()).add(f"{obj}:{act}")
    # Migration 0015 adds spending:write (budgets, price tables) for admins and accountants.
    for role in _migration(MIGRATION.with_name("0015_spending.py")).SPENDING_ROLES:
        seeded[role].add("spending:write")
    # Migration 0018 adds credentials:manage (a tenant's own Fiken/Folio) for admins.
    for role in _migration(MIGRATION.with_name("0018_tenant_credentials.py")).CREDENTIALS_ROLES:
        seeded[role].add("credentials:manage")
    assert {role: frozenset(actions) for role, actions in seeded.items()} == dict(DEFAULT_GRANTS)
    assert (
        set(seeded)
        == ROLES
        == {"admin", "accountant", "reviewer", "agent", "viewer", "system", "compliance"}
    )


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_defaults_grant_each_role_its_actions_and_nothing_else(role: str) -> None:
    authorizer, _, _ = setup()
    granted = {action for action in ACTIONS if authorizer.allows(who(role), action)}
    assert granted == DEFAULT_GRANTS[role]
    assert granted == {r.action for r in default_rules() if r.role == role}


@pytest.mark.parametrize(
    "action",
    [
        "events:readAll",
        "events:rea",
        "events:read ",
        " events:read",
        "Events:read",
        "events:*",
        "*:read",
        "*",
        "events",
        "events:",
        ":read",
        "events:read:x",
        "events:read,x",
        "",
    ],
)
def test_actions_match_exactly(action: str) -> None:
    authorizer, _, _ = setup()
    assert authorizer.allows(who("admin"), "events:read")
    assert not authorizer.allows(who("admin"), action)


@pytest.mark.parametrize(
    "roles", [(), ("nobody",), ("admi",), ("Admin",), ("admin ",), ("*",), ("admin,viewer",)]
)
def test_unknown_roles_get_nothing(roles: tuple[str, ...]) -> None:
    authorizer, _, _ = setup()
    assert not any(authorizer.allows(who(*roles), action) for action in ACTIONS)
    with pytest.raises(Forbidden, match="may not events:read in tenant acme"):
        authorizer.check(who(*roles), "events:read")


def test_a_principal_of_the_wildcard_tenant_gets_nothing() -> None:
    authorizer, admin, _ = setup()
    admin.allow("viewer", "ledger:post", "acme")
    for tenant in (ANY_TENANT, ""):
        assert not authorizer.allows(who("admin", tenant=tenant), "events:read")


def test_a_role_granted_in_one_tenant_is_useless_in_another() -> None:
    authorizer, admin, _ = setup()
    admin.grant_role("kari", "accountant", "acme")
    assert authorizer.allows(who(tenant="acme"), "ledger:post")
    assert authorizer.allows(who("viewer", tenant="acme"), "ledger:post")
    assert not authorizer.allows(who(tenant="globex"), "events:read")
    assert not authorizer.allows(who("viewer", tenant="globex"), "ledger:post")
    # Another subject in the same tenant does not share kari's grant.
    assert not authorizer.allows(who("viewer", subject="ola", tenant="acme"), "ledger:post")


def test_a_tenant_specific_allow_does_not_leak_to_other_tenants() -> None:
    authorizer, admin, _ = setup()
    assert admin.allow("viewer", "ledger:post", "acme") == "added allow viewer ledger:post acme"
    assert authorizer.allows(who("viewer", tenant="acme"), "ledger:post")
    assert not authorizer.allows(who("viewer", tenant="globex"), "ledger:post")
    assert not authorizer.allows(who("viewer", tenant="acme"), "ledger:postAll")


def test_a_tenant_revoke_denies_only_there_and_wins_over_other_roles() -> None:
    authorizer, admin, _ = setup()
    assert admin.revoke("accountant", "ledger:post", "acme") == (
        "added deny accountant ledger:post acme"
    )
    assert not authorizer.allows(who("accountant", tenant="acme"), "ledger:post")
    assert authorizer.allows(who("accountant", tenant="globex"), "ledger:post")
    # some(allow) && !some(deny): admin's allow does not outvote accountant's deny.
    assert not authorizer.allows(who("accountant", "admin", tenant="acme"), "ledger:post")
    assert authorizer.allows(who("admin", tenant="acme"), "ledger:post")
    # Allowing again removes the deny; the default applies once more.
    assert admin.allow("accountant", "ledger:post", "acme") == (
        "removed deny accountant ledger:post acme"
    )
    assert authorizer.allows(who("accountant", tenant="acme"), "ledger:post")
    assert Rule("accountant", "acme", "ledger:post", DENY) not in admin.rules()


def test_revoking_the_default_takes_it_from_every_tenant_but_not_a_tenant_allow() -> None:
    authorizer, admin, _ = setup()
    admin.allow("reviewer", "ledger:post", "acme")
    admin.allow("reviewer", "ledger:post", "*")
    assert authorizer.allows(who("reviewer", tenant="globex"), "ledger:post")
    assert admin.revoke("reviewer", "ledger:post", "*") == "removed allow reviewer ledger:post *"
    assert not authorizer.allows(who("reviewer", tenant="globex"), "ledger:post")
    assert authorizer.allows(who("reviewer", tenant="acme"), "ledger:post")
    assert admin.revoke("viewer", "ledger:post", "*").startswith("unchanged")
    assert admin.allow("admin", "ledger:post", "acme").startswith("unchanged")


def test_changes_show_only_after_the_reload_interval() -> None:
    authorizer, admin, clock = setup(reload_seconds=5)
    assert authorizer.allows(who("viewer"), "events:read")
    admin.revoke("viewer", "events:read", "acme")
    clock.now = 4.9
    assert authorizer.allows(who("viewer"), "events:read")  # the cached decision
    clock.now = 5.0
    assert not authorizer.allows(who("viewer"), "events:read")
    admin.allow("viewer", "events:read", "acme")
    authorizer.reload()  # forced, whatever the interval
    assert authorizer.allows(who("viewer"), "events:read")


class HangingStore(MemoryPolicyStore):
    """The defaults, whose version probe hangs while `hang` is set (a policy table locked
    by a migration, a database that does not answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = threading.Event()
        self.hanging = threading.Event()
        self.go_on = threading.Event()
        self.probes = 0

    def version(self) -> int:
        self.probes += 1
        if self.hang.is_set():
            self.hanging.set()
            self.go_on.wait(timeout=10)
        return super().version()


def test_a_serving_authorizer_decides_at_once_while_its_probe_hangs() -> None:
    """With `background` (every serving process), a due probe runs in a thread of its own:
    the request that found it due, and every one after it, is decided on the policy loaded
    at once — never waiting on the store — and the change is used once the probe is back.
    Without it, the decision waited for the probe (up to the statement timeout, 5 s)."""
    store = HangingStore()
    clock = Clock()
    authorizer = CasbinAuthorizer(store, reload_seconds=5, clock=clock, background=True)
    admin = PolicyAdmin(store)
    assert authorizer.allows(who("viewer"), "events:read")  # the first load, in line
    admin.revoke("viewer", "events:read", "acme")
    store.hang.set()
    clock.now = 6.0
    started = time.monotonic()
    for _ in range(50):
        assert authorizer.allows(who("viewer"), "events:read")  # the last policy
    assert time.monotonic() - started < 1.0
    assert store.hanging.wait(5)
    assert store.probes == 2  # one probe in flight, not one per request
    store.go_on.set()
    deadline = time.monotonic() + 5
    while authorizer.allows(who("viewer"), "events:read") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not authorizer.allows(who("viewer"), "events:read")
    assert store.probes == 2  # the next one is due an interval after that one started


def test_a_serving_authorizer_keeps_its_policy_when_a_probe_fails() -> None:
    class Failing(MemoryPolicyStore):
        fail = False

        def version(self) -> int:
            if self.fail:
                raise OSError("the database went away")
            return super().version()

    store = Failing()
    clock = Clock()
    authorizer = CasbinAuthorizer(store, reload_seconds=5, clock=clock, background=True)
    assert authorizer.allows(who("viewer"), "events:read")
    store.fail = True
    clock.now = 6.0
    assert authorizer.allows(who("viewer"), "events:read")
    deadline = time.monotonic() + 5
    while authorizer._probing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert authorizer.allows(who("viewer"), "events:read")


def test_decisions_are_cached_until_the_policy_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    import casbin

    calls = 0
    enforce = casbin.Enforcer.enforce

    def counting(self: casbin.Enforcer, *rvals: object) -> bool:
        nonlocal calls
        calls += 1
        return bool(enforce(self, *rvals))

    monkeypatch.setattr(casbin.Enforcer, "enforce", counting)
    authorizer, admin, _ = setup(reload_seconds=0)
    for _ in range(50):
        authorizer.check(who("viewer", "agent"), "events:read")
        authorizer.check(who("agent", "viewer", subject="ola"), "events:read")
    assert calls == 1
    admin.grant_role("kari", "admin", "acme")
    authorizer.check(who("viewer", "agent"), "ledger:post")
    assert calls == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a.allow("auditor", "events:read"),
            "unknown role 'auditor'; roles are accountant, admin",
        ),
        (lambda a: a.allow("viewer", "events:readAll"), "unknown action 'events:readAll'"),
        (lambda a: a.revoke("viewer", "events:*"), "unknown action 'events:*'"),
        (lambda a: a.allow("viewer", "events:read", "a,b"), "tenant 'a,b' is not a valid"),
        (lambda a: a.grant_role("kari", "admin", "*"), "tenant must name one tenant, not *"),
        (lambda a: a.grant_role("ka*ri", "admin", "acme"), "subject 'ka*ri' is not a valid"),
        (lambda a: a.grant_role("kari", "root", "acme"), "unknown role 'root'"),
    ],
)
def test_the_admin_refuses_unknown_names_in_one_line(change: object, message: str) -> None:
    _, admin, _ = setup()
    before = admin.rules()
    with pytest.raises(PolicyError, match=message.replace("*", r"\*")) as error:
        change(admin)  # type: ignore[operator]
    assert "\n" not in str(error.value)
    assert admin.rules() == before


def test_grants_and_listing() -> None:
    _, admin, _ = setup()
    assert admin.grant_role("kari", "reviewer", "acme") == "granted reviewer to kari in acme"
    assert admin.grant_role("kari", "reviewer", "acme").startswith("unchanged")
    admin.allow("viewer", "ledger:post", "globex")
    listing = admin.listing("acme")
    assert "role   kari  reviewer  acme" in listing
    assert not any("globex" in line for line in listing)
    assert len([line for line in listing if line.startswith(ALLOW)]) == len(default_rules())
    assert admin.revoke_role("kari", "reviewer", "acme") == "revoked reviewer from kari in acme"
    assert admin.revoke_role("kari", "reviewer", "acme").startswith("unchanged")
    assert admin.grants() == []
