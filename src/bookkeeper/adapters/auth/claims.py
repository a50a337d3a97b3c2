"""Verified JWT claims → Principal, shared by the local-key and the OIDC verifiers.

Both verifiers check the signature and the registered claims first; this module only turns
what they let through into a Principal, refusing claims that are there but unusable:

- `sub` → subject; the tenant claim (default `tenant`) → tenant_id: non-empty strings, the
  tenant without surrounding blanks, `*` (every tenant, in a policy) or `,` — the names the
  CLI accepts;
- the roles claim (default `roles`; a path such as `realm_access.roles` for Keycloak) → a
  list of at most 32 names; a missing roles claim means no roles;
- `name` (else `preferred_username`) → `Principal.name`, what people read (optional, never
  on events; an unusable one is left out);
- `approval_limit` and `department` → `Principal.attributes`, which ABAC rules read:
  the limit as a non-negative decimal amount normalised to two places ("5000" and 5000
  both become "5000.00"), the department as a printable name. Both are optional.

A claim name is looked up as a whole first and only then as a dotted path, so namespaced
claims such as `https://bookkeeper.example/roles` (Auth0's convention) work too.
Messages name the claim, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from bookkeeper.adapters.auth.errors import InvalidToken
from bookkeeper.application.ports import Principal
from bookkeeper.domain.tenants import is_tenant_id

MAX_CLAIM_LENGTH: Final = 200
MAX_ROLES: Final = 32
#: The claims copied into Principal.attributes, in the form ABAC rules read them.
ATTRIBUTE_CLAIMS: Final = ("approval_limit", "department")
_AMOUNT: Final = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")
_MAX_AMOUNT: Final = 10**15


def claim_at(claims: Mapping[str, Any], name: str) -> Any:
    """The claim called `name`, or the one at the dotted path `name`; None if absent."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def principal_attributes(claims: Mapping[str, Any]) -> dict[str, str]:
    """The ABAC attributes among `claims`, validated and normalised; ValueError if one is
    present but unusable (the message names the claim, not its value)."""
    attributes: dict[str, str] = {}
    limit = claims.get("approval_limit")
    if limit is not None:
        attributes["approval_limit"] = approval_limit(limit)
    department = claims.get("department")
    if department is not None:
        if not isinstance(department, str) or not _usable_name(department):
            raise ValueError(
                f"department must be a printable name of 1–{MAX_CLAIM_LENGTH} characters"
            )
        attributes["department"] = department.strip()
    return attributes


def approval_limit(value: object) -> str:
    """`value` (a decimal string or a whole number) as a two-place amount; ValueError if not."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_AMOUNT:
        return f"{value}.00"
    if isinstance(value, str) and _AMOUNT.fullmatch(value):
        return f"{Decimal(value):.2f}"
    raise ValueError("approval_limit must be a non-negative decimal amount such as 5000.00")


def principal_from_claims(
    claims: Mapping[str, Any], *, tenant_claim: str = "tenant", roles_claim: str = "roles"
) -> Principal:
    """The Principal of verified `claims`; InvalidToken if a claim is unusable."""
    subject = claims.get("sub")
    tenant = claim_at(claims, tenant_claim)
    roles = claim_at(claims, roles_claim)
    if roles is None:
        roles = []
    if not isinstance(subject, str) or not _usable_name(subject):
        raise InvalidToken("the token's subject is not a usable name")
    if tenant is None:
        raise InvalidToken(f"the token lacks the {tenant_claim!r} claim")
    if not is_tenant_id(tenant):  # the CLI's, the bus's and the import's rule
        raise InvalidToken("the token's tenant is not a usable name")
    if (
        not isinstance(roles, list)
        or len(roles) > MAX_ROLES
        or not all(isinstance(r, str) and 0 < len(r) <= MAX_CLAIM_LENGTH for r in roles)
    ):
        raise InvalidToken("the token's roles must be a list of names")
    try:
        attributes = principal_attributes(claims)
    except ValueError as error:
        raise InvalidToken(f"the token's {error}") from None
    return Principal(
        subject=subject,
        tenant_id=tenant,
        roles=frozenset(roles),
        attributes=attributes,
        name=display_name(claims),
    )


#: The claims that say what a person is called, best first (OIDC standard claims).
NAME_CLAIMS: Final = ("name", "preferred_username")


def display_name(claims: Mapping[str, Any]) -> str | None:
    """The person's name from the first usable NAME_CLAIMS claim, else None (a name is
    for reading only: an unusable one is left out, never a reason to refuse the token)."""
    for claim in NAME_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, str) and _usable_name(value):
            return " ".join(value.split())
    return None


def _usable_name(value: str) -> bool:
    return bool(value.strip()) and len(value) <= MAX_CLAIM_LENGTH and value.isprintable()
