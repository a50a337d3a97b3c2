"""Text a person reads (domain.text, ADR 0049 round three) and the proposals that hold it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.domain.errors import InvalidProposal
from bookkeeper.domain.events import JournalLine, Party, ReceiptAttachmentData
from bookkeeper.domain.ledger import (
    InvalidJournalEntry,
    InvalidParty,
    UnbalancedEntry,
    check_balanced,
    check_description,
    check_party,
)
from bookkeeper.domain.proposals import normalise, validate
from bookkeeper.domain.text import control_in, has_visible, shorten, steering_in, tidy

#: Texts that show nothing: each is no name.
INVISIBLE = [
    "",
    " ",
    "\u200b",  # zero-width space
    "\u200c\u200d",  # zero-width non-joiner, joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u00a0",  # no-break space
    "\u3000\u2003",  # ideographic space, em space
    "\u2028\u2029",  # line and paragraph separators
    "\u00ad",  # soft hyphen
    "\u202e\u200f",  # bidi override, right-to-left mark
    "\u3164",  # Hangul filler
    "\u2800",  # braille blank
    "\t\n",
    " \u200b\u00a0\ufeff ",
]


@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_text_has_nothing_visible(text: str) -> None:
    assert not has_visible(text)
    assert tidy(text) == ""


@pytest.mark.parametrize(
    ("text", "tidied"),
    [
        ("Adobe", "Adobe"),
        ("  Adobe  ", "Adobe"),
        ("\u200bAdobe\ufeff\u00a0", "Adobe"),
        ("Cafe\u0301 Åsgard", "Café Åsgard"),  # NFC
        ("Bar\u00a0AS", "Bar\u00a0AS"),  # inside: kept
        ("👩\u200d💻 Studio", "👩\u200d💻 Studio"),  # a joiner builds the emoji: kept
        ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", None),
        ("株式会社", "株式会社"),
        ("x", "x"),
    ],
)
def test_visible_text_keeps_its_inside(text: str, tidied: str | None) -> None:
    assert has_visible(text)
    assert tidy(text) == (text if tidied is None else tidied)


@pytest.mark.parametrize("text", ["a\x07b", "\x1b[31mred", "a\x7f", "a\x85b", "\x00"])
def test_control_characters_are_found(text: str) -> None:
    assert control_in(text) is not None
    assert control_in(text, breaks=True) is not None


def test_breaks_are_free_texts_own() -> None:
    assert control_in("line one\nline two\ttab\r\n") is not None
    assert control_in("line one\nline two\ttab\r\n", breaks=True) is None


def _receipt(**changes: object) -> ReceiptAttachmentData:
    fields: dict[str, object] = {
        "merchant_name": "Adobe",
        "amount": Decimal("199.00"),
        "date": dt.date(2026, 11, 20),
        "vat_rate": Decimal("25"),
        "account_code": "6540",
    }
    fields.update(changes)
    return ReceiptAttachmentData(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [n for n in INVISIBLE if n])
def test_a_merchant_of_invisible_characters_is_refused(name: str) -> None:
    with pytest.raises(InvalidProposal, match="merchantName"):
        validate(_receipt(merchant_name=name))


@pytest.mark.parametrize(
    ("field", "camel"),
    [("document_number", "documentNumber"), ("description", "description")],
)
@pytest.mark.parametrize("value", ["\u200b", "\u00a0", "\ufeff "])
def test_optional_text_given_as_invisible_is_refused(field: str, camel: str, value: str) -> None:
    with pytest.raises(InvalidProposal, match=camel):
        validate(_receipt(**{field: value}))


def test_a_bel_in_a_name_is_refused_and_a_line_break_in_a_description_is_not() -> None:
    with pytest.raises(InvalidProposal, match="control"):
        validate(_receipt(merchant_name="Adobe\x07"))
    validate(_receipt(description="Lisens\nnovember"))


def test_normalise_gives_names_one_spelling() -> None:
    data = normalise(_receipt(merchant_name="\u200b Cafe\u0301 AS\u00a0", document_number=" R-1 "))
    assert isinstance(data, ReceiptAttachmentData)
    assert data.merchant_name == "Café AS"
    assert data.document_number == "R-1"


@pytest.mark.parametrize("text", ["\u200b", "\ufeff\u00a0"])
def test_a_journal_entry_description_or_party_of_nothing_is_refused(text: str) -> None:
    with pytest.raises(InvalidJournalEntry):
        check_description(text)
    with pytest.raises(InvalidParty):
        check_party(Party(kind="supplier", id=text))


#: The bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): each makes
#: a line read in another order than it is stored ("Faktura \u202e0001-F" reads "F-1000").
STEERING = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
]


@pytest.mark.parametrize("ch", STEERING)
def test_bidi_steering_characters_are_found(ch: str) -> None:
    assert steering_in(f"Adobe {ch}SA") == ch
    assert steering_in("Adobe\u200f AS \u05d0") is None  # a mark steers nothing: kept


@pytest.mark.parametrize("ch", ["\u202e", "\u2066"])
def test_a_bidi_override_in_a_name_or_free_text_is_refused(ch: str) -> None:
    with pytest.raises(InvalidProposal, match=r"merchantName.*bidi"):
        validate(_receipt(merchant_name=f"Ado{ch}be"))
    with pytest.raises(InvalidProposal, match=r"description.*bidi"):
        validate(_receipt(description=f"Lisens {ch}1000"))


@pytest.mark.parametrize("text", ["Faktura \u202e0001-F", "Faktura\x1b[2J", "a\x07b"])
def test_a_journal_description_or_party_that_steers_or_controls_is_refused(text: str) -> None:
    with pytest.raises(InvalidJournalEntry):
        check_description(text)
    with pytest.raises(InvalidParty):
        check_party(Party(kind="customer", id="K-1", name=text))
    with pytest.raises(InvalidParty):
        check_party(Party(kind="customer", id=f"K{text}"[:35]))
    with pytest.raises(UnbalancedEntry):
        check_balanced(
            [
                JournalLine(account="1500", debit=Decimal(1), description=text),
                JournalLine(account="3000", credit=Decimal(1)),
            ]
        )


def test_a_journal_description_keeps_a_line_break_and_a_mark() -> None:
    check_description("Faktura F-1\nlinje to \u200f")


def test_a_text_beyond_a_limit_is_cut_after_a_whole_word() -> None:
    assert shorten("  Kaffe   og kaker ", 20) == "Kaffe og kaker"  # fits: only collapsed
    assert shorten("Kaffe og kaker til møtet", 16) == "Kaffe og kaker…"
    assert shorten("Kaffe, og kaker", 12) == "Kaffe, og…"
    assert shorten("Kaffe, og kaker", 9) == "Kaffe…"  # the comma before the cut goes
    # one word longer than the limit (no space near it): cut inside it
    assert shorten("x" * 300, 200) == "x" * 199 + "…"
    assert shorten("Kaffe " + "x" * 300, 200) == "Kaffe " + "x" * 193 + "…"
    for text, limit in (("Nordlys Regnskap og Rådgivning AS " * 9, 200), ("a b " * 99, 7)):
        cut = shorten(text, limit)
        assert len(cut) <= limit and cut == shorten(text, limit)  # the same every time
