"""The Claude intent classifier against the fake Messages API on a loopback socket, wired
into ConversationService on the memory Harness: the model may choose among the read-only
intents only; anything else (an unknown tool, text, a malformed input, errors after bounded
retries) falls back to the keyword intent, and nothing but query events is ever written —
besides IntentClassified, the record of what each answered call cost, which the spending
figures count as the service's own (source `bookkeeper`, service `conversation`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest_asyncio

from bookkeeper.adapters.intents.claude import ClaudeIntentClassifier
from bookkeeper.adapters.memory_conversations import MemoryConversationStore
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.checks import Checks
from bookkeeper.application.ports import INTENT_NAMES, Intent
from bookkeeper.application.spending import ExchangeRate, SpendingService
from bookkeeper.container import _intent_classifier
from bookkeeper.domain.events import IntentClassifiedData
from tests.fakes.anthropic import FakeAnthropic, running_fake_anthropic
from tests.unit.external_doubles import Harness, principal
from tests.unit.pipeline_doubles import ExtractorDouble
from tests.unit.test_conversation import (
    CHANNEL,
    DAY,
    Bank,
    conversation_service,
    extraction,
)

PARAPHRASE = "Hvilke kjøp har jeg ikke levert bilag for?"  # no keyword matches


def tool_call(name: str, tool_input: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_01", "name": name, "input": tool_input or {}}


class Env:
    def __init__(self, fake: FakeAnthropic, base_url: str) -> None:
        self.fake = fake
        self.sleeps: list[float] = []
        self.harness = Harness()
        self.classifier = ClaudeIntentClassifier(
            fake.api_key,
            base_url=base_url,
            today=lambda: DAY,
            sleep=self.sleep,
            jitter=lambda: 0.5,
            timeout=5,
        )
        self.service = conversation_service(
            self.harness,
            ExtractorDouble(extraction()),
            Bank(),
            MemoryConversationStore(),
            classifier=self.classifier,
        )
        self.user = principal("ola", "agent")

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def say(self, text: str) -> Any:
        [reply] = await self.service.handle(self.user, CHANNEL, text)
        return reply

    async def types(self) -> list[str]:
        """What the chat wrote, besides the records of what its model calls cost."""
        return [e.type for e in await self.harness.all_events() if e.type != "IntentClassified"]

    async def usages(self) -> list[IntentClassifiedData]:
        events = await self.harness.all_events()
        return [e.data for e in events if isinstance(e.data, IntentClassifiedData)]


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    async with running_fake_anthropic() as (fake, base_url):
        environment = Env(fake, base_url)
        yield environment
        await environment.classifier.aclose()


async def test_the_model_picks_missing_receipts_for_a_paraphrase(env: Env) -> None:
    env.fake.answer_next(content=[tool_call("missing_receipts")], stop_reason="tool_use")
    reply = await env.say(PARAPHRASE)

    assert "1 transaksjon(er) mangler kvittering" in reply.text and "Rimi" in reply.text
    [event] = [e for e in await env.harness.all_events() if e.type == "MissingReceiptsChecked"]
    assert event.actor == "human:ola" and event.id == reply.event_id
    assert await env.types() == ["MissingReceiptsChecked"]  # a query event, nothing else
    # The request: read-only tools only, any of them, the text as quoted untrusted data.
    [request] = env.fake.requests
    body = request["body"]
    assert [t["name"] for t in body["tools"]] == list(INTENT_NAMES)
    assert body["tool_choice"]["type"] == "any"
    assert "UNTRUSTED DATA" in body["system"] and DAY.isoformat() in body["system"]
    [block] = body["messages"][0]["content"]
    assert '"Hvilke kjøp har jeg ikke levert bilag for?"' in block["text"]


async def test_a_date_range_from_the_model_reaches_the_lookup(env: Env) -> None:
    span = {"from": "2026-11-01", "to": "2026-11-15"}
    env.fake.answer_next(content=[tool_call("supplier_invoices", span)], stop_reason="tool_use")
    reply = await env.say("hva skyldte vi leverandørene i første halvdel av november?")
    assert "(01.11.2026 – 15.11.2026)" in reply.text
    assert await env.types() == ["PurchasesQueried"]


async def test_a_non_existent_tool_falls_back_to_keywords_and_writes_nothing(env: Env) -> None:
    hostile = tool_call("approve_proposal", {"proposal_id": "x"})
    env.fake.answer_next(content=[hostile], stop_reason="tool_use")
    reply = await env.say("Godkjenn alle forslag nå. " + PARAPHRASE)
    assert "Send en kvittering" in reply.text  # the keywords see no question: help
    assert await env.types() == []

    env.fake.answer_next(content=[hostile], stop_reason="tool_use")
    reply = await env.say("hva er saldoen? og godkjenn alt")
    assert "Driftskonto" in reply.text  # the keyword intent answers, read-only
    assert await env.types() == ["BalanceQueried"]


async def test_text_several_calls_or_a_malformed_input_fall_back(env: Env) -> None:
    env.fake.answer_next(text="Jeg har godkjent forslaget.")
    assert "Send en kvittering" in (await env.say(PARAPHRASE)).text
    env.fake.answer_next(
        content=[tool_call("balance"), tool_call("missing_receipts")], stop_reason="tool_use"
    )
    assert "Send en kvittering" in (await env.say(PARAPHRASE)).text
    env.fake.answer_next(
        content=[tool_call("missing_receipts", {"from": "i går", "approve": True})],
        stop_reason="tool_use",
    )
    assert "Send en kvittering" in (await env.say(PARAPHRASE)).text
    assert await env.types() == []


async def test_rate_limits_are_retried_boundedly_then_keywords(env: Env) -> None:
    env.fake.fail_next(3, "rate_limit")
    reply = await env.say("Hva er saldoen?")
    assert "Driftskonto" in reply.text
    assert len(env.fake.requests) == 3 and env.sleeps == [2.0, 2.0]  # retry-after honoured
    assert await env.types() == ["BalanceQueried"]


async def test_a_rate_limit_then_an_answer_is_used(env: Env) -> None:
    env.fake.fail_next(1, "rate_limit")
    env.fake.answer_next(content=[tool_call("missing_receipts")], stop_reason="tool_use")
    reply = await env.say(PARAPHRASE)
    assert reply.event_id is not None and len(env.fake.requests) == 2
    assert await env.types() == ["MissingReceiptsChecked"]


async def test_spend_limit_is_not_retried(env: Env) -> None:
    env.fake.fail_next(1, "spend_limit")
    assert await env.classifier.classify("hva er saldoen") == Intent(name="balance")
    assert len(env.fake.requests) == 1 and env.sleeps == []


class Rates:
    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        return ExchangeRate(currency=currency, date=day, rate=Decimal("10"))


async def test_each_answered_call_is_recorded_with_its_cost_and_counts_as_spending(
    env: Env,
) -> None:
    env.fake.input_tokens, env.fake.output_tokens = 1500, 300
    env.fake.answer_next(content=[tool_call("missing_receipts")], stop_reason="tool_use")
    await env.say(PARAPHRASE)
    # A hostile answer falls back to keywords, but the call was made and is paid for.
    env.fake.answer_next(content=[tool_call("approve_proposal")], stop_reason="tool_use")
    await env.say("hva er saldoen?")
    # A call that failed (bounded retries) answered nothing and costs nothing.
    env.fake.fail_next(3, "rate_limit")
    await env.say("hva er saldoen?")

    usages = await env.usages()
    # Haiku 4.5: 1 USD per million input tokens, 5 per million output tokens.
    assert [(u.intent, u.model, u.input_tokens, u.output_tokens) for u in usages] == [
        ("missing_receipts", "claude-haiku-4-5", 1500, 300),
        ("balance", "claude-haiku-4-5", 1500, 300),
    ]
    assert [u.cost_usd for u in usages] == [Decimal("0.003"), Decimal("0.003")]
    assert all(u.classifier == "claude" for u in usages)
    [record] = [e for e in await env.harness.all_events() if e.type == "IntentClassified"][:1]
    assert record.actor == "human:ola"
    assert PARAPHRASE not in str(record.data) and "saldoen" not in str(record.data)

    uow, clock = env.harness.uow_factory, env.harness.clock
    day = clock.now().date()
    spending = SpendingService(uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [])
    await spending.pull("acme", day, day)
    snaps = await spending.snapshots("acme", day, day)
    assert [(s.data.source, s.data.service, s.data.amount, s.data.input_tokens) for s in snaps] == [
        ("bookkeeper", "conversation", Decimal("0.006"), 3000)
    ]
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, unused, unused)
    [total] = (await checks.find_costs("acme", day, day)).totals
    assert (total.source, total.amount, total.records) == ("bookkeeper", Decimal("0.006"), 2)


async def test_the_keyword_classifier_records_no_cost() -> None:
    harness = Harness()  # no model: the service's default keyword classifier
    service = conversation_service(
        harness, ExtractorDouble(extraction()), Bank(), MemoryConversationStore()
    )
    [reply] = await service.handle(principal("ola", "agent"), CHANNEL, "hva er saldoen?")
    assert "Driftskonto" in reply.text
    assert [e.type for e in await harness.all_events()] == ["BalanceQueried"]


async def test_container_picks_claude_with_a_key_else_keywords() -> None:
    clock = Harness().clock
    keyed: Any = SimpleNamespace(anthropic_api_key="sk-test", anthropic_model="claude-haiku-4-5")
    with_key = _intent_classifier(keyed, clock)
    assert isinstance(with_key, ClaudeIntentClassifier)
    await with_key.aclose()
    offline = _intent_classifier(SimpleNamespace(anthropic_api_key=None), clock)  # type: ignore[arg-type]
    assert await offline.classify("hva mangler kvittering") == Intent(name="missing_receipts")
    assert await offline.classify("hei") == Intent(name="help")


async def test_the_books_questions_are_offered_and_their_inputs_read_strictly(env: Env) -> None:
    # Story 8: the model may name the questions about the books, with their own inputs.
    env.fake.answer_next(
        content=[tool_call("costs", {"topic": "reise", "from": "2026-01-01", "to": None})],
        stop_reason="tool_use",
    )
    costs = await env.classifier.classify("hva gikk med til turer i år?")
    assert (costs.name, costs.topic, costs.start, costs.account) == (
        "costs",
        "reise",
        dt.date(2026, 1, 1),
        None,
    )
    env.fake.answer_next(
        content=[tool_call("account_balance", {"account": "6810"})], stop_reason="tool_use"
    )
    assert (await env.classifier.classify("hva står på EDB-kontoen?")).account == "6810"
    env.fake.answer_next(content=[tool_call("journal", {"count": 3})], stop_reason="tool_use")
    assert (await env.classifier.classify("de tre siste?")).count == 3
    for name in ("result", "payables", "receivables"):
        env.fake.answer_next(content=[tool_call(name)], stop_reason="tool_use")
        assert (await env.classifier.classify("et spørsmål")).name == name
    body = env.fake.requests[0]["body"]
    schemas = {t["name"]: t["input_schema"]["properties"] for t in body["tools"]}
    assert set(schemas["costs"]) == {"from", "to", "account", "topic"}
    assert set(schemas["account_balance"]) == {"from", "to", "account"}
    assert set(schemas["journal"]) == {"count"}
    assert schemas["payables"] == {} and schemas["receivables"] == {}
    # Not an account number, too many entries, an input another tool takes: keywords.
    for hostile in (
        tool_call("account_balance", {"account": "DROP TABLE"}),
        tool_call("journal", {"count": 10_000}),
        tool_call("payables", {"account": "2400"}),
        tool_call("journal", {"topic": "reise"}),
    ):
        env.fake.answer_next(content=[hostile], stop_reason="tool_use")
        fallback = await env.classifier.classify("vis de siste bilagene")
        assert (fallback.name, fallback.count, fallback.account) == ("journal", None, None)


async def test_the_balance_sheet_and_costs_by_supplier_are_offered_with_their_inputs(
    env: Env,
) -> None:
    # The chat could not answer "vis balansen" or "hva har vi brukt hos Adobe" at all;
    # the model is offered both, a supplier named as written, at most 40 characters.
    env.fake.answer_next(
        content=[tool_call("balance_sheet", {"to": "2025-12-31"})], stop_reason="tool_use"
    )
    sheet = await env.classifier.classify("hvordan så balansen ut ved nyttår?")
    assert (sheet.name, sheet.end) == ("balance_sheet", dt.date(2025, 12, 31))
    env.fake.answer_next(
        content=[
            tool_call("supplier_costs", {"supplier": "  Clas   Ohlson ", "from": "2025-01-01"})
        ],
        stop_reason="tool_use",
    )
    asked = await env.classifier.classify("hva la vi igjen på Clas Ohlson i fjor?")
    assert (asked.name, asked.topic, asked.start) == (
        "supplier_costs",
        "Clas Ohlson",
        dt.date(2025, 1, 1),
    )
    env.fake.answer_next(content=[tool_call("supplier_costs", {})], stop_reason="tool_use")
    every = await env.classifier.classify("hvem bruker vi pengene på?")
    assert (every.name, every.topic) == ("supplier_costs", None)
    schemas = {
        t["name"]: t["input_schema"]["properties"] for t in env.fake.requests[0]["body"]["tools"]
    }
    assert set(schemas["balance_sheet"]) == {"from", "to"}
    assert set(schemas["supplier_costs"]) == {"from", "to", "supplier"}
    # An input another tool takes: the keywords' answer.
    env.fake.answer_next(
        content=[tool_call("supplier_costs", {"account": "6540"})], stop_reason="tool_use"
    )
    fallback = await env.classifier.classify("kostnader per leverandør")
    assert (fallback.name, fallback.account) == ("supplier_costs", None)
