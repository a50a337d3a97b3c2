"""Validate request and response bodies against the vendored OpenAPI documents.

The fakes use this so that a body our adapters send which the real API would refuse makes
the fake answer 400, as the real one would — the adapters are tested against the contract,
not against our own idea of it.
"""

from __future__ import annotations

import email
import email.policy
import functools
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_schema_validator import OAS30Validator, OAS30WriteValidator, oas30_format_checker
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


# --- requests -------------------------------------------------------------------------


@functools.cache
def _request_validator(spec: Path, pointer: str) -> OAS30WriteValidator:
    """A validator for the schema at the JSON pointer `pointer` of `spec`, as a request
    body is checked: formats (date, uuid, int64 …) included, readOnly properties refused."""
    document = load(spec)
    resource = Resource.from_contents(document, default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(uri="spec.yaml", resource=resource)
    return OAS30WriteValidator(
        {"$ref": f"spec.yaml#{pointer}"},
        registry=registry,
        format_checker=oas30_format_checker,
    )


def _schema_errors(spec: Path, pointer: str, value: Any, where: str) -> list[str]:
    problems = []
    for error in _request_validator(spec, pointer).iter_errors(value):
        at = "/".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}{'/' + at if at else ''}: {error.message}")
    return problems


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _operation(spec: Path, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The spec's path template that `path` (below the server URL) matches, and the path
    parameters' values; None when no template matches. Literal segments win over
    parameters (`/purchases/drafts` before `/purchases/{purchaseId}`)."""
    segments = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
    best: tuple[int, str, dict[str, str]] | None = None
    for template in load(spec)["paths"]:
        parts = template.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        values: dict[str, str] = {}
        literal = 0
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                values[part[1:-1]] = segment
            elif part == segment:
                literal += 1
            else:
                break
        else:
            if best is None or literal > best[0]:
                best = (literal, template, values)
    return None if best is None else (best[1], best[2])


def _parameters(spec: Path, template: str, method: str) -> list[tuple[str, dict[str, Any]]]:
    """(JSON pointer, parameter) of every parameter of the operation, path-level ones too."""
    document = load(spec)
    item = document["paths"][template]
    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    base = f"/paths/{_escape(template)}"
    for where, params in (
        (f"{base}/parameters", item.get("parameters", [])),
        (f"{base}/{method}/parameters", item[method].get("parameters", [])),
    ):
        for index, param in enumerate(params):
            pointer = f"{where}/{index}"
            if "$ref" in param:
                pointer = param["$ref"].lstrip("#")
                name = pointer.rsplit("/", 1)[-1]
                param = document["components"]["parameters"][name]
            found[
                (param["in"], param["name"].lower() if param["in"] == "header" else param["name"])
            ] = (
                pointer,
                param,
            )
    return list(found.values())


def _parameter_value(raw: str, schema: dict[str, Any]) -> Any:
    """A parameter's text as the JSON value its schema describes (so the schema can judge
    it): integers and booleans read as such when they can be, else left as text."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def request_errors(
    spec: Path,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
) -> list[str]:
    """Every way one request breaks the spec's operation, as a strict fake generated from
    the spec would refuse it: an unknown path or method, path and query parameters (names,
    required ones, types, formats, enums, bounds), required headers, the request body's
    media type and, for JSON, its schema (readOnly fields refused); for a multipart form,
    its field names. `path` is below the server URL."""
    found = _operation(spec, method, path)
    if found is None:
        return [f"{method} {path}: no such path in the spec"]
    template, path_values = found
    verb = method.lower()
    document = load(spec)
    item = document["paths"][template]
    if verb not in item:
        return [f"{method} {path}: the spec has no {method} on {template}"]
    where = f"{method} {template}"
    problems: list[str] = []
    parameters = _parameters(spec, template, verb)
    headers = {name.lower(): value for name, value in headers.items()}
    sent_query: dict[str, list[str]] = {}
    for name, value in query:
        sent_query.setdefault(name, []).append(value)
    declared_query = {p["name"] for _, p in parameters if p["in"] == "query"}
    for name in sent_query:
        if name not in declared_query:
            problems.append(f"{where}: query parameter {name!r} is not in the spec")
    for pointer, param in parameters:
        location, name = param["in"], param["name"]
        if location == "path":
            raw: str | None = path_values.get(name)
        elif location == "query":
            values = sent_query.get(name)
            if values and len(values) > 1:
                problems.append(f"{where}: query parameter {name!r} sent {len(values)} times")
            raw = values[0] if values else None
        elif location == "header":
            raw = headers.get(name.lower())
        else:
            continue
        if raw is None:
            if param.get("required"):
                problems.append(f"{where}: required {location} parameter {name!r} missing")
            continue
        schema = param.get("schema", {})
        problems.extend(
            _schema_errors(
                spec, f"{pointer}/schema", _parameter_value(raw, schema), f"{where} {name}"
            )
        )
    operation = item[verb]
    request_body = operation.get("requestBody")
    if request_body is None:
        if body:
            problems.append(f"{where}: takes no request body, {len(body)} bytes sent")
        return problems
    if not body:
        if request_body.get("required"):
            problems.append(f"{where}: the request body is required")
        return problems
    content_type = headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    content = request_body.get("content", {})
    if media not in content:
        problems.append(
            f"{where}: content type {media or 'none'!r} is not one of {sorted(content)}"
        )
        return problems
    body_pointer = f"/paths/{_escape(template)}/{verb}/requestBody/content/{_escape(media)}/schema"
    if media == "application/json":
        try:
            value = json.loads(body)
        except ValueError:
            return [*problems, f"{where}: the body is not JSON"]
        problems.extend(_schema_errors(spec, body_pointer, value, f"{where} body"))
    elif media == "multipart/form-data":
        fields = _multipart_fields(content_type, body)
        schema = content[media].get("schema", {})
        known = set(schema.get("properties", {}))
        for name in fields:
            if known and name not in known:
                problems.append(f"{where}: multipart field {name!r} is not in the spec")
        for name in schema.get("required", []):
            if name not in fields:
                problems.append(f"{where}: multipart field {name!r} is required")
    return problems


def _multipart_fields(content_type: str, body: bytes) -> list[str]:
    """The names of a multipart/form-data body's parts."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body,
        policy=email.policy.HTTP,
    )
    names: list[str] = []
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            names.append(name)
    return names


class SpecCheckingTransport(httpx.AsyncBaseTransport):
    """An httpx transport (by default the network) that checks every request it sends
    against `spec` with `request_errors`, as a strict fake generated from the spec would:
    `problems` collects what such a fake would refuse, `seen` the requests' method and path.
    `prefix` is the server URL's path (Fiken's /api/v2, Folio's /v2)."""

    def __init__(
        self, spec: Path, prefix: str, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._spec = spec
        self._prefix = prefix.rstrip("/")
        self._inner = inner or httpx.AsyncHTTPTransport()
        self.problems: list[str] = []
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        path = request.url.path
        if path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        self.seen.append(f"{request.method} {path}")
        self.problems.extend(
            request_errors(
                self._spec,
                request.method,
                path,
                request.url.params.multi_items(),
                dict(request.headers),
                body,
            )
        )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
