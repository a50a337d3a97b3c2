"""domain.walk: the one descent the payload checks share, and the fast pre-checks that
spare the propose path (P1) the walk."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.domain.errors import InvalidProposal
from bookkeeper.domain.events import ExecutedData, LineItem, ReceiptAttachmentData
from bookkeeper.domain.proposals import check_numbers_finite, check_text_safe
from bookkeeper.domain.walk import first


def _decimal(value: Any) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def receipt(**changes: Any) -> ReceiptAttachmentData:
    fields: dict[str, Any] = {
        "merchant_name": "Rema 1000",
        "amount": Decimal("249.50"),
        "date": dt.date(2026, 11, 3),
        "vat_rate": Decimal("15"),
        "account_code": "6540",
    }
    return ReceiptAttachmentData(**(fields | changes))


def test_the_path_names_struct_fields_by_their_encoded_names_and_items_by_index() -> None:
    lines = (
        LineItem(description="Mat", amount=Decimal("149.50"), vat_rate=Decimal("15")),
        LineItem(description="Pant", amount=Decimal("2.00"), vat_rate=Decimal("0")),
    )
    data = receipt(amount=Decimal("1"), line_items=lines)

    found = first(data, lambda v: v if v == Decimal("2.00") else None)

    assert found == ("lineItems[1].amount", Decimal("2.00"))
    assert first(data, _decimal) == ("amount", Decimal("1"))
    assert first(data, lambda v: None) is None


def test_the_path_starts_at_the_root_and_shows_member_names_as_asked() -> None:
    value = {"data": [{"a": 1}, {"bé": [None, "x"]}]}

    found = first(value, lambda v: v if v == "x" else None, "$", str.upper)

    assert found == ("$.DATA[1].BÉ[1]", "x")
    assert first(value, lambda v: "hit" if isinstance(v, list) else None, "$") == (
        "$.data",
        "hit",
    )
    assert first([[0, 7]], lambda v: v if v == 7 else None) == ("[0][1]", 7)


@pytest.mark.parametrize(
    "data",
    [
        receipt(merchant_name="Infinity NaN AS"),
        receipt(description="a written-out \\u0000 is no NUL"),
    ],
)
def test_a_text_that_looks_like_what_the_pre_checks_look_for_is_accepted(
    data: ReceiptAttachmentData,
) -> None:
    check_numbers_finite(data)
    check_text_safe(data)


def test_a_number_that_is_not_finite_is_named_by_its_path() -> None:
    lines = (LineItem(description="Mat", amount=Decimal("sNaN"), vat_rate=Decimal("15")),)

    with pytest.raises(InvalidProposal, match=r"^lineItems\[0\]\.amount must be a finite"):
        check_numbers_finite(receipt(merchant_name="NaN", line_items=lines))


def test_a_nul_in_a_member_name_is_refused() -> None:
    with pytest.raises(InvalidProposal, match="NUL"):
        check_text_safe(ExecutedData(attempt=1, external_ids={"a\x00": "b"}))
