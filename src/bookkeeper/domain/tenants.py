"""What a tenant id is: the one rule every entry point names a tenant by.

A tenant id is 1–255 printable characters (no control character, no bidi override, no
line break), without blanks around it, and holds neither `*` (every tenant, in a policy
rule and as the shipped defaults' owner) nor `,` (the separator of tenant lists in the
settings and the policy). The CLI's `--tenant`, a token's tenant claim, a bus message's
tenant and an imported event's tenant are all held to it: an id one surface accepts and
another refuses names books no one can reach through the other (events imported under
it, a message booked for it that no token can read).
"""

from __future__ import annotations

from typing import Final

#: The longest tenant id.
MAX_TENANT_LENGTH: Final = 255
#: Every tenant, in a policy rule: never a tenant of its own.
ANY_TENANT: Final = "*"
#: What no tenant id holds: the wildcard and the list separator.
_NOT_IN_TENANT: Final = frozenset("*,")
#: The rule in words, for the refusals that quote it.
TENANT_RULE: Final = (
    f"1–{MAX_TENANT_LENGTH} printable characters, no surrounding blanks, no ',' or '*'"
)


def is_tenant_id(value: object) -> bool:
    """Whether `value` is a tenant id (the module's rule)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_TENANT_LENGTH
        and value.isprintable()
        and value == value.strip()
        and not any(ch in _NOT_IN_TENANT for ch in value)
    )
