"""The web page's parts without a server: language choice, amounts, the SVG chart."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Request

from bookkeeper.entrypoints.web import charts, i18n


def _request(query: str = "", headers: dict[str, str] | None = None) -> Request[Any, Any, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/app/reports",
        "query_string": query.encode(),
        "headers": raw,
        "app": None,
    }
    return Request(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "nb"),
        ("en-GB,en;q=0.9", "en"),
        ("nb-NO,nb;q=0.9,en;q=0.8", "nb"),
        ("nn", "nb"),
        ("de-DE,en;q=0.5,no;q=0.7", "nb"),
        ("fr, en;q=0.1", "en"),
        ("en;q=0, nb;q=0.2", "nb"),
        ("en;q=bogus, sv", "nb"),
    ],
)
def test_the_language_follows_accept_language(header: str, expected: str) -> None:
    assert i18n.choose(_request(headers={"Accept-Language": header})) == expected


def test_the_toggle_and_cookie_win_over_the_header() -> None:
    assert i18n.choose(_request("lang=en", {"Accept-Language": "nb"})) == "en"
    assert i18n.choose(_request("", {"Accept-Language": "en", "Cookie": "bk_lang=nb"})) == "nb"
    assert i18n.choose(_request("lang=xx", {"Accept-Language": "en"})) == "en"


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False))
def test_an_amount_always_shows_two_decimals_in_both_languages(value: Decimal) -> None:
    rounded = value.quantize(Decimal("0.01"))
    for lang, decimal_sign in (("nb", ","), ("en", ".")):
        text = i18n.money(value, lang)  # type: ignore[arg-type]
        assert re.search(rf"\{decimal_sign}\d\d$", text), text
        digits = re.sub(r"[^\d]", "", text)
        assert int(digits) == abs(int(rounded * 100))


def test_every_text_has_both_languages() -> None:
    for key, entry in i18n.TEXTS.items():
        assert set(entry) == {"nb", "en"}, key
        assert entry["nb"] and entry["en"], key


def test_the_chart_escapes_its_labels_and_puts_negatives_left_of_zero() -> None:
    svg = str(
        charts.bar_chart(
            "<t>",
            [("<script>alert(1)</script>", Decimal("100")), ("Bank", Decimal("-50"))],
            "en",
        )
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    axis = int(re.search(r'<line x1="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    bars = [(int(x), int(w)) for x, w in re.findall(r'<rect x="(\d+)" y="\d+" width="(\d+)"', svg)]
    assert bars[0][0] == axis and bars[0][1] > bars[1][1]  # the positive bar, twice as long
    assert bars[1][0] + bars[1][1] == axis  # the negative bar ends at zero
    assert charts.bar_chart("empty", [("zero", Decimal(0))], "nb") == ""


_amounts = st.decimals(min_value=-1000, max_value=10**6, places=2, allow_nan=False)
_PART = re.compile(
    r'<rect x="[\d.]+" y="(\d+)" width="[\d.]+" height="(\d+)" class="series (s\d)">'
    r"<title>([^<]+)</title>"
)


def _axis(svg: str) -> int:
    found = re.search(r'y1="(\d+)" y2="\d+" class="axis"', svg)
    assert found, svg
    return int(found.group(1))


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=30),
        st.lists(_amounts, min_size=30, max_size=30),
        min_size=1,
        max_size=9,
    )
)
def test_the_daily_chart_stacks_every_figure_inside_its_plot(
    series: dict[str, list[Decimal]],
) -> None:
    svg = str(charts.daily_chart("<30 days>", dt.date(2026, 10, 22), series, "nb"))
    figures = [v for values in series.values() for v in values if v != 0]
    if not figures:
        assert svg == ""
        return
    assert "<30 days>" not in svg and "&lt;30 days&gt;" in svg
    parts = _PART.findall(svg)
    assert len(parts) == len(figures)  # one part of a column per figure
    zero = _axis(svg)
    assert charts.TOP <= zero <= charts.TOP + charts.PLOT
    for y, height, *_ in parts:
        assert int(y) >= charts.TOP and int(y) + int(height) <= charts.TOP + charts.PLOT + 1
    assert svg.count('<g class="legend">') == len(series)
    for values in series.values():  # each source's total is in the legend
        assert i18n.money(sum(values, Decimal(0)), "nb") in svg


def test_the_daily_chart_stacks_sources_and_hangs_credits_below_zero() -> None:
    series = {
        "a": [Decimal(10), Decimal(-5), Decimal(0)],
        "b": [Decimal(10), Decimal(0), Decimal(0)],
    }
    svg = str(charts.daily_chart("t", dt.date(2026, 11, 1), series, "en"))
    zero = _axis(svg)
    parts = [(int(y), int(h), s, title) for y, h, s, title in _PART.findall(svg)]
    first = [p for p in parts if "Nov 1:" in p[3]]
    second = [p for p in parts if "Nov 2:" in p[3]]
    assert [p[2] for p in first] == ["s0", "s1"]
    assert first[0][0] + first[0][1] == zero  # a stands on the zero line, b on a
    assert first[1][0] + first[1][1] == first[0][0] and first[0][1] == first[1][1]
    assert [p[:3] for p in second] == [(zero, first[0][1] // 2, "s0")]  # -5: half, below
    assert ">Nov 3</text>" in svg  # the last day is labelled on the axis
