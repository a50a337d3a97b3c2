"""The action vocabulary, the default grants per role, and a table-based authorizer.

The service authorizes with Casbin (bookkeeper.adapters.auth.casbin_authorizer), seeded
with DEFAULT_GRANTS; RoleAuthorizer applies the same table without a policy store (tests).

The actions are the vocabulary shared with the later policy store: `events:propose`,
`events:record-query`, `events:read`, `proposals:read`, `proposals:decide`,
`patterns:read`, `reports:read`, `ledger:post` (manual journal entries), `documents:read`,
`documents:write`, `bank:read`, `books:read` (read-only queries of Folio and Fiken),
`exports:read` (whole-ledger files for the authorities: SAF-T), `checks:run` (the
`/check/*` routes and the morning run).
"""

from __future__ import annotations

from collections.abc import Mapping

from bookkeeper.application.errors import Forbidden
from bookkeeper.application.ports import Principal

READ = frozenset(
    {
        "events:read",
        "proposals:read",
        "patterns:read",
        "reports:read",
        "documents:read",
        "bank:read",
        "books:read",
    }
)
_WRITE = frozenset({"events:propose", "events:record-query", "documents:write"})

#: Not in READ: a SAF-T file is the whole ledger with every supplier, more than a viewer
#: or an agent needs to see (migration 0008 seeds the same for the policy store).
_EXPORT = frozenset({"exports:read"})

#: Running the checks (POST /check/*, the morning run): the scheduler's `system` principal
#: and admins (migration 0012 seeds the same for the policy store).
_CHECKS = frozenset({"checks:run"})

DEFAULT_GRANTS: Mapping[str, frozenset[str]] = {
    "admin": READ | _WRITE | _EXPORT | _CHECKS | {"proposals:decide", "ledger:post"},
    "accountant": READ | _WRITE | _EXPORT | {"proposals:decide", "ledger:post"},
    "reviewer": READ | {"proposals:decide"},
    "agent": READ | _WRITE,
    "system": READ | _CHECKS | {"events:record-query"},
    "viewer": READ,
}

#: The whole vocabulary, the one list the policy store accepts (`bookkeeper policy`).
ACTIONS: frozenset[str] = READ | _WRITE | _EXPORT | _CHECKS | {"proposals:decide", "ledger:post"}
ROLES: frozenset[str] = frozenset(DEFAULT_GRANTS)

#: Issue 10: booking entries translated from external events (the bus consumer's service
#: principal, and the local `POST /bus/events` route) — for system and admin only; seeded
#: for the policy store by migration 0011.
BUS_INGEST = "bus:ingest"
BUS_ROLES: frozenset[str] = frozenset({"system", "admin"})
DEFAULT_GRANTS = {
    role: grants | {BUS_INGEST} if role in BUS_ROLES else grants
    for role, grants in DEFAULT_GRANTS.items()
}
ACTIONS = ACTIONS | {BUS_INGEST}

#: Issue 11: setting a source's monthly budget and price table (tenant data) — for admins
#: and accountants; seeded for the policy store by migration 0015.
SPENDING_WRITE = "spending:write"
SPENDING_ROLES: frozenset[str] = frozenset({"admin", "accountant"})
DEFAULT_GRANTS = {
    role: grants | {SPENDING_WRITE} if role in SPENDING_ROLES else grants
    for role, grants in DEFAULT_GRANTS.items()
}
ACTIONS = ACTIONS | {SPENDING_WRITE}


#: Issue 12 (migration 0016 seeds the same): reading the rules as data, managing them
#: (tax rates, review rules, reopening a period: admin), closing a period and locking a
#: VAT term (admin, accountant); the compliance context's own role reads and proposes.
RULES_READ = "rules:read"
RULES_MANAGE = "rules:manage"
PERIODS_CLOSE = "periods:close"
COMPLIANCE_ROLE = "compliance"
_RULES: dict[str, frozenset[str]] = {
    "admin": frozenset({RULES_READ, RULES_MANAGE, PERIODS_CLOSE}),
    "accountant": frozenset({RULES_READ, PERIODS_CLOSE}),
    "reviewer": frozenset({RULES_READ}),
}
DEFAULT_GRANTS = {
    **{role: grants | _RULES.get(role, frozenset()) for role, grants in DEFAULT_GRANTS.items()},
    COMPLIANCE_ROLE: frozenset({"events:propose", "events:read", "proposals:read", "reports:read"}),
}
ACTIONS = ACTIONS | {RULES_READ, RULES_MANAGE, PERIODS_CLOSE}
ROLES = frozenset(DEFAULT_GRANTS)

#: Issue 14 (migration 0018 seeds the same): setting, reading (metadata only) and removing
#: a tenant's own Fiken and Folio credentials — for admins only.
CREDENTIALS_MANAGE = "credentials:manage"
CREDENTIALS_ROLES: frozenset[str] = frozenset({"admin"})
DEFAULT_GRANTS = {
    role: grants | {CREDENTIALS_MANAGE} if role in CREDENTIALS_ROLES else grants
    for role, grants in DEFAULT_GRANTS.items()
}
ACTIONS = ACTIONS | {CREDENTIALS_MANAGE}


class RoleAuthorizer:
    """Allows an action when any of the principal's roles grants it."""

    def __init__(self, grants: Mapping[str, frozenset[str]] = DEFAULT_GRANTS) -> None:
        self._grants = grants

    def check(self, principal: Principal, action: str) -> None:
        for role in principal.roles:
            if action in self._grants.get(role, frozenset()):
                return
        raise Forbidden(f"{principal.actor} may not {action} in tenant {principal.tenant_id}")
