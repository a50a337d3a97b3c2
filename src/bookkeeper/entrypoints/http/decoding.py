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
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar

import msgspec
from litestar.dto import AbstractDTO, DTOFieldDefinition
from litestar.exceptions import ValidationException
from litestar.typing import FieldDefinition

from bookkeeper.application import translation
from bookkeeper.application.json_keys import duplicate_key
from bookkeeper.domain.numerals import SPELLING, misspelt_decimal, misspelt_member

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto._backend import DTOBackend
    from litestar.openapi.spec import Reference, Schema

T = TypeVar("T")

_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def validation_error(
    error: msgspec.ValidationError | msgspec.DecodeError,
    prefix: str = "$",
    body: bytes | None = None,
) -> ValidationException:
    """A 400 naming the JSON path of the error, e.g. `$.data.amount`; of a `body` that is
    no JSON, what is wrong with it when we can tell better than the decoder."""
    message = str(error)
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        escape = lone_surrogate(body) if body is not None else None
        if escape is not None:
            # msgspec says "Input data was truncated" of a high surrogate at a string's end.
            message = f"the text holds an invalid unicode escape, {escape} ({HALF_A_PAIR})"
        return ValidationException(
            f"the request body is not valid JSON: {message}"
            if escape is not None
            else "the request body is not valid JSON",
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
    if text == _NOT_A_DECIMAL:  # "abc", "1,50": a number misspelt, as " 1" and "1e3" are
        return _misspelt(field)
    return ValidationException(
        f"{field}: {text}",
        extra=[{"message": text, "key": field, "source": "body"}],
    )


#: Why a lone surrogate escape is no text.
HALF_A_PAIR: Final = "half of a UTF-16 surrogate pair, which is no character"

#: A JSON escape: `\\uXXXX` (its code unit captured) or any other (`\\\\`, `\\n`), so
#: that an escaped backslash is never read as the start of one.
_ESCAPE: Final = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


def lone_surrogate(body: bytes) -> str | None:
    """The first `\\uXXXX` escape of a JSON text that is half a surrogate pair (a high
    one not followed at once by a low one, or a low one alone), as written; else None."""
    pending: re.Match[bytes] | None = None
    for found in _ESCAPE.finditer(body):
        unit = int(found.group(1), 16) if found.group(1) is not None else None
        if pending is not None:
            if unit is not None and 0xDC00 <= unit <= 0xDFFF and found.start() == pending.end():
                pending = None
                continue
            return pending.group(0).decode("ascii")
        if unit is not None and 0xD800 <= unit <= 0xDBFF:
            pending = found
        elif unit is not None and 0xDC00 <= unit <= 0xDFFF:
            return found.group(0).decode("ascii")
    return pending.group(0).decode("ascii") if pending is not None else None


#: What msgspec says of a string in a Decimal field that Python's Decimal cannot read.
_NOT_A_DECIMAL: Final = "Invalid decimal string"


def _misspelt(field: str) -> ValidationException:
    """The 422 of a number not written `-?[0-9]+(\\.[0-9]+)?` (domain.numerals)."""
    return ValidationException(
        f"{field}: {SPELLING}",
        status_code=422,
        extra=[{"message": SPELLING, "key": field, "source": "body"}],
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
        result = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(field_definition.annotation)
        )
        _declare_strictness(schema_creator, field_definition.annotation)
        return result

    def decode_bytes(self, value: bytes) -> Any:
        check_depth(value)
        try:
            decoded = self._decoders[type(self)].decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise validation_error(error, body=value) from None
        refuse_duplicates(value)
        refuse_misspelt(decoded, value)
        return decoded


#: What a refusal of a repeated member says, after its path.
REPEATED: Final = "appears more than once in its object; each member is given once"


def refuse_duplicates(body: bytes) -> None:
    """A 400 naming the member when an object of the JSON `body` repeats a name
    (`{"amount": "1.00", "amount": "9999.00"}`: readers disagree on which one counts;
    ADR 0049, round three). Call it once the body has decoded."""
    field = duplicate_key(body)
    if field is not None:
        raise ValidationException(
            f"{field}: {REPEATED}",
            extra=[{"message": REPEATED, "key": field, "source": "body"}],
        )


def refuse_misspelt_member(body: bytes, names: frozenset[str], root: str = "$") -> None:
    """`refuse_misspelt` for a body kept as a dict (a partial update): the members named
    in `names` hold Decimals (domain.numerals.decimal_fields)."""
    field = misspelt_member(body, names, root)
    if field is not None:
        raise _misspelt(field)


def refuse_misspelt(decoded: Any, body: bytes, root: str = "$") -> None:
    """A 422 naming the field when a Decimal of `decoded` was written in `body` otherwise
    than `-?[0-9]+(\\.[0-9]+)?` (domain.numerals: " 1", "1_000", "+1", "1e3", "١٠٠" are
    refused, not read as numbers), string or JSON number alike (ADR 0049, round two)."""
    field = misspelt_decimal(decoded, body, root)
    if field is not None:
        raise _misspelt(field)


#: How deep arrays and objects may nest in a request body (ADR 0021). No document of ours
#: needs more than a handful of levels; the decoder (and everything that walks the data
#: after it) recurses once per level. The bus reads its messages with the same bound.
MAX_DEPTH: Final = translation.MAX_DEPTH


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """A 400 if arrays and objects in the JSON `body` nest more than `limit` deep
    (translation.nests_deeper_than)."""
    if translation.nests_deeper_than(body, limit):
        message = f"arrays and objects nest more than {limit} levels deep"
        raise ValidationException(
            f"$: {message}", extra=[{"message": message, "key": "$", "source": "body"}]
        )


#: What the decoder accepts for a Decimal, as the document states it: a decimal string
#: (finite; NaN and infinities reach the domain, which refuses them) or a JSON number.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


def _declare_strictness(schema_creator: SchemaCreator, annotation: Any) -> None:
    """Make the generated schemas of a request body say what `decode_bytes` enforces:
    no unknown fields, decimal strings, `msgspec.Raw` as an object, and the constraints
    Litestar leaves out (a minimum of 0; limits on dicts). A client generating requests
    from the document then sends only what is accepted."""
    from litestar.openapi.spec import OpenAPIType, Schema

    registered = {entry.key: entry.schema for entry in schema_creator.schema_registry}
    seen: set[type[Any]] = set()

    def visit(node: msgspec.inspect.Type, schema: Any) -> None:
        if isinstance(node, msgspec.inspect.Metadata):
            node = node.type
        if isinstance(node, msgspec.inspect.UnionType):
            for option in node.types:
                visit(option, None)
        elif isinstance(node, msgspec.inspect.ListType):
            visit(node.item_type, None)
        elif isinstance(node, msgspec.inspect.StructType) and node.cls not in seen:
            seen.add(node.cls)
            key = (*node.cls.__module__.split("."), node.cls.__qualname__)
            struct_schema = registered.get(key)
            if struct_schema is None:
                return
            if node.forbid_unknown_fields:
                struct_schema.additional_properties = False
            for field in node.fields:
                prop = (struct_schema.properties or {}).get(field.encode_name)
                field_type = field.type
                inner = _unwrap(field_type)
                if isinstance(prop, Schema):
                    _tighten(prop, inner, Schema, OpenAPIType)
                visit(field_type, prop)

    visit(msgspec.inspect.type_info(annotation), None)


def _unwrap(node: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """The type inside `Annotated[...]` and `X | None`."""
    if isinstance(node, msgspec.inspect.Metadata):
        node = node.type
    if isinstance(node, msgspec.inspect.UnionType):
        options = [t for t in node.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(options) == 1:
            node = options[0]
    if isinstance(node, msgspec.inspect.Metadata):
        node = node.type
    return node


def _tighten(prop: Any, node: msgspec.inspect.Type, schema_cls: Any, types: Any) -> None:
    if isinstance(node, msgspec.inspect.DecimalType):
        decimal = [
            schema_cls(type=types.STRING, pattern=DECIMAL_PATTERN, examples=["199.00"]),
            schema_cls(type=types.NUMBER),
        ]
        if prop.one_of:
            prop.one_of = [
                *decimal,
                *(s for s in prop.one_of if getattr(s, "type", None) == types.NULL),
            ]
        else:
            prop.type, prop.one_of = None, decimal
    elif isinstance(node, msgspec.inspect.RawType):
        prop.type = types.OBJECT
    elif isinstance(node, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        if node.ge == 0 and prop.minimum is None:
            prop.minimum = 0
    elif isinstance(node, msgspec.inspect.DictType):
        if node.max_length is not None:
            prop.max_properties = node.max_length
        key, value = node.key_type, node.value_type
        if isinstance(key, msgspec.inspect.StrType) and key.max_length is not None:
            prop.property_names = schema_cls(type=types.STRING, max_length=key.max_length)
        if (
            isinstance(value, msgspec.inspect.StrType)
            and value.max_length is not None
            and isinstance(prop.additional_properties, schema_cls)
        ):
            prop.additional_properties.max_length = value.max_length
