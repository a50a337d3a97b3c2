"""Duplicate member names in JSON (application.json_keys, ADR 0049 round three)."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.application.json_keys import duplicate_key


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"amount":"1.00","amount":"9999.00"}', "$.amount"),
        (b'{"amount": "1.00" , "amount" : "1.00"}', "$.amount"),  # even the same value
        (b'{"type":"X","data":{"a":1,"b":2,"a":3}}', "$.data.a"),
        (b'{"lines":[{"a":1},{"a":1,"b":2,"b":3}]}', "$.lines[1].b"),
        (b'[{"x":1},[{"y":{"z":1,"z":2}}]]', "$[1][0].y.z"),
        (b'{"a":1,"\\u0061":2}', "$.a"),  # one name, two spellings
        (b'{"a":"x:y","b":"\\u003a","a":2}', "$.a"),  # escaped colon: the slow path
        (b'{"":1,"":2}', "$."),
        (b'{"t":"12:00:00","t":"13:00:00"}', "$.t"),
    ],
)
def test_a_repeated_name_is_found_and_named_by_its_path(body: bytes, path: str) -> None:
    assert duplicate_key(body) == path


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount":"1.00","vatRate":"25"}',
        b'{"lines":[{"amount":"1.00"},{"amount":"2.00"}]}',  # the same name, other objects
        b'{"a":{"a":{"a":1}}}',
        b'{"at":"2026-11-20T12:00:00Z","url":"https://x.example/a:b","k:e:y":":"}',
        b'{"a":"\\u003a","b":"\\":\\""}',
        b'{"a":"\\"a\\":1,\\"a\\":2"}',  # a repetition inside a string is text
        b"[]",
        b'"a:b"',
        b"12",
        b'{"n":123456789012345678901234567890}',
    ],
)
def test_distinct_names_pass(body: bytes) -> None:
    assert duplicate_key(body) is None


@pytest.mark.parametrize("body", [b"", b"not json", b'{"a":1,"a":', b"{'a':1}"])
def test_what_is_not_json_is_left_to_the_decoder(body: bytes) -> None:
    assert duplicate_key(body) is None


def test_a_long_or_unprintable_name_is_shown_escaped_and_cut() -> None:
    name = "\x07" + "n" * 500
    body = json.dumps({name: 1}).encode()[:-1] + b"," + json.dumps(name).encode() + b":2}"
    path = duplicate_key(body)
    assert path is not None
    assert path.startswith("$.\\x07nnn") and path.endswith("…")
    assert len(path) < 80


# Any JSON: objects written as lists of (name, value) pairs, so that names may repeat.
_names = st.sampled_from(["a", "b", "amount", "é", "a:b", "\\", '"', "\u200b"])
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(["x", "1:2", ":", "\\:", "{}"])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(_names, inner), max_size=4).map(lambda pairs: ("obj", pairs)),
    ),
    max_leaves=20,
)


def _write(value: Any, escape: bool) -> str:
    if isinstance(value, tuple) and value[:1] == ("obj",):
        members = (f"{_text(name, escape)}:{_write(item, escape)}" for name, item in value[1])
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_write(item, escape) for item in value) + "]"
    return _text(value, escape) if isinstance(value, str) else json.dumps(value)


def _text(value: str, escape: bool) -> str:
    return json.dumps(value, ensure_ascii=escape).replace(":", "\\u003a" if escape else ":")


def _repeats(value: Any) -> bool:
    if isinstance(value, tuple) and value[:1] == ("obj",):
        names = [name for name, _ in value[1]]
        return len(set(names)) < len(names) or any(_repeats(item) for _, item in value[1])
    if isinstance(value, list):
        return any(_repeats(item) for item in value)
    return False


@given(_values, st.booleans())
def test_any_json_is_judged_as_a_pairs_reading_judges_it(value: Any, escape: bool) -> None:
    body = _write(value, escape).encode()
    assert (duplicate_key(body) is not None) == _repeats(value)


def test_a_large_body_is_read_without_the_cyclic_collector() -> None:
    """1 MB of small objects ran the collector hundreds of times inside one decoder call,
    which holds the GIL throughout: the event loop stood still while the bus read such a
    message in a worker thread (0.3-0.5 s instead of 0.05 s). A small body is read as
    before, and the collector runs again after."""
    runs: list[str] = []

    def count(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(phase)

    body = b'{"x": [' + b'{"a":{}},' * 110_000 + b'{"a": 1, "a": 2}]}'
    gc.callbacks.append(count)
    try:
        assert duplicate_key(body) == "$.x[110000].a"
    finally:
        gc.callbacks.remove(count)
    assert runs == []
    assert gc.isenabled()
