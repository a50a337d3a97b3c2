"""The morning summary's Discord adapter against a loopback fake of Discord's REST API
(tests/fakes/discord_rest.py): what it posts, that a repeated post of one key is posted
once (the message nonce Discord enforces), and Discord's refusals as our errors."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from bookkeeper.adapters.discord.notifier import DiscordNotifier, message_nonce
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalNotFound,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.event_log import stamp
from bookkeeper.application.morning import MorningSummaries
from bookkeeper.domain.events import MorningCheckRanData, SourceSpending
from tests.fakes.discord_rest import FakeDiscordRest
from tests.fakes.server import serve
from tests.unit.conftest import FixedClock

CHANNEL = 4242
CLOSED = 4343
TENANT = "acme"
PNG = b"\x89PNG..."


@pytest.fixture
async def discord() -> AsyncIterator[tuple[FakeDiscordRest, str]]:
    fake = FakeDiscordRest(channels={CHANNEL, CLOSED}, forbidden={CLOSED})
    async with serve(fake.app) as base:
        yield fake, f"{base}/api/v10"


def notifier(api: str, channel: int = CHANNEL, token: str = "fake-bot-token") -> DiscordNotifier:
    return DiscordNotifier(token, TENANT, channel, api_url=api)


async def test_a_post_is_escaped_cut_to_discords_length_and_carries_its_keys_nonce(
    discord: tuple[FakeDiscordRest, str],
) -> None:
    fake, api = discord
    await notifier(api).post(TENANT, "Mangler kvittering: *Adobe* 199,00", key="run-1:summary")
    await notifier(api).post(TENANT, "x" * 2500)
    await notifier(api).post("other-tenant", "not the Discord tenant's")
    first, long, rest = fake.posted(CHANNEL)
    assert first["content"] == "Mangler kvittering: \\*Adobe\\* 199,00"
    assert first["nonce"] == message_nonce("run-1:summary") and len(first["nonce"]) <= 25
    assert long["content"] + rest["content"] == "x" * 2500  # a line longer than a message
    assert len(long["content"]) == 2000 and long["nonce"] is None
    assert len(fake.messages) == 3


async def test_a_long_morning_summary_is_posted_whole_between_lines_and_once(
    discord: tuple[FakeDiscordRest, str],
) -> None:
    """A summary over Discord's 2,000 characters (many missing receipts, every source's
    spending) was cut there, its end lost: it is posted in messages split between lines,
    as the chat's long answers are, each with its own nonce, so a retry posts none again."""
    fake, api = discord
    lines = [f"Mangler kvittering: leverandør {i:03} 1 234,00 kr" for i in range(80)]
    summary = "God morgen\n" + "\n".join(lines) + "\nSlutt"
    assert len(summary) > 3000
    for _ in range(2):
        await notifier(api).post(TENANT, summary, key="run-7:summary")
    posted = fake.posted(CHANNEL)
    assert 1 < len(posted) <= 5
    assert all(len(m["content"]) <= 2000 for m in posted)
    assert "\n".join(m["content"] for m in posted) == summary
    nonces = [m["nonce"] for m in posted]
    assert nonces[0] == message_nonce("run-7:summary") and len(set(nonces)) == len(nonces)


async def test_the_same_key_posts_once_and_another_key_posts_again(
    discord: tuple[FakeDiscordRest, str],
) -> None:
    fake, api = discord
    for _ in range(3):
        await notifier(api).post(TENANT, "God morgen", key="run-1:summary")
    await notifier(api).post(TENANT, "God morgen", key="run-2:summary")
    for _ in range(2):
        await notifier(api).post_image(TENANT, PNG, "forbruk.png", "Forbruk", key="run-2:chart")
    assert fake.requests == 6
    texts = [m for m in fake.posted(CHANNEL) if not m["attachments"]]
    charts = [m for m in fake.posted(CHANNEL) if m["attachments"]]
    assert [m["nonce"] for m in texts] == [
        message_nonce("run-1:summary"),
        message_nonce("run-2:summary"),
    ]
    [chart] = charts
    assert chart["attachments"][0]["filename"] == "forbruk.png"
    assert chart["attachments"][0]["size"] == len(PNG)


