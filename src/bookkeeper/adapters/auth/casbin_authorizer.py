"""Casbin RBAC with the tenant as domain: the `Authorizer` of the running service.

The request is `(sub, dom, obj, act)`: `sub` is the set of the principal's roles — those of
its token and those the policy grants its subject in that tenant (`g, subject, role,
tenant`) — `dom` its tenant, and `obj`/`act` the action split at the colon
(`proposals:decide` → `proposals`, `decide`). A policy rule is `p, role, tenant, obj, act,
effect`, where tenant `*` means every tenant (the seeded defaults) and effect is `allow` or
`deny`:

* a request is allowed when some rule of one of its roles allows it and none denies it
  (`some(allow) && !some(deny)`): a tenant can take a default away from a role (`bookkeeper
  policy revoke --tenant T` writes a deny row) without touching the other tenants;
* obj and act match exactly (`events:read` grants nothing else), the domain only when it is
  the request's tenant or `*` — so a row of tenant A never applies in B, and a principal
  whose tenant is literally `*` is refused everything;
* role grants (`g`) are direct and per tenant: no role inherits another, no grant is for
  every tenant.

The rules live in the `casbin_rule` table (casbin-sqlalchemy-adapter's, created and seeded by
migration 0006) and are written through that adapter; triggers bump `policy_version` on every
change. `check` runs on every request and stays a dictionary lookup: the decision is cached
per (roles, tenant, action) until the policy is reloaded, and the version is probed at most
once every `reload_seconds` (one indexed single-row SELECT, run inline because `check` is
synchronous) — so a change takes effect within that interval, without a restart. Without a
SQL database (the in-memory container of the tests, an in-memory SQLite) the policy is the
seeded defaults, in memory.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Final, NamedTuple, Protocol

import casbin
from casbin import persist
from casbin.model import Model

from bookkeeper.application.authorization import ACTIONS, DEFAULT_GRANTS, ROLES
from bookkeeper.application.errors import Forbidden
from bookkeeper.application.ports import Principal

log = logging.getLogger(__name__)

#: The PERM model. `r.sub` is always a tuple of role names (never a string: `in` would then
#: test substrings), so `p.sub in r.sub` asks "is the rule's role one of the caller's".
MODEL_TEXT: Final = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = p.sub in r.sub && (p.dom == r.dom || p.dom == "*") && r.obj == p.obj && r.act == p.act
"""

ANY_TENANT: Final = "*"
ALLOW: Final = "allow"
DENY: Final = "deny"
#: Cached decisions per loaded policy; past this many the cache starts over.
MAX_CACHED_DECISIONS: Final = 8192


class PolicyError(ValueError):
    """A policy change that cannot be made; the message is one line for the user."""


class Rule(NamedTuple):
    """`p, role, tenant, obj, act, effect`, with obj:act joined back into the action."""

    role: str
    tenant: str
    action: str
    effect: str

    def casbin(self) -> list[str]:
        obj, _, act = self.action.partition(":")
        return [self.role, self.tenant, obj, act, self.effect]

    @classmethod
    def of(cls, values: Sequence[str]) -> Rule:
        role, tenant, obj, act, effect = values[:5]
        return cls(role, tenant, f"{obj}:{act}", effect)


class RoleGrant(NamedTuple):
    """`g, subject, role, tenant`: the subject holds the role in that tenant."""

    subject: str
    role: str
    tenant: str


def default_rules() -> list[Rule]:
    """The defaults every tenant starts with (today's DEFAULT_GRANTS, tenant `*`)."""
    return [
        Rule(role, ANY_TENANT, action, ALLOW)
        for role in sorted(DEFAULT_GRANTS)
        for action in sorted(DEFAULT_GRANTS[role])
    ]


def new_model() -> Model:
    model = Model()
    model.load_model_from_text(MODEL_TEXT)
    return model


# --- where the rules are ------------------------------------------------------------------


