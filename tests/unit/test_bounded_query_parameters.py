"""`params.bounded_query` reads a route's query parameters from its signature: a Literal
or an Enum is a set of values (per item for a list), a list takes several values, anything
else one. No route of the API types a query parameter as an Enum yet; this holds the
mechanism to it for the day one does, on a small app of its own."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Annotated, Literal

import pytest
from litestar import Litestar, get
from litestar.params import QueryParameter
from litestar.testing import TestClient

from bookkeeper.entrypoints.http.params import bounded_query
from bookkeeper.entrypoints.http.problems import exception_handlers


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


#: `shade` is declared the old way, without FromPath (so with no PathParameter to tell it
#: from a query parameter): `bounded_query` must still leave it to the path.
pytestmark = pytest.mark.filterwarnings("ignore:.*'shade' declared using deprecated inferred")


@get("/paint/{shade:str}", sync_to_thread=False)
def paint(
    shade: str,
    colour: Annotated[Colour | None, QueryParameter()] = None,
    colours: Annotated[list[Colour] | None, QueryParameter(name="mix")] = None,
    finish: Annotated[Literal["matt", "gloss"], QueryParameter()] = "matt",
    coats: Annotated[int, QueryParameter()] = 1,
) -> dict[str, object]:
    return {
        "colour": colour.value if colour else None,
        "mix": [c.value for c in colours or []],
        "finish": finish,
        "coats": coats,
    }


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar([paint], before_request=bounded_query, exception_handlers=exception_handlers())
    with TestClient(app) as running:
        yield running


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("colour=green", "colour", "'green' is not one of: red, blue"),
        ("mix=red&mix=green", "mix", "'green' is not one of: red, blue"),
        ("finish=satin", "finish", "'satin' is not one of: matt, gloss"),
        ("colour=red&colour=red", "colour", "is given more than once; it takes one value"),
        ("coats=1&coats=2", "coats", "is given more than once; it takes one value"),
        ("finish=matt&finish=gloss", "finish", "is given more than once; it takes one value"),
    ],
)
def test_a_value_outside_the_set_or_a_second_value_is_a_400_naming_the_parameter(
    client: TestClient[Litestar], query: str, field: str, message: str
) -> None:
    response = client.get(f"/paint/light?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errors"] == [{"field": field, "source": "query", "message": message}]
    assert body["detail"] == f"{field}: {message}"


def test_values_of_the_set_a_list_of_them_and_unknown_parameters_pass(
    client: TestClient[Litestar],
) -> None:
    response = client.get(
        "/paint/light?colour=blue&mix=red&mix=blue&finish=gloss&coats=3&other=1&other=2"
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "colour": "blue",
        "mix": ["red", "blue"],
        "finish": "gloss",
        "coats": 3,
    }


def test_a_path_parameter_is_not_taken_for_a_query_parameter(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/paint/light?shade=a&shade=b")
    assert response.status_code == 200, response.text
