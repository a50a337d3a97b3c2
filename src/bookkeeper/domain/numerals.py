"""How a number may be written where a machine sends one (ADR 0049, addendum "round two").

An amount or a rate that arrives as data — a JSON body of the API, a line of an event
import, a message of the bus, a command-line argument, a query value — is written in one
grammar: plain ASCII, an optional leading minus, digits, and optionally a point and more
digits:

    -?[0-9]+(\\.[0-9]+)?          "199.00", "-180.20", "25", "0.5", "11.11"

Nothing else, although Python's `Decimal` (and msgspec, which uses it) takes much more:
surrounding spaces (" 1"), underscores ("1_000"), a plus sign ("+1"), exponents ("1e3"),
a bare point (".5", "5."), and any Unicode decimal digit (Arabic-Indic "١٠٠", full-width
"１００"). Each of those names a number, but not in a spelling any answer of ours uses, and
a client that sends one is mistaken about the format (a locale, a spreadsheet's export):
it is told, not guessed at. A JSON number is held to the same grammar (no exponent).
NaN and the infinities are not numbers at all; `check_numbers_finite` (proposals) refuses
them with its own error wherever they are allowed to reach the domain.

Human text is another matter: a Norwegian "1 234,50" typed on the review page or in chat
is read by `parse_written` below, and an amount's or a rate's unit by
`parse_written_amount` / `parse_written_rate` (ADR 0060), never by `parse_plain`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any, Final

import msgspec

#: The grammar, as a pattern for a whole value (`fullmatch`), and as the OpenAPI document
#: states it (ECMA-262 reads it the same way).
PLAIN_DECIMAL: Final = r"-?[0-9]+(?:\.[0-9]+)?"
_PLAIN: Final = re.compile(PLAIN_DECIMAL)

#: What a refusal says, after the field's name.
SPELLING: Final = (
    'must be a plain decimal number such as "1234.50" or "-180.20" (ASCII digits, an '
    "optional leading minus and decimal point; no spaces, plus sign, exponent, digit "
    "grouping or other digits)"
)


def is_plain(text: str) -> bool:
    """Whether `text` is written in the grammar above."""
    return _PLAIN.fullmatch(text) is not None


def parse_plain(text: str) -> Decimal:
    """The Decimal `text` spells; ValueError (saying the grammar) when it is not plain."""
    if not is_plain(text):
        raise ValueError(f"{text!r} {SPELLING}")
    return Decimal(text)


class _NumberText(str):
    """The text of a JSON number with a fraction or an exponent, as it was written."""


_GENERIC: Final = msgspec.json.Decoder(float_hook=_NumberText)


def misspelt_decimal(
    value: Any, raw: bytes, root: str = "$", *, stored: bool = False
) -> str | None:
    """The JSON path (`$.lines[0].amount`) of the first finite Decimal in `value` whose
    spelling in `raw` — the JSON `value` was decoded from — is not plain; None if every
    one is. `value` tells which fields are Decimals (msgspec has resolved any union); the
    JSON is read again, untyped, only when it holds one.

    `stored`: the JSON is an event as our own log writes it (an export read back by
    `bookkeeper import events`), where a Decimal is spelt as Python spells it: a price per
    token of 3E-7 is written "3E-7". That canonical spelling is also taken then, and only
    it ("3e-7", " 3E-7", "+3E-7" are not)."""
    try:
        generic = _GENERIC.decode(raw)
    except msgspec.DecodeError:  # pragma: no cover - `value` was decoded from it
        return None
    return _first_misspelt(value, generic, root, stored)


#: Values that hold no Decimal and need no look (the common fields of a payload).
_LEAVES: Final = (str, int, float, bool, type(None), dt.date, dt.datetime, uuid.UUID)


_LEAF_TYPES: Final = (
    msgspec.inspect.StrType,
    msgspec.inspect.IntType,
    msgspec.inspect.FloatType,
    msgspec.inspect.BoolType,
    msgspec.inspect.NoneType,
    msgspec.inspect.DateType,
    msgspec.inspect.DateTimeType,
    msgspec.inspect.TimeType,
    msgspec.inspect.UUIDType,
    msgspec.inspect.LiteralType,
    msgspec.inspect.EnumType,
    msgspec.inspect.BytesType,
)


def _holds_no_decimal(node: msgspec.inspect.Type) -> bool:
    if isinstance(node, msgspec.inspect.Metadata):
        node = node.type
    if isinstance(node, msgspec.inspect.UnionType):
        return all(_holds_no_decimal(option) for option in node.types)
    return isinstance(node, _LEAF_TYPES)


_PLANS: dict[type[Any], tuple[tuple[str, str], ...]] = {}


def _plan(cls: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """(attribute, JSON name) of the fields of `cls` that may hold a Decimal: its text,
    dates and flags are not looked at (a payload is walked on every submission)."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = tuple(
            (field.name, field.encode_name)
            for field in msgspec.structs.fields(cls)
            if not _holds_no_decimal(msgspec.inspect.type_info(field.type))
        )
        _PLANS[cls] = plan
    return plan


