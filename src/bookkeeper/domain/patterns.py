"""Merchant patterns: how a merchant's name is normalised and matched to a learned pattern.

A pattern says "documents from this merchant go to this account at this VAT rate". It is
learned through the proposal flow (PatternSuggested → PatternApproved → PatternApplied) and
only an applied pattern counts as "approved by a human" when confidence is scored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from difflib import SequenceMatcher
from enum import StrEnum

import msgspec

# Legal-form and noise words that say nothing about who the merchant is. Norwegian forms
# (AS, ASA, ANS, DA, ENK, SA, NUF) and the usual foreign ones seen on SaaS receipts.
_NOISE_WORDS = frozenset(
    {
        "as",
        "asa",
        "ans",
        "da",
        "enk",
        "sa",
        "nuf",
        "ba",
        "inc",
        "ltd",
        "llc",
        "gmbh",
        "ab",
        "oy",
        "aps",
        "bv",
        "sarl",
        "plc",
        "corp",
        "co",
        "company",
        "limited",
        "incorporated",
        "the",
        "systems",
        "norge",
        "norway",
        "ireland",
        "europe",
        "international",
    }
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_NORDIC = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ß": "ss"})

#: How similar two normalised names must be to count as a near match.
NEAR_MATCH_THRESHOLD = 0.85
#: A whole-word prefix must be at least this long to count as the same merchant.
MIN_PREFIX_KEY = 4


#: Letters of other scripts drawn like a Latin one (after Unicode's confusables.txt), in
#: the case they are drawn in: Cyrillic, Greek, Armenian and a few Latin variants.
_LOOKALIKES = str.maketrans(
    {
        **dict(zip("АВЕКМНОРСТХУІЈЅҮҺԚԜӀ", "ABEKMHOPCTXYIJSYHQWI", strict=True)),
        **dict(zip("аеорсухіјѕһԁԛԝӏүк", "aeopcyxijshdqwlyk", strict=True)),
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
        **dict(zip("οικνρυαχ", "oikvpuax", strict=True)),
        **dict(zip("ıɑɡօս", "iagou", strict=True)),
    }
)


def _latin_lookalikes(name: str) -> str:
    """`name` with the letters of other scripts that are drawn like Latin ones made Latin
    ("Кіwі" with Cyrillic к and і → "Kiwi", "СООР" → "COOP"), when every letter is then
    Latin: a name that merely looks like a known merchant gets its key, so the duplicate
    check and patterns see it as the merchant a reviewer sees. A name in another script
    ("ООО Ромашка") is left as it is. ASCII names (most) are returned at once."""
    if name.isascii():
        return name
    latin = unicodedata.normalize("NFKD", name).translate(_LOOKALIKES)
    for char in latin:
        if (
            char.isalpha()
            and not char.isascii()
            and not unicodedata.name(char, "").startswith("LATIN")
        ):
            return name
    return latin


def normalise_merchant(name: str) -> str:
    """A stable key for a merchant name: lower case, ASCII, no legal form, no punctuation.

    "ADOBE SYSTEMS SOFTWARE IRELAND LTD" and "Adobe Software" share the key "adobe software";
    "Kiwi 555 Majorstuen" keeps its digits because a store number can matter; a name
    spelt with look-alike letters of another script has the key of the name it looks like.
    """
    lowered = _latin_lookalikes(name).casefold().translate(_NORDIC)
    ascii_only = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode("ascii")
    words = [w for w in _NON_ALNUM.split(ascii_only) if w and w not in _NOISE_WORDS]
    return " ".join(words)


def similarity(a: str, b: str) -> float:
    """Similarity of two normalised keys in [0, 1]; a prefix word match counts as strong."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    ratio = SequenceMatcher(None, a, b).ratio()
    first_a, first_b = a.split(" ", 1)[0], b.split(" ", 1)[0]
    if first_a == first_b and len(first_a) >= 4:
        ratio = max(ratio, 0.9)
    return ratio


def same_merchant(a: str, b: str) -> bool:
    """Equal keys, or the shorter key's words lead the longer one's ("adobe" ⊑ "adobe software").

    Receipts carry the legal name ("Adobe Systems Software Ireland Ltd") while a reviewer
    names the pattern "Adobe"; both are the same merchant. A single short word is not
    distinctive enough, so the shorter key needs MIN_PREFIX_KEY characters.
    """
    if a == b:
        return bool(a)
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return len(short) >= MIN_PREFIX_KEY and long_.startswith(short + " ")


class MatchKind(StrEnum):
    EXACT = "exact"
    NEAR = "near"


class Pattern(msgspec.Struct, frozen=True, kw_only=True):
    """An applied (human-approved) merchant pattern, as the read model keeps it."""

    merchant_key: str
    merchant_name: str
    account_code: str
    vat_rate: Decimal
    suggestion_id: str


class PatternMatch(msgspec.Struct, frozen=True, kw_only=True):
    pattern: Pattern
    kind: MatchKind
    score: float


def best_match(merchant_name: str, patterns: Iterable[Pattern]) -> PatternMatch | None:
    """The applied pattern that best matches a merchant name, or None."""
    key = normalise_merchant(merchant_name)
    if not key:
        return None
    best: PatternMatch | None = None
    for pattern in patterns:
        if pattern.merchant_key == key:
            return PatternMatch(pattern=pattern, kind=MatchKind.EXACT, score=1.0)
        if same_merchant(key, pattern.merchant_key):
            candidate = PatternMatch(pattern=pattern, kind=MatchKind.EXACT, score=0.99)
            if best is None or best.kind is not MatchKind.EXACT:
                best = candidate
            continue
        score = similarity(key, pattern.merchant_key)
        if score >= NEAR_MATCH_THRESHOLD and (
            best is None or (best.kind is MatchKind.NEAR and score > best.score)
        ):
            best = PatternMatch(pattern=pattern, kind=MatchKind.NEAR, score=score)
    return best


#: How many word prefixes of a key a bounded lookup asks for (the shortest: best_match
#: takes the first same-merchant key in key order, and merchant keys rarely have more).
MAX_KEY_PREFIXES = 3


def key_prefixes(key: str) -> tuple[str, ...]:
    """The keys a pattern can have to be `same_merchant` as `key` by being shorter: the
    key's leading whole words, each at least MIN_PREFIX_KEY long, shortest first (at most
    MAX_KEY_PREFIXES). "adobe creative cloud" → ("adobe", "adobe creative")."""
    words = key.split(" ")
    found = []
    for n in range(1, len(words)):
        prefix = " ".join(words[:n])
        if len(prefix) >= MIN_PREFIX_KEY:
            found.append(prefix)
    return tuple(found[:MAX_KEY_PREFIXES])


def first_word(key: str) -> str:
    """The first word of a normalised key (the part `similarity` rewards when it is shared)."""
    return key.split(" ", 1)[0]