class PolicyStore(Protocol):
    def adapter(self) -> Any:
        """The casbin adapter the rules are loaded from and written through."""
        ...

    def version(self) -> int:
        """A number that changes whenever a rule does."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class _MemoryAdapter(persist.Adapter):  # type: ignore[misc]  # casbin is untyped
    """Rules in a list; every change bumps `version`."""

    def __init__(self, lines: Iterable[tuple[str, ...]]) -> None:
        self.lines: list[tuple[str, ...]] = list(lines)
        self.version = 0

    def load_policy(self, model: Model) -> None:
        for line in self.lines:
            persist.load_policy_line(", ".join(line), model)

    def add_policy(self, sec: str, ptype: str, rule: list[str]) -> None:
        self.lines.append((ptype, *rule))
        self.version += 1

    def remove_policy(self, sec: str, ptype: str, rule: list[str]) -> bool:
        line = (ptype, *rule)
        before = len(self.lines)
        self.lines = [existing for existing in self.lines if existing != line]
        self.version += 1
        return len(self.lines) != before


class MemoryPolicyStore:
    """The seeded defaults in memory (tests, in-memory databases); changes last as long as
    the process."""

    def __init__(self, rules: Iterable[Rule] | None = None) -> None:
        seeded = default_rules() if rules is None else list(rules)
        self._adapter = _MemoryAdapter(("p", *rule.casbin()) for rule in seeded)

    def adapter(self) -> Any:
        return self._adapter

    def version(self) -> int:
        return self._adapter.version

    def close(self) -> None:
        return None


#: PostgreSQL session settings of a serving process's policy reads (`store_for(…,
#: serving=True)`): casbin's adapter is synchronous, and a serving process's first load
#: runs in the event loop (later probes run in a thread, `background`), so a lock on the
#: policy tables (a migration, `LOCK TABLE`) or a database that does not answer froze
#: every request, /health/live and the executor's lease heartbeat until it went away, and
#: would hold a probe's thread for ever. Bounded, the probe fails and the last policy is
#: kept.
SERVING_CONNECT_TIMEOUT_SECONDS: Final = 2
SERVING_OPTIONS: Final = "-c lock_timeout=1000 -c statement_timeout=5000"


class SqlPolicyStore:
    """The `casbin_rule` table, through casbin-sqlalchemy-adapter on a small synchronous pool
    of its own (the adapter is synchronous; migration 0006 made the tables). `serving`:
    its waits on PostgreSQL are bounded (SERVING_OPTIONS), for a process that reads the
    policy inside its event loop."""

    def __init__(self, url: str, *, serving: bool = False) -> None:
        from casbin_sqlalchemy_adapter import Adapter
        from sqlalchemy import create_engine, event

        from bookkeeper.adapters.sql.urls import DatabaseUrl, sqlite_on_connect

        target = DatabaseUrl(url)
        if target.in_memory:
            raise PolicyError("policies need a database file or server, not in-memory SQLite")
        self.dialect = target.dialect
        bounds: dict[str, Any] = {}
        if serving and target.dialect == "postgresql":
            bounds = {
                "connect_timeout": SERVING_CONNECT_TIMEOUT_SECONDS,
                "options": SERVING_OPTIONS,
            }
        self._engine = create_engine(
            target.sync_url, pool_size=1, max_overflow=4, connect_args=bounds
        )
        if target.dialect == "sqlite":

            @event.listens_for(self._engine, "connect")
            def _connect(dbapi_connection: Any, _record: Any) -> None:
                sqlite_on_connect(dbapi_connection, manage_transactions=False)

        self._adapter = Adapter(self._engine, create_all_models=False)

    def adapter(self) -> Any:
        return self._adapter

    def version(self) -> int:
        from sqlalchemy import text

        with self._engine.connect() as connection:
            value = connection.execute(
                text("SELECT version FROM policy_version WHERE id = 1")
            ).scalar_one()
        return int(value)

    def close(self) -> None:
        self._engine.dispose()


def store_for(database: object, *, serving: bool = False) -> PolicyStore:
    """The policy store of the container's database: its tables for a SQL database on a file
    or server, the defaults in memory otherwise (`serving`: see SqlPolicyStore)."""
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.urls import DatabaseUrl

    if isinstance(database, SqlDatabase):
        url = database.engine.url.render_as_string(hide_password=False)
        if not DatabaseUrl(url).in_memory:
            return SqlPolicyStore(url, serving=serving)
    return MemoryPolicyStore()


# --- deciding -----------------------------------------------------------------------------


class _LoadedPolicy:
    """One load of the rules, with the decisions taken on it."""

    def __init__(self, store: PolicyStore, version: int) -> None:
        self.version = version
        self._enforcer = casbin.Enforcer(new_model(), store.adapter())
        granted: dict[tuple[str, str], set[str]] = {}
        for subject, role, tenant, *_ in self._enforcer.get_grouping_policy():
            granted.setdefault((subject, tenant), set()).add(role)
        self._granted = {key: frozenset(roles) for key, roles in granted.items()}
        self._decisions: dict[tuple[frozenset[str], str, str], bool] = {}

    def allows(self, principal: Principal, action: str) -> bool:
        tenant = principal.tenant_id
        if not tenant or tenant == ANY_TENANT:
            return False
        roles = principal.roles | self._granted.get((principal.subject, tenant), frozenset())
        if not roles:
            return False
        key = (roles, tenant, action)
        decision = self._decisions.get(key)
        if decision is None:
            obj, _, act = action.partition(":")
            decision = bool(self._enforcer.enforce(tuple(sorted(roles)), tenant, obj, act))
            if len(self._decisions) >= MAX_CACHED_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision


class CasbinAuthorizer:
    """Allows an action when the tenant's policy lets one of the principal's roles do it."""

    def __init__(
        self,
        store: PolicyStore,
        *,
        reload_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        self._store = store
        self._interval = reload_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._policy: _LoadedPolicy | None = None
        self._next_probe = -math.inf
        # `background`: once a policy is loaded, a due probe runs in a thread of its own
        # and the request that found it due is decided on the policy it has (a serving
        # process: the store is synchronous and its waits would be the event loop's). An
        # interval of 0 promises no staleness at all: every decision waits for its probe.
        self._background = background and reload_seconds > 0
        self._probing = False

    def check(self, principal: Principal, action: str) -> None:
        if not self.allows(principal, action):
            raise Forbidden(f"{principal.actor} may not {action} in tenant {principal.tenant_id}")

    def allows(self, principal: Principal, action: str) -> bool:
        return self._current().allows(principal, action)

    def reload(self) -> None:
        """Probe the version now (and reload if it changed), whatever the interval says."""
        self._next_probe = -math.inf
        self._probe(due_only=False)

    def _current(self) -> _LoadedPolicy:
        policy = self._policy
        if policy is not None and self._clock() < self._next_probe:
            return policy
        if policy is not None and self._background:
            self._probe_in_background()
            return policy
        return self._probe(due_only=True)

    def _probe_in_background(self) -> None:
        """One probe at a time in a daemon thread; the next is due an interval after this
        one started, so a store that hangs is not asked again by every request."""
        if self._probing:
            return
        self._probing = True
        self._next_probe = self._clock() + self._interval

        def probe() -> None:
            try:
                self._probe(due_only=False)
            finally:
                self._probing = False

        threading.Thread(target=probe, name="policy-probe", daemon=True).start()

    def _probe(self, *, due_only: bool) -> _LoadedPolicy:
        with self._lock:
            policy = self._policy
            now = self._clock()
            if due_only and policy is not None and now < self._next_probe:
                return policy
            try:
                # The version is read before the rules: a change in between is loaded now
                # and, its version being newer, loaded again at the next probe.
                version = self._store.version()
                if policy is None or version != policy.version:
                    policy = _LoadedPolicy(self._store, version)
                    self._policy = policy
                    log.info("authorization policy version %d loaded", version)
            except Exception as error:
                if policy is None:
                    # No policy at all: fail closed. A database that cannot be reached is
                    # StorageUnavailable (503, Retry-After) like everywhere else: a process
                    # whose first request met an outage answered 500.
                    from bookkeeper.adapters.sql.session import storage_error

                    translated = storage_error(error)
                    if translated is error:
                        raise
                    raise translated from error
                log.warning("could not reload the authorization policy; keeping the last one")
            self._next_probe = now + self._interval
            return policy


async def open_authorizer(
    database: object, reload_seconds: float = 5.0
) -> AsyncIterator[CasbinAuthorizer]:
    """The container's authorizer (a Resource: its pool is closed at shutdown)."""
    store = store_for(database, serving=True)
    try:
        # Probes after the first load run beside the event loop: a policy table locked or
        # a database slow to answer costs requests nothing (they keep the last policy).
        yield CasbinAuthorizer(store, reload_seconds=reload_seconds, background=True)
    finally:
        store.close()