def misspelt_member(raw: bytes, names: frozenset[str], root: str = "$") -> str | None:
    """`misspelt_decimal` for a JSON object kept as a dict (a partial update, such as the
    review rules): the path of the first member named in `names` (the Decimal fields, by
    their JSON names) whose number is not plain; None if there is none."""
    try:
        sent = _GENERIC.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(sent, dict):
        return None
    for name, value in sent.items():
        if name in names and _spelt_badly(value):
            return f"{root}.{name}"
    return None


def decimal_fields(cls: type[msgspec.Struct]) -> frozenset[str]:
    """The JSON names of the fields of `cls` that hold a Decimal (or None)."""
    found = set()
    for field in msgspec.structs.fields(cls):
        node = msgspec.inspect.type_info(field.type)
        options = node.types if isinstance(node, msgspec.inspect.UnionType) else (node,)
        if any(isinstance(option, msgspec.inspect.DecimalType) for option in options):
            found.add(field.encode_name)
    return frozenset(found)


def _spelt_badly(sent: Any, stored: bool = False) -> bool:
    """Whether a decoded JSON value given for a Decimal names a finite number in another
    spelling than the plain one. A JSON integer is plain; a NaN or an infinity is left to
    the domain's own refusal (check_numbers_finite, review_rules_problem); what is no
    number at all counts as misspelt."""
    if isinstance(sent, bool) or not isinstance(sent, (int, str)):
        return False  # a type error, which the decoder names
    if isinstance(sent, int) or is_plain(sent):
        return False
    try:
        number = Decimal(sent)
    except ArithmeticError:
        return True
    if stored and type(sent) is str and str(number) == sent:
        return False  # Python's own spelling, as the event log writes it
    return number.is_finite()


def _first_misspelt(value: Any, sent: Any, path: str, stored: bool) -> str | None:
    kind = type(value)
    if kind is Decimal:
        return path if value.is_finite() and _spelt_badly(sent, stored) else None
    if kind in _LEAVES:
        return None
    if isinstance(value, msgspec.Struct):
        if not isinstance(sent, dict):
            return None
        for name, wire in _plan(kind):
            if wire not in sent:
                continue
            found = _first_misspelt(getattr(value, name), sent[wire], f"{path}.{wire}", stored)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        if not isinstance(sent, list):
            return None
        for index, (item, sent_item) in enumerate(zip(value, sent, strict=False)):
            found = _first_misspelt(item, sent_item, f"{path}[{index}]", stored)
            if found is not None:
                return found
        return None
    if isinstance(value, dict) and isinstance(sent, dict):
        for key, item in value.items():
            if isinstance(key, str) and key in sent:
                found = _first_misspelt(item, sent[key], f"{path}.{key}", stored)
                if found is not None:
                    return found
    return None


# --- what a person writes ---------------------------------------------------------------

