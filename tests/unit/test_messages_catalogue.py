"""The conversation's one catalogue of texts (application/messages.py): every key is said in
both languages, with the same placeholders, so no answer falls back to the other language
or fails to format in one of them."""

from __future__ import annotations

import string

import pytest

from bookkeeper.application import conversation, messages


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(messages.TEXTS))
def test_every_key_is_said_in_both_languages_with_the_same_placeholders(key: str) -> None:
    entry = messages.TEXTS[key]
    assert set(entry) == {messages.NORWEGIAN, messages.ENGLISH}
    assert all(text.strip() for text in entry.values())
    assert _placeholders(entry["nb"]) == _placeholders(entry["en"])


def test_the_conversation_keeps_no_texts_of_its_own() -> None:
    # The VAT, spending and expense answers used to have private tables; they are keys of
    # the one catalogue now.
    assert not [name for name in vars(conversation) if name.endswith("_TEXTS")]
    for key in ("vat.header", "vat.no_term", "spending.header", "spending.all", "expenses.none"):
        assert key in messages.TEXTS


def test_the_web_page_keeps_no_texts_of_its_own() -> None:
    # The page had its own table (entrypoints/web/i18n.py) beside this one; its words are
    # keys "web.<name>" of the one catalogue now, and i18n.TEXTS is a view of them.
    from bookkeeper.entrypoints.web import i18n

    assert len(i18n.TEXTS) > 100
    for name, entry in i18n.TEXTS.items():
        assert entry is messages.TEXTS.get(f"web.{name}", messages.TEXTS.get(name)), name
    assert i18n.text("approve", "nb") == messages.text("web.approve", "nb") == "Godkjenn"
    assert i18n.text("kind.receipt_attachment", "en") == messages.kind_word(
        "receipt_attachment", "en"
    )
