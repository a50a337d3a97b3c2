"""A merchant's name spelt with letters of another script that are drawn like Latin ones
(Cyrillic "і", "е", "С", "О", "Р"; Greek "Κ", "Ι") is the merchant a reviewer sees.

Found by probing the API from outside: a second receipt of "Kiwi Storo" whose `i`s were
Cyrillic — the same amount, date and document number as a pending one — carried no
`duplicate` reason, because its merchant key lost the Cyrillic letters ("kwi storo"), and
its page showed the same "Kiwi Storo" as the first: one purchase approvable twice. Now the
key reads look-alikes as the Latin letters they look like (domain.patterns), on SQLite and
PostgreSQL alike, and a name in another script keeps the key it had.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import Api, pattern, receipt, running_api, sqlite_container


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


def _reasons(body: dict[str, Any], signal: str) -> list[str]:
    return [r["detail"] for r in body["confidence"]["reasons"] if r["signal"] == signal]


def _purchase(merchant: str) -> dict[str, Any]:
    return receipt(
        merchantName=merchant,
        amount="412.00",
        vatAmount="82.40",
        date="2026-11-21",
        documentNumber="K-2211",
        folioEventId=None,
        merchantOrgNumber=None,
    )


@pytest.mark.parametrize(
    "lookalike",
    [
        "K\u0456wi Storo",  # Cyrillic і
        "\u041a\u0456w\u0456 Storo",  # Cyrillic К and і
        "\u039a\u0399WI STORO",  # Greek Κ and Ι
    ],
)
async def test_a_receipt_spelt_with_lookalike_letters_is_a_possible_duplicate(
    api: Api, lookalike: str
) -> None:
    first = await api.propose("ReceiptAttachmentProposed", _purchase("Kiwi Storo"))
    assert _reasons(first, "duplicate") == []
    again = await api.propose("ReceiptAttachmentProposed", _purchase(lookalike))
    duplicate = _reasons(again, "duplicate")
    assert duplicate, again["confidence"]["reasons"]
    assert first["proposalId"] in duplicate[0]
    assert again["decision"]["outcome"] == "awaiting_review"


async def test_an_approved_pattern_names_a_merchant_spelt_with_lookalikes(api: Api) -> None:
    suggested = await api.propose("PatternSuggested", pattern("Coop Extra", "6800"))
    assert (await api.approve(suggested["proposalId"])).status_code == 200
    # "СООР Extra": Cyrillic С, О, О, Р.
    spoofed = await api.propose(
        "ReceiptAttachmentProposed", _purchase("\u0421\u041e\u041e\u0420 Extra")
    )
    assert not [d for d in _reasons(spoofed, "pattern") if "no approved pattern" in d]


async def test_a_name_in_another_script_is_not_read_as_latin(api: Api) -> None:
    """Only names whose every letter is Latin or drawn like one are read as Latin: a
    Russian supplier "ООО Ромашка" stays apart from a Latin "OOO" (its key as before)."""
    first = await api.propose("ReceiptAttachmentProposed", _purchase("OOO Pomawka"))
    other = await api.propose(
        "ReceiptAttachmentProposed",
        _purchase("\u041e\u041e\u041e \u0420\u043e\u043c\u0430\u0448\u043a\u0430"),
    )
    assert first["proposalId"] not in " ".join(_reasons(other, "duplicate"))