#: What a refusal of a written number says (a page, chat).
WRITTEN_SPELLING: Final = (
    'is not a number as written here; write for example "1 234,50", "1.234,50" or '
    '"1234.50" (digits, groups of three, one decimal comma or point)'
)
#: What a refusal of "1.234" or "1,234" says.
AMBIGUOUS: Final = (
    "could be a thousand or more, or a number with three decimals: write 1234 (or 1 234), "
    "or the decimals with a comma or point and at most two digits"
)
#: A number as a person writes it, once spaces are one kind and the minus is ASCII.
_WRITTEN: Final = re.compile(r"-?[0-9][0-9 .,]*")
#: Spaces that group digits: a space, a no-break space, narrow and thin spaces.
_GROUP_SPACES: Final = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_SUFFIXES: Final = ("kr", "nok", "%")


def parse_written(text: str) -> Decimal:
    """An amount or a rate as a person writes it on the page or in chat, read into the
    plain grammar (then `parse_plain`): Norwegian "1 234,50" and "1.234,50", plain
    "1234.5", English "1,234.50"; a trailing "kr", "NOK" or "%" is allowed. Digits are
    grouped in threes (spaces, or the separator that is not the decimal one); the decimal
    separator is the last comma or point. A single separator followed by exactly three
    digits ("1.234", "1,234") means 1234 to one reader and 1.234 to another: refused, as is
    anything else (" 1e3", "1_000", "+5", "١٠٠"). ValueError saying how to write it."""
    written = text.translate(_GROUP_SPACES).replace("\u2212", "-").strip()
    lowered = written.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix):
            written = written[: -len(suffix)].rstrip()
            break
    if not _WRITTEN.fullmatch(written) or written[-1] in " .,":
        raise ValueError(f"{text.strip()!r} {WRITTEN_SPELLING}")
    sign, digits = ("-", written[1:]) if written.startswith("-") else ("", written)
    comma, point = digits.rfind(","), digits.rfind(".")
    decimal = max(comma, point)
    if decimal >= 0:
        mark = digits[decimal]
        if comma >= 0 and point >= 0:
            grouping = "." if mark == "," else ","
        elif digits.count(mark) > 1:
            decimal, grouping = -1, mark  # "1.234.567": only groups
        elif len(digits) - decimal - 1 == 3:
            raise ValueError(f"{text.strip()!r} {AMBIGUOUS}")
        else:
            grouping = ""
    else:
        grouping = ""
    whole, fraction = (digits[:decimal], digits[decimal + 1 :]) if decimal >= 0 else (digits, "")
    groups = whole.replace(grouping, " ").split(" ") if grouping else whole.split(" ")
    if (fraction and not fraction.isdigit()) or (
        len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]))
    ):
        raise ValueError(f"{text.strip()!r} {WRITTEN_SPELLING}")
    plain = sign + "".join(groups) + (f".{fraction}" if fraction else "")
    return parse_plain(plain)


#: The units a written amount (kroner) and a written rate (percent) may end in; each is
#: no number as the other.
_AMOUNT_UNITS: Final = ("kr", "nok", ",-")
_RATE_UNITS: Final = ("%",)


def parse_written_amount(text: str) -> Decimal:
    """An amount as a person writes it (`parse_written`): a kroner unit ("kr", "NOK", or
    ",-" after whole kroner) may follow it, a "%" may not — a percentage is no amount.
    The one rule for every place a person corrects an amount (the review page, chat).
    ValueError naming the text otherwise."""
    written = text.strip()
    lowered = written.lower()
    if lowered.endswith(_RATE_UNITS):
        raise ValueError(f"{written!r} is a percentage, not an amount")
    if lowered.endswith(",-"):
        written = written[:-2]
    return parse_written(written)


def parse_written_rate(text: str) -> Decimal:
    """A rate (a VAT rate) as a person writes it (`parse_written`): a "%" may follow it, a
    kroner unit ("kr", "NOK", ",-") may not — an amount is no rate. The one rule for every
    place a person corrects a rate (the review page, chat). ValueError naming the text
    otherwise."""
    written = text.strip()
    if written.lower().endswith(_AMOUNT_UNITS):
        raise ValueError(f"{written!r} is an amount in kroner, not a rate")
    return parse_written(written)
