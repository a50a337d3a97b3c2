"""Merchant-name normalisation and pattern matching."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.domain.patterns import MatchKind, Pattern, best_match, normalise_merchant


def _pattern(name: str, account: str = "6540") -> Pattern:
    return Pattern(
        merchant_key=normalise_merchant(name),
        merchant_name=name,
        account_code=account,
        vat_rate=Decimal("25"),
        suggestion_id="s-" + name,
    )


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("ADOBE SYSTEMS SOFTWARE IRELAND LTD", "adobe software"),
        ("Adobe Software", "adobe software"),
        ("Rema 1000 Grünerløkka", "rema 1000 grunerlokka"),
        ("Kiwi 555 Majorstuen AS", "kiwi 555 majorstuen"),
        ("  Ørsted Bærum ASA ", "orsted baerum"),
        ("Clas Ohlson AB", "clas ohlson"),
        # Look-alike letters of other scripts read as the Latin ones they are drawn like.
        ("K\u0456wi Storo", "kiwi storo"),  # Cyrillic і
        ("\u0421\u041e\u041e\u0420 Extra", "coop extra"),  # Cyrillic С О О Р
        ("R\u0435ma 1000", "rema 1000"),  # Cyrillic е
        ("\u039a\u0399WI", "kiwi"),  # Greek Κ Ι
        ("B\u00f8ker og Bl\u00e5b\u00e6r", "boker og blabaer"),
        # A name in another script is not made Latin letter by letter.
        ("\u041e\u041e\u041e \u0420\u043e\u043c\u0430\u0448\u043a\u0430", ""),
    ],
)
def test_normalisation(raw: str, key: str) -> None:
    assert normalise_merchant(raw) == key


def test_exact_match_wins_over_near_matches() -> None:
    patterns = [_pattern("Adobe Stock"), _pattern("Adobe")]
    match = best_match("ADOBE AS", patterns)
    assert match is not None
    assert match.kind is MatchKind.EXACT
    assert match.pattern.merchant_name == "Adobe"


def test_a_pattern_name_that_leads_the_legal_name_is_the_same_merchant() -> None:
    match = best_match("Adobe Systems Software Ireland Ltd", [_pattern("Adobe")])
    assert match is not None
    assert match.kind is MatchKind.EXACT


def test_a_short_leading_word_is_not_distinctive_enough() -> None:
    match = best_match("Bit Bakery", [_pattern("Bit")])
    assert match is None or match.kind is MatchKind.NEAR


def test_near_match_on_a_longer_name_of_the_same_merchant() -> None:
    match = best_match("Adobe Systems Software Ireland Ltd", [_pattern("Adobe Creative Cloud")])
    assert match is not None
    assert match.kind is MatchKind.NEAR


def test_unrelated_merchant_does_not_match() -> None:
    assert best_match("Narvesen Oslo S", [_pattern("Adobe"), _pattern("Rema 1000")]) is None


def test_an_empty_or_noise_only_name_matches_nothing() -> None:
    assert best_match("AS", [_pattern("Adobe")]) is None


@given(st.text(max_size=60))
def test_normalisation_is_idempotent_and_ascii(name: str) -> None:
    key = normalise_merchant(name)
    assert normalise_merchant(key) == key
    assert key.isascii()
