"""The chat as a Norwegian small-business owner talks to it: costs in everyday words are
the books' (the cost snapshots' only with a cloud or AI source named), the periods people
say, and questions about a document asked where it was handed in."""

from __future__ import annotations

import datetime as dt

import pytest

from bookkeeper.application.conversation import intent_of, spending_sources
from tests.unit.test_conversation_ledger import ask, books_chat

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
