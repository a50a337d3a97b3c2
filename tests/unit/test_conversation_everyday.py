"""The chat as a Norwegian small-business owner talks to it: costs in everyday words are
the books' (the cost snapshots' only with a cloud or AI source named), the periods people
say, and questions about a document asked where it was handed in."""

from __future__ import annotations

import datetime as dt

import pytest

from bookkeeper.application.conversation import document_question, intent_of, spending_sources
from tests.unit.test_conversation import PDF, Chat, extraction
from tests.unit.test_conversation_ledger import ACCOUNTANT, ask, books_chat, credit, debit

# --- costs: the books', unless the cloud or AI is named ----------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hva var kostnadene i år?",
        "kostnader i november",
        "kostnad i oktober",
        "hva brukte vi i november?",
        "hvor mye brukte vi i fjor",
        "forbruk i år",
        "utgifter i år",
        "what did we spend this year?",
        "expenses last month",
        # typos of the cost words
        "kostnder i november",
        "kosnader i år",
        "utgiftr i år",
    ],
)
def test_costs_in_everyday_words_are_the_books(text: str) -> None:
    """They were the cost snapshots' question ("Ingen kostnader registrert for alle
    kilder"), or not understood at all."""
    assert intent_of(text) == "result"


@pytest.mark.parametrize(
    ("text", "sources"),
    [
        ("API-kostnader i november", ("anthropic", "google", "bookkeeper", "cloudflare")),
        ("hva er API-kostnadene i år", ("anthropic", "google", "bookkeeper", "cloudflare")),
        ("skykostnader i år", ("google", "cloudflare")),
        ("cloud costs last month", ("google", "cloudflare")),
        ("hva kostet Anthropic i november", ("anthropic",)),
        ("Cloudflare-kostnader i oktober", ("cloudflare",)),
        ("hva brukte vi på AI i fjor", ("anthropic", "google", "bookkeeper")),
        # a source's bill is not the suppliers' bills (it was the payables' question)
        ("what is our cloud bill?", ("google", "cloudflare")),
        ("hva er skyregningen i november", ("google", "cloudflare")),
        ("hvor stor er AI-regningen denne måneden", ("anthropic", "google", "bookkeeper")),
    ],
)
def test_costs_naming_the_cloud_or_ai_are_the_cost_snapshots(
    text: str, sources: tuple[str, ...]
) -> None:
    assert intent_of(text) == "spending"
    assert spending_sources(text) == sources


async def test_costs_in_november_answer_the_books_and_say_how_to_ask_for_the_cloud() -> None:
    chat = await books_chat()
    text, language, data = await ask(chat, "kostnader i november")
    assert language == "nb" and data.question == "result"
    assert (data.start, data.end) == (dt.date(2026, 11, 1), dt.date(2026, 11, 20))
    assert "Driftskostnader:" in text
    assert "«hva har vi brukt på sky og AI i år?»" in text
    # Said in the books' own words, the question is not ambiguous: no hint.
    text, _, _ = await ask(chat, "hva er driftskostnadene i regnskapet i år")
    assert "sky og AI" not in text
    text, language, _ = await ask(chat, "what did we spend last month?")
    assert language == "en" and "cloud and AI" in text


# --- the periods people say ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # TODAY is 20.11.2026 (the harness clock): the last quarter ended is the third.
        ("hva er resultatet siste kvartal?", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("resultat for det siste kvartalet", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("resultat forrige kvartal", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("resultat Q3", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("resultat 3. kvartal 2026", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("resultat hittil i år", dt.date(2026, 1, 1), dt.date(2026, 11, 20)),
        ("resultat i fjor", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
        ("resultat forrige måned", dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
        ("resultat siste 30 dager", dt.date(2026, 10, 22), dt.date(2026, 11, 20)),
        ("resultat fra 1. mars til 15. april", dt.date(2026, 3, 1), dt.date(2026, 4, 15)),
        # counts in words, and quarters counted
        ("resultat de siste tre månedene", dt.date(2026, 8, 21), dt.date(2026, 11, 20)),
        ("kostnader siste to uker", dt.date(2026, 11, 7), dt.date(2026, 11, 20)),
        ("resultat siste 2 kvartaler", dt.date(2026, 5, 21), dt.date(2026, 11, 20)),
    ],
)
async def test_the_periods_people_say_are_the_periods_answered(
    text: str, start: dt.date, end: dt.date
) -> None:
    chat = await books_chat()
    _, _, data = await ask(chat, text)
    assert (data.start, data.end) == (start, end)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("resultat 1. kvartal 2027", "01.01.2027 – 31.03.2027 har ikke begynt ennå"),
        ("hva var kostnadene i desember 2027?", "01.12.2027 – 31.12.2027 har ikke begynt"),
        ("resultat i 2027", "01.01.2027 – 31.12.2027 har ikke begynt ennå"),
        ("hvilke kvitteringer mangler i 1. kvartal 2027", "01.01.2027 – 31.03.2027"),
    ],
)
async def test_a_period_not_begun_is_said_and_nothing_is_read(text: str, said: str) -> None:
    """It was answered as an empty period (or, for a lookup, the last 30 days)."""
    chat = await books_chat()
    [reply] = await chat.say(text)
    assert said in reply.text and "i dag er 20.11.2026" in reply.text
    assert reply.event_id is None and await chat.events("LedgerQueried") == []


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("resultat 31. februar", "«31. februar» finnes ikke: februar har 28 dager."),
        ("kostnader 30.02.2026", "«30.02.2026» finnes ikke: februar har 28 dager."),
        ("resultat fra 1. mars til 31. april", "«31. april» finnes ikke: april har 30 dager."),
        ("result on February 30th", "“february 30th” does not exist: February has 28 days."),
    ],
)
async def test_a_date_that_does_not_exist_is_said(text: str, said: str) -> None:
    """It was read as the month's last day, and the answer named a day not asked for."""
    chat = await books_chat()
    [reply] = await chat.say(text)
    assert reply.text.startswith(said)
    assert await chat.events("LedgerQueried") == []


# --- questions about the document, where it was handed in --------------------------------


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("hvorfor konto 6540?", "why"),
        ("hvorfor?", "why"),
        ("why this account?", "why"),
        ("hvilken konto er denne ført på?", "why"),
        ("hva er mva her?", "vat"),
        ("what's the VAT on this one?", "vat"),
        ("er denne godkjent?", "status"),
        ("hvorfor ble den avvist?", "status"),
        ("er kvitteringen godkjent?", "status"),
        ("is this approved yet?", "status"),
        ("hva er dette?", "summary"),
        ("hvor mye var den?", "summary"),
        # Not about the document: the channel's questions, and corrections for the reviewer.
        ("hva er mva for denne terminen?", None),
        ("hva er saldoen?", None),
        ("hva er saldoen på den kontoen?", None),
        ("what did this supplier cost?", None),
        ("er kvitteringen fra Adobe godkjent?", None),
        ("feil, det skal være konto 6540", None),
        ("mva er 15 % her", None),
        ("kan du endre konto til 6540?", None),
        ("dette var privat", None),
    ],
)
def test_what_a_question_asks_about_this_document(text: str, asked: str | None) -> None:
    assert document_question(text) == asked