async def test_discords_refusals_and_outages_are_our_errors_naming_the_channel(
    discord: tuple[FakeDiscordRest, str],
) -> None:
    fake, api = discord
    with pytest.raises(ExternalRejected) as refused:
        await notifier(api, CLOSED).post(TENANT, "x")
    assert refused.value.status == 403 and refused.value.system == "discord"
    assert str(CLOSED) in str(refused.value) and "Missing Permissions" in str(refused.value)
    with pytest.raises(ExternalNotFound) as missing:
        await notifier(api, 999).post(TENANT, "x")
    assert "999" in str(missing.value) and "Unknown Channel" in str(missing.value)
    with pytest.raises(ExternalAuthFailed) as unauthorised:
        await notifier(api, token="another-token").post(TENANT, "x")
    assert "another-token" not in str(unauthorised.value)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ExternalUnavailable):
        await DiscordNotifier(
            "fake-bot-token", TENANT, CHANNEL, api_url=f"http://127.0.0.1:{port}/api/v10", retries=0
        ).post(TENANT, "x")
    assert fake.messages == []
    # A 429 with a short wait is waited out by hikari and then posted, once.
    fake.fail_next(1, 429)
    await notifier(api).post(TENANT, "etter ventetid", key="run-3:summary")
    assert [m["content"] for m in fake.posted(CHANNEL)] == ["etter ventetid"]


async def test_an_answer_larger_than_a_message_is_read_no_further_and_posted_once(
    discord: tuple[FakeDiscordRest, str],
) -> None:
    """Discord's answer to a post is a message object of a few KiB: a larger one is read
    no further (it was read whole), the post is Discord's outage, and the retry with the
    same key leaves one message (the nonce)."""
    fake, api = discord
    fake.answer_padding = 4 * 1024 * 1024
    with pytest.raises(ExternalUnavailable) as too_large:
        await notifier(api).post(TENANT, "God morgen", key="run-9:summary")
    assert "bytes" in str(too_large.value) and too_large.value.system == "discord"
    fake.answer_padding = 0
    await notifier(api).post(TENANT, "God morgen", key="run-9:summary")
    assert [m["content"] for m in fake.posted(CHANNEL)] == ["God morgen"]


async def test_a_summary_whose_chart_was_refused_is_posted_whole_once_on_the_retry(
    discord: tuple[FakeDiscordRest, str],
) -> None:
    """The text went out, the picture was refused (the bot lacked Attach Files): the
    subscriber tries the run again once that is mended, and Discord keeps the text to one
    message."""
    fake, api = discord
    fake.refuse_files = True
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    run_id = uuid.uuid4()
    data = MorningCheckRanData(
        job="morning",
        date=dt.date(2026, 11, 20),
        next_vat_due=None,
        summary="God morgen",
        spending=(SourceSpending(source="anthropic", yesterday_nok=D("15"), month_nok=D("35")),),
    )
    event = stamp(
        "MorningCheckRan", data, event_id=run_id, actor="system:cron", at=clock.now(),
        correlation_id=uuid.uuid4(),
    )  # fmt: skip
    async with uow() as unit:
        [run] = await unit.events.append(TENANT, run_id, 0, [event])
        await unit.commit()

    class WithChart(MorningSummaries):
        async def chart(self, tenant_id: str, day: dt.date) -> bytes | None:
            return b"\x89PNG-chart"

    summaries = WithChart(uow, clock, [notifier(api)])
    with pytest.raises(ExternalRejected):
        await summaries.handle(run)
    fake.refuse_files = False
    await summaries.handle(run)
    await summaries.handle(run)  # recorded: nothing more
    texts = [m for m in fake.posted(CHANNEL) if not m["attachments"]]
    charts = [m for m in fake.posted(CHANNEL) if m["attachments"]]
    assert [m["content"] for m in texts] == ["God morgen"]
    assert len(charts) == 1
    async with uow() as unit:
        stream = await unit.events.read_stream(TENANT, run_id)
    assert [e.type for e in stream] == ["MorningCheckRan", "MorningSummaryPosted"]
