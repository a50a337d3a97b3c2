"""Validate request and response bodies against the vendored OpenAPI documents.

The fakes use this so that a body our adapters send which the real API would refuse makes
the fake answer 400, as the real one would — the adapters are tested against the contract,
not against our own idea of it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

#: Copies of ../shared/contracts (public OpenAPI documents), so a clone tests on its own.
CONTRACTS = Path(__file__).resolve().parent / "contracts"
FIKEN_SPEC = CONTRACTS / "fiken-openapi.yaml"
FOLIO_SPEC = CONTRACTS / "folio-openapi.yml"


@functools.cache
def load(spec: Path) -> dict[str, Any]:
    with spec.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


@functools.cache
def _validator(spec: Path, schema_name: str) -> OAS30Validator:
    document = load(spec)
    resource = Resource.from_contents(document, default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(uri="spec.yaml", resource=resource)
    schema = {"$ref": f"spec.yaml#/components/schemas/{schema_name}"}
    return OAS30Validator(schema, registry=registry)


def errors(spec: Path, schema_name: str, body: Any) -> list[str]:
    """Every way `body` breaks the named component schema (empty when it conforms)."""
    validator = _validator(spec, schema_name)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<body>'}: {error.message}"
        for error in validator.iter_errors(body)
    ]
