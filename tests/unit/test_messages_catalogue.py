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


def test_a_reason_names_the_fields_it_misses_as_the_page_labels_them() -> None:
    """The scoring writes field names as the API spells them ("§ 5-1-1 field
    merchantOrgNumber is missing", "missing: folioEventId, invoiceNumber"); the page and
    the chat showed them so to the reviewer, in Norwegian too. Each is said with the page's
    label for the field, in either language."""
    import datetime as dt
    import re
    from decimal import Decimal

    from bookkeeper.domain.confidence import ScoringContext, score
    from bookkeeper.domain.events import InvoiceRegistrationData, ReceiptAttachmentData
    from bookkeeper.domain.review import DEFAULT_RULES

    receipt = ReceiptAttachmentData(
        merchant_name="Rema 1000",
        amount=Decimal("180.20"),
        date=dt.date(2026, 12, 6),
        vat_rate=Decimal("15"),
        account_code="5990",
        folio_event_id="",
    )
    invoice = InvoiceRegistrationData(
        supplier="Leverandør AS",
        amount=Decimal("1250.00"),
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        vat_rate=Decimal("25"),
        account_code="6300",
    )
    details = [
        reason.detail
        for data in (receipt, invoice)
        for reason in score(data, ScoringContext(), DEFAULT_RULES).reasons
        if reason.signal in ("completeness", "documentation")
    ]
    assert len(details) >= 4, details  # two incomplete, three documentary fields missing
    camel = re.compile(r"\b[a-z]+[A-Z]\w*")
    for detail in details:
        assert camel.search(detail), detail  # the record keeps the API's names
        for language in (messages.NORWEGIAN, messages.ENGLISH):
            said = messages.sentence(detail, language)
            assert not camel.search(said), (language, said)
    nb = [messages.sentence(d, messages.NORWEGIAN) for d in details]
    assert "§ 5-1-1-feltet «Org.nr.» mangler" in nb
    assert "mangler: Banktransaksjon (Folio)" in nb
    assert "mangler: Fakturanummer" in nb
    en = [messages.sentence(d, messages.ENGLISH) for d in details]
    assert "§ 5-1-1 field “Organisation number” is missing" in en
    # A name that is no field is kept as written.
    assert messages.sentence("missing: foo", messages.NORWEGIAN) == "mangler: foo"