def test_a_document_named_by_its_kind_is_this_one_only_when_the_channel_has_one() -> None:
    """With several documents sent, "er kvitteringen godkjent?" is the channel's status
    question (which lists them by name); "denne" still points at the latest."""
    assert document_question("er kvitteringen godkjent?", several=True) is None
    assert document_question("er denne godkjent?", several=True) == "status"


async def test_questions_about_the_document_sent_are_answered_about_it() -> None:
    """In a document's thread (or the chat it was sent in) they were answered with the
    help text, or as questions about the books ("hvorfor konto 6540?" was account 6540's
    balance, "hva er mva her?" the VAT term)."""
    chat = Chat(extraction("Rimi"))
    [sent] = await chat.say("", PDF)
    assert sent.proposal_id is not None and sent.status == "PROPOSED"

    [why] = await chat.say("hvorfor konto 6540?")
    assert why.proposal_id == sent.proposal_id and why.event_id is not None
    assert why.text.startswith("Kvittering fra Rimi: 1 234,50 kr, konto 5990, mva 15 %.")
    assert "Forslaget bruker konto 5990, ikke 6540." in why.text
    assert "Konto 5990 er standardkontoen for mat og drikke" in why.text
    assert "Sikkerhet 0,36: " in why.text and "Status: venter på godkjenning." in why.text

    [vat] = await chat.say("hva er mva her?")
    assert "Mva" in vat.text and "15 %" in vat.text and "termin" not in vat.text

    [status] = await chat.say("er denne godkjent?")
    assert status.text.endswith("Status: venter på godkjenning.")
    await chat.harness.approve(sent.proposal_id)
    [status] = await chat.say("is this approved?")
    assert status.language == "en" and "Status: approved by" in status.text

    recorded = [e for e in await chat.events("LedgerQueried") if e.data.question == "document"]
    assert len(recorded) == 4 and all(e.actor == "human:ola" for e in recorded)


async def test_without_a_document_sent_the_same_words_are_the_channels_questions() -> None:
    chat = Chat()
    [reply] = await chat.say("er denne godkjent?")
    assert reply.proposal_id is None


# --- from probing: periods after "in", and suppliers with Norwegian letters ---------------


async def test_how_much_did_we_spend_in_november_is_that_months_costs() -> None:
    """ "November" after "spend in" was read as what the costs were for: "I do not know
    which accounts «november» are"."""
    chat = await books_chat()
    text, language, data = await ask(chat, "how much did we spend in November?")
    assert language == "en" and data.question == "result"
    assert (data.start, data.end) == (dt.date(2026, 11, 1), dt.date(2026, 11, 20))
    assert "Operating costs:" in text


async def norwegian_suppliers() -> Chat:
    chat = await books_chat()
    ledger = chat.service._ledger
    assert ledger is not None
    await ledger.post_manual(
        ACCOUNTANT,
        dt.date(2026, 11, 6),
        "Ærlig Øl & Å-bakeri AS 2026-11-06",
        [debit("5990", "1234.50"), credit("1920", "1234.50")],
    )
    await ledger.post_manual(
        ACCOUNTANT,
        dt.date(2026, 11, 7),
        "Bøker og Blåbær 2026-11-07",
        [debit("6540", "2000.00"), credit("1920", "2000.00")],
    )
    return chat


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("hva har vi brukt hos Ærlig Øl i år?", "1 234,50 kr"),
        ("kostnader hos aerlig ol", "1 234,50 kr"),  # written without æ, ø, å
        ("hva har vi brukt hos Bøker og Blåbær", "2 000,00 kr"),  # "og" in the name
        ("spent at Boeker og Blaabaer this year", "2 000,00 kr"),
    ],
)
async def test_suppliers_with_norwegian_letters_are_found(text: str, amount: str) -> None:
    """ "aerlig ol" found no entry of "Ærlig Øl", and "Bøker og Blåbær" was answered as
    two suppliers, "Bøker" and "Blåbær", each with the same entry."""
    chat = await norwegian_suppliers()
    [reply] = await chat.say(text)
    assert f": {amount} uten mva, 1 bilag:" in reply.text, reply.text
    assert reply.text.count("\n\n") == 0  # one supplier answered