# --- changing the policy (`bookkeeper policy`) ---------------------------------------------


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise PolicyError(f"unknown role {role!r}; roles are {', '.join(sorted(ROLES))}")
    return role


def _checked_action(action: str) -> str:
    if action not in ACTIONS:
        raise PolicyError(f"unknown action {action!r}; actions are {', '.join(sorted(ACTIONS))}")
    return action


def _checked_name(what: str, value: str, *, wildcard: bool) -> str:
    if value == ANY_TENANT and wildcard:
        return value
    if value == ANY_TENANT:
        raise PolicyError(f"{what} must name one tenant, not {ANY_TENANT}")
    if not value or len(value) > 255 or any(ch in value for ch in ",*\n\r\t"):
        raise PolicyError(f"{what} {value!r} is not a valid name")
    return value


class PolicyAdmin:
    """Reads and changes the rules of a store through casbin (auto-save writes each change
    through the store's adapter; the store's version moves with it)."""

    def __init__(self, store: PolicyStore) -> None:
        self._enforcer = casbin.Enforcer(new_model(), store.adapter())

    def rules(self, tenant: str | None = None) -> list[Rule]:
        """The p rules, of one tenant (its own and the defaults) or all."""
        rules = [Rule.of(values) for values in self._enforcer.get_policy()]
        if tenant is not None:
            rules = [rule for rule in rules if rule.tenant in (tenant, ANY_TENANT)]
        return sorted(rules, key=lambda r: (r.tenant != ANY_TENANT, r.tenant, r.role, r.action))

    def grants(self, tenant: str | None = None) -> list[RoleGrant]:
        grants = [RoleGrant(*values[:3]) for values in self._enforcer.get_grouping_policy()]
        if tenant is not None:
            grants = [grant for grant in grants if grant.tenant == tenant]
        return sorted(grants, key=lambda g: (g.tenant, g.subject, g.role))

    def listing(self, tenant: str | None = None) -> list[str]:
        """One line per rule: `allow|deny ROLE ACTION TENANT`, then `role SUBJECT ROLE TENANT`."""
        lines = [
            f"{r.effect:<5}  {r.role:<10}  {r.action:<19}  {r.tenant}" for r in self.rules(tenant)
        ]
        lines += [f"role   {g.subject}  {g.role}  {g.tenant}" for g in self.grants(tenant)]
        return lines

    def _has(self, rule: Rule) -> bool:
        return bool(self._enforcer.has_policy(*rule.casbin()))

    def _add(self, rule: Rule) -> bool:
        return bool(self._enforcer.add_policy(*rule.casbin()))

    def _remove(self, rule: Rule) -> bool:
        return bool(self._enforcer.remove_policy(*rule.casbin()))

    def allow(self, role: str, action: str, tenant: str = ANY_TENANT) -> str:
        """Let the role do the action in the tenant (`*`: in every tenant without a deny)."""
        role, action = _checked_role(role), _checked_action(action)
        tenant = _checked_name("tenant", tenant, wildcard=True)
        changes: list[str] = []
        if tenant != ANY_TENANT and self._remove(Rule(role, tenant, action, DENY)):
            changes.append(f"removed deny {role} {action} {tenant}")
        default = Rule(role, ANY_TENANT, action, ALLOW)
        if (tenant == ANY_TENANT or not self._has(default)) and self._add(
            Rule(role, tenant, action, ALLOW)
        ):
            changes.append(f"added allow {role} {action} {tenant}")
        return "; ".join(changes) or f"unchanged: {role} may already {action} in {tenant}"

    def revoke(self, role: str, action: str, tenant: str = ANY_TENANT) -> str:
        """Take the action away from the role in the tenant (`*`: the default rule)."""
        role, action = _checked_role(role), _checked_action(action)
        tenant = _checked_name("tenant", tenant, wildcard=True)
        changes: list[str] = []
        if self._remove(Rule(role, tenant, action, ALLOW)):
            changes.append(f"removed allow {role} {action} {tenant}")
        inherited = tenant != ANY_TENANT and self._has(Rule(role, ANY_TENANT, action, ALLOW))
        if inherited and self._add(Rule(role, tenant, action, DENY)):
            changes.append(f"added deny {role} {action} {tenant}")
        return "; ".join(changes) or f"unchanged: {role} may not {action} in {tenant} already"

    def grant_role(self, subject: str, role: str, tenant: str) -> str:
        grant = RoleGrant(
            _checked_name("subject", subject, wildcard=False),
            _checked_role(role),
            _checked_name("tenant", tenant, wildcard=False),
        )
        if self._enforcer.add_grouping_policy(*grant):
            return f"granted {role} to {subject} in {tenant}"
        return f"unchanged: {subject} already has {role} in {tenant}"

    def revoke_role(self, subject: str, role: str, tenant: str) -> str:
        grant = RoleGrant(subject, _checked_role(role), tenant)
        if self._enforcer.remove_grouping_policy(*grant):
            return f"revoked {role} from {subject} in {tenant}"
        return f"unchanged: {subject} has no {role} in {tenant}"
