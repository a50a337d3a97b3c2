"""Spending questions in the conversation (issue 11), Norwegian and English, answered from
the cost snapshots and recorded as SpendingQueried with the asker as actor."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.memory_conversations import MemoryConversationStore
from bookkeeper.application import messages as m
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.conversation import (
    ConversationService,
    intent_of,
    spending_period,
    spending_sources,
)
from bookkeeper.application.spending import CostRecord, ExchangeRate, SpendingService
from bookkeeper.domain.events import SpendingQueriedData
from tests.unit.conftest import principal
from tests.unit.test_conversation import Chat

D = Decimal
TODAY = dt.date(2026, 11, 20)  # the harness clock


@dataclass
class Source:
    name: str
    records: list[CostRecord]

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        return [r for r in self.records if start <= r.day <= end]


class Rates:
    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        return ExchangeRate(currency=currency, date=day, rate=D("10"))


def usd(source: str, day: dt.date, amount: str) -> CostRecord:
    return CostRecord(
        source=source, day=day, service="api", model="m", currency="USD", amount=D(amount)
    )


async def spending_chat() -> Chat:
    chat = Chat()
    h = chat.harness
    sources = [
        Source("anthropic", [usd("anthropic", dt.date(2026, 11, 3), "2"),
                             usd("anthropic", dt.date(2026, 10, 30), "50")]),
        Source("google", [usd("google", dt.date(2026, 11, 4), "1.25")]),
        Source("cloudflare", [usd("cloudflare", dt.date(2026, 10, 2), "0.5"),
                              usd("cloudflare", dt.date(2026, 11, 2), "3")]),
    ]  # fmt: skip
    spending = SpendingService(h.uow_factory, h.clock, h.ids, RoleAuthorizer(), Rates(), sources)
    await spending.pull("acme", dt.date(2026, 10, 1), TODAY)
    old = chat.service
    chat.service = ConversationService(
        old._pipeline,
        old._lookups,
        MemoryConversationStore(),
        h.uow_factory,
        h.clock,
        h.ids,
        RoleAuthorizer(),
        spending=spending,
    )
    return chat


async def test_what_did_we_spend_on_ai_this_month_in_norwegian() -> None:
    chat = await spending_chat()
    [reply] = await chat.say("hva brukte vi på AI denne måneden?")
    assert reply.language == "nb"
    assert "Forbruk på anthropic, google, bookkeeper (01.11.2026 – 20.11.2026):" in reply.text
    assert "  anthropic: 20,00 kr" in reply.text and "  google: 12,50 kr" in reply.text
    assert "Sum: 32,50 kr" in reply.text and "cloudflare" not in reply.text.split(":", 1)[1]
    [event] = await chat.events("SpendingQueried")
    assert event.actor == "human:ola" and event.id == reply.event_id
    assert isinstance(event.data, SpendingQueriedData)
    assert event.data.sources == ("anthropic", "google", "bookkeeper")
    assert [(t.source, t.amount_nok) for t in event.data.totals] == [
        ("anthropic", D("20.00")),
        ("google", D("12.50")),
    ]


async def test_what_did_cloudflare_cost_in_november_in_english() -> None:
    chat = await spending_chat()
    [reply] = await chat.say("What did Cloudflare cost in November?")
    assert reply.language == "en"
    assert reply.text.splitlines() == [
        "Spending on cloudflare (01.11.2026 – 20.11.2026):",
        "  cloudflare: 30,00 kr",
    ]
    [reply] = await chat.say("and what did Cloudflare cost last month?")
    assert "cloudflare: 5,00 kr" in reply.text


async def test_a_period_without_costs_says_so() -> None:
    chat = await spending_chat()
    [reply] = await chat.say("Hva kostet Gemini i januar?")
    assert reply.text == "Ingen kostnader registrert for google (01.01.2026 – 31.01.2026)."


async def test_without_permission_the_answer_is_forbidden_not_a_crash() -> None:
    chat = await spending_chat()
    chat.user = principal("nobody", "nobody")
    [reply] = await chat.say("what did we spend on AI this month?")
    assert reply.text == m.text("forbidden", m.ENGLISH)
    assert await chat.events("SpendingQueried") == []


@pytest.mark.parametrize(
    ("text", "start", "end", "sources"),
    [
        ("hva brukte vi på AI denne måneden?", "2026-11-01", "2026-11-20",
         ("anthropic", "google", "bookkeeper")),
        ("what did Cloudflare cost in November?", "2026-11-01", "2026-11-20", ("cloudflare",)),
        ("hva kostet Claude i går", "2026-11-19", "2026-11-19", ("anthropic",)),
        ("AI spend last month", "2026-10-01", "2026-10-31",
         ("anthropic", "google", "bookkeeper")),
        ("hva brukte vi på skyen i desember", "2025-12-01", "2025-12-31",
         ("google", "cloudflare")),
        ("what did Vertex cost in march 2026", "2026-03-01", "2026-03-31", ("google",)),
        ("API-forbruk i år", "2026-01-01", "2026-11-20",
         ("anthropic", "google", "bookkeeper", "cloudflare")),
    ],
)  # fmt: skip
def test_periods_and_sources_in_both_languages(
    text: str, start: str, end: str, sources: tuple[str, ...]
) -> None:
    assert intent_of(text) == "spending"
    assert spending_period(text, TODAY) == (
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
    )
    assert spending_sources(text) == sources


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("hva brukte vi på AI i fjor?", "2025-01-01", "2025-12-31"),
        ("hva kostet Anthropic i 2025", "2025-01-01", "2025-12-31"),
        ("AI spend in Q1", "2026-01-01", "2026-03-31"),
        ("what did Claude cost in Q3 2025", "2025-07-01", "2025-09-30"),
        ("hva kostet Cloudflare i mars i fjor", "2025-03-01", "2025-03-31"),
    ],
)
def test_a_year_or_a_quarter_named_is_the_period_answered(text: str, start: str, end: str) -> None:
    """A year, last year or a quarter is the period, not this month (probe4: "hva brukte
    vi på AI i fjor?" answered 1–20 November)."""
    assert intent_of(text) == "spending"
    assert spending_period(text, TODAY) == (
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
    )


@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), st.text(max_size=80))
def test_a_period_is_never_reversed_and_never_past_today_for_this_month(
    today: dt.date, text: str
) -> None:
    start, end = spending_period(text, today)
    assert start <= end
    assert spending_period("this month", today) == (today.replace(day=1), today)


