"""The depth limit on JSON request bodies (decoding.check_depth, ADR 0021) agrees with the
real depth of any JSON document, strings with brackets in them included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.exceptions import ValidationException

from bookkeeper.entrypoints.http.decoding import check_depth

LIMIT = 6

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), children, max_size=3)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(documents)
def test_refuses_exactly_the_documents_deeper_than_the_limit(document: Any) -> None:
    body = json.dumps(document).encode()
    if depth(document) > LIMIT:
        with pytest.raises(ValidationException):
            check_depth(body, LIMIT)
    else:
        check_depth(body, LIMIT)


def test_ten_thousand_levels_are_refused() -> None:
    with pytest.raises(ValidationException, match="more than 6 levels"):
        check_depth(b"[" * 10_000 + b"]" * 10_000, LIMIT)


def test_unbalanced_brackets_are_left_to_the_decoder() -> None:
    check_depth(b"[" * 100, LIMIT)
