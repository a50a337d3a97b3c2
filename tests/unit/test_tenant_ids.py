"""One tenant-id rule for every surface that names a tenant (domain.tenants): the CLI's
`--tenant`, a token's tenant claim, a bus message's tenant and an imported event's
tenant accept the same names and refuse the same names. Before, a 150-character tenant
could be given on the CLI and imported, but no token could carry it (200 was the claim's
limit, 255 the CLI's) and the bus refused messages for it (100): books no one could reach."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable

import pytest

from bookkeeper.adapters.auth.claims import principal_from_claims
from bookkeeper.adapters.auth.errors import InvalidToken
from bookkeeper.application.bus import UNKNOWN_TENANT, tenant_of
from bookkeeper.application.importing import BadImportLine, parse_line
from bookkeeper.application.translation import BUS_TENANT, MalformedMessage, read_envelope
from bookkeeper.domain.tenants import MAX_TENANT_LENGTH, is_tenant_id
from bookkeeper.entrypoints.cli.arguments import tenant_id

GOOD = [
    "acme",
    "Ærlig Bakeri AS",
    "globex.no",
    "a" * MAX_TENANT_LENGTH,
    "x" * 150,  # over the bus's old 100
    "t" * 201,  # over the token's old 200
]
BAD = [
    "",
    " acme",
    "acme ",
    "*",
    "acme*",
    "acme,globex",
    "ac\tme",
    "ac\nme",
    "ac\u202eme",  # a bidi override
    "ac\x00me",
    "a" * (MAX_TENANT_LENGTH + 1),
]


def _cli(value: str) -> bool:
    try:
        tenant_id(value)
    except argparse.ArgumentTypeError:
        return False
    return True


def _token(value: str) -> bool:
    try:
        principal = principal_from_claims({"sub": "ola", "tenant": value, "roles": []})
    except InvalidToken:
        return False
    assert principal.tenant_id == value
    return True


def _message(tenant: str) -> bytes:
    return json.dumps(
        {"type": "InvoiceIssued", "source": "invoicing", "tenant": tenant, "data": {}}
    ).encode()


def _bus(value: str) -> bool:
    raw = _message(value)
    try:
        envelope = read_envelope(raw)
    except MalformedMessage:
        assert tenant_of(raw) == UNKNOWN_TENANT  # its alert is the operator's
        return False
    assert envelope.tenant == value
    assert tenant_of(raw) == value
    return True


def _import(value: str) -> bool:
    line = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "tenant_id": value,
            "stream_id": str(uuid.uuid4()),
            "version": 1,
            "type": "PatternSuggested",
            "schema_version": 1,
            "actor": "book-e",
            "data": {"merchant": "Adobe", "accountCode": "6540", "vatRate": "25"},
            "correlation_id": str(uuid.uuid4()),
            "created_at": "2026-11-20T10:00:00Z",
        }
    ).encode()
    try:
        event = parse_line(1, line)
    except BadImportLine:
        return False
    assert event.tenant_id == value
    return True


SURFACES: dict[str, Callable[[str], bool]] = {
    "cli": _cli,
    "token": _token,
    "bus": _bus,
    "import": _import,
}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("value", GOOD)
def test_every_surface_accepts_a_tenant_id(surface: str, value: str) -> None:
    assert is_tenant_id(value)
    assert SURFACES[surface](value)


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("value", BAD)
def test_every_surface_refuses_what_is_no_tenant_id(surface: str, value: str) -> None:
    assert not is_tenant_id(value)
    assert not SURFACES[surface](value)


def test_the_operators_bus_tenant_is_no_message_tenant() -> None:
    assert is_tenant_id(BUS_TENANT)  # the operator names it on the CLI and in tokens
    assert _cli(BUS_TENANT) and _token(BUS_TENANT)
    assert not _bus(BUS_TENANT)  # but no message books into it


def test_a_token_tenant_that_is_not_text_is_refused() -> None:
    for value in (42, None, ["acme"], {"id": "acme"}):
        with pytest.raises(InvalidToken):
            principal_from_claims({"sub": "ola", "tenant": value, "roles": []})
