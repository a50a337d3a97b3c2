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
