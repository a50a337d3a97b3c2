"""Strict one-pass decoding of request bodies into wire structs, as a Litestar DTO.

Litestar's default path decodes JSON into dicts and then converts them leniently, which
cannot fill a `msgspec.Raw` field (POST /events keeps `data` raw until it knows the type)
and accepts "1" for a number. `StrictJson[T]` decodes the bytes straight into `T` with a
cached msgspec decoder, and turns msgspec's errors into a 400 that names the offending
field (`$.data.amount`). The OpenAPI schema is still generated from `T`.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec
from litestar.dto import AbstractDTO, DTOFieldDefinition
from litestar.exceptions import ValidationException
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto._backend import DTOBackend
    from litestar.openapi.spec import Reference, Schema

T = TypeVar("T")

_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def validation_error(
    error: msgspec.ValidationError | msgspec.DecodeError, prefix: str = "$"
) -> ValidationException:
    """A 400 naming the JSON path of the error, e.g. `$.data.amount`."""
    message = str(error)
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return ValidationException(
            "the request body is not valid JSON",
            extra=[{"message": message, "key": None, "source": "body"}],
        )
    text, marker, path = message.rpartition(" - at `")
    if marker:
        field = prefix + path.rstrip("`").removeprefix("$")
    else:
        text, field = message, prefix
    named = _NAMED_FIELD.search(text)
    if named:  # "Object contains unknown field `status`" is about $.status, not $
        field = f"{field}.{named.group(1)}"
    return ValidationException(
        f"{field}: {text}",
        extra=[{"message": text, "key": field, "source": "body"}],
    )


class StrictJson(AbstractDTO[T], Generic[T]):
    """Decode a JSON request body directly into the handler's `data` type."""

    _decoders: ClassVar[dict[type[Any], msgspec.json.Decoder[Any]]] = {}

    @classmethod
    def generate_field_definitions(
        cls, model_type: type[Any]
    ) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls,
        field_definition: FieldDefinition,
        handler_id: str,
        backend_cls: type[DTOBackend] | None = None,
    ) -> None:
        cls._decoders[cls] = msgspec.json.Decoder(field_definition.annotation)

    @classmethod
    def create_openapi_schema(
        cls,
        field_definition: FieldDefinition,
        handler_id: str,
        schema_creator: SchemaCreator,
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(
            FieldDefinition.from_annotation(field_definition.annotation)
        )

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return self._decoders[type(self)].decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise validation_error(error) from None
