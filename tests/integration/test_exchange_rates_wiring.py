"""One exchange-rate source (ADR 0040 §7): BOOKKEEPER_EXCHANGE_RATES is the one setting —
BOOKKEEPER_NORGES_BANK_URL still works as its deprecated alias, with a warning — and the
container builds one Norges Bank adapter, whose cache documents and spending share."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from bookkeeper.application.commands import SubmitEvent
from bookkeeper.container import resolve, shutdown
from bookkeeper.settings import NORGES_BANK_URL, load_settings
from tests.fakes.norges_bank import FakeNorgesBank
from tests.fakes.server import serve
from tests.integration.test_spending_wiring import container_with
from tests.unit.conftest import AGENT
from tests.unit.external_doubles import receipt

DAY = dt.date(2026, 11, 18)


def test_the_old_name_is_an_alias_that_says_it_is_deprecated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        old = load_settings({"BOOKKEEPER_NORGES_BANK_URL": "http://127.0.0.1:9/api"})
    assert old.exchange_rates_url == "http://127.0.0.1:9/api"
    assert "BOOKKEEPER_NORGES_BANK_URL is deprecated" in caplog.text
    assert "BOOKKEEPER_EXCHANGE_RATES" in caplog.text
    both = load_settings(
        {
            "BOOKKEEPER_NORGES_BANK_URL": "http://127.0.0.1:9/api",
            "BOOKKEEPER_EXCHANGE_RATES": "norges-bank",
        }
    )
    assert both.exchange_rates_url == NORGES_BANK_URL  # the one setting wins
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_settings({}).exchange_rates_url is None
    assert "deprecated" not in caplog.text


async def test_documents_and_spending_share_one_adapter_and_its_cache(tmp_path: Path) -> None:
    fake = FakeNorgesBank(rates={("USD", DAY): Decimal("10.9")})
    async with serve(fake.app) as url:
        container = container_with(tmp_path, exchange_rates_url=f"{url}/api")
        try:
            handlers = await resolve(container.handlers)
            spending = await resolve(container.spending)
            rates = container.exchange_rates()
            # A foreign-currency receipt is converted at submission: one request ...
            result = await handlers.submit(
                SubmitEvent(
                    principal=AGENT,
                    type="ReceiptAttachmentProposed",
                    data=receipt(None, currency="USD", amount=Decimal("10.00")),
                )
            )
            assert result.type == "ReceiptAttachmentProposed"
            assert len(fake.requests) == 1
            # ... and the container's one adapter has the rate: nobody asks again.
            assert (await rates.to_nok("USD", DAY)).rate == Decimal("10.9")
            assert len(fake.requests) == 1
            assert spending.rates is rates
        finally:
            await shutdown(container)