async def test_what_did_we_spend_on_cloud_is_google_cloud_and_cloudflare() -> None:
    chat = await spending_chat()
    [reply] = await chat.say("what did we spend on cloud last month")
    assert reply.text.splitlines() == [
        "Spending on google, cloudflare (01.10.2026 – 31.10.2026):",
        "  cloudflare: 5,00 kr",
    ]  # Anthropic's 500 kr that month is AI, not the cloud
    [event] = await chat.events("SpendingQueried")
    assert event.data.sources == ("google", "cloudflare")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("hva brukte vi på AI 3. november", dt.date(2026, 11, 3), dt.date(2026, 11, 3)),
        ("what did Claude cost on November 3rd", dt.date(2026, 11, 3), dt.date(2026, 11, 3)),
        ("forbruk 03.11.2026", dt.date(2026, 11, 3), dt.date(2026, 11, 3)),
        ("fra 1. oktober til 15. november", dt.date(2026, 10, 1), dt.date(2026, 11, 15)),
        ("1.10–15.11", dt.date(2026, 10, 1), dt.date(2026, 11, 15)),
        ("from October to November", dt.date(2026, 10, 1), dt.date(2026, 11, 30)),
        ("fra desember til februar", dt.date(2025, 12, 1), dt.date(2026, 2, 28)),
        ("siste 30 dager", dt.date(2026, 10, 22), TODAY),
        ("the last 2 weeks", dt.date(2026, 11, 7), TODAY),
        ("forrige uke", dt.date(2026, 11, 9), dt.date(2026, 11, 15)),
        ("this week", dt.date(2026, 11, 16), TODAY),
        ("den 24. desember", dt.date(2025, 12, 24), dt.date(2025, 12, 24)),  # the latest
        # Not dates: an amount, a quarter, a term, a month alone (read as before).
        ("hva kostet 12.5 kr", dt.date(2026, 11, 1), TODAY),
        ("i november", dt.date(2026, 11, 1), TODAY),
    ],
)
def test_days_ranges_and_weeks_are_the_period_asked(
    text: str, start: dt.date, end: dt.date
) -> None:
    assert spending_period(text, TODAY) == (start, end)


async def test_a_range_of_dates_is_answered_for_the_whole_range() -> None:
    """«fra 1. oktober til 15. november» was answered for October alone (the first month
    named), and «3. november» for the whole month."""
    chat = await spending_chat()
    [reply] = await chat.say("hva brukte vi på anthropic fra 1. oktober til 15. november?")
    assert reply.text.splitlines() == [
        "Forbruk på anthropic (01.10.2026 – 15.11.2026):",
        "  anthropic: 520,00 kr",
    ]
    [day] = await chat.say("hva brukte vi på AI 3. november")
    assert day.text.splitlines() == [
        "Forbruk på anthropic, google, bookkeeper (03.11.2026 – 03.11.2026):",
        "  anthropic: 20,00 kr",
    ]
